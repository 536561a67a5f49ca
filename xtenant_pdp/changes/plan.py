"""plan = diff + the role actions it needs + its impact on recorded sign-ins, in one report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from xtenant_pdp.changes.diff import AuditRecord, diff
from xtenant_pdp.changes.impact import Impact, impact, report_lines
from xtenant_pdp.changes.questions import Record
from xtenant_pdp.index import Index


@dataclass(frozen=True, slots=True)
class Plan:
    changes: tuple[AuditRecord, ...]
    #: (role action, number of changes that need it), most needed first; read-only changes left out.
    required_actions: tuple[tuple[str, int], ...]
    impact: Impact | None

    @property
    def loses_access(self) -> bool:
        return self.impact is not None and self.impact.totals.lost > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "diff": [r.to_dict() for r in self.changes],
            "requiredActions": [{"action": a, "changes": n} for a, n in self.required_actions],
            "impact": self.impact.to_dict() if self.impact is not None else None,
        }

    def report(self) -> str:
        lines = [f"Changes ({len(self.changes)}):"]
        for r in self.changes:
            what = f".{r.property}" if r.property else ""
            lines.append(f"  {r.activity}: {r.tenant_id} {r.target}{what}")
        lines.append(f"Required role actions ({len(self.required_actions)}):")
        lines += [f"  {a}  ({n} change(s))" for a, n in self.required_actions]
        if self.impact is None:
            lines.append("Impact: no sign-ins or decision logs given")
        else:
            lines.append("Impact on recorded sign-ins and decisions:")
            lines += ["  " + line for line in report_lines(self.impact)]
        verdict = "ACCESS WOULD BE LOST" if self.loses_access else "no recorded access is lost"
        lines.append(f"Verdict: {verdict}")
        return "\n".join(lines) + "\n"


def make_plan(old: Index, new: Index, records: Iterable[Record] | None) -> Plan:
    changes = tuple(diff(old, new))
    needed = Counter(r.required_action for r in changes if r.required_action)
    return Plan(
        changes=changes,
        required_actions=tuple(sorted(needed.items(), key=lambda kv: (-kv[1], kv[0]))),
        impact=impact(old, new, records) if records is not None else None,
    )
