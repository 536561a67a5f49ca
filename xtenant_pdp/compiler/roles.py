"""COMPILE-ROLES stage (D13): role exports -> what each role grants, per tenant, ready to emit.

Actions are lower-cased and wildcards expanded against the known actions (section 5 plus the
tenant's resourceActions.json names). An assignment naming a role definition the export lacks
takes a built-in's actions from the bundled catalogue (by template id); anything else grants
nothing and is a finding. A permission with a ``condition`` grants nothing (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from xtenant_pdp.admin.actions import KNOWN_LOWER, expand
from xtenant_pdp.api import snapshot_pb2 as pb
from xtenant_pdp.errors import CompileIssue, IssueCode, Severity
from xtenant_pdp.graph.model import TenantSource
from xtenant_pdp.graph.roles import RoleAssignment, RoleDefinition, RoleExport, builtin_roles


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledRole:
    id: str
    display_name: str
    template_id: str
    enabled: bool
    built_in: bool
    from_catalogue: bool
    allowed: frozenset[str]
    excluded: frozenset[str]
    conditional: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledAssignment:
    principal_id: str
    role: int
    scope: str
    tenant_wide: bool
    conditional: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledAdmin:
    roles: tuple[CompiledRole, ...]
    assignments: tuple[CompiledAssignment, ...]
    #: Lower-case action -> lower-case authentication context id (`c1`...).
    protected: dict[str, str]
    assignments_exported: bool


def _expand_all(actions: Iterable[str], known: frozenset[str]) -> set[str]:
    found: set[str] = set()
    for action in actions:
        found |= expand(action.lower(), known)
    return found


class _TenantRoles:
    def __init__(self, export: RoleExport, issues: list[CompileIssue]) -> None:
        self.issues = issues
        self.definitions = {d.id: d for d in export.definitions or ()}
        self.catalogue = builtin_roles()
        names = (a.name.lower() for a in export.resource_actions or ())
        self.known = KNOWN_LOWER | frozenset(names)
        self.compiled: dict[str, int] = {}
        self.roles: list[CompiledRole] = []

    def lookup(self, role_id: str) -> tuple[RoleDefinition, bool] | None:
        found = self.definitions.get(role_id)
        if found is not None:
            return found, False
        found = self.catalogue.get(role_id)
        return (found, True) if found is not None else None

    def _permissions(self, definition: RoleDefinition, seen: frozenset[str]) -> list[tuple[RoleDefinition, int]]:
        """Own permissions and those of inheritsPermissionsFrom roles (beta), cycles cut."""
        result = [(definition, i) for i in range(len(definition.permissions))]
        for parent_id in definition.inherits_from:
            if parent_id in seen:
                continue
            parent = self.lookup(parent_id)
            if parent is None:
                self.issues.append(
                    CompileIssue(
                        file=definition.loc.file,
                        path=definition.loc.child("inheritsPermissionsFrom").path,
                        message=f"inherits from `{parent_id}`, which is neither exported nor a known built-in role",
                        code=IssueCode.ROLE_DEFINITION_NOT_FOUND,
                        severity=Severity.WARNING,
                        hint="its permissions are not counted; export roleDefinitions.json whole",
                    )
                )
                continue
            result += self._permissions(parent[0], seen | {parent_id})
        return result

    def role(self, role_id: str) -> int | None:
        index = self.compiled.get(role_id)
        if index is not None:
            return index
        found = self.lookup(role_id)
        if found is None:
            return None
        definition, from_catalogue = found
        allowed: set[str] = set()
        excluded: set[str] = set()
        conditional: set[str] = set()
        for owner, i in self._permissions(definition, frozenset({role_id})):
            permission = owner.permissions[i]
            granted = _expand_all(permission.allowed, self.known)
            excluded |= _expand_all(permission.excluded, self.known)
            if permission.condition is None:
                allowed |= granted
                continue
            conditional |= granted
            if granted & self.known:
                self.issues.append(
                    CompileIssue(
                        file=permission.loc.file,
                        path=permission.loc.child("condition").path,
                        message=f"`{permission.condition[:80]}`: the PDP does not evaluate conditions, so this "
                        f"permission grants none of its {len(granted & self.known)} cross-tenant action(s)",
                        code=IssueCode.ROLE_CONDITION_NOT_EVALUATED,
                        severity=Severity.WARNING,
                        hint="fail closed (D13); move the actions to a permission without a condition",
                    )
                )
        index = self.compiled[role_id] = len(self.roles)
        self.roles.append(
            CompiledRole(
                id=role_id,
                display_name=definition.display_name,
                template_id=definition.template_id or "",
                enabled=definition.is_enabled,
                built_in=definition.is_built_in,
                from_catalogue=from_catalogue,
                allowed=frozenset(allowed),
                excluded=frozenset(excluded),
                conditional=frozenset(conditional - allowed),
            )
        )
        return index

    def assignment(self, a: RoleAssignment) -> CompiledAssignment | None:
        role = self.role(a.role_definition_id)
        if role is None:
            self.issues.append(
                CompileIssue(
                    file=a.loc.file,
                    path=a.loc.child("roleDefinitionId").path,
                    message=f"role definition `{a.role_definition_id}` is neither exported nor a known built-in "
                    "role: the assignment grants nothing",
                    code=IssueCode.ROLE_DEFINITION_NOT_FOUND,
                    severity=Severity.WARNING,
                    hint="export roleDefinitions.json from the same tenant",
                )
            )
            return None
        return CompiledAssignment(
            principal_id=a.principal_id,
            role=role,
            scope=a.app_scope_id or a.directory_scope_id or "",
            tenant_wide=a.tenant_wide,
            conditional=a.condition is not None,
        )


def compile_roles(tenants: Sequence[TenantSource]) -> tuple[dict[str, CompiledAdmin], list[CompileIssue]]:
    """Per tenant id with role files: its compiled roles; plus the findings."""
    issues: list[CompileIssue] = []
    result: dict[str, CompiledAdmin] = {}
    for tenant in tenants:
        export = tenant.roles
        if export is None:
            continue
        roles = _TenantRoles(export, issues)
        for definition in export.definitions or ():
            roles.role(definition.id)
        assignments = tuple(c for a in export.assignments or () if (c := roles.assignment(a)) is not None)
        protected = {
            a.name.lower(): a.authentication_context_id.lower()
            for a in export.resource_actions or ()
            if a.authentication_context_id is not None
        }
        result[tenant.info.tenant_id] = CompiledAdmin(
            roles=tuple(roles.roles),
            assignments=assignments,
            protected=protected,
            assignments_exported=export.assignments is not None,
        )
    return result, issues


def emit_admin(out: pb.Tenant, admin: CompiledAdmin) -> None:
    settings = out.admin
    settings.SetInParent()  # presence matters: absent means no role file was exported
    settings.assignments_exported = admin.assignments_exported
    for role in admin.roles:
        settings.roles.add(
            id=role.id,
            display_name=role.display_name,
            template_id=role.template_id,
            enabled=role.enabled,
            built_in=role.built_in,
            from_catalogue=role.from_catalogue,
            allowed_actions=sorted(role.allowed),
            excluded_actions=sorted(role.excluded),
            conditional_actions=sorted(role.conditional),
        )
    for a in sorted(admin.assignments, key=lambda a: (a.principal_id, a.role, a.scope)):
        settings.assignments.add(
            principal_id=a.principal_id,
            role=a.role,
            scope=a.scope,
            tenant_wide=a.tenant_wide,
            conditional=a.conditional,
        )
    for action, context in sorted(admin.protected.items()):
        settings.protected_actions.add(action=action, authentication_context_id=context)
