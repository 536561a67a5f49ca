"""Audit of what is enforced: a snapshot activation writes its diff against the previous one,
with both snapshot ids, to the server log and the decision log."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from server_kit import (
    CONTOSO,
    FABRIKAM,
    SERVING,
    Channels,
    Procs,
    copy_example_policy,
    flip_policy,
    snapshot_id,
    wait_health,
    wait_until,
)

FLIPPED = "b2bCollaborationInbound.usersAndGroups.accessType"


def test_a_reload_puts_the_diff_it_enforces_on_record(tmp_path: Path, procs: Procs, channels: Channels) -> None:
    policy = copy_example_policy(tmp_path / "policy")
    log_path = tmp_path / "decisions.log"
    proc = procs.spawn(
        "--policy",
        str(policy),
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
        "--reload-interval",
        "0.2s",
        "--decision-log",
        str(log_path),
    )
    channel = channels.open(proc.tcp_target)
    wait_health(channel, SERVING)
    before = snapshot_id(channel)
    flip_policy(policy)
    wait_until(lambda: snapshot_id(channel) not in (None, before), what="the flipped policy to be activated")
    after = snapshot_id(channel)
    wait_until(lambda: any(r.get("msg") == "snapshot change audited" for r in proc.records()), what="the audit")
    audited = [r for r in proc.records() if r.get("msg") == "policy change enforced"]
    assert [(r["tenantId"], r["target"], r["property"], r["oldValue"], r["newValue"]) for r in audited] == [
        (CONTOSO, FABRIKAM, FLIPPED, "allowed", "blocked")
    ]
    record = audited[0]
    assert record["snapshotIdBefore"] == before and record["snapshotIdAfter"] == after
    assert record["category"] == "CrossTenantAccessSettings"
    assert record["requiredAction"] == "microsoft.directory/crossTenantAccessPolicy/partners/b2bCollaboration/update"
    proc.send(signal.SIGTERM)
    assert proc.wait_exit(30) == 0
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [(r["target"], r["property"], r["snapshotIdBefore"], r["snapshotIdAfter"]) for r in lines] == [
        (FABRIKAM, FLIPPED, before, after)
    ]
