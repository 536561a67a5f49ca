"""CONVERT the adminAction question: pdp.v1 AdminActionQuestion -> AdminActionQuery (D13).

Ids are lower-case GUIDs (D4), the action a resource action compared without regard to case; an
action under crossTenantAccessPolicy must be one of section 5 (a typo gets the closest name), and
wildcards are for role definitions, not questions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xtenant_pdp.admin.actions import (
    ACTION_RE,
    MAX_ACTION_LENGTH,
    is_wildcard,
    misspelt,
)
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.decision import AdminActionQuery
from xtenant_pdp.errors import QueryError

_MAX_CONTEXTS = 64
_MAX_CONTEXT_LENGTH = 64
_ACTIONS: dict[str, str] = {}
_ACTIONS_LIMIT = 4096


def action_name(value: str, field: str) -> str:
    """A lower-case resource action, or QueryError naming the field. Memoised: actions repeat."""
    found = _ACTIONS.get(value)
    if found is not None:
        return found
    if not value:
        raise QueryError(field, "is required")
    if len(value) > MAX_ACTION_LENGTH or ACTION_RE.fullmatch(value) is None:
        raise QueryError(field, f"`{value[:80]}` is not a resource action ({{namespace}}/{{entity}}/.../{{action}})")
    lower = value.lower()
    if is_wildcard(lower):
        raise QueryError(field, f"`{value[:80]}` is a wildcard: ask about one action")
    wrong, best = misspelt(value)
    if wrong:
        hint = f'; did you mean "{best}"?' if best else ""
        raise QueryError(field, f"`{value[:120]}` is not a cross-tenant access action{hint}")
    if len(_ACTIONS) >= _ACTIONS_LIMIT:
        _ACTIONS.clear()
    _ACTIONS[value] = lower
    return lower


def _contexts(values: Sequence[str], field: str) -> frozenset[str]:
    if not values:
        return frozenset()
    if len(values) > _MAX_CONTEXTS:
        raise QueryError(field, f"at most {_MAX_CONTEXTS} authentication contexts are accepted, got {len(values)}")
    for i, value in enumerate(values):
        if not value or len(value) > _MAX_CONTEXT_LENGTH:
            raise QueryError(f"{field}[{i}]", "must be an authentication context id such as `c1`")
    return frozenset(v.lower() for v in values)


def admin_action_query(
    m: pdp_pb2.AdminActionQuestion,
    guid: Callable[[str, str], str],
    group_ids: Callable[[Sequence[str], str], tuple[str, ...]],
) -> AdminActionQuery:
    """``guid`` and ``group_ids`` are convert's memoised id normalisers."""
    groups = m.group_ids[:]
    return AdminActionQuery(
        guid(m.tenant_id, "adminAction.tenantId"),
        guid(m.principal_id, "adminAction.principalId"),
        group_ids(groups, "adminAction.groupIds") if groups else (),
        action_name(m.action, "adminAction.action"),
        _contexts(m.authentication_contexts[:], "adminAction.authenticationContexts"),
    )
