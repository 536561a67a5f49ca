"""EVALUATE the adminAction question (D13). Pure: no I/O, logging, metrics or clock.

One look-up of the principal's prebuilt (action -> grant) table, one per presented group, and
the protected-action check: the same latency class as an access decision.
"""

from __future__ import annotations

from xtenant_pdp.admin.index import AdminIndex, Grant, merge
from xtenant_pdp.decision import AdminActionQuery, Result


def _grant(admin: AdminIndex, q: AdminActionQuery) -> Grant | None:
    by_principal = admin.by_principal
    action = q.action
    table = by_principal.get(q.principal_id)
    best = table.get(action) if table is not None else None
    if best is not None and best.rank == 0 and not q.group_ids:
        return best
    for group in q.group_ids:
        table = by_principal.get(group)
        if table is not None and (found := table.get(action)) is not None:
            best = merge(best, found, admin, action)
    return best


def decide_admin_action(admin: AdminIndex, q: AdminActionQuery) -> Result:
    """D13: an enabled role assigned at `/` to the principal or one of its groups allows the action,
    no permission of the role excludes it, no condition stands in the way, and a protected
    action's authentication context is presented."""
    grant = _grant(admin, q)
    if grant is None:
        return admin.missing(q.action)
    if grant.rank == 0:
        context = admin.protected.get(q.action)
        if context is not None and context not in q.authentication_contexts:
            return grant.step_up
    return grant.result
