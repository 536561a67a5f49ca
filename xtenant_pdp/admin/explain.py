"""Human words for an adminAction answer: which assignments of the principal and its groups
touch the action and what each contributes. Narrates the index; the decision is the evaluator's."""

from __future__ import annotations

from xtenant_pdp.admin.actions import SPELLING
from xtenant_pdp.admin.index import AdminIndex
from xtenant_pdp.decision import AdminActionQuery, Reason, Result

ADMIN_REASON_TEXT = {
    Reason.ADMIN_ACTION_ALLOWED: "an enabled role assigned at directory scope `/` allows the action (D13)",
    Reason.ADMIN_NO_ROLE_GRANTS: "no role assigned to the principal or its groups allows the action (D13)",
    Reason.ADMIN_ACTION_EXCLUDED: "a role allows the action but a permission of that role excludes it (D13)",
    Reason.ADMIN_ROLE_DISABLED: "only a disabled role definition would allow the action (D13)",
    Reason.ADMIN_ASSIGNMENT_SCOPED_BELOW_TENANT: "only assignments scoped below the tenant (administrative "
    "unit, object or app scope) allow it; they do not reach tenant-wide settings (D13)",
    Reason.ADMIN_AUTHENTICATION_CONTEXT_REQUIRED: "a protected action: the caller must step up to the required "
    "authentication context (D13)",
    Reason.ADMIN_CONDITION_NOT_EVALUATED: "only a permission or assignment with a condition allows it; the PDP "
    "does not evaluate conditions, so it grants nothing (D13)",
    Reason.ADMIN_ROLES_NOT_IN_SNAPSHOT: "the tenant's role assignments are not in the snapshot (D13)",
}


def admin_lines(tenant_name: str, admin: AdminIndex | None, q: AdminActionQuery, result: Result) -> list[str]:
    action = SPELLING.get(q.action, q.action)
    lines = [f"role assignments of {tenant_name} for `{action}`:"]
    if admin is None or not admin.assignments_exported:
        return [*lines, "  no roleAssignments.json was exported for this tenant"]
    principals = {q.principal_id: "the principal", **{g: f"group {g}" for g in q.group_ids}}
    for assignment in admin.assignments:
        who = principals.get(assignment.principal_id)
        if who is None:
            continue
        role = admin.roles[assignment.role]
        if q.action in role.allowed_actions:
            what = "allows it"
            if q.action in role.excluded_actions:
                what = "allows it but excludes it"
        elif q.action in role.conditional_actions:
            what = "allows it only under a condition (not evaluated)"
        else:
            what = "does not allow it"
        notes = [] if role.enabled else ["role disabled"]
        if not assignment.tenant_wide:
            notes.append(f"scope `{assignment.scope}` is below the tenant")
        if assignment.conditional:
            notes.append("assignment has a condition")
        if role.from_catalogue:
            notes.append("definition from the built-in catalogue")
        suffix = f" ({'; '.join(notes)})" if notes else ""
        lines.append(f"  {who}: {role.display_name}: {what}{suffix}")
    if len(lines) == 1:
        lines.append("  none: no role is assigned to the principal or the groups it presents")
    context = admin.protected.get(q.action)
    if context is not None:
        presented = ", ".join(sorted(q.authentication_contexts)) or "none"
        lines.append(f"  protected action: requires authentication context `{context}`; presented: {presented}")
    if result.admin is not None and result.admin.roles:
        lines.append("  roles named in the answer: " + ", ".join(r.display_name for r in result.admin.roles))
    return lines
