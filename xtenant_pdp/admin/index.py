"""INDEX for admin actions (D13): per principal (user, service principal or group), per action,
the prebuilt answer, so that a decision is one or two dict look-ups and no allocation.

Built once per snapshot from the tenant's AdminSettings. For each (principal, action) the
outcome of every assignment is folded into one :class:`Grant`: a grant by an enabled role
assigned tenant-wide wins; otherwise the most telling denial (excluded, then condition, then
disabled, then scoped below the tenant), naming the roles involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from xtenant_pdp.api import snapshot_pb2 as pb
from xtenant_pdp.decision import AdminDetail, Decision, Reason, Result, RoleRef, Source

#: Lower rank wins when a principal's own assignments and its groups' are folded together.
RANK = {
    Reason.ADMIN_ACTION_ALLOWED: 0,
    Reason.ADMIN_ACTION_EXCLUDED: 1,
    Reason.ADMIN_CONDITION_NOT_EVALUATED: 2,
    Reason.ADMIN_ROLE_DISABLED: 3,
    Reason.ADMIN_ASSIGNMENT_SCOPED_BELOW_TENANT: 4,
    Reason.ADMIN_NO_ROLE_GRANTS: 5,
}


@dataclass(frozen=True, slots=True)
class Grant:
    """The answer for one (principal, action): with and without the required context presented."""

    rank: int
    reason: Reason
    roles: tuple[RoleRef, ...]
    #: The answer when the action is not protected or its context is presented.
    result: Result
    #: The answer when the action is protected and its context is not presented.
    step_up: Result


class RoleRecord(NamedTuple):
    """A role definition as explain reads it: plain values, not the snapshot's message (holding
    any part of a parsed message keeps the whole parsed snapshot alive)."""

    id: str
    display_name: str
    enabled: bool
    from_catalogue: bool
    allowed_actions: tuple[str, ...]
    excluded_actions: tuple[str, ...]
    conditional_actions: tuple[str, ...]


class AssignmentRecord(NamedTuple):
    principal_id: str
    #: Index into AdminIndex.roles.
    role: int
    scope: str
    tenant_wide: bool
    conditional: bool


def _role_record(r: pb.AdminRole) -> RoleRecord:
    return RoleRecord(
        r.id,
        r.display_name,
        r.enabled,
        r.from_catalogue,
        tuple(r.allowed_actions),
        tuple(r.excluded_actions),
        tuple(r.conditional_actions),
    )


def _assignment_record(a: pb.AdminAssignment) -> AssignmentRecord:
    return AssignmentRecord(a.principal_id, a.role, a.scope, a.tenant_wide, a.conditional)


@dataclass(frozen=True, slots=True)
class AdminIndex:
    tenant_id: str
    #: principal id -> lower-case action -> grant.
    by_principal: dict[str, dict[str, Grant]]
    #: The principals (users, service principals, groups) holding any assignment.
    principals: frozenset[str]
    #: Lower-case action -> authentication context id.
    protected: dict[str, str]
    assignments_exported: bool
    #: Prebuilt "no role grants it" answers: per protected action, and one for the rest.
    no_role: dict[str, Result]
    no_role_default: Result
    roles: tuple[RoleRecord, ...]
    assignments: tuple[AssignmentRecord, ...]

    def grant(self, reason: Reason, roles: tuple[RoleRef, ...], action: str) -> Grant:
        return make_grant(self.tenant_id, reason, roles, self.protected.get(action, ""))

    def missing(self, action: str) -> Result:
        return self.no_role.get(action, self.no_role_default)


def _result(tenant_id: str, decision: Decision, reason: Reason, roles: tuple[RoleRef, ...], context: str) -> Result:
    return Result(decision, reason, Source.ROLE_MANAGEMENT, tenant_id, admin=AdminDetail(roles, context))


def make_grant(tenant_id: str, reason: Reason, roles: tuple[RoleRef, ...], context: str) -> Grant:
    if reason is Reason.ADMIN_ACTION_ALLOWED:
        result = _result(tenant_id, Decision.ALLOW, reason, roles, context)
        step_up = _result(tenant_id, Decision.DENY, Reason.ADMIN_AUTHENTICATION_CONTEXT_REQUIRED, roles, context)
    else:
        result = step_up = _result(tenant_id, Decision.DENY, reason, roles, context)
    return Grant(RANK[reason], reason, roles, result, step_up)


def merge(a: Grant, b: Grant, admin: AdminIndex, action: str) -> Grant:
    """Fold two outcomes for the same action: the lower rank wins; equal ranks name every role."""
    if b.rank < a.rank:
        return b
    if a.rank < b.rank or b.roles == a.roles:
        return a
    roles = tuple(sorted(set(a.roles) | set(b.roles), key=lambda r: (r.display_name, r.id)))
    return admin.grant(a.reason, roles, action)


def _outcome(role: RoleRecord, tenant_wide: bool, conditional: bool, action: str, excluded: frozenset[str]) -> Reason:
    if action in excluded:
        return Reason.ADMIN_ACTION_EXCLUDED
    if conditional:
        return Reason.ADMIN_CONDITION_NOT_EVALUATED
    if not role.enabled:
        return Reason.ADMIN_ROLE_DISABLED
    if not tenant_wide:
        return Reason.ADMIN_ASSIGNMENT_SCOPED_BELOW_TENANT
    return Reason.ADMIN_ACTION_ALLOWED


class _TableBuilder:
    """One (action -> grant) table per distinct set of assignments; grants shared by value."""

    def __init__(
        self,
        tenant_id: str,
        roles: tuple[RoleRecord, ...],
        protected: dict[str, str],
        shared: dict[tuple[Reason, tuple[RoleRef, ...], str], Grant],
    ) -> None:
        self.tenant_id = tenant_id
        self.roles = roles
        self.protected = protected
        self.shared = shared
        self.refs = [RoleRef(r.id, r.display_name) for r in roles]
        self.excluded = [frozenset(r.excluded_actions) for r in roles]

    def table(self, assignments: frozenset[tuple[int, bool, bool]]) -> dict[str, Grant]:
        folded: dict[str, tuple[int, Reason, set[RoleRef]]] = {}
        for index, tenant_wide, conditional in assignments:
            role = self.roles[index]
            ref = self.refs[index]
            excluded = self.excluded[index]
            outcomes = [(a, _outcome(role, tenant_wide, conditional, a, excluded)) for a in role.allowed_actions]
            outcomes += [(a, Reason.ADMIN_CONDITION_NOT_EVALUATED) for a in role.conditional_actions]
            for action, reason in outcomes:
                rank = RANK[reason]
                found = folded.get(action)
                if found is None or rank < found[0]:
                    folded[action] = (rank, reason, {ref})
                elif rank == found[0]:
                    found[2].add(ref)
        out: dict[str, Grant] = {}
        for action, (_, reason, role_refs) in folded.items():
            ordered = tuple(sorted(role_refs, key=lambda r: (r.display_name, r.id)))
            context = self.protected.get(action, "")
            key = (reason, ordered, context)
            grant = self.shared.get(key)
            if grant is None:
                grant = self.shared[key] = make_grant(self.tenant_id, reason, ordered, context)
            out[action] = grant
        return out


def build_admin(tenant_id: str, settings: pb.AdminSettings) -> AdminIndex:
    roles = tuple(_role_record(r) for r in settings.roles)
    assignments = tuple(_assignment_record(a) for a in settings.assignments)
    protected = {p.action: p.authentication_context_id for p in settings.protected_actions}
    no_role = {
        action: _result(tenant_id, Decision.DENY, Reason.ADMIN_NO_ROLE_GRANTS, (), context)
        for action, context in protected.items()
    }
    default_reason = Reason.ADMIN_NO_ROLE_GRANTS
    if not settings.assignments_exported:
        default_reason = Reason.ADMIN_ROLES_NOT_IN_SNAPSHOT
        no_role = {a: r._replace(reason=default_reason) for a, r in no_role.items()}
    admin = AdminIndex(
        tenant_id=tenant_id,
        by_principal={},
        principals=frozenset(a.principal_id for a in assignments),
        protected=protected,
        assignments_exported=settings.assignments_exported,
        no_role=no_role,
        no_role_default=_result(tenant_id, Decision.DENY, default_reason, (), ""),
        roles=roles,
        assignments=assignments,
    )
    # Principals with the same assignments (role, tenant-wide, conditional) share one table: most
    # hold one role, so a tenant's thousands of assignments need a handful of tables.
    signatures: dict[str, set[tuple[int, bool, bool]]] = {}
    for a in assignments:
        signatures.setdefault(a.principal_id, set()).add((a.role, a.tenant_wide, a.conditional))
    tables: dict[frozenset[tuple[int, bool, bool]], dict[str, Grant]] = {}
    shared: dict[tuple[Reason, tuple[RoleRef, ...], str], Grant] = {}
    builder = _TableBuilder(tenant_id, roles, protected, shared)
    for principal, signature in signatures.items():
        key = frozenset(signature)
        table = tables.get(key)
        if table is None:
            table = tables[key] = builder.table(key)
        admin.by_principal[principal] = table
    return admin
