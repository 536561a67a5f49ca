"""Decision log through a real server: none lost on SIGTERM, drops counted when the queue is
full, an unwritable path never fails a call; rotation, masking and sampling."""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from server_kit import (
    EXAMPLE_POLICY,
    SERVING,
    Channels,
    Procs,
    check,
    decision_stub,
    free_port,
    questions,
    sample_value,
    scrape,
    wait_health,
    wait_until,
)

from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.cli import main
from xtenant_pdp.convert import json_name
from xtenant_pdp.service.decision_log import DecisionLog, DecisionLogSettings, Formatter, RotatingFile

ROUNDS = 5
BATCHES = 3


def _drive(channels: Channels, target: str) -> list[pdp_pb2.CheckResponse]:
    """ROUNDS x every example question (every kind) unary, then BATCHES BatchChecks of them all."""
    channel = channels.open(target)
    wait_health(channel, SERVING)
    asked = questions()
    answers = [check(channel, q) for _ in range(ROUNDS) for q in asked]
    stub = decision_stub(channel)
    for _ in range(BATCHES):
        answers += stub.BatchCheck(pdp_pb2.BatchCheckRequest(requests=asked), timeout=5).responses
    return answers


def _serve(procs: Procs, *flags: str):
    return procs.spawn("--policy", str(EXAMPLE_POLICY), "--listen", "127.0.0.1:0", *flags)


def test_every_decision_is_in_the_log_after_sigterm(tmp_path: Path, procs: Procs, channels: Channels) -> None:
    path = tmp_path / "decisions.log"
    proc = _serve(procs, "--metrics-listen", "off", "--decision-log", str(path))
    answers = _drive(channels, proc.tcp_target)
    proc.send(signal.SIGTERM)
    assert proc.wait_exit(30) == 0
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == len(answers) == (ROUNDS + BATCHES) * len(questions())
    kinds = Counter(r["kind"] for r in lines)
    asked_kinds = Counter(json_name(q.WhichOneof("question")) for q in questions())
    assert kinds == Counter({k: n * (ROUNDS + BATCHES) for k, n in asked_kinds.items()})
    decisions = Counter(pdp_pb2.Decision.Name(a.decision) for a in answers)
    assert Counter(r["decision"] for r in lines) == decisions
    first = lines[0]  # questions.jsonl line 1: an access question
    asked = questions()[0].access
    assert {
        k: first[k] for k in ("kind", "tenantId", "externalTenantId", "direction", "applicationId", "groupCount")
    } == {
        "kind": "access",
        "tenantId": asked.tenant_id,
        "externalTenantId": asked.external_tenant_id,
        "direction": "DIRECTION_INBOUND",
        "applicationId": asked.application_id,
        "groupCount": len(asked.group_ids),
    }
    assert first["userId"] == asked.user_id and first["snapshotId"].startswith("sha256:")
    assert first["reason"].startswith("REASON_") and first["source"].startswith("SOURCE_") and first["latencyUs"] > 0
    assert first["time"].endswith("Z")


def test_a_tiny_queue_drops_and_counts_and_the_server_keeps_answering(
    tmp_path: Path, procs: Procs, channels: Channels
) -> None:
    port = free_port()
    path = tmp_path / "decisions.log"
    proc = _serve(
        procs, "--metrics-listen", f"127.0.0.1:{port}", "--decision-log", str(path), "--decision-log-queue-bytes", "1"
    )
    answers = _drive(channels, proc.tcp_target)
    assert len(answers) == (ROUNDS + BATCHES) * len(questions())  # every call answered
    calls = ROUNDS * len(questions()) + BATCHES
    wait_until(
        lambda: sample_value(scrape(port), "xtenant_pdp_decision_log_dropped_total", reason="queue_full") == calls,
        what="every call counted as dropped",
    )
    proc.send(signal.SIGTERM)
    assert proc.wait_exit(30) == 0
    assert not path.exists() or path.read_text() == ""


