"""AUDIT: each activated snapshot's diff against the one it replaced, as audit records.

Runs on a worker thread (the reloader awaits it before the old index is freed): the records
have the shape of `xtenant-pdp diff` (category CrossTenantAccessSettings, activity, required role
action) plus the snapshot ids before and after, and go to the server log and, when it is on, to
the decision log, so every change of what the sidecar enforces is on record.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from xtenant_pdp.changes.diff import diff
from xtenant_pdp.index import Index
from xtenant_pdp.service.decision_log import DecisionLog

log = logging.getLogger("xtenant_pdp.audit")

#: Records written to the server log per activation (all of them go to the decision log).
MAX_LOGGED = 10_000


class EnforcementAudit:
    def __init__(self, decision_log: DecisionLog | None = None) -> None:
        self.decision_log = decision_log

    def __call__(self, before: Index, after: Index) -> int:
        """Write the records; returns how many there were."""
        ids = {"snapshotIdBefore": before.info.snapshot_id, "snapshotIdAfter": after.info.snapshot_id}
        records = diff(before, after)
        when = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        for record in records[:MAX_LOGGED]:
            log.info("policy change enforced", extra={**record.to_dict(), **ids})
        log.info(
            "snapshot change audited", extra={"changes": len(records), "logged": min(len(records), MAX_LOGGED), **ids}
        )
        if self.decision_log is not None and records:
            lines = [
                json.dumps(
                    {"time": when, **r.to_dict(), **ids, "snapshotId": after.info.snapshot_id}, separators=(",", ":")
                )
                for r in records
            ]
            self.decision_log.write_lines(lines)
        return len(records)
