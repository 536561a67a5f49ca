"""EVALUATE the adminAction question (D13). Pure: no I/O, logging, metrics or clock.

One look-up of the principal's prebuilt (action -> grant) table, one C-level intersection of the
presented groups with the principals that hold any role, and the protected-action check: the same
latency class as an access decision.
"""

from __future__ import annotations

from xtenant_pdp.admin.index import AdminIndex, merge
from xtenant_pdp.decision import AdminActionQuery, Result


def decide_admin_action(admin: AdminIndex, q: AdminActionQuery) -> Result:
    """D13: an enabled role assigned at `/` to the principal or one of its groups allows the action,
    no permission of the role excludes it, no condition stands in the way, and a protected
    action's authentication context is presented. Every granting role is named, so the groups
    are read even when the principal's own assignment grants."""
    by_principal = admin.by_principal
    action = q.action
    table = by_principal.get(q.principal_id)
    best = table.get(action) if table is not None else None
    if q.group_ids:
        for group in admin.principals.intersection(q.group_ids):  # merge is order-independent
            found = by_principal[group].get(action)
            if found is not None:
                best = found if best is None else merge(best, found, admin, action)
    if best is None:
        return admin.missing(action)
    if best.rank == 0:
        context = admin.protected.get(action)
        if context is not None and context not in q.authentication_contexts:
            return best.step_up
    return best.result