def test_an_unwritable_log_never_fails_a_call(tmp_path: Path, procs: Procs, channels: Channels) -> None:
    port = free_port()
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the log's directory should be")
    proc = _serve(procs, "--metrics-listen", f"127.0.0.1:{port}", "--decision-log", str(blocked / "decisions.log"))
    answers = _drive(channels, proc.tcp_target)
    assert len(answers) == (ROUNDS + BATCHES) * len(questions())
    wait_until(
        lambda: (
            (sample_value(scrape(port), "xtenant_pdp_decision_log_dropped_total", reason="write_error") or 0)
            == len(answers)
        ),
        what="every line counted as lost to the write error",
    )
    assert sample_value(scrape(port), "xtenant_pdp_decision_log_write_errors_total") >= 1
    proc.send(signal.SIGTERM)
    assert proc.wait_exit(30) == 0
    errors = [r for r in proc.records() if r.get("msg", "").startswith("cannot write the decision log")]
    assert len(errors) == 1  # rate-limited: once a minute


def test_rotation_keeps_the_given_number_of_backups(tmp_path: Path) -> None:
    path = tmp_path / "d.log"
    out = RotatingFile(str(path), max_bytes=100, backups=2)
    for i in range(10):
        out.write(f"{i:039d}\n".encode())  # 40 bytes: two lines per file
    out.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.log", "d.log.1", "d.log.2"]
    assert path.read_text().splitlines() == [f"{8:039d}", f"{9:039d}"]
    assert (tmp_path / "d.log.2").read_text().splitlines() == [f"{4:039d}", f"{5:039d}"]


def test_masking_keeps_a_user_comparable_within_one_salt_only() -> None:
    q = questions()[0]
    clear = Formatter(None).question(q)
    a, b = Formatter(b"salt-1").question(q), Formatter(b"salt-1").question(q)
    other = Formatter(b"salt-2").question(q)
    assert clear["userId"] == q.access.user_id and "userMasked" not in clear
    assert a == b and a["userMasked"] is True and a["userId"].startswith("hmac-sha256:")
    assert q.access.user_id not in json.dumps(a) and other["userId"] != a["userId"]
    assert a["tenantId"] == clear["tenantId"] and a["groupCount"] == clear["groupCount"]


def test_sampling_zero_logs_nothing_and_drains_on_close(tmp_path: Path) -> None:
    raw = questions()[0].SerializeToString()
    payload = pdp_pb2.CheckResponse(decision=pdp_pb2.DECISION_ALLOW, snapshot_id="sha256:x").SerializeToString()
    none = DecisionLog(DecisionLogSettings(path=str(tmp_path / "none.log"), sample=0.0), CollectorRegistry())
    every = DecisionLog(DecisionLogSettings(path=str(tmp_path / "all.log")), CollectorRegistry())
    for log in (none, every):
        log.start()
        for _ in range(100):
            log.record(raw, payload, 0.00001)
        log.close()
    assert not (tmp_path / "none.log").exists()
    assert len((tmp_path / "all.log").read_text().splitlines()) == 100


def test_impact_replays_a_decision_log(tmp_path: Path, procs: Procs, channels: Channels, capsys) -> None:
    path = tmp_path / "decisions.log"
    proc = _serve(procs, "--metrics-listen", "off", "--decision-log", str(path))
    _drive(channels, proc.tcp_target)
    proc.send(signal.SIGTERM)
    assert proc.wait_exit(30) == 0
    assert (
        main(["impact", "--from", str(EXAMPLE_POLICY), "--to", str(EXAMPLE_POLICY), "--format", "json", str(path)]) == 0
    )
    replayable = sum(q.WhichOneof("question") in ("access", "collaboration") for q in questions())
    totals = json.loads(capsys.readouterr().out)["totals"]
    assert totals["records"] == replayable * (ROUNDS + BATCHES) and totals["changed"] == 0


