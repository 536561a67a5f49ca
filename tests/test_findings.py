"""graph-model.md 2.3 (C1-C4) and D7: findings with stable codes, warnings unless --strict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from policy_kit import (
    ALLOW_ALL,
    APP,
    BLOCK_ALL,
    GOV_CLOUD,
    GROUP,
    HOME,
    RESOURCE,
    customized_default,
    partner,
    setting,
    tenant,
    write_policy,
)

from xtenant_pdp.compiler import CompileOptions, compile_policy_dir
from xtenant_pdp.errors import CompileErrors, IssueCode, Severity

OME = "00000012-0000-0000-c000-000000000000"
MSA_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
CHINA_CLOUD = "partner.microsoftonline.cn"


def _findings(tmp_path: Path, spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    result = compile_policy_dir(write_policy(tmp_path, spec))
    return [(f.code.value, f.file, f.path) for f in result.findings if f.severity is Severity.WARNING]


@pytest.mark.parametrize(
    ("b2b", "code", "path"),
    [
        pytest.param(
            setting(("blocked", "AllUsers"), ("allowed", [APP])),
            "C1a",
            "applications",
            id="C1-blocked-all-users-needs-blocked-all-apps",
        ),
        pytest.param(
            setting(("blocked", [GROUP]), ("blocked", "AllApplications")),
            "C1b",
            "usersAndGroups",
            id="C1-blocked-all-apps-needs-blocked-all-users",
        ),
        pytest.param(
            setting(("allowed", [GROUP]), ("blocked", "AllApplications")),
            "C1c",
            "applications",
            id="C1-allowed-users-need-an-app",
        ),
    ],
)
def test_c1_conflicting_users_and_applications(tmp_path: Path, b2b: dict[str, Any], code: str, path: str) -> None:
    spec = {"r": tenant(RESOURCE, partners=[partner(HOME, b2bCollaborationInbound=b2b)])}
    assert (code, "r/partners.json", f"$.value[0].b2bCollaborationInbound.{path}") in _findings(tmp_path, spec)


@pytest.mark.parametrize("b2b", [ALLOW_ALL, BLOCK_ALL], ids=["C1-allow-all-ok", "C1-block-all-ok"])
def test_c1_consistent_settings_have_no_finding(tmp_path: Path, b2b: dict[str, Any]) -> None:
    spec = {"r": tenant(RESOURCE, license="p2", partners=[partner(HOME, b2bCollaborationInbound=b2b)])}
    assert not [f for f in _findings(tmp_path, spec) if f[0].startswith("C1")]


def test_c1_finding_is_an_error_with_strict(tmp_path: Path) -> None:
    b2b = setting(("blocked", "AllUsers"), ("allowed", [APP]))
    root = write_policy(tmp_path, {"r": tenant(RESOURCE, partners=[partner(HOME, b2bCollaborationInbound=b2b)])})
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root, CompileOptions(strict=True))
    assert [i.code for i in caught.value.issues] == [IssueCode.C1_BLOCKED_USERS_NEED_BLOCKED_APPS]


def test_c2_default_inbound_cannot_target_groups(tmp_path: Path) -> None:
    default = customized_default(b2bCollaborationInbound=setting(("allowed", [GROUP]), ("allowed", "AllApplications")))
    findings = _findings(tmp_path, {"r": tenant(RESOURCE, default=default)})
    assert ("C2", "r/default.json", "$.b2bCollaborationInbound.usersAndGroups.targets") in findings


def test_c3_default_consent_is_read_only(tmp_path: Path) -> None:
    default = customized_default(automaticUserConsentSettings={"inboundAllowed": True, "outboundAllowed": False})
    findings = _findings(tmp_path, {"r": tenant(RESOURCE, default=default)})
    assert ("C3", "r/default.json", "$.automaticUserConsentSettings") in findings


def test_c4_microsoft_account_tenant_restrictions_are_apps_only(tmp_path: Path) -> None:
    tr = setting(("blocked", [GROUP]), ("blocked", "AllApplications"))
    spec = {"r": tenant(RESOURCE, license="p2", partners=[partner(MSA_TENANT, tenantRestrictions=tr)])}
    findings = _findings(tmp_path, spec)
    assert ("C4", "r/partners.json", "$.value[0].tenantRestrictions.usersAndGroups") in findings


def test_d7_ome_app_blocked_outbound(tmp_path: Path) -> None:
    out = setting(("allowed", "AllUsers"), ("allowed", [APP]))
    spec = {"r": tenant(RESOURCE, license="p2", partners=[partner(HOME, b2bCollaborationOutbound=out)])}
    assert ("D7-OME", "r/partners.json", "$.value[0].b2bCollaborationOutbound.applications") in _findings(
        tmp_path, spec
    )


def test_d7_ome_app_allowed_has_no_finding(tmp_path: Path) -> None:
    out = setting(("allowed", "AllUsers"), ("allowed", [APP, OME]))
    spec = {"r": tenant(RESOURCE, license="p2", partners=[partner(HOME, b2bCollaborationOutbound=out)])}
    assert not [f for f in _findings(tmp_path, spec) if f[0] == "D7-OME"]


def test_d7_p1_licence_needed_for_targeting_and_trust(tmp_path: Path) -> None:
    b2b = setting(("allowed", [GROUP]), ("allowed", "AllApplications"))
    spec = {"r": tenant(RESOURCE, license="free", partners=[partner(HOME, b2bCollaborationInbound=b2b)])}
    assert ("D7-P1", "r/partners.json", "$.value[0]") in _findings(tmp_path, spec)
    spec_p1 = {"r": tenant(RESOURCE, license="p1", partners=[partner(HOME, b2bCollaborationInbound=b2b)])}
    assert not [f for f in _findings(tmp_path / "p1", spec_p1) if f[0] == "D7-P1"]


def test_d7_mfa_trust_next_to_registration_policy(tmp_path: Path) -> None:
    trust = {"isMfaAccepted": True}
    spec = {"r": tenant(RESOURCE, license="p2", partners=[partner(HOME, inboundTrust=trust)])}
    assert ("D7-MFA", "r/partners.json", "$.value[0].inboundTrust.isMfaAccepted") in _findings(tmp_path, spec)


def test_2_10_unsupported_cloud_endpoint_is_flagged(tmp_path: Path) -> None:
    spec = {"g": tenant(RESOURCE, cloud=GOV_CLOUD, allowed_clouds=[CHINA_CLOUD])}
    assert ("W001", "g/crossTenantAccessPolicy.json", "$.allowedCloudEndpoints[0]") in _findings(tmp_path, spec)


def test_findings_do_not_repeat_for_inherited_settings(tmp_path: Path) -> None:
    """A conflicting default is reported once at the default, not again for every partner inheriting it."""
    default = customized_default(b2bCollaborationOutbound=setting(("blocked", "AllUsers"), ("allowed", [OME])))
    spec = {
        "r": tenant(
            RESOURCE, default=default, partners=[partner(HOME), partner("3" * 8 + "-3333-4333-8333-" + "3" * 12)]
        )
    }
    c1 = [f for f in _findings(tmp_path, spec) if f[0] == "C1a"]
    assert c1 == [("C1a", "r/default.json", "$.b2bCollaborationOutbound.applications")]


@pytest.mark.parametrize(
    ("removed", "expected"),
    [
        pytest.param(partner(HOME, isServiceProvider=True), 1, id="C5-service-provider-cannot-be-removed"),
        pytest.param(
            partner(HOME, identitySynchronization={"tenantId": HOME, "userSyncInbound": {"isSyncAllowed": True}}),
            1,
            id="C5-identity-sync-must-go-first",
        ),
        pytest.param(partner(HOME), 0, id="C5-plain-partner-may-be-removed"),
    ],
)
def test_c5_removals_against_the_previous_snapshot(tmp_path: Path, removed: dict[str, Any], expected: int) -> None:
    before = compile_policy_dir(
        write_policy(tmp_path / "before", {"r": tenant(RESOURCE, license="p2", partners=[removed])})
    )
    after = compile_policy_dir(
        write_policy(tmp_path / "after", {"r": tenant(RESOURCE, license="p2", partners=[])}), previous=before.snapshot
    )
    c5 = [(f.code.value, f.file, f.path) for f in after.findings if f.code.value == "C5"]
    assert c5 == [("C5", "r/partners.json", "$.value")] * expected
