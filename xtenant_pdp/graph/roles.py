"""PARSE: Entra role management exports -> typed role definitions, assignments and resource actions.

Three optional files in a tenant folder, each the verbatim body of a Graph list call
(``{"value": [...]}``, ``@odata.*`` tolerated):

- ``roleDefinitions.json``: GET /roleManagement/directory/roleDefinitions (unifiedRoleDefinition)
- ``roleAssignments.json``: GET /roleManagement/directory/roleAssignments (unifiedRoleAssignment)
- ``resourceActions.json``: GET /roleManagement/directory/resourceNamespaces/microsoft.directory/
  resourceActions (unifiedRbacResourceAction: the protected actions and their authentication context)

Role data decides who may change the settings, so nothing unknown is read as harmless: a property
this version does not know is an error naming the closest known one (a misspelt
``excludedResourceActions`` or ``condition`` would otherwise widen a grant).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar

from xtenant_pdp.admin.actions import (
    ACTION_RE,
    MAX_ACTION_LENGTH,
    is_wildcard,
    misspelt,
)
from xtenant_pdp.errors import CompileErrors, CompileIssue, IssueCode
from xtenant_pdp.graph.files import RESOURCE_ACTIONS_FILE, ROLE_ASSIGNMENTS_FILE, ROLE_DEFINITIONS_FILE
from xtenant_pdp.graph.model import Loc
from xtenant_pdp.graph.reader import Reader, suggest

BUILTIN_ROLES_FILE = "builtin_roles.json"
ROLE_FILES = (ROLE_DEFINITIONS_FILE, ROLE_ASSIGNMENTS_FILE, RESOURCE_ACTIONS_FILE)

# v1.0 and beta properties (microsoft-graph-docs-contrib resources/unifiedroledefinition.md,
# unifiedrolepermission.md, unifiedroleassignment.md, unifiedrbacresourceaction.md).
_DEFINITION_KEYS = frozenset(
    {
        "id",
        "description",
        "displayName",
        "isBuiltIn",
        "isEnabled",
        "isPrivileged",
        "resourceScopes",
        "templateId",
        "version",
        "rolePermissions",
        "inheritsPermissionsFrom",
        "allowedPrincipalTypes",
    }
)
_PERMISSION_KEYS = frozenset({"allowedResourceActions", "excludedResourceActions", "condition"})
_ASSIGNMENT_KEYS = frozenset(
    {
        "id",
        "principalId",
        "roleDefinitionId",
        "directoryScopeId",
        "appScopeId",
        "condition",
        "principalOrganizationId",
        "resourceScope",
        "principal",
        "roleDefinition",
        "directoryScope",
        "appScope",
    }
)
_RESOURCE_ACTION_KEYS = frozenset(
    {
        "id",
        "name",
        "actionVerb",
        "description",
        "authenticationContextId",
        "isAuthenticationContextSettable",
        "isPrivileged",
        "resourceScopeId",
        "resourceScope",
        "authenticationContext",
    }
)
_CATALOGUE_KEYS = frozenset({"source", "retrieved", "note", "value"})
TENANT_SCOPE = "/"
_Item = TypeVar("_Item")


@dataclass(frozen=True, slots=True, kw_only=True)
class RolePermission:
    """unifiedRolePermission; actions as exported (compared lower-cased)."""

    allowed: tuple[str, ...]
    excluded: tuple[str, ...]
    condition: str | None
    loc: Loc


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleDefinition:
    """unifiedRoleDefinition (ids lower-cased)."""

    id: str
    display_name: str
    template_id: str | None
    is_built_in: bool
    is_enabled: bool
    permissions: tuple[RolePermission, ...]
    inherits_from: tuple[str, ...]
    loc: Loc


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleAssignment:
    """unifiedRoleAssignment (ids lower-cased)."""

    principal_id: str
    role_definition_id: str
    directory_scope_id: str | None
    app_scope_id: str | None
    condition: str | None
    loc: Loc

    @property
    def tenant_wide(self) -> bool:
        """D13: only directory scope `/` with no app scope reaches tenant-wide settings."""
        return self.directory_scope_id == TENANT_SCOPE and not self.app_scope_id


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceAction:
    """unifiedRbacResourceAction: a protected action when authentication_context_id is set."""

    name: str
    authentication_context_id: str | None
    loc: Loc


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleExport:
    """What a tenant folder holds of role management; None: that file is absent."""

    definitions: tuple[RoleDefinition, ...] | None = None
    assignments: tuple[RoleAssignment, ...] | None = None
    resource_actions: tuple[ResourceAction, ...] | None = None


class RoleParser(Reader):
    def strict_keys(self, data: dict[str, Any], at: Loc, known: frozenset[str]) -> None:
        for key in data:
            if key in known or key.startswith("@odata.") or "@odata." in key:
                continue
            best = suggest(key, known)
            self.error(
                at.child(key),
                "unknown property",
                IssueCode.UNKNOWN_ROLE_PROPERTY,
                hint=f'did you mean "{best}"?' if best else "role data must be a Graph body this version knows",
            )

    def page(self, value: object, what: str) -> tuple[list[Any], Loc]:
        """The items of a `{"value": [...]}` list body (a bare array is accepted too)."""
        root = self.root()
        if isinstance(value, dict):
            self.strict_keys(value, root, frozenset({"value"}))
            if "@odata.nextLink" in value:
                self.warn(
                    root.child("@odata.nextLink"),
                    f"the export is one page of several: {what} on later pages are missing",
                    IssueCode.PAGINATED_EXPORT,
                    hint="follow @odata.nextLink and merge every page's `value` into one file",
                )
            items_at = root.child("value")
            if value.get("value") is None:
                self.error(items_at, "is required", IssueCode.MISSING_FIELD, hint=f'wrap {what} in {{"value": [...]}}')
                return [], items_at
            return self.array(value.get("value"), items_at), items_at
        return self.array(value, root), root

    def required_guid(self, data: dict[str, Any], key: str, at: Loc) -> str | None:
        return self.guid(data, key, at, required=True)

    def actions(self, data: dict[str, Any], key: str, at: Loc) -> tuple[str, ...]:
        found = []
        list_at = at.child(key)
        for i, item in enumerate(self.array(data.get(key), list_at)):
            if not isinstance(item, str):
                self.wrong_type(list_at.child(i), item, "a string")
                continue
            if len(item) > MAX_ACTION_LENGTH or ACTION_RE.fullmatch(item) is None:
                self.error(
                    list_at.child(i),
                    f"`{item[:80]}` is not a resource action",
                    IssueCode.INVALID_RESOURCE_ACTION,
                    hint="expected {namespace}/{entity}/[{propertySet}/]{action}",
                )
                continue
            wrong, best = misspelt(item)
            if wrong:
                self.warn(
                    list_at.child(i),
                    f"`{item}` is not a known cross-tenant access action: it grants nothing here",
                    IssueCode.INVALID_RESOURCE_ACTION,
                    hint=f'did you mean "{best}"?' if best else "see graph-model.md section 5",
                )
            found.append(item)
        return tuple(found)

    def permission(self, value: object, at: Loc) -> RolePermission | None:
        data = self.obj(value, at, nullable=False)
        if data is None:
            return None
        self.strict_keys(data, at, _PERMISSION_KEYS)
        return RolePermission(
            allowed=self.actions(data, "allowedResourceActions", at),
            excluded=self.actions(data, "excludedResourceActions", at),
            condition=self.string(data, "condition", at) or None,
            loc=at,
        )

    def definition(self, value: object, at: Loc) -> RoleDefinition | None:
        data = self.obj(value, at, nullable=False)
        if data is None:
            return None
        self.strict_keys(data, at, _DEFINITION_KEYS)
        role_id = self.required_guid(data, "id", at)
        template_raw = data.get("templateId")
        template_id = self.guid(data, "templateId", at) if template_raw else None
        enabled = self.boolean(data, "isEnabled", at)
        if "isEnabled" not in data:
            self.error(at.child("isEnabled"), "is required", IssueCode.MISSING_FIELD, hint="export isEnabled")
        perms_at = at.child("rolePermissions")
        raw_permissions = self.array(data.get("rolePermissions"), perms_at)
        permissions = [self.permission(v, perms_at.child(i)) for i, v in enumerate(raw_permissions)]
        inherits_at = at.child("inheritsPermissionsFrom")
        inherits = []
        for i, item in enumerate(self.array(data.get("inheritsPermissionsFrom"), inherits_at)):
            ref = self.obj(item, inherits_at.child(i), nullable=False)
            if ref is not None:
                self.strict_keys(ref, inherits_at.child(i), frozenset({"id"}))
                if (ref_id := self.required_guid(ref, "id", inherits_at.child(i))) is not None:
                    inherits.append(ref_id)
        if role_id is None or enabled is None or any(p is None for p in permissions):
            return None
        return RoleDefinition(
            id=role_id,
            display_name=self.string(data, "displayName", at) or role_id,
            template_id=template_id,
            is_built_in=bool(self.boolean(data, "isBuiltIn", at)),
            is_enabled=enabled,
            permissions=tuple(p for p in permissions if p is not None),
            inherits_from=tuple(inherits),
            loc=at,
        )

    def definitions(self, value: object) -> tuple[RoleDefinition, ...]:
        items, items_at = self.page(value, "role definitions")
        found = (self.definition(item, items_at.child(i)) for i, item in enumerate(items))
        return self._unique(found, "id", lambda d: d.id, "role definition", IssueCode.DUPLICATE_ROLE_DEFINITION)

    def _unique(
        self, found: Iterable[_Item | None], key_field: str, key: Callable[[_Item], str], what: str, code: IssueCode
    ) -> tuple[_Item, ...]:
        """The parsed items in order; a second item with the same key is an error naming the first."""
        seen: dict[str, Loc] = {}
        result = []
        for item in found:
            if item is None:
                continue
            loc: Loc = item.loc  # type: ignore[attr-defined]
            first = seen.setdefault(key(item), loc)
            if first is not loc:
                self.error(loc.child(key_field), f"duplicate {what} `{key(item)}` (first at {first.path})", code)
                continue
            result.append(item)
        return tuple(result)

    def assignment(self, value: object, at: Loc) -> RoleAssignment | None:
        data = self.obj(value, at, nullable=False)
        if data is None:
            return None
        self.strict_keys(data, at, _ASSIGNMENT_KEYS)
        principal = self.required_guid(data, "principalId", at)
        role = self.required_guid(data, "roleDefinitionId", at)
        directory_scope = self.string(data, "directoryScopeId", at)
        app_scope = self.string(data, "appScopeId", at)
        if not directory_scope and not app_scope:
            self.error(
                at.child("directoryScopeId"),
                "is required",
                IssueCode.MISSING_FIELD,
                hint='"/" for the whole tenant; Graph requires directoryScopeId or appScopeId',
            )
            return None
        if principal is None or role is None:
            return None
        return RoleAssignment(
            principal_id=principal,
            role_definition_id=role,
            directory_scope_id=directory_scope,
            app_scope_id=app_scope or None,
            condition=self.string(data, "condition", at) or None,
            loc=at,
        )

    def assignments(self, value: object) -> tuple[RoleAssignment, ...]:
        items, items_at = self.page(value, "role assignments")
        return tuple(a for i, v in enumerate(items) if (a := self.assignment(v, items_at.child(i))) is not None)

    def resource_action(self, value: object, at: Loc) -> ResourceAction | None:
        data = self.obj(value, at, nullable=False)
        if data is None:
            return None
        self.strict_keys(data, at, _RESOURCE_ACTION_KEYS)
        name = self.string(data, "name", at, required=True)
        context = self.string(data, "authenticationContextId", at)
        if name is not None and (ACTION_RE.fullmatch(name) is None or is_wildcard(name.lower())):
            self.error(at.child("name"), f"`{name[:80]}` is not a resource action", IssueCode.INVALID_RESOURCE_ACTION)
            return None
        if name is None:
            return None
        return ResourceAction(name=name, authentication_context_id=context or None, loc=at)

    def resource_actions(self, value: object) -> tuple[ResourceAction, ...]:
        items, items_at = self.page(value, "resource actions")
        found = (self.resource_action(item, items_at.child(i)) for i, item in enumerate(items))
        return self._unique(
            found, "name", lambda a: a.name.lower(), "resource action", IssueCode.DUPLICATE_RESOURCE_ACTION
        )

    def catalogue(self, value: object) -> tuple[RoleDefinition, ...]:
        data = self.obj(value, self.root(), nullable=False)
        if data is None:
            return ()
        self.strict_keys(data, self.root(), _CATALOGUE_KEYS)
        return self.definitions({"value": data.get("value")})


def parse_role_file(name: str, document: object, display: str, issues: list[CompileIssue]) -> Any:
    """One of ROLE_FILES, parsed; problems are appended to ``issues``."""
    parser = RoleParser(display, issues, [])
    if name == ROLE_DEFINITIONS_FILE:
        return parser.definitions(document)
    if name == ROLE_ASSIGNMENTS_FILE:
        return parser.assignments(document)
    return parser.resource_actions(document)


@functools.cache
def builtin_roles() -> dict[str, RoleDefinition]:
    """The bundled catalogue of built-in roles holding cross-tenant actions, by template id."""
    text = resources.files("xtenant_pdp").joinpath("data").joinpath(BUILTIN_ROLES_FILE).read_text("utf-8")
    issues: list[CompileIssue] = []
    found = RoleParser(f"<package>/{BUILTIN_ROLES_FILE}", issues, []).catalogue(json.loads(text))
    if issues:
        raise CompileErrors(issues)
    return {d.template_id or d.id: d for d in found}