def test_a_failing_writer_restarts_and_loses_nothing_queued(tmp_path: Path, monkeypatch) -> None:
    raw = questions()[0].SerializeToString()
    payload = pdp_pb2.CheckResponse(decision=pdp_pb2.DECISION_ALLOW, snapshot_id="sha256:x").SerializeToString()
    log = DecisionLog(DecisionLogSettings(path=str(tmp_path / "d.log")), CollectorRegistry())
    real_drain, failures = log._drain, []

    def failing_once(limit_s):
        if not failures:
            failures.append(1)
            raise RuntimeError("boom")
        return real_drain(limit_s)

    monkeypatch.setattr(log, "_drain", failing_once)
    for _ in range(10):
        log.record(raw, payload, 0.00001)
    log.start()
    wait_until(lambda: log.restarts == 1, what="the writer to restart")
    assert log.alive
    log.close()
    assert len((tmp_path / "d.log").read_text().splitlines()) == 10


def test_ext_authz_decisions_are_logged_too(tmp_path: Path, capsys) -> None:
    from test_ext_authz import MEGAN_TOKEN, Running, _settings, envoy_request

    from xtenant_pdp.compiler import compile_policy_dir
    from xtenant_pdp.service.decision_log import DecisionLogSettings as LogSettings

    snapshot = tmp_path / "example.xtsnap"
    snapshot.write_bytes(compile_policy_dir(EXAMPLE_POLICY).data)
    path = tmp_path / "decisions.log"
    running = Running(_settings(tmp_path, snapshot, decision_log=LogSettings(path=str(path))))
    try:
        response = running.stub().Check(envoy_request(token=MEGAN_TOKEN), timeout=5)
        assert response.status.code == 0
        serving = running.server.holder.current.snapshot_id
    finally:
        running.stop()
    [line] = [json.loads(line) for line in path.read_text().splitlines()]
    assert line["kind"] == "extAuthz" and line["direction"] == "DIRECTION_INBOUND"
    assert (line["decision"], line["reason"]) == ("DECISION_ALLOW", "REASON_ACCESS_ALLOWED")
    assert line["snapshotId"] == serving and line["groupCount"] >= 1 and line["userId"]
    # impact replays it as the access question it was
    code = main(["impact", "--from", str(EXAMPLE_POLICY), "--to", str(EXAMPLE_POLICY), "--format", "json", str(path)])
    assert code == 0 and json.loads(capsys.readouterr().out)["totals"]["records"] == 1


def test_a_write_that_raises_mid_drain_gives_back_the_queue_bytes(tmp_path: Path, monkeypatch) -> None:
    """The queued bytes were credited back only when a drain returned: an unexpected error from
    the write (a closed stdout raises ValueError) kept them counted as queued for ever, until the
    queue dropped every new entry as full."""
    raw = questions()[0].SerializeToString()
    payload = pdp_pb2.CheckResponse(decision=pdp_pb2.DECISION_ALLOW, snapshot_id="sha256:x").SerializeToString()
    log = DecisionLog(DecisionLogSettings(path=str(tmp_path / "d.log")), CollectorRegistry())

    def closed(lines: list[str]) -> None:
        raise ValueError("I/O operation on closed file")

    monkeypatch.setattr(log, "_write", closed)
    for _ in range(10):
        log.record(raw, payload, 0.00001)
    with pytest.raises(ValueError):
        log._drain(None)
    assert log.queued_bytes - log.written_bytes == 0


def test_decision_log_sizes_take_units_like_every_size_flag() -> None:
    from xtenant_pdp.service.decision_log import settings_from

    flags = {"decision_log": "-", "decision_log_queue_bytes": "8MiB", "decision_log_max_bytes": "1GiB"}
    settings = settings_from(flags.get)
    assert settings is not None and (settings.queue_bytes, settings.max_bytes) == (8 << 20, 1 << 30)
    with pytest.raises(ValueError, match="is not a size"):
        settings_from({"decision_log": "-", "decision_log_queue_bytes": "lots"}.get)
