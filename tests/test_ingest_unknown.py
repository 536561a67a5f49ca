"""D6 and D10 (issue 10 item 1): unfamiliar values and soft-deleted objects never read as a default.

Every damaged input starts from the real Graph bodies (tests/ingest_kit.py). unknownFutureValue
compiles to the fail-closed reading (answers carry REASON_UNKNOWN_*), a likely typo of a property
is a warning naming the right one, and a soft-deleted partner is skipped with a notice.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from ingest_kit import PARTNER_ID, SYNC_PARTNER_ID, TENANT_ID, example, partners_body, real_tenant, write

from xtenant_pdp import convert
from xtenant_pdp.compiler import CompileOptions, compile_policy_dir
from xtenant_pdp.engine import Engine
from xtenant_pdp.errors import CompileErrors, IssueCode, Severity
from xtenant_pdp.explain import explain

USER = "aaaaaaaa-0000-4000-8000-000000000001"
GROUP = "6f546279-4da5-4b53-a095-09ea0cef9971"  # the group partner-create-response.json blocks
APP = "cccccccc-0000-4000-8000-000000000001"
OTHER_APP = "cccccccc-0000-4000-8000-000000000002"


def _half(access: str, *targets: tuple[str, str]) -> dict[str, Any]:
    return {"accessType": access, "targets": [{"target": t, "targetType": k} for t, k in targets]}


def _with_inbound(tmp_path: Path, users: dict[str, Any], apps: dict[str, Any]) -> Path:
    """The real partners body, its created partner given this b2bCollaborationInbound."""
    root = real_tenant(tmp_path)
    body = partners_body()
    body["value"][0]["b2bCollaborationInbound"] = {"usersAndGroups": users, "applications": apps}
    write(root / "contoso" / "partners.json", body)
    return root


def _ask(engine: Engine, user: str = USER, app: str = APP, groups: tuple[str, ...] = ()) -> tuple[str, str]:
    answer = engine.check(
        {
            "access": {
                "tenantId": TENANT_ID,
                "externalTenantId": PARTNER_ID,
                "direction": "DIRECTION_INBOUND",
                "feature": "FEATURE_B2B_COLLABORATION",
                "userId": user,
                "groupIds": list(groups),
                "applicationId": app,
            }
        }
    )
    return answer["decision"], answer["reason"]


# --------------------------------------------------------------------------- D6 accessType

_USERS_ALL = ("AllUsers", "user")
_APPS_ALL = ("AllApplications", "application")


@pytest.mark.parametrize(
    ("users", "apps"),
    [
        (_half("unknownFutureValue", _USERS_ALL), _half("allowed", _APPS_ALL)),
        (_half("allowed", _USERS_ALL), _half("unknownFutureValue", _APPS_ALL)),
        # The both-blocked rule would let every app but APP through if only the users half changed.
        (_half("unknownFutureValue", _USERS_ALL), _half("blocked", (APP, "application"))),
        (_half("blocked", (GROUP, "group")), _half("unknownFutureValue", (APP, "application"))),
    ],
    ids=["users-unknown", "apps-unknown", "users-unknown-apps-blocked-list", "apps-unknown-users-blocked-list"],
)
def test_D6_unknown_access_type_denies_everyone_and_every_application(
    tmp_path: Path, users: dict[str, Any], apps: dict[str, Any]
) -> None:
    root = _with_inbound(tmp_path, users, apps)
    result = compile_policy_dir(root)
    [warning] = [f for f in result.findings if f.code is IssueCode.UNKNOWN_FUTURE_VALUE]
    assert warning.severity is Severity.WARNING
    assert warning.path.endswith(".accessType")
    assert "fail-closed" in warning.message
    engine = Engine.from_policy_dir(root)
    for user, app, groups in ((USER, APP, ()), (USER, OTHER_APP, ()), (USER, OTHER_APP, (GROUP,))):
        assert _ask(engine, user, app, groups) == ("DECISION_DENY", "REASON_UNKNOWN_ACCESS_TYPE")


def test_D6_unknown_access_type_is_an_error_under_strict(tmp_path: Path) -> None:
    root = _with_inbound(tmp_path, _half("unknownFutureValue", _USERS_ALL), _half("allowed", _APPS_ALL))
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root, CompileOptions(strict=True))
    [issue] = [i for i in caught.value.issues if i.code is IssueCode.UNKNOWN_FUTURE_VALUE]
    assert issue.severity is Severity.ERROR
    assert issue.path == "$.value[0].b2bCollaborationInbound.usersAndGroups.accessType"


def test_D6_explain_says_why(tmp_path: Path) -> None:
    root = _with_inbound(tmp_path, _half("unknownFutureValue", _USERS_ALL), _half("allowed", _APPS_ALL))
    engine = Engine.from_policy_dir(root)
    question = {
        "access": {
            "tenantId": TENANT_ID,
            "externalTenantId": PARTNER_ID,
            "direction": "DIRECTION_INBOUND",
            "feature": "FEATURE_B2B_COLLABORATION",
            "userId": USER,
            "applicationId": APP,
        }
    }
    query = convert.query_from_proto(convert.request_from_json(json.dumps(question)))
    result, lines = explain(engine.index, query)
    text = "\n".join(lines)
    assert not result.allowed
    assert "unknownFutureValue" in text and "fail-closed" in text


# --------------------------------------------------------------------------- D6 targetType

_UNKNOWN_TARGET = ("f00dbabe-0000-4000-8000-00000000000f", "unknownFutureValue")


def test_D6_unknown_target_type_matches_nobody_in_an_allowed_list(tmp_path: Path) -> None:
    root = _with_inbound(tmp_path, _half("allowed", (GROUP, "group"), _UNKNOWN_TARGET), _half("allowed", _APPS_ALL))
    engine = Engine.from_policy_dir(root)
    # The known target still admits its group; nobody else gets in through the unknown one.
    assert _ask(engine, groups=(GROUP,)) == ("DECISION_ALLOW", "REASON_ACCESS_ALLOWED")
    assert _ask(engine, user=_UNKNOWN_TARGET[0]) == ("DECISION_DENY", "REASON_UNKNOWN_TARGET_TYPE")


def test_D6_unknown_target_type_matches_everybody_in_a_blocked_list(tmp_path: Path) -> None:
    root = _with_inbound(tmp_path, _half("blocked", _UNKNOWN_TARGET), _half("allowed", _APPS_ALL))
    engine = Engine.from_policy_dir(root)
    assert _ask(engine) == ("DECISION_DENY", "REASON_UNKNOWN_TARGET_TYPE")
    # In the applications half too.
    root = _with_inbound(tmp_path / "apps", _half("allowed", _USERS_ALL), _half("blocked", _UNKNOWN_TARGET))
    assert _ask(Engine.from_policy_dir(root), app=OTHER_APP) == ("DECISION_DENY", "REASON_UNKNOWN_TARGET_TYPE")


def test_D6_unknown_target_type_warns_and_strict_refuses(tmp_path: Path) -> None:
    root = _with_inbound(tmp_path, _half("blocked", _UNKNOWN_TARGET), _half("blocked", _APPS_ALL))
    [warning] = [f for f in compile_policy_dir(root).findings if f.code is IssueCode.UNKNOWN_FUTURE_VALUE]
    assert warning.path == "$.value[0].b2bCollaborationInbound.usersAndGroups.targets[0].targetType"
    with pytest.raises(CompileErrors):
        compile_policy_dir(root, CompileOptions(strict=True))


def test_D6_misspelt_enum_values_stay_errors(tmp_path: Path) -> None:
    root = _with_inbound(tmp_path, _half(" blocked", _USERS_ALL), _half("allowed", _APPS_ALL))
    with pytest.raises(CompileErrors, match='did you mean "blocked"'):
        compile_policy_dir(root)


# --------------------------------------------------------------------------- D6 likely typos


@pytest.mark.parametrize(
    ("typo", "right"),
    [
        ("b2bColaborationInbound", "b2bCollaborationInbound"),
        ("b2BCollaborationInbound", "b2bCollaborationInbound"),  # Graph's own 400 (section 3)
        ("tenantRestriction", "tenantRestrictions"),
    ],
)
def test_D6_likely_typo_of_a_property_is_a_warning_naming_the_right_one(tmp_path: Path, typo: str, right: str) -> None:
    root = real_tenant(tmp_path)
    body = partners_body()
    body["value"][0][typo] = {
        "usersAndGroups": _half("blocked", _USERS_ALL),
        "applications": _half("blocked", _APPS_ALL),
    }
    write(root / "contoso" / "partners.json", body)
    [warning] = [f for f in compile_policy_dir(root).findings if f.code is IssueCode.LIKELY_TYPO]
    assert (warning.file, warning.path, warning.severity) == (
        "contoso/partners.json",
        f"$.value[0].{typo}",
        Severity.WARNING,
    )
    assert warning.hint.startswith(f'did you mean "{right}"?')
    with pytest.raises(CompileErrors, match=right):
        compile_policy_dir(root, CompileOptions(strict=True))


def test_D6_typos_inside_settings_and_trust(tmp_path: Path) -> None:
    root = real_tenant(tmp_path)
    default = example("default-get-response.json")
    default["inboundTrust"]["isMFAAccepted"] = True
    default["b2bCollaborationOutbound"]["usersAndGroup"] = default["b2bCollaborationOutbound"].pop("usersAndGroups")
    write(root / "contoso" / "default.json", default)
    typos = {
        (f.path, f.hint.split("?")[0]) for f in compile_policy_dir(root).findings if f.code is IssueCode.LIKELY_TYPO
    }
    assert typos == {
        ("$.inboundTrust.isMFAAccepted", 'did you mean "isMfaAccepted"'),
        ("$.b2bCollaborationOutbound.usersAndGroup", 'did you mean "usersAndGroups"'),
    }


def test_D6_far_unknowns_and_documented_properties_stay_informational(tmp_path: Path) -> None:
    root = real_tenant(tmp_path)
    body = partners_body()
    body["value"][0]["someBrandNewGraphProperty"] = {"x": 1}
    # Documented (beta m365 members, the default's id) where the parser does not expect them: never "typos".
    body["value"][0]["m365CollaborationInbound"] = None
    body["value"][0]["id"] = "x"
    # `target` is one edit from `targets`, but a documented Graph property (of a target): not a typo.
    body["value"][0]["b2bDirectConnectInbound"]["applications"]["target"] = "AllApplications"
    write(root / "contoso" / "partners.json", body)
    findings = compile_policy_dir(root).findings
    assert not [f for f in findings if f.code is IssueCode.LIKELY_TYPO]
    infos = {f.path for f in findings if f.code is IssueCode.UNKNOWN_PROPERTY}
    assert {
        "$.value[0].someBrandNewGraphProperty",
        "$.value[0].id",
        "$.value[0].b2bDirectConnectInbound.applications.target",
    } <= infos


# --------------------------------------------------------------------------- D10 soft delete


def test_D10_soft_deleted_partner_is_skipped_with_a_notice_naming_its_tenant(tmp_path: Path) -> None:
    root = real_tenant(tmp_path)
    body = partners_body()
    deleted = copy.deepcopy(body["value"][0])
    deleted["deletedDateTime"] = "2026-11-02T09:14:00Z"
    deleted["b2bCollaborationInbound"] = {
        "usersAndGroups": _half("allowed", _USERS_ALL),
        "applications": _half("allowed", _APPS_ALL),
    }
    body["value"][0] = deleted
    write(root / "contoso" / "partners.json", body)
    result = compile_policy_dir(root, CompileOptions(strict=True))
    [notice] = [f for f in result.findings if f.code is IssueCode.DELETED_SKIPPED]
    assert notice.severity is Severity.NOTICE
    assert PARTNER_ID in notice.message and notice.path == "$.value[0].deletedDateTime"
    [tenant] = result.tenants
    assert PARTNER_ID not in {p.tenant_id for p in tenant.partners}
    # Not enforced: the default (the service default here) decides for that tenant.
    assert _ask(Engine.from_policy_dir(root))[1] == "REASON_ACCESS_ALLOWED"


def test_D10_soft_deleted_partner_with_a_live_twin_is_not_a_duplicate(tmp_path: Path) -> None:
    root = real_tenant(tmp_path)
    body = partners_body()
    deleted = copy.deepcopy(body["value"][0])
    deleted["deletedDateTime"] = "2026-11-02T09:14:00Z"
    body["value"].append(deleted)
    write(root / "contoso" / "partners.json", body)
    assert compile_policy_dir(root).info.partner_count == 2


def test_D10_soft_deleted_identity_sync_is_skipped_with_a_notice(tmp_path: Path) -> None:
    root = real_tenant(tmp_path)
    body = partners_body()
    body["value"][1]["identitySynchronization"]["deletedDateTime"] = "2026-11-02T09:14:00Z"
    write(root / "contoso" / "partners.json", body)
    result = compile_policy_dir(root)
    [notice] = [f for f in result.findings if f.code is IssueCode.DELETED_SKIPPED]
    assert SYNC_PARTNER_ID in notice.message
    assert notice.path == "$.value[1].identitySynchronization.deletedDateTime"
    [tenant] = result.tenants
    partner = {p.tenant_id: p for p in tenant.partners}[SYNC_PARTNER_ID]
    assert partner.identity_sync is None
