"""Replay recorded questions against two policies and report every change of outcome.

Each distinct question is decided once per policy (a dict memo), so a million sign-ins of a
few thousand users and apps cost a few thousand decisions; records are streamed, and memory
grows with distinct questions and changed groups only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from xtenant_pdp.changes.questions import NOBODY, Outcome, Question, Record, decide, named_ids
from xtenant_pdp.decision import Direction, Feature
from xtenant_pdp.index import Index

_DIRECTION_NAMES = {Direction.INBOUND: "inbound", Direction.OUTBOUND: "outbound", None: None}
_FEATURE_NAMES = {
    Feature.B2B_COLLABORATION: "b2bCollaboration",
    Feature.B2B_DIRECT_CONNECT: "b2bDirectConnect",
    None: None,
}


@dataclass(frozen=True, slots=True)
class Totals:
    records: int
    changed: int
    lost: int
    gained: int
    indeterminate: int
    #: Distinct users among the changed records.
    users: int


@dataclass(frozen=True, slots=True)
class ChangeGroup:
    """Records of one external tenant, direction, feature and application whose outcome moved
    the same way."""

    tenant_id: str
    external_tenant_id: str
    direction: Direction | None
    feature: Feature | None
    application_id: str
    application_name: str
    before: Outcome
    after: Outcome
    records: int
    users: int
    example: str

    @property
    def change(self) -> str:
        if (self.before, self.after) == (Outcome.ALLOW, Outcome.DENY):
            return "lost"
        if (self.before, self.after) == (Outcome.DENY, Outcome.ALLOW):
            return "gained"
        return "indeterminate"

    def to_dict(self) -> dict[str, Any]:
        return {
            "change": self.change,
            "tenantId": self.tenant_id,
            "externalTenantId": self.external_tenant_id,
            "direction": _DIRECTION_NAMES[self.direction],
            "feature": _FEATURE_NAMES[self.feature],
            "applicationId": self.application_id,
            "applicationName": self.application_name,
            "before": self.before.value,
            "after": self.after.value,
            "records": self.records,
            "users": self.users,
            "example": self.example,
        }


@dataclass(frozen=True, slots=True)
class Impact:
    totals: Totals
    changes: tuple[ChangeGroup, ...]
    #: Why records were indeterminate without any policy (sign-in type, no resourceId, ...), counted.
    indeterminate_reasons: tuple[tuple[str, int], ...]
    #: Distinct questions decided per policy.
    distinct_questions: int

    def to_dict(self) -> dict[str, Any]:
        t = self.totals
        return {
            "totals": {
                "records": t.records,
                "changed": t.changed,
                "lost": t.lost,
                "gained": t.gained,
                "indeterminate": t.indeterminate,
                "users": t.users,
            },
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass(slots=True)
class _Group:
    records: int = 0
    users: set[str] = field(default_factory=set)
    example: str = ""
    name: str = ""


def impact(old: Index, new: Index, records: Iterable[Record]) -> Impact:
    memo: dict[tuple[Any, ...], tuple[Outcome, Outcome]] = {}
    named = named_ids(old) | named_ids(new)
    groups: dict[tuple[Any, ...], _Group] = {}
    reasons: Counter[str] = Counter()
    count = changed = lost = gained = indeterminate = 0
    users: set[str] = set()
    for r in records:
        count += 1
        q = r.question
        if q is None:
            indeterminate += 1
            reasons[r.why_indeterminate] += 1
            continue
        user = q.user_id
        if user is not None and user not in named:
            user = NOBODY
        key = (
            q.kind,
            q.tenant_id,
            q.external_tenant_id,
            q.direction,
            q.feature,
            user,
            q.groups_known,
            q.application_id,
        )
        outcomes = memo.get(key)
        if outcomes is None:
            if user != q.user_id:
                q = Question(*key)  # the key is the question's fields, in order
            outcomes = memo[key] = (decide(old, q), decide(new, q))
        before, after = outcomes
        if before is Outcome.INDETERMINATE or after is Outcome.INDETERMINATE:
            indeterminate += 1
        if before is after:
            continue
        changed += 1
        lost += before is Outcome.ALLOW and after is Outcome.DENY
        gained += before is Outcome.DENY and after is Outcome.ALLOW
        users.add(r.user)
        key = (r.local_tenant_id, r.external_tenant_id, r.direction, r.feature, r.application_id, before, after)
        g = groups.get(key)
        if g is None:
            g = groups[key] = _Group(example=r.where)
        g.records += 1
        g.users.add(r.user)
        g.name = g.name or r.application_name
    changes = tuple(
        ChangeGroup(k[0], k[1], k[2], k[3], k[4], g.name, k[5], k[6], g.records, len(g.users), g.example)
        for k, g in sorted(groups.items(), key=lambda kv: (-kv[1].records, str(kv[0])))
    )
    return Impact(
        totals=Totals(count, changed, lost, gained, indeterminate, len(users)),
        changes=changes,
        indeterminate_reasons=tuple(reasons.most_common()),
        distinct_questions=len(memo),
    )


def report_lines(result: Impact) -> list[str]:
    """The human report."""
    t = result.totals
    lines = [
        f"{t.records} record(s) replayed ({result.distinct_questions} distinct question(s)): {t.changed} change(s), "
        f"{t.lost} lost, {t.gained} gained, {t.indeterminate} indeterminate, {t.users} user(s) affected"
    ]
    for c in result.changes:
        app = f"{c.application_name} ({c.application_id})" if c.application_name else c.application_id
        lines.append(
            f"  {c.change.upper():13} {c.before.value} -> {c.after.value}: {c.records} record(s), {c.users} user(s); "
            f"{_DIRECTION_NAMES[c.direction]} {_FEATURE_NAMES[c.feature]} {c.external_tenant_id} (local {c.tenant_id}),"
            f" app {app}; e.g. {c.example}"
        )
    for why, n in result.indeterminate_reasons:
        lines.append(f"  indeterminate without any policy: {n} record(s): {why}")
    return lines
