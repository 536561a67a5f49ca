"""Table-driven cases for graph-model.md 2.4-2.9 and D1, D8, D9 (questions about two tenants)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from policy_kit import (
    ALLOW_ALL,
    APP,
    APP2,
    BLOCK_ALL,
    CHINA,
    CHINA_CLOUD,
    GOV,
    GOV_CLOUD,
    HOME,
    OTHER,
    RESOURCE,
    USER,
    collaboration,
    customized_default,
    engine,
    outcome,
    partner,
    setting,
    tenant,
)

from xtenant_pdp.compiler import CompileOptions
from xtenant_pdp.decision import AccessQuery, Claim, Direction, Feature, Reason
from xtenant_pdp.evaluator import evaluate_gateway_caller

DC = "FEATURE_B2B_DIRECT_CONNECT"


# --------------------------------------------------------------------------- 2.4 / 2.5


@pytest.mark.parametrize(
    ("home_out", "resource_in", "feature", "expected", "decided_by"),
    [
        pytest.param(
            None,
            None,
            "FEATURE_B2B_COLLABORATION",
            ("ALLOW", "ACCESS_ALLOWED"),
            RESOURCE,
            id="2.4-service-defaults-allow-collaboration",
        ),
        pytest.param(
            BLOCK_ALL,
            None,
            "FEATURE_B2B_COLLABORATION",
            ("DENY", "USER_AND_APPLICATION_BLOCKED"),
            HOME,
            id="2.4-home-outbound-blocks",
        ),
        pytest.param(
            None,
            setting(("allowed", "AllUsers"), ("allowed", [APP2])),
            "FEATURE_B2B_COLLABORATION",
            ("DENY", "APPLICATION_NOT_ALLOWED"),
            RESOURCE,
            id="2.4-resource-inbound-blocks",
        ),
        pytest.param(
            None,
            None,
            DC,
            ("DENY", "USER_AND_APPLICATION_BLOCKED"),
            HOME,
            id="2.5-service-default-blocks-direct-connect",
        ),
        pytest.param(
            ALLOW_ALL,
            None,
            DC,
            ("DENY", "USER_AND_APPLICATION_BLOCKED"),
            RESOURCE,
            id="2.5-one-side-only-is-not-enough",
        ),
        pytest.param(ALLOW_ALL, ALLOW_ALL, DC, ("ALLOW", "ACCESS_ALLOWED"), RESOURCE, id="2.5-mutual-direct-connect"),
    ],
)
def test_2_4_2_5_both_sides_must_allow(
    tmp_path: Path,
    home_out: dict[str, Any] | None,
    resource_in: dict[str, Any] | None,
    feature: str,
    expected: tuple[str, str],
    decided_by: str,
) -> None:
    key = "b2bDirectConnect" if feature == DC else "b2bCollaboration"
    pdp = engine(
        tmp_path,
        {
            "h": tenant(HOME, partners=[partner(RESOURCE, **{f"{key}Outbound": home_out})]),
            "r": tenant(RESOURCE, partners=[partner(HOME, **{f"{key}Inbound": resource_in})]),
        },
    )
    answer = pdp.check(collaboration(feature=feature))
    assert outcome(answer) == expected
    assert answer["policyTenantId"] == decided_by


@pytest.mark.parametrize("missing", [HOME, RESOURCE], ids=["D9-home-missing", "D9-resource-missing"])
def test_d9_collaboration_with_missing_tenant_fails_closed(tmp_path: Path, missing: str) -> None:
    present = RESOURCE if missing == HOME else HOME
    pdp = engine(tmp_path, {"t": tenant(present)})
    answer = pdp.check(collaboration())
    assert outcome(answer) == ("DENY", "TENANT_NOT_IN_SNAPSHOT")
    assert answer["policyTenantId"] == missing


def test_2_4_collaboration_across_clouds_checks_both_sides(tmp_path: Path) -> None:
    spec = {
        "h": tenant(HOME, allowed_clouds=[GOV_CLOUD], partners=[partner(GOV)]),
        "g": tenant(GOV, cloud=GOV_CLOUD),
    }
    pdp = engine(tmp_path, spec)
    answer = pdp.check(collaboration(home=HOME, resource=GOV))
    assert outcome(answer) == ("DENY", "CLOUD_NOT_ENABLED")
    assert answer["policyTenantId"] == GOV


# --------------------------------------------------------------------------- 2.6 trust


def _trust(
    required: list[str], presented: list[str], feature: str = "FEATURE_B2B_COLLABORATION", external: str = HOME
) -> dict[str, Any]:
    return {
        "trust": {
            "tenantId": RESOURCE,
            "externalTenantId": external,
            "feature": feature,
            "required": [f"CLAIM_{c}" for c in required],
            "presented": [f"CLAIM_{c}" for c in presented],
        }
    }


TRUST_ALL = {"isMfaAccepted": True, "isCompliantDeviceAccepted": True, "isHybridAzureADJoinedDeviceAccepted": True}
TRUST_NONE = {"isMfaAccepted": False, "isCompliantDeviceAccepted": False, "isHybridAzureADJoinedDeviceAccepted": False}


@pytest.mark.parametrize(
    ("trust", "required", "presented", "feature", "expected", "trust_outcome"),
    [
        pytest.param(
            TRUST_ALL,
            ["MFA"],
            ["MFA"],
            "FEATURE_B2B_COLLABORATION",
            ("ALLOW", "TRUST_SATISFIED"),
            "SATISFIED",
            id="2.6-mfa-trusted-and-presented",
        ),
        pytest.param(
            TRUST_ALL,
            ["MFA"],
            [],
            "FEATURE_B2B_COLLABORATION",
            ("ALLOW", "TRUST_MFA_IN_HOME_TENANT"),
            "MFA_IN_HOME_TENANT",
            id="2.6-mfa-trusted-not-presented",
        ),
        pytest.param(
            TRUST_NONE,
            ["MFA"],
            ["MFA"],
            "FEATURE_B2B_COLLABORATION",
            ("ALLOW", "TRUST_MFA_IN_RESOURCE_TENANT"),
            "MFA_IN_RESOURCE_TENANT",
            id="2.6-mfa-untrusted-collaboration",
        ),
        pytest.param(
            TRUST_NONE,
            ["MFA"],
            ["MFA"],
            DC,
            ("DENY", "TRUST_MFA_NOT_TRUSTED_DIRECT_CONNECT"),
            "BLOCKED",
            id="2.5-2.6-mfa-untrusted-direct-connect-blocked",
        ),
        pytest.param(
            TRUST_ALL,
            ["MFA"],
            ["MFA"],
            DC,
            ("ALLOW", "TRUST_SATISFIED"),
            "SATISFIED",
            id="2.5-mfa-trusted-direct-connect",
        ),
        pytest.param(
            TRUST_ALL,
            ["COMPLIANT_DEVICE"],
            ["COMPLIANT_DEVICE"],
            "FEATURE_B2B_COLLABORATION",
            ("ALLOW", "TRUST_SATISFIED"),
            "SATISFIED",
            id="2.6-compliant-trusted-presented",
        ),
        pytest.param(
            TRUST_ALL,
            ["COMPLIANT_DEVICE"],
            [],
            "FEATURE_B2B_COLLABORATION",
            ("DENY", "TRUST_DEVICE_CLAIM_UNSATISFIED"),
            "BLOCKED",
            id="2.6-compliant-not-presented",
        ),
        pytest.param(
            TRUST_NONE,
            ["COMPLIANT_DEVICE"],
            ["COMPLIANT_DEVICE"],
            "FEATURE_B2B_COLLABORATION",
            ("DENY", "TRUST_DEVICE_CLAIM_UNSATISFIED"),
            "BLOCKED",
            id="2.6-compliant-untrusted",
        ),
        pytest.param(
            TRUST_NONE,
            ["HYBRID_JOINED_DEVICE"],
            ["HYBRID_JOINED_DEVICE"],
            "FEATURE_B2B_COLLABORATION",
            ("DENY", "TRUST_DEVICE_CLAIM_UNSATISFIED"),
            "BLOCKED",
            id="2.6-hybrid-untrusted",
        ),
        pytest.param(
            TRUST_ALL,
            ["HYBRID_JOINED_DEVICE", "MFA"],
            ["HYBRID_JOINED_DEVICE"],
            "FEATURE_B2B_COLLABORATION",
            ("ALLOW", "TRUST_MFA_IN_HOME_TENANT"),
            "MFA_IN_HOME_TENANT",
            id="2.6-device-ok-mfa-at-home",
        ),
        pytest.param(
            TRUST_NONE,
            ["HYBRID_JOINED_DEVICE", "MFA"],
            ["MFA"],
            "FEATURE_B2B_COLLABORATION",
            ("DENY", "TRUST_DEVICE_CLAIM_UNSATISFIED"),
            "BLOCKED",
            id="2.6-device-block-wins-over-mfa",
        ),
        pytest.param(
            TRUST_NONE,
            [],
            [],
            "FEATURE_B2B_COLLABORATION",
            ("ALLOW", "TRUST_NOTHING_REQUIRED"),
            "SATISFIED",
            id="2.6-nothing-required",
        ),
    ],
)
def test_2_6_inbound_trust(
    tmp_path: Path,
    trust: dict[str, bool],
    required: list[str],
    presented: list[str],
    feature: str,
    expected: tuple[str, str],
    trust_outcome: str,
) -> None:
    pdp = engine(tmp_path, {"r": tenant(RESOURCE, partners=[partner(HOME, inboundTrust=trust)])})
    answer = pdp.check(_trust(required, presented, feature))
    assert outcome(answer) == expected
    assert answer["trust"]["outcome"] == f"TRUST_OUTCOME_{trust_outcome}"
    assert answer["trust"].get("mfaAccepted", False) is trust["isMfaAccepted"]


def test_2_6_service_provider_mfa_always_trusted(tmp_path: Path) -> None:
    pdp = engine(
        tmp_path, {"r": tenant(RESOURCE, partners=[partner(HOME, isServiceProvider=True, inboundTrust=TRUST_NONE)])}
    )
    satisfied = pdp.check(_trust(["MFA"], ["MFA"], DC))
    assert outcome(satisfied) == ("ALLOW", "TRUST_SATISFIED")
    assert satisfied["source"] == "SOURCE_MODEL"
    assert satisfied["trust"]["mfaAccepted"] is True
    assert outcome(pdp.check(_trust(["MFA"], []))) == ("ALLOW", "TRUST_MFA_IN_HOME_TENANT")
    assert outcome(pdp.check(_trust(["COMPLIANT_DEVICE"], ["COMPLIANT_DEVICE"])))[0] == "DENY"


def test_d2_null_trust_member_inherits_default_member(tmp_path: Path) -> None:
    default = customized_default(inboundTrust={**TRUST_NONE, "isHybridAzureADJoinedDeviceAccepted": True})
    partial = {"isMfaAccepted": True, "isCompliantDeviceAccepted": None, "isHybridAzureADJoinedDeviceAccepted": None}
    pdp = engine(tmp_path, {"r": tenant(RESOURCE, default=default, partners=[partner(HOME, inboundTrust=partial)])})
    answer = pdp.check(_trust(["HYBRID_JOINED_DEVICE", "MFA"], ["HYBRID_JOINED_DEVICE", "MFA"]))
    assert outcome(answer) == ("ALLOW", "TRUST_SATISFIED")
    assert answer["trust"] == {
        "mfaAccepted": True,
        "hybridJoinedDeviceAccepted": True,
        "outcome": "TRUST_OUTCOME_SATISFIED",
    }


def test_r2_trust_without_partner_uses_default(tmp_path: Path) -> None:
    pdp = engine(tmp_path, {"r": tenant(RESOURCE, default=customized_default(inboundTrust=TRUST_ALL))})
    answer = pdp.check(_trust(["MFA"], ["MFA"], external=OTHER))
    assert outcome(answer) == ("ALLOW", "TRUST_SATISFIED")
    assert answer["source"] == "SOURCE_DEFAULT"


# --------------------------------------------------------------------------- 2.7 automatic redemption


def _redemption(home: str = HOME, resource: str = RESOURCE, scenario: str = "") -> dict[str, Any]:
    q: dict[str, Any] = {"homeTenantId": home, "resourceTenantId": resource}
    if scenario:
        q["scenario"] = f"REDEMPTION_SCENARIO_{scenario}"
    return {"automaticRedemption": q}


def _consent(inbound: bool | None, outbound: bool | None) -> dict[str, Any]:
    return {"automaticUserConsentSettings": {"inboundAllowed": inbound, "outboundAllowed": outbound}}


@pytest.mark.parametrize(
    ("home_consent", "resource_consent", "expected"),
    [
        pytest.param((None, True), (True, None), "AUTOMATIC_REDEMPTION_ENABLED", id="2.7-home-out-resource-in"),
        pytest.param((None, False), (True, None), "AUTOMATIC_REDEMPTION_OUTBOUND_DISABLED", id="2.7-home-out-off"),
        pytest.param((None, True), (False, None), "AUTOMATIC_REDEMPTION_INBOUND_DISABLED", id="2.7-resource-in-off"),
        pytest.param((None, None), (None, None), "AUTOMATIC_REDEMPTION_OUTBOUND_DISABLED", id="R3-null-means-false"),
        pytest.param(
            (True, None),
            (None, True),
            "AUTOMATIC_REDEMPTION_OUTBOUND_DISABLED",
            id="2.7-home-in-resource-out-is-not-suppressed",
        ),
    ],
)
def test_2_7_automatic_redemption(
    tmp_path: Path,
    home_consent: tuple[bool | None, bool | None],
    resource_consent: tuple[bool | None, bool | None],
    expected: str,
) -> None:
    pdp = engine(
        tmp_path,
        {
            "h": tenant(HOME, partners=[partner(RESOURCE, **_consent(*home_consent))]),
            "r": tenant(RESOURCE, partners=[partner(HOME, **_consent(*resource_consent))]),
        },
    )
    answer = pdp.check(_redemption())
    suppressed = expected == "AUTOMATIC_REDEMPTION_ENABLED"
    assert outcome(answer) == ("ALLOW" if suppressed else "DENY", expected)
    assert answer["redemption"].get("consentPromptSuppressed", False) is suppressed


@pytest.mark.parametrize(
    ("scenario", "suppressed", "invitation", "notification"),
    [
        pytest.param("B2B_COLLABORATION", True, "NOT_SENT", "SENT", id="2.7-collaboration-notification-email"),
        pytest.param("CROSS_TENANT_SYNC", True, "NOT_SENT", "NOT_SENT", id="2.7-sync-no-emails"),
        pytest.param("B2B_DIRECT_CONNECT", True, "NOT_APPLICABLE", "NOT_APPLICABLE", id="2.7-direct-connect-na"),
        pytest.param("B2B_COLLABORATION", False, "SENT", "NOT_SENT", id="2.7-not-suppressed-invitation-sent"),
    ],
)
def test_2_7_email_facts(tmp_path: Path, scenario: str, suppressed: bool, invitation: str, notification: str) -> None:
    pdp = engine(
        tmp_path,
        {
            "h": tenant(HOME, partners=[partner(RESOURCE, **_consent(None, True))]),
            "r": tenant(RESOURCE, partners=[partner(HOME, **_consent(suppressed, None))]),
        },
    )
    redemption = pdp.check(_redemption(scenario=scenario))["redemption"]
    assert redemption["invitationEmail"] == f"EMAIL_FACT_{invitation}"
    assert redemption["notificationEmail"] == f"EMAIL_FACT_{notification}"
    assert redemption["scenario"] == f"REDEMPTION_SCENARIO_{scenario}"


def test_c3_d1_default_consent_is_always_false(tmp_path: Path) -> None:
    default = customized_default(automaticUserConsentSettings={"inboundAllowed": True, "outboundAllowed": True})
    pdp = engine(tmp_path, {"h": tenant(HOME, default=default), "r": tenant(RESOURCE, default=default)})
    assert outcome(pdp.check(_redemption())) == ("DENY", "AUTOMATIC_REDEMPTION_OUTBOUND_DISABLED")


def _cross_cloud_redemption() -> dict[str, dict[str, Any]]:
    return {
        "h": tenant(HOME, allowed_clouds=[GOV_CLOUD], partners=[partner(GOV, **_consent(None, True))]),
        "g": tenant(
            GOV,
            cloud=GOV_CLOUD,
            allowed_clouds=["microsoftonline.com"],
            partners=[partner(HOME, **_consent(True, None))],
        ),
    }


def test_d1_no_automatic_redemption_across_clouds(tmp_path: Path) -> None:
    answer = engine(tmp_path, _cross_cloud_redemption()).check(_redemption(resource=GOV))
    assert outcome(answer) == ("DENY", "AUTOMATIC_REDEMPTION_CROSS_CLOUD_UNSUPPORTED")
    assert answer["source"] == "SOURCE_CLOUD_SETTINGS"


def test_2_7_cross_cloud_switch_follows_current_docs(tmp_path: Path) -> None:
    pdp = engine(tmp_path, _cross_cloud_redemption(), CompileOptions(automatic_redemption_across_clouds=True))
    assert outcome(pdp.check(_redemption(resource=GOV))) == ("ALLOW", "AUTOMATIC_REDEMPTION_ENABLED")


@pytest.mark.parametrize("missing", [HOME, RESOURCE], ids=["D9-home", "D9-resource"])
def test_d9_redemption_not_suppressed_for_missing_tenant(tmp_path: Path, missing: str) -> None:
    present = RESOURCE if missing == HOME else HOME
    answer = engine(tmp_path, {"t": tenant(present)}).check(_redemption())
    assert outcome(answer) == ("DENY", "TENANT_NOT_IN_SNAPSHOT")
    assert answer["policyTenantId"] == missing
    assert answer["redemption"].get("consentPromptSuppressed", False) is False


# --------------------------------------------------------------------------- 2.8 identity sync


def _sync(source: str = HOME, target: str = RESOURCE) -> dict[str, Any]:
    return {"identitySync": {"sourceTenantId": source, "targetTenantId": target}}


def _sync_policy(allowed: bool | None) -> dict[str, Any]:
    return {"identitySynchronization": {"tenantId": HOME, "userSyncInbound": {"isSyncAllowed": allowed}}}


SOURCE_OK = {"h": tenant(HOME, partners=[partner(RESOURCE, **_consent(None, True))])}


@pytest.mark.parametrize(
    ("target_partner", "source_spec", "expected", "decided_by"),
    [
        pytest.param(
            {**_sync_policy(True), **_consent(True, None)},
            SOURCE_OK,
            ("ALLOW", "SYNC_ALLOWED"),
            RESOURCE,
            id="2.8-all-conditions",
        ),
        pytest.param(None, SOURCE_OK, ("DENY", "SYNC_PARTNER_MISSING"), RESOURCE, id="2.8-no-partner"),
        pytest.param(
            _consent(True, None), SOURCE_OK, ("DENY", "SYNC_POLICY_MISSING"), RESOURCE, id="2.8-no-sync-policy"
        ),
        pytest.param(
            {**_sync_policy(False), **_consent(True, None)},
            SOURCE_OK,
            ("DENY", "SYNC_NOT_ALLOWED"),
            RESOURCE,
            id="2.8-sync-not-allowed",
        ),
        pytest.param(
            {**_sync_policy(None), **_consent(True, None)},
            SOURCE_OK,
            ("DENY", "SYNC_NOT_ALLOWED"),
            RESOURCE,
            id="2.8-sync-null-is-not-allowed",
        ),
        pytest.param(
            _sync_policy(True),
            SOURCE_OK,
            ("DENY", "SYNC_INBOUND_REDEMPTION_DISABLED"),
            RESOURCE,
            id="2.8-target-inbound-redemption-required",
        ),
        pytest.param(
            {**_sync_policy(True), **_consent(True, None)},
            {"h": tenant(HOME)},
            ("DENY", "SYNC_OUTBOUND_REDEMPTION_DISABLED"),
            HOME,
            id="2.8-source-outbound-redemption-required",
        ),
        pytest.param(
            {**_sync_policy(True), **_consent(True, None)},
            {},
            ("ALLOW", "SYNC_ALLOWED"),
            RESOURCE,
            id="D9-sync-source-not-in-snapshot-checks-target-only",
        ),
    ],
)
def test_2_8_identity_sync(
    tmp_path: Path,
    target_partner: dict[str, Any] | None,
    source_spec: dict[str, Any],
    expected: tuple[str, str],
    decided_by: str,
) -> None:
    partners = [] if target_partner is None else [partner(HOME, **target_partner)]
    pdp = engine(tmp_path, {"r": tenant(RESOURCE, partners=partners), **source_spec})
    answer = pdp.check(_sync())
    assert outcome(answer) == expected
    assert answer["policyTenantId"] == decided_by


def test_d9_sync_target_missing(tmp_path: Path) -> None:
    answer = engine(tmp_path, SOURCE_OK).check(_sync())
    assert outcome(answer) == ("DENY", "TENANT_NOT_IN_SNAPSHOT")
    assert answer["policyTenantId"] == RESOURCE


@pytest.mark.parametrize(
    ("target_cloud", "source", "expected"),
    [
        # Issue 14: the pages disagree on sync inside 21Vianet (an unknown source is taken to be in the
        # target cloud): still denied, with a reason of its own.
        pytest.param(
            CHINA_CLOUD, None, ("DENY", "SYNC_INSIDE_21VIANET_DOCS_DISAGREE"), id="2.8-not-inside-21vianet"
        ),
        pytest.param(GOV_CLOUD, "commercial-enabled", ("ALLOW", "SYNC_ALLOWED"), id="2.8-gov-pair-supported"),
        pytest.param(GOV_CLOUD, "commercial-not-enabled", ("DENY", "CLOUD_NOT_ENABLED"), id="2.10-sync-needs-cloud"),
    ],
)
def test_2_8_sync_clouds(tmp_path: Path, target_cloud: str, source: str | None, expected: tuple[str, str]) -> None:
    target_id = CHINA if target_cloud == CHINA_CLOUD else GOV
    spec = {
        "t": tenant(
            target_id,
            cloud=target_cloud,
            allowed_clouds=["microsoftonline.com"],
            partners=[partner(HOME, **_sync_policy(True), **_consent(True, None))],
        ),
    }
    if source is not None:
        spec["h"] = tenant(
            HOME,
            allowed_clouds=[GOV_CLOUD] if source == "commercial-enabled" else [],
            partners=[partner(target_id, **_consent(None, True))],
        )
    assert outcome(engine(tmp_path, spec).check(_sync(target=target_id))) == expected


# --------------------------------------------------------------------------- 2.9 tenant restrictions


def _tr(external: str = HOME, app: str = APP, user: str = USER, groups: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "tenantRestrictions": {
            "tenantId": RESOURCE,
            "externalTenantId": external,
            "userId": user,
            "groupIds": list(groups),
            "applicationId": app,
        }
    }


TR_ONLY_APP = setting(("allowed", "AllUsers"), ("allowed", [APP]))


@pytest.mark.parametrize(
    ("spec", "query", "expected", "source"),
    [
        pytest.param(
            {"r": tenant(RESOURCE, partners=[partner(HOME, tenantRestrictions=TR_ONLY_APP)])},
            _tr(),
            ("ALLOW", "ACCESS_ALLOWED"),
            "PARTNER",
            id="2.9-partner-policy-allows-app",
        ),
        pytest.param(
            {"r": tenant(RESOURCE, partners=[partner(HOME, tenantRestrictions=TR_ONLY_APP)])},
            _tr(app=APP2),
            ("DENY", "APPLICATION_NOT_ALLOWED"),
            "PARTNER",
            id="2.9-partner-policy-other-app",
        ),
        pytest.param(
            {
                "r": tenant(
                    RESOURCE,
                    default=customized_default(tenantRestrictions=BLOCK_ALL),
                    partners=[partner(HOME, tenantRestrictions=TR_ONLY_APP)],
                )
            },
            _tr(external=OTHER),
            ("DENY", "USER_AND_APPLICATION_BLOCKED"),
            "DEFAULT",
            id="2.9-default-policy-for-other-tenants",
        ),
        pytest.param(
            {"r": tenant(RESOURCE, default=customized_default(tenantRestrictions=BLOCK_ALL))},
            _tr(external=RESOURCE),
            ("ALLOW", "TENANT_RESTRICTIONS_OWN_IDENTITY"),
            "MODEL",
            id="2.9-own-identities-exempt",
        ),
        pytest.param(
            {"r": tenant(RESOURCE, partners=[partner(HOME, b2bCollaborationInbound=BLOCK_ALL)])},
            _tr(),
            ("ALLOW", "TENANT_RESTRICTIONS_NOT_CONFIGURED"),
            "SERVICE_DEFAULT",
            id="D8-not-configured-allows",
        ),
        pytest.param(
            {
                "r": tenant(
                    RESOURCE,
                    default=customized_default(tenantRestrictions=ALLOW_ALL, b2bCollaborationInbound=BLOCK_ALL),
                )
            },
            _tr(),
            ("ALLOW", "ACCESS_ALLOWED"),
            "DEFAULT",
            id="2.9-independent-of-inbound-settings",
        ),
        pytest.param(
            {"r": tenant(RESOURCE)},
            _tr() | {"tenantRestrictions": {**_tr()["tenantRestrictions"], "tenantId": OTHER}},
            ("DENY", "TENANT_NOT_IN_SNAPSHOT"),
            "SNAPSHOT",
            id="D9-tr-tenant-missing",
        ),
    ],
)
def test_2_9_tenant_restrictions(
    tmp_path: Path, spec: dict[str, Any], query: dict[str, Any], expected: tuple[str, str], source: str
) -> None:
    answer = engine(tmp_path, spec).check(query)
    assert outcome(answer) == expected
    assert answer["source"] == f"SOURCE_{source}"


# --------------------------------------------------------------------------- 2.2 then 2.6: a gateway's caller


@pytest.mark.parametrize(
    ("external", "inbound_app", "required", "presented", "expected_access", "expected_trust"),
    [
        pytest.param(
            HOME, "AllApplications", ["MFA"], ["MFA"], "ACCESS_ALLOWED", "TRUST_MFA_IN_RESOURCE_TENANT",
            id="2.2-2.6-both-allow",
        ),
        pytest.param(HOME, APP2, ["MFA"], ["MFA"], "APPLICATION_NOT_ALLOWED", None, id="2.2-deny-first-no-trust"),
        pytest.param(
            HOME, "AllApplications", ["COMPLIANT_DEVICE"], [], "ACCESS_ALLOWED", "TRUST_DEVICE_CLAIM_UNSATISFIED",
            id="2.6-deny-after-2.2-allow",
        ),
        pytest.param(RESOURCE, APP2, ["MFA"], [], "SAME_TENANT", None, id="same-tenant-no-cross-tenant-trust"),
    ],
)  # fmt: skip
def test_2_2_then_2_6_for_a_gateway_caller(
    tmp_path: Path,
    external: str,
    inbound_app: str,
    required: list[str],
    presented: list[str],
    expected_access: str,
    expected_trust: str | None,
) -> None:
    inbound = setting(("allowed", "AllUsers"), ("allowed", inbound_app))
    home_partner = partner(HOME, b2bCollaborationInbound=inbound, inboundTrust=TRUST_NONE)
    pdp = engine(tmp_path, {"r": tenant(RESOURCE, partners=[home_partner])})
    query = AccessQuery(RESOURCE, external, None, Direction.INBOUND, Feature.B2B_COLLABORATION, USER, (), APP)
    access_result, trust_result = evaluate_gateway_caller(
        pdp.index, query, frozenset(Claim[c] for c in required), frozenset(Claim[c] for c in presented)
    )
    assert access_result.reason is Reason[expected_access]
    if expected_trust is None:
        assert trust_result is None
    else:
        assert trust_result is not None and trust_result.reason is Reason[expected_trust]
