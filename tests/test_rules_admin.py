"""Table-driven cases for D13 and graph-model.md section 5 (issue 13): who may change the settings.

Every case runs the real pipeline: Graph role exports -> compile -> snapshot -> index -> evaluator,
asking the adminAction question in its JSON mapping.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from policy_kit import GROUP, GROUP2, OTHER, RESOURCE, USER, USER2, outcome, tenant, write_policy

from xtenant_pdp import snapshot as snapshot_file
from xtenant_pdp.admin.actions import KNOWN_ACTIONS, matches
from xtenant_pdp.compiler import compile_policy_dir
from xtenant_pdp.engine import Engine
from xtenant_pdp.errors import CompileErrors, IssueCode, Severity, SnapshotLoadError
from xtenant_pdp.loader import load_snapshot_bytes

P = "microsoft.directory/crossTenantAccessPolicy/"
TENANT_RELATIONSHIPS = "microsoft.directory/tenantRelationships/standard/read"
ROLE = "dddddddd-1111-4111-8111-000000000001"
ROLE2 = "dddddddd-1111-4111-8111-000000000002"
SECURITY_ADMINISTRATOR = "194ae4cb-b126-40b2-bd5b-6091b380977d"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
TEAMS_ADMINISTRATOR = "69091246-20e8-4a56-aa4d-066075b2a7a8"

# The seed's three recommended custom roles (seed-cross-tenant-access-overview.txt). The seed spells
# the first action `microsoft.directory.tenantRelationships/...`: a typo for the namespace separator.
SEED_ADMINISTRATOR = [
    TENANT_RELATIONSHIPS,
    *(
        P + a
        for a in (
            "standard/read",
            "allowedCloudEndpoints/update",
            "basic/update",
            "default/b2bCollaboration/update",
            "default/b2bDirectConnect/update",
            "default/crossCloudMeetings/update",
            "default/standard/read",
            "default/tenantRestrictions/update",
            "partners/b2bCollaboration/update",
            "partners/b2bDirectConnect/update",
            "partners/create",
            "partners/crossCloudMeetings/update",
            "partners/delete",
            "partners/identitySynchronization/basic/update",
            "partners/identitySynchronization/create",
            "partners/identitySynchronization/standard/read",
            "partners/standard/read",
            "partners/tenantRestrictions/update",
        )
    ),
]
SEED_READER = [
    TENANT_RELATIONSHIPS,
    *(
        P + a
        for a in (
            "standard/read",
            "default/standard/read",
            "partners/identitySynchronization/standard/read",
            "partners/standard/read",
        )
    ),
]
SEED_PARTNER_ADMINISTRATOR = [
    TENANT_RELATIONSHIPS,
    *(
        P + a
        for a in (
            "standard/read",
            "basic/update",
            "default/standard/read",
            "partners/b2bCollaboration/update",
            "partners/b2bDirectConnect/update",
            "partners/create",
            "partners/crossCloudMeetings/update",
            "partners/delete",
            "partners/identitySynchronization/basic/update",
            "partners/identitySynchronization/create",
            "partners/identitySynchronization/standard/read",
            "partners/standard/read",
            "partners/tenantRestrictions/update",
        )
    ),
]


def definition(
    role_id: str = ROLE,
    allowed: list[str] | None = None,
    *,
    excluded: list[str] | None = None,
    condition: str | None = None,
    enabled: bool = True,
    name: str = "Custom role",
    permissions: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    permission: dict[str, Any] = {"allowedResourceActions": allowed or [], "condition": condition}
    if excluded is not None:
        permission["excludedResourceActions"] = excluded
    return {
        "id": role_id,
        "displayName": name,
        "isBuiltIn": False,
        "isEnabled": enabled,
        "templateId": role_id,
        "version": "1",
        "resourceScopes": ["/"],
        "rolePermissions": permissions if permissions is not None else [permission],
        **extra,
    }


def assignment(principal: str = USER, role: str = ROLE, scope: str | None = "/", **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"id": f"a-{principal}-{role}", "principalId": principal, "roleDefinitionId": role}
    if scope is not None:
        found["directoryScopeId"] = scope
    return {**found, **extra}


def protected(action: str, context: str | None) -> dict[str, Any]:
    return {
        "id": action,
        "name": action,
        "actionVerb": "PATCH",
        "authenticationContextId": context,
        "isAuthenticationContextSettable": context is not None,
        "isPrivileged": False,
    }


def write_roles(
    root: Path,
    definitions: list[dict[str, Any]] | None = None,
    assignments: list[dict[str, Any]] | None = None,
    actions: list[dict[str, Any]] | None = None,
) -> Path:
    write_policy(root, {"resource": tenant(RESOURCE)})
    folder = root / "resource"
    for name, items in (
        ("roleDefinitions.json", definitions),
        ("roleAssignments.json", assignments),
        ("resourceActions.json", actions),
    ):
        if items is not None:
            (folder / name).write_text(
                json.dumps({"@odata.context": "https://graph.microsoft.com/...", "value": items})
            )
    return root


def admin_engine(tmp_path: Path, *args: Any, **kw: Any) -> Engine:
    return Engine.from_policy_dir(write_roles(tmp_path / "policy", *args, **kw))


def ask(
    engine: Engine,
    action: str,
    principal: str = USER,
    groups: tuple[str, ...] = (),
    contexts: tuple[str, ...] = (),
    tenant_id: str = RESOURCE,
) -> dict[str, Any]:
    return engine.check(
        {
            "adminAction": {
                "tenantId": tenant_id,
                "principalId": principal,
                "groupIds": list(groups),
                "action": action,
                "authenticationContexts": list(contexts),
            }
        }
    )


def role_names(answer: dict[str, Any]) -> list[str]:
    return [r["displayName"] for r in answer.get("adminAction", {}).get("roles", [])]


# --------------------------------------------------------------------------- the seed's custom roles


@pytest.mark.parametrize(
    "actions",
    [SEED_ADMINISTRATOR, SEED_READER, SEED_PARTNER_ADMINISTRATOR],
    ids=["administrator", "reader", "partner-administrator"],
)
def test_D13_seed_custom_role_allows_every_listed_action_and_nothing_else(tmp_path: Path, actions: list[str]) -> None:
    engine = admin_engine(tmp_path, [definition(allowed=actions, name="Seed role")], [assignment()])
    for action in actions:
        answer = ask(engine, action)
        assert outcome(answer) == ("ALLOW", "ADMIN_ACTION_ALLOWED"), action
        assert role_names(answer) == ["Seed role"]
        assert answer["source"] == "SOURCE_ROLE_MANAGEMENT"
    others = [a for a in KNOWN_ACTIONS if a not in actions]
    assert others  # every seed role leaves something out (the templates at least)
    for action in others:
        assert outcome(ask(engine, action)) == ("DENY", "ADMIN_NO_ROLE_GRANTS"), action


def test_D13_seed_partner_administrator_cannot_change_the_default(tmp_path: Path) -> None:
    engine = admin_engine(tmp_path, [definition(allowed=SEED_PARTNER_ADMINISTRATOR)], [assignment()])
    for setting in ("b2bCollaboration", "b2bDirectConnect", "crossCloudMeetings", "tenantRestrictions"):
        assert outcome(ask(engine, f"{P}default/{setting}/update")) == ("DENY", "ADMIN_NO_ROLE_GRANTS")
    assert outcome(ask(engine, P + "allowedCloudEndpoints/update")) == ("DENY", "ADMIN_NO_ROLE_GRANTS")


# --------------------------------------------------------------------------- assignments


def test_D13_group_assignment_grants_members_that_present_the_group(tmp_path: Path) -> None:
    engine = admin_engine(tmp_path, [definition(allowed=SEED_READER)], [assignment(GROUP)])
    assert outcome(ask(engine, P + "standard/read")) == ("DENY", "ADMIN_NO_ROLE_GRANTS")
    assert outcome(ask(engine, P + "standard/read", groups=(GROUP2,))) == ("DENY", "ADMIN_NO_ROLE_GRANTS")
    assert outcome(ask(engine, P + "standard/read", groups=(GROUP2, GROUP))) == ("ALLOW", "ADMIN_ACTION_ALLOWED")


def test_D13_answer_lists_every_granting_role(tmp_path: Path) -> None:
    engine = admin_engine(
        tmp_path,
        [definition(ROLE, SEED_READER, name="Reader"), definition(ROLE2, SEED_ADMINISTRATOR, name="Admin")],
        [assignment(USER, ROLE), assignment(GROUP, ROLE2)],
    )
    answer = ask(engine, P + "standard/read", groups=(GROUP,))
    assert outcome(answer) == ("ALLOW", "ADMIN_ACTION_ALLOWED")
    assert role_names(answer) == ["Admin", "Reader"]
    assert role_names(ask(engine, P + "standard/read")) == ["Reader"]


def test_D13_disabled_role_grants_nothing(tmp_path: Path) -> None:
    engine = admin_engine(
        tmp_path,
        [definition(ROLE, SEED_ADMINISTRATOR, enabled=False, name="Off"), definition(ROLE2, SEED_READER, name="On")],
        [assignment(USER, ROLE), assignment(USER2, ROLE), assignment(USER2, ROLE2)],
    )
    answer = ask(engine, P + "partners/create")
    assert outcome(answer) == ("DENY", "ADMIN_ROLE_DISABLED")
    assert role_names(answer) == ["Off"]
    # Another enabled role that grants the action wins over the disabled one.
    assert outcome(ask(engine, P + "standard/read", principal=USER2)) == ("ALLOW", "ADMIN_ACTION_ALLOWED")
    assert role_names(ask(engine, P + "standard/read", principal=USER2)) == ["On"]


@pytest.mark.parametrize(
    "scope",
    [
        {"directoryScopeId": "/administrativeUnits/eeeeeeee-0000-4000-8000-000000000001"},
        {"directoryScopeId": "/eeeeeeee-0000-4000-8000-000000000002"},
        {"directoryScopeId": "/", "appScopeId": "/eeeeeeee-0000-4000-8000-000000000003"},
        {"appScopeId": "/"},
    ],
    ids=["administrative-unit", "object", "app-scope", "app-scope-only"],
)
def test_D13_assignment_scoped_below_the_tenant_does_not_reach_the_settings(
    tmp_path: Path, scope: dict[str, str]
) -> None:
    engine = admin_engine(tmp_path, [definition(allowed=SEED_ADMINISTRATOR)], [{**assignment(scope=None), **scope}])
    answer = ask(engine, P + "partners/create")
    assert outcome(answer) == ("DENY", "ADMIN_ASSIGNMENT_SCOPED_BELOW_TENANT")
    assert role_names(answer) == ["Custom role"]


def test_D13_excluded_action_is_denied_even_when_another_permission_allows_it(tmp_path: Path) -> None:
    permissions = [
        {"allowedResourceActions": SEED_ADMINISTRATOR, "condition": None},
        {"allowedResourceActions": [], "excludedResourceActions": [P + "partners/delete"], "condition": None},
    ]
    engine = admin_engine(tmp_path, [definition(permissions=permissions)], [assignment()])
    assert outcome(ask(engine, P + "partners/delete")) == ("DENY", "ADMIN_ACTION_EXCLUDED")
    assert outcome(ask(engine, P + "partners/create")) == ("ALLOW", "ADMIN_ACTION_ALLOWED")


def test_D13_permission_with_a_condition_grants_nothing(tmp_path: Path) -> None:
    permissions = [
        {"allowedResourceActions": [P + "partners/b2bCollaboration/update"], "condition": "$SubjectIsOwner"},
        {"allowedResourceActions": [P + "partners/standard/read"], "condition": None},
    ]
    root = write_roles(tmp_path / "policy", [definition(permissions=permissions)], [assignment()])
    result = compile_policy_dir(root)
    findings = [f for f in result.findings if f.code is IssueCode.ROLE_CONDITION_NOT_EVALUATED]
    assert [(f.path, f.severity) for f in findings] == [("$.value[0].rolePermissions[0].condition", Severity.WARNING)]
    engine = Engine.from_policy_dir(root)
    assert outcome(ask(engine, P + "partners/b2bCollaboration/update")) == ("DENY", "ADMIN_CONDITION_NOT_EVALUATED")
    assert outcome(ask(engine, P + "partners/standard/read")) == ("ALLOW", "ADMIN_ACTION_ALLOWED")


def test_D13_assignment_with_a_condition_grants_nothing(tmp_path: Path) -> None:
    engine = admin_engine(
        tmp_path, [definition(allowed=SEED_READER)], [assignment(condition="@Resource.isOwner == true")]
    )
    assert outcome(ask(engine, P + "standard/read")) == ("DENY", "ADMIN_CONDITION_NOT_EVALUATED")


# --------------------------------------------------------------------------- protected actions


def test_D13_protected_action_requires_its_authentication_context(tmp_path: Path) -> None:
    engine = admin_engine(
        tmp_path,
        [definition(allowed=SEED_ADMINISTRATOR)],
        [assignment()],
        [protected(P + "partners/create", "c2"), protected(P + "standard/read", None)],
    )
    without = ask(engine, P + "partners/create")
    assert outcome(without) == ("DENY", "ADMIN_AUTHENTICATION_CONTEXT_REQUIRED")
    assert without["adminAction"]["requiredAuthenticationContextId"] == "c2"
    assert role_names(without) == ["Custom role"]
    assert outcome(ask(engine, P + "partners/create", contexts=("c1",))) == (
        "DENY",
        "ADMIN_AUTHENTICATION_CONTEXT_REQUIRED",
    )
    with_context = ask(engine, P + "partners/create", contexts=("c1", "C2"))
    assert outcome(with_context) == ("ALLOW", "ADMIN_ACTION_ALLOWED")
    assert with_context["adminAction"]["requiredAuthenticationContextId"] == "c2"
    # Not protected (listed without a context, or not listed): no step-up.
    assert outcome(ask(engine, P + "standard/read")) == ("ALLOW", "ADMIN_ACTION_ALLOWED")
    assert outcome(ask(engine, P + "partners/delete")) == ("ALLOW", "ADMIN_ACTION_ALLOWED")


def test_D13_denial_still_names_the_context_a_protected_action_needs(tmp_path: Path) -> None:
    engine = admin_engine(
        tmp_path, [definition(allowed=SEED_READER)], [assignment()], [protected(P + "partners/delete", "c3")]
    )
    answer = ask(engine, P + "partners/delete", contexts=("c3",))
    assert outcome(answer) == ("DENY", "ADMIN_NO_ROLE_GRANTS")
    assert answer["adminAction"]["requiredAuthenticationContextId"] == "c3"


# --------------------------------------------------------------------------- tenants and catalogue


def test_D13_unknown_tenant_is_not_in_snapshot(tmp_path: Path) -> None:
    engine = admin_engine(tmp_path, [definition(allowed=SEED_READER)], [assignment()])
    answer = ask(engine, P + "standard/read", tenant_id=OTHER)
    assert outcome(answer) == ("DENY", "TENANT_NOT_IN_SNAPSHOT")
    assert answer["policyTenantId"] == OTHER


def test_D13_tenant_without_role_assignments_fails_closed(tmp_path: Path) -> None:
    engine = admin_engine(tmp_path, [definition(allowed=SEED_READER)])
    assert outcome(ask(engine, P + "standard/read")) == ("DENY", "ADMIN_ROLES_NOT_IN_SNAPSHOT")
    bare = Engine.from_policy_dir(write_policy(tmp_path / "bare", {"resource": tenant(RESOURCE)}))
    assert outcome(ask(bare, P + "standard/read")) == ("DENY", "ADMIN_ROLES_NOT_IN_SNAPSHOT")


@pytest.mark.parametrize(
    ("role", "action", "want"),
    [
        (SECURITY_ADMINISTRATOR, P + "default/tenantRestrictions/update", "ALLOW"),
        (
            SECURITY_ADMINISTRATOR,
            P + "partners/templates/multiTenantOrganizationPartnerConfiguration/basic/update",
            "ALLOW",
        ),
        (GLOBAL_READER, P + "partners/identitySynchronization/standard/read", "ALLOW"),
        (GLOBAL_READER, P + "partners/create", "DENY"),
        (TEAMS_ADMINISTRATOR, P + "partners/crossCloudMeetings/update", "ALLOW"),
        (TEAMS_ADMINISTRATOR, P + "partners/identitySynchronization/standard/read", "DENY"),
    ],
)
def test_D13_assignment_of_a_built_in_role_missing_from_the_export_uses_the_catalogue(
    tmp_path: Path, role: str, action: str, want: str
) -> None:
    engine = admin_engine(tmp_path, [definition(allowed=SEED_READER)], [assignment(role=role)])
    assert outcome(ask(engine, action))[0] == want


def test_D13_assignment_of_an_unknown_role_grants_nothing_and_is_a_finding(tmp_path: Path) -> None:
    root = write_roles(tmp_path / "policy", [definition(allowed=SEED_READER)], [assignment(role=ROLE2)])
    result = compile_policy_dir(root)
    [finding] = [f for f in result.findings if f.code is IssueCode.ROLE_DEFINITION_NOT_FOUND]
    assert (finding.file, finding.path, finding.severity) == (
        "resource/roleAssignments.json",
        "$.value[0].roleDefinitionId",
        Severity.WARNING,
    )
    assert outcome(ask(Engine.from_policy_dir(root), P + "standard/read")) == ("DENY", "ADMIN_NO_ROLE_GRANTS")


def test_D13_exported_definition_wins_over_the_catalogue(tmp_path: Path) -> None:
    narrowed = definition(SECURITY_ADMINISTRATOR, [P + "standard/read"], name="Security Administrator")
    engine = admin_engine(tmp_path, [narrowed], [assignment(role=SECURITY_ADMINISTRATOR)])
    assert outcome(ask(engine, P + "partners/create")) == ("DENY", "ADMIN_NO_ROLE_GRANTS")


def test_D13_inherited_permissions_count(tmp_path: Path) -> None:
    child = definition(ROLE2, [P + "standard/read"], inheritsPermissionsFrom=[{"id": ROLE}])
    engine = admin_engine(tmp_path, [definition(ROLE, [P + "partners/create"]), child], [assignment(role=ROLE2)])
    assert outcome(ask(engine, P + "partners/create")) == ("ALLOW", "ADMIN_ACTION_ALLOWED")


# --------------------------------------------------------------------------- case and wildcards


def test_D13_ids_and_actions_compare_without_regard_to_case(tmp_path: Path) -> None:
    upper_actions = [a.upper() for a in SEED_READER]
    engine = admin_engine(tmp_path, [definition(ROLE.upper(), upper_actions)], [assignment(USER.upper(), ROLE.upper())])
    answer = ask(engine, (P + "Partners/Standard/READ").lower(), principal=USER, tenant_id=RESOURCE.upper())
    assert outcome(answer) == ("ALLOW", "ADMIN_ACTION_ALLOWED")
    assert outcome(ask(engine, P.upper() + "STANDARD/READ", principal=USER.upper())) == (
        "ALLOW",
        "ADMIN_ACTION_ALLOWED",
    )


@pytest.mark.parametrize(
    ("pattern", "granted", "not_granted"),
    [
        # allProperties: one property set of the same entity; allTasks: CRUD; create/delete take no property set.
        (
            P + "allProperties/allTasks",
            ["standard/read", "basic/update", "allowedCloudEndpoints/update"],
            ["default/standard/read", "partners/create", "partners/standard/read", "default/b2bCollaboration/update"],
        ),
        (
            P + "partners/allProperties/allTasks",
            ["partners/create", "partners/delete", "partners/standard/read", "partners/tenantRestrictions/update"],
            ["partners/identitySynchronization/create", "partners/identitySynchronization/standard/read"],
        ),
        (
            P + "partners/allProperties/read",
            ["partners/standard/read"],
            ["partners/create", "partners/b2bCollaboration/update", "partners/identitySynchronization/standard/read"],
        ),
        (
            P + "default/allProperties/update",
            ["default/b2bCollaboration/update", "default/tenantRestrictions/update"],
            ["default/standard/read", "basic/update"],
        ),
        (
            P + "partners/templates/multiTenantOrganizationPartnerConfiguration/allProperties/allTasks",
            ["partners/templates/multiTenantOrganizationPartnerConfiguration/basic/update"],
            ["partners/templates/multiTenantOrganizationPartnerConfiguration/resetToDefaultSettings"],
        ),
        # allEntities: any entity path of one or more segments.
        (
            "microsoft.directory/allEntities/allProperties/read",
            ["standard/read", "partners/standard/read", "partners/identitySynchronization/standard/read"],
            ["basic/update", "partners/create"],
        ),
        (
            "microsoft.directory/allEntities/allTasks",
            ["partners/create", "partners/identitySynchronization/create", "standard/read"],
            ["partners/templates/multiTenantOrganizationIdentitySynchronization/resetToDefaultSettings"],
        ),
    ],
    ids=[
        "allProperties-allTasks",
        "sub-entity-allProperties-allTasks",
        "allProperties-read",
        "allProperties-update",
        "allTasks-is-only-CRUD",
        "allEntities-allProperties",
        "allEntities-allTasks",
    ],
)
def test_D13_wildcard_forms(tmp_path: Path, pattern: str, granted: list[str], not_granted: list[str]) -> None:
    engine = admin_engine(tmp_path, [definition(allowed=[pattern])], [assignment()])
    for action in granted:
        full = action if action.startswith("microsoft.") else P + action
        assert outcome(ask(engine, full)) == ("ALLOW", "ADMIN_ACTION_ALLOWED"), (pattern, action)
    for action in not_granted:
        full = action if action.startswith("microsoft.") else P + action
        assert outcome(ask(engine, full)) == ("DENY", "ADMIN_NO_ROLE_GRANTS"), (pattern, action)


def test_D13_wildcards_match_case_insensitively_and_exclusions_expand_too() -> None:
    assert matches((P + "allProperties/allTasks").lower(), (P + "basic/update").lower())
    assert not matches((P + "allProperties/allTasks").lower(), (P + "basic/update").upper())
    assert matches("microsoft.teams/allentities/allproperties/alltasks", "microsoft.teams/meetings/policy/update")
    assert not matches("microsoft.teams/allentities/allproperties/alltasks", "microsoft.directory/users/policy/update")


def test_D13_wildcard_exclusion(tmp_path: Path) -> None:
    engine = admin_engine(
        tmp_path,
        [definition(allowed=[P + "partners/allProperties/allTasks"], excluded=[P + "partners/allProperties/update"])],
        [assignment()],
    )
    assert outcome(ask(engine, P + "partners/create")) == ("ALLOW", "ADMIN_ACTION_ALLOWED")
    assert outcome(ask(engine, P + "partners/b2bDirectConnect/update")) == ("DENY", "ADMIN_ACTION_EXCLUDED")


def test_D13_literal_action_outside_the_known_list_is_granted_literally(tmp_path: Path) -> None:
    engine = admin_engine(
        tmp_path,
        [definition(allowed=["microsoft.directory/users/create", "microsoft.directory/groups/allProperties/allTasks"])],
        [assignment()],
    )
    assert outcome(ask(engine, "microsoft.directory/users/create")) == ("ALLOW", "ADMIN_ACTION_ALLOWED")
    # Wildcards expand against the known cross-tenant actions only: fail closed elsewhere.
    assert outcome(ask(engine, "microsoft.directory/groups/create")) == ("DENY", "ADMIN_NO_ROLE_GRANTS")


# --------------------------------------------------------------------------- questions


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("action", P + "partner/create", 'did you mean "microsoft.directory/crossTenantAccessPolicy/partners/create"?'),
        ("action", P + "allProperties/allTasks", "is a wildcard"),
        ("action", "not an action", "is not a resource action"),
        ("action", "", "is required"),
        ("principalId", "alex", "is not a GUID"),
        ("tenantId", "", "is required"),
    ],
)
def test_D13_malformed_question_is_invalid_argument_naming_the_field(
    tmp_path: Path, field: str, value: str, message: str
) -> None:
    engine = admin_engine(tmp_path, [definition(allowed=SEED_READER)], [assignment()])
    question = {"tenantId": RESOURCE, "principalId": USER, "action": P + "standard/read", field: value}
    answer = engine.check({"adminAction": question})
    assert outcome(answer) == ("DENY", "INVALID_REQUEST")
    assert answer["error"]["field"] == f"adminAction.{field}"
    assert message in answer["error"]["message"]


def test_D13_authentication_contexts_are_bounded(tmp_path: Path) -> None:
    engine = admin_engine(tmp_path, [definition(allowed=SEED_READER)], [assignment()])
    question = {"tenantId": RESOURCE, "principalId": USER, "action": P + "standard/read"}
    answer = engine.check({"adminAction": {**question, "authenticationContexts": ["c1", ""]}})
    assert answer["error"]["field"] == "adminAction.authenticationContexts[1]"
    answer = engine.check({"adminAction": {**question, "authenticationContexts": ["c1"] * 65}})
    assert answer["error"]["field"] == "adminAction.authenticationContexts"


# --------------------------------------------------------------------------- ingest


def _errors(root: Path) -> list[Any]:
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root)
    return caught.value.issues


@pytest.mark.parametrize(
    ("file", "items", "path", "code", "hint"),
    [
        (
            "roleDefinitions.json",
            [
                {
                    **definition(allowed=SEED_READER),
                    "rolePermissions": [{"allowedResourceActions": [], "excludedResourceAction": []}],
                }
            ],
            "$.value[0].rolePermissions[0].excludedResourceAction",
            IssueCode.UNKNOWN_ROLE_PROPERTY,
            'did you mean "excludedResourceActions"?',
        ),
        (
            "roleDefinitions.json",
            [{**definition(), "isEnabled": "yes"}],
            "$.value[0].isEnabled",
            IssueCode.WRONG_TYPE,
            "",
        ),
        (
            "roleDefinitions.json",
            [{k: v for k, v in definition().items() if k != "isEnabled"}],
            "$.value[0].isEnabled",
            IssueCode.MISSING_FIELD,
            "export isEnabled",
        ),
        (
            "roleDefinitions.json",
            [definition(), definition()],
            "$.value[1].id",
            IssueCode.DUPLICATE_ROLE_DEFINITION,
            "",
        ),
        (
            "roleDefinitions.json",
            [definition(allowed=["microsoft.directory crossTenantAccessPolicy"])],
            "$.value[0].rolePermissions[0].allowedResourceActions[0]",
            IssueCode.INVALID_RESOURCE_ACTION,
            "expected {namespace}/{entity}/[{propertySet}/]{action}",
        ),
        (
            "roleAssignments.json",
            [{**assignment(), "appScopeID": "/"}],
            "$.value[0].appScopeID",
            IssueCode.UNKNOWN_ROLE_PROPERTY,
            'did you mean "appScopeId"?',
        ),
        (
            "roleAssignments.json",
            [assignment(principal="alex")],
            "$.value[0].principalId",
            IssueCode.INVALID_GUID,
            "use the 36-character id, e.g. 3d0f5dec-5d3d-455c-8016-e2af1ae4d31a",
        ),
        (
            "roleAssignments.json",
            [assignment(scope=None)],
            "$.value[0].directoryScopeId",
            IssueCode.MISSING_FIELD,
            '"/" for the whole tenant; Graph requires directoryScopeId or appScopeId',
        ),
        (
            "resourceActions.json",
            [protected(P + "partners/create", "c1"), protected((P + "partners/create").upper(), "c2")],
            "$.value[1].name",
            IssueCode.DUPLICATE_RESOURCE_ACTION,
            "",
        ),
        (
            "resourceActions.json",
            [{**protected(P + "partners/create", "c1"), "authenticationContextID": "c1"}],
            "$.value[0].authenticationContextID",
            IssueCode.UNKNOWN_ROLE_PROPERTY,
            'did you mean "authenticationContextId"?',
        ),
    ],
    ids=[
        "misspelt-excluded",
        "wrong-type",
        "missing-isEnabled",
        "duplicate-definition",
        "not-an-action",
        "misspelt-appScopeId",
        "principal-not-a-guid",
        "no-scope",
        "duplicate-resource-action",
        "misspelt-context",
    ],
)
def test_D13_bad_role_export_is_a_located_error(
    tmp_path: Path, file: str, items: list[dict[str, Any]], path: str, code: IssueCode, hint: str
) -> None:
    kwargs = {
        "roleDefinitions.json": "definitions",
        "roleAssignments.json": "assignments",
        "resourceActions.json": "actions",
    }
    root = write_roles(tmp_path / "policy", **{kwargs[file]: items})
    found = [(i.file, i.path, i.code, i.hint) for i in _errors(root)]
    assert (f"resource/{file}", path, code, hint) in found


def test_D13_role_exports_load_verbatim_with_odata_annotations_and_report_paging(tmp_path: Path) -> None:
    root = write_roles(tmp_path / "policy", [definition(allowed=SEED_READER, **{"@odata.type": "#x"})], [assignment()])
    body = json.loads((root / "resource" / "roleAssignments.json").read_text())
    body["@odata.nextLink"] = "https://graph.microsoft.com/v1.0/roleManagement/directory/roleAssignments?$skiptoken=x"
    (root / "resource" / "roleAssignments.json").write_text(json.dumps(body))
    result = compile_policy_dir(root)
    assert [(f.file, f.code) for f in result.findings if f.severity is Severity.WARNING] == [
        ("resource/roleAssignments.json", IssueCode.PAGINATED_EXPORT)
    ]
    assert outcome(ask(Engine.from_policy_dir(root), P + "standard/read")) == ("ALLOW", "ADMIN_ACTION_ALLOWED")


def test_D13_unknown_cross_tenant_action_in_a_definition_is_a_warning_with_did_you_mean(tmp_path: Path) -> None:
    root = write_roles(tmp_path / "policy", [definition(allowed=[P + "partner/create"])], [assignment()])
    [warning] = [f for f in compile_policy_dir(root).findings if f.code is IssueCode.INVALID_RESOURCE_ACTION]
    assert warning.severity is Severity.WARNING
    assert warning.hint == 'did you mean "microsoft.directory/crossTenantAccessPolicy/partners/create"?'


# --------------------------------------------------------------------------- snapshot


@pytest.mark.parametrize("fault", ["role-index", "no-roles"])
def test_D13_snapshot_whose_assignment_names_no_role_is_a_load_error(tmp_path: Path, fault: str) -> None:
    """A broken (or hostile) compiler's snapshot: hash-consistent, but an assignment points past the
    roles. It never becomes an index that could answer."""
    root = write_roles(tmp_path / "policy", [definition(allowed=SEED_READER)], [assignment()])
    result = compile_policy_dir(root)
    body = result.snapshot
    admin = body.tenants[0].admin
    if fault == "role-index":
        admin.assignments[0].role = 7
    else:
        del admin.roles[:]
    data = snapshot_file.dump(body, source_digest="0" * 64)
    with pytest.raises(SnapshotLoadError) as caught:
        load_snapshot_bytes(data, name="broken.xtsnap")
    assert str(caught.value).startswith("broken.xtsnap: ")


def test_D13_a_graph_beta_role_definitions_body_loads_verbatim(tmp_path: Path) -> None:
    """The shape GET /beta/roleManagement/directory/roleDefinitions returns (trimmed): built-ins with
    `inheritsPermissionsFrom` and its `@odata.context`, `$ResourceIsSelf` conditions, dotted and
    hyphenated action names of other namespaces."""
    body = json.loads((Path(__file__).parent / "testdata" / "graph" / "roleDefinitions-beta.json").read_text())
    root = write_roles(
        tmp_path / "policy",
        body["value"],
        [assignment(role=TEAMS_ADMINISTRATOR), assignment(USER2, "5d6b6bb7-de71-4623-b4af-96380a352509")],
    )
    result = compile_policy_dir(root)
    assert not [f for f in result.findings if f.severity is not Severity.INFO]  # conditions hold no cross-tenant action
    engine = Engine.from_policy_dir(root)
    assert outcome(ask(engine, P + "partners/create")) == ("ALLOW", "ADMIN_ACTION_ALLOWED")
    assert role_names(ask(engine, P + "partners/create")) == ["Teams Administrator"]
    assert outcome(ask(engine, P + "partners/delete")) == ("DENY", "ADMIN_NO_ROLE_GRANTS")
    # Inherited from Directory Readers (inheritsPermissionsFrom).
    assert outcome(ask(engine, "microsoft.directory/roleAssignments/standard/read")) == (
        "ALLOW",
        "ADMIN_ACTION_ALLOWED",
    )
    assert outcome(ask(engine, P + "standard/read", principal=USER2)) == ("DENY", "ADMIN_NO_ROLE_GRANTS")


def test_D13_answers_are_built_with_the_index(example_engine: Engine) -> None:
    """Answering allocates no result: every adminAction answer of the example is the same object twice
    (a tenant without role files included), so the index never changes while it answers."""
    from xtenant_pdp import convert
    from xtenant_pdp.evaluator import evaluate

    lines = (Path(__file__).parent.parent / "xtenant_pdp" / "examples" / "questions.jsonl").read_text().splitlines()
    queries = [convert.query_from_proto(convert.request_from_json(line)) for line in lines if "adminAction" in line]
    assert len(queries) >= 10
    for query in queries:
        assert evaluate(example_engine.index, query) is evaluate(example_engine.index, query), query


def test_D13_the_seeds_dotted_tenant_relationships_action_is_named_with_its_graph_spelling(tmp_path: Path) -> None:
    """The seed lists `microsoft.directory.tenantRelationships/standard/read` (a dot for the slash)."""
    seed_spelling = "microsoft.directory.tenantRelationships/standard/read"
    root = write_roles(tmp_path / "policy", [definition(allowed=[seed_spelling])], [assignment()])
    [warning] = [f for f in compile_policy_dir(root).findings if f.code is IssueCode.INVALID_RESOURCE_ACTION]
    assert warning.hint == f'did you mean "{TENANT_RELATIONSHIPS}"?'
    engine = Engine.from_policy_dir(root)
    answer = ask(engine, seed_spelling)
    assert answer["error"]["field"] == "adminAction.action"
    assert f'did you mean "{TENANT_RELATIONSHIPS}"?' in answer["error"]["message"]
    assert outcome(ask(engine, TENANT_RELATIONSHIPS)) == ("DENY", "ADMIN_NO_ROLE_GRANTS")
