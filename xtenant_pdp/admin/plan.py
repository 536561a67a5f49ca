"""May this principal make this change? The adminAction question for every action a change needs.

``diff``/``plan`` (issue 12) name the role action each changed property needs; this module asks
D13 about each distinct (tenant, action) against the policy *before* the change (the role
assignments in force when the change is made) and says which authentication context a step-up
must bring. Pure but for the argparse helpers.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from xtenant_pdp.admin.question import action_name
from xtenant_pdp.convert import group_ids, guid
from xtenant_pdp.decision import AdminActionQuery, Decision, Result
from xtenant_pdp.errors import QueryError
from xtenant_pdp.evaluator import evaluate
from xtenant_pdp.index import Index


@dataclass(frozen=True, slots=True)
class Principal:
    """Who would make the change: an object id, its role-assignable groups, its `acrs` values."""

    principal_id: str
    group_ids: tuple[str, ...]
    authentication_contexts: frozenset[str]


@dataclass(frozen=True, slots=True)
class ActionCheck:
    tenant_id: str
    action: str
    result: Result

    @property
    def allowed(self) -> bool:
        return self.result.decision is Decision.ALLOW

    @property
    def required_context(self) -> str:
        admin = self.result.admin
        return admin.required_authentication_context_id if admin is not None else ""

    def to_dict(self) -> dict[str, Any]:
        admin = self.result.admin
        return {
            "tenantId": self.tenant_id,
            "action": self.action,
            "decision": f"DECISION_{self.result.decision.name}",
            "reason": f"REASON_{self.result.reason.name}",
            "roles": [r.display_name for r in admin.roles] if admin is not None else [],
            "requiredAuthenticationContextId": self.required_context,
        }


def principal_from(principal_id: str, groups: Iterable[str], contexts: Iterable[str]) -> Principal:
    """Validated like a question's fields. Raises QueryError naming the option."""
    principal = guid(principal_id, "--principal")
    group_list = group_ids(list(groups), "--group")
    found = []
    for value in contexts:
        if not value or len(value) > 64:
            raise QueryError("--acrs", "must be an authentication context id such as `c1`")
        found.append(value.lower())
    return Principal(principal, group_list, frozenset(found))


def check_actions(index: Index, principal: Principal, needed: Iterable[tuple[str, str]]) -> list[ActionCheck]:
    """D13 for each distinct (tenant id, role action), in first-seen order."""
    checks: list[ActionCheck] = []
    seen: set[tuple[str, str]] = set()
    for tenant_id, action in needed:
        key = (tenant_id, action.lower())
        if key in seen:
            continue
        seen.add(key)
        query = AdminActionQuery(
            tenant_id,
            principal.principal_id,
            principal.group_ids,
            action_name(action, "requiredAction"),
            principal.authentication_contexts,
        )
        checks.append(ActionCheck(tenant_id, action, evaluate(index, query)))
    return checks


def describe(check: ActionCheck) -> str:
    roles = ", ".join(r.display_name for r in check.result.admin.roles) if check.result.admin else ""
    verdict = "may" if check.allowed else "may NOT"
    text = f"{check.tenant_id} {check.action}: {verdict} ({check.result.reason.name})"
    if roles:
        text += f"; roles: {roles}"
    if check.required_context:
        text += f"; step-up: authentication context `{check.required_context}`"
    return text


def add_principal_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--principal", metavar="ID", help="check that this user or service principal may make the change")
    p.add_argument("--group", metavar="ID", action="append", default=[], help="a role-assignable group it is in")
    p.add_argument(
        "--acrs", metavar="CONTEXT", action="append", default=[], help="an authentication context its token carries"
    )


#: Exit status of diff/plan --principal when the principal may not perform some required action.
EXIT_ACTION_DENIED = 2


def principal_checks(index: Index, records: Iterable[Any], args: argparse.Namespace) -> list[ActionCheck]:
    """The checks for the records' required actions (records with none are read-only: skipped).
    Raises QueryError for a bad --principal, --group or --acrs."""
    principal = principal_from(args.principal, args.group, args.acrs)
    return check_actions(index, principal, ((r.tenant_id, r.required_action) for r in records if r.required_action))


def report_lines(principal_id: str, checks: list[ActionCheck]) -> list[str]:
    missing = sum(not c.allowed for c in checks)
    lines = [f"principal {principal_id}: {len(checks) - missing} of {len(checks)} required action(s) allowed"]
    lines += ["  " + describe(c) for c in checks]
    return lines
