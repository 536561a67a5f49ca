"""Issue 14: cross-tenant synchronization as graph-model.md 2.8 now reads: the cloud pairs (one rule
test per pair), group synchronization (beta groupSyncInbound), and the documented conflicts named in
the explanation. Every case runs the real pipeline: Graph JSON -> compile -> snapshot -> evaluator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from policy_kit import (
    CHINA,
    CHINA_CLOUD,
    COMMERCIAL_CLOUD,
    GOV,
    GOV_CLOUD,
    HOME,
    OTHER,
    RESOURCE,
    engine,
    outcome,
    partner,
    tenant,
    write_policy,
)
from server_kit import Channels, InProcessServer, check, field_violations, rpc_error, settings_from_flags

from xtenant_pdp import cli, convert
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.compiler import CompileOptions
from xtenant_pdp.explain import explain

TENANT_OF = {COMMERCIAL_CLOUD: HOME, GOV_CLOUD: GOV, CHINA_CLOUD: CHINA}
OTHER_COMMERCIAL = OTHER
EVERY_CLOUD = [COMMERCIAL_CLOUD, GOV_CLOUD, CHINA_CLOUD]


def _sync(source: str, target: str, kind: str | None = None) -> dict[str, Any]:
    question: dict[str, Any] = {"sourceTenantId": source, "targetTenantId": target}
    if kind is not None:
        question["objectKind"] = kind
    return {"identitySync": question}


def _target_partner(source: str, *, users: bool | None = True, groups: bool | None = None) -> dict[str, Any]:
    """The target's partner entry for the source: sync policy and inbound automatic redemption."""
    sync: dict[str, Any] = {"tenantId": source, "userSyncInbound": {"isSyncAllowed": users}}
    if groups is not None:
        sync["groupSyncInbound"] = {"isSyncAllowed": groups}
    return partner(
        source,
        identitySynchronization=sync,
        automaticUserConsentSettings={"inboundAllowed": True, "outboundAllowed": None},
    )


def _source_partner(target: str) -> dict[str, Any]:
    return partner(target, automaticUserConsentSettings={"inboundAllowed": None, "outboundAllowed": True})


def _pair(
    source_cloud: str,
    target_cloud: str,
    *,
    source_enables: bool = True,
    target_enables: bool = True,
    groups: bool | None = None,
) -> tuple[str, str, dict[str, dict[str, Any]]]:
    """Source and target tenants in the given clouds, every other condition of 2.8 met, each
    cloud enabled in both tenants' cloud settings (unless told otherwise)."""
    source = TENANT_OF[source_cloud]
    target = TENANT_OF[target_cloud] if target_cloud != source_cloud else OTHER_COMMERCIAL
    if target_cloud == source_cloud and source_cloud != COMMERCIAL_CLOUD:
        source, target = OTHER_COMMERCIAL, TENANT_OF[target_cloud]
    spec = {
        "s": tenant(
            source,
            cloud=source_cloud,
            allowed_clouds=[c for c in EVERY_CLOUD if c != source_cloud] if source_enables else [],
            partners=[_source_partner(target)],
        ),
        "t": tenant(
            target,
            cloud=target_cloud,
            allowed_clouds=[c for c in EVERY_CLOUD if c != target_cloud] if target_enables else [],
            partners=[_target_partner(source, groups=groups)],
        ),
    }
    return source, target, spec


# --------------------------------------------------------------------------- 2.8 cloud pairs

PAIRS = [
    (COMMERCIAL_CLOUD, COMMERCIAL_CLOUD, ("ALLOW", "SYNC_ALLOWED"), "2.8-commercial-to-commercial"),
    (COMMERCIAL_CLOUD, GOV_CLOUD, ("ALLOW", "SYNC_ALLOWED"), "2.8-commercial-to-government"),
    (GOV_CLOUD, COMMERCIAL_CLOUD, ("ALLOW", "SYNC_ALLOWED"), "2.8-government-to-commercial"),
    (GOV_CLOUD, GOV_CLOUD, ("ALLOW", "SYNC_ALLOWED"), "2.8-government-to-government"),
    (COMMERCIAL_CLOUD, CHINA_CLOUD, ("ALLOW", "SYNC_ALLOWED"), "2.8-commercial-to-21vianet"),
    (CHINA_CLOUD, COMMERCIAL_CLOUD, ("DENY", "SYNC_CLOUD_UNSUPPORTED"), "2.8-21vianet-to-commercial"),
    (GOV_CLOUD, CHINA_CLOUD, ("DENY", "SYNC_CLOUD_UNSUPPORTED"), "2.8-government-to-21vianet"),
    (CHINA_CLOUD, GOV_CLOUD, ("DENY", "SYNC_CLOUD_UNSUPPORTED"), "2.8-21vianet-to-government"),
    (CHINA_CLOUD, CHINA_CLOUD, ("DENY", "SYNC_INSIDE_21VIANET_DOCS_DISAGREE"), "2.8-inside-21vianet"),
]


@pytest.mark.parametrize(("source_cloud", "target_cloud", "expected"), [pytest.param(*p[:3], id=p[3]) for p in PAIRS])
def test_2_8_cloud_pairs(tmp_path: Path, source_cloud: str, target_cloud: str, expected: tuple[str, str]) -> None:
    source, target, spec = _pair(source_cloud, target_cloud)
    answer = engine(tmp_path, spec).check(_sync(source, target))
    assert outcome(answer) == expected
    if expected[0] == "DENY":
        assert answer["source"] == "SOURCE_CLOUD_SETTINGS"
        assert answer["policyTenantId"] == target


def test_2_8_issue_14_commercial_to_21vianet_as_the_docs_narrate(tmp_path: Path) -> None:
    """The one case the docs check found wrong: both clouds enabled on both sides, the target's partner
    entry allowing user sync and inbound automatic redemption, the source's allowing it outbound."""
    source, target, spec = _pair(COMMERCIAL_CLOUD, CHINA_CLOUD)
    pdp = engine(tmp_path, spec)
    assert outcome(pdp.check(_sync(source, target))) == ("ALLOW", "SYNC_ALLOWED")
    # The reverse direction is not listed: denied.
    reverse = engine(tmp_path / "reverse", _pair(CHINA_CLOUD, COMMERCIAL_CLOUD)[2])
    assert outcome(reverse.check(_sync(CHINA, HOME))) == ("DENY", "SYNC_CLOUD_UNSUPPORTED")


@pytest.mark.parametrize(
    ("source_enables", "target_enables", "decided_by"),
    [(True, False, "target"), (False, True, "source")],
    ids=["2.8-target-must-enable-source-cloud", "2.8-source-must-enable-target-cloud"],
)
def test_2_8_cross_cloud_pair_needs_both_clouds_enabled(
    tmp_path: Path, source_enables: bool, target_enables: bool, decided_by: str
) -> None:
    source, target, spec = _pair(
        COMMERCIAL_CLOUD, CHINA_CLOUD, source_enables=source_enables, target_enables=target_enables
    )
    answer = engine(tmp_path, spec).check(_sync(source, target))
    assert outcome(answer) == ("DENY", "CLOUD_NOT_ENABLED")
    assert answer["policyTenantId"] == (target if decided_by == "target" else source)


def test_2_8_unknown_source_is_taken_in_the_target_cloud(tmp_path: Path) -> None:
    """D9: the source is not in the snapshot; as for access questions it is taken to be in the
    target's cloud, so a 21Vianet target is the disputed inside-21Vianet case (deny)."""
    spec = {"t": tenant(CHINA, cloud=CHINA_CLOUD, partners=[_target_partner(HOME)])}
    assert outcome(engine(tmp_path, spec).check(_sync(HOME, CHINA))) == ("DENY", "SYNC_INSIDE_21VIANET_DOCS_DISAGREE")
    gov = {"t": tenant(GOV, cloud=GOV_CLOUD, partners=[_target_partner(HOME)])}
    assert outcome(engine(tmp_path / "gov", gov).check(_sync(HOME, GOV))) == ("ALLOW", "SYNC_ALLOWED")


# --------------------------------------------------------------------------- 2.8 group sync


GROUPS = "SYNC_OBJECT_KIND_GROUPS"
USERS = "SYNC_OBJECT_KIND_USERS"


@pytest.mark.parametrize(
    ("groups", "kind", "expected"),
    [
        pytest.param(True, GROUPS, ("ALLOW", "SYNC_ALLOWED"), id="2.8-group-sync-allowed"),
        pytest.param(False, GROUPS, ("DENY", "GROUP_SYNC_NOT_ALLOWED"), id="2.8-group-sync-false"),
        pytest.param(None, GROUPS, ("DENY", "GROUP_SYNC_NOT_ALLOWED"), id="2.8-group-sync-absent"),
        pytest.param(False, USERS, ("ALLOW", "SYNC_ALLOWED"), id="2.8-users-decided-by-userSyncInbound"),
        pytest.param(False, None, ("ALLOW", "SYNC_ALLOWED"), id="2.8-object-kind-defaults-to-users"),
    ],
)
def test_2_8_group_sync(tmp_path: Path, groups: bool | None, kind: str | None, expected: tuple[str, str]) -> None:
    source, target, spec = _pair(COMMERCIAL_CLOUD, COMMERCIAL_CLOUD, groups=groups)
    answer = engine(tmp_path, spec).check(_sync(source, target, kind))
    assert outcome(answer) == expected
    if expected[0] == "DENY":
        assert answer["source"] == "SOURCE_IDENTITY_SYNC"


def test_2_8_group_sync_needs_the_same_redemption_conditions(tmp_path: Path) -> None:
    source, target, spec = _pair(COMMERCIAL_CLOUD, COMMERCIAL_CLOUD, groups=True)
    spec["s"]["partners"] = [partner(target)]  # the source no longer redeems automatically outbound
    answer = engine(tmp_path, spec).check(_sync(source, target, GROUPS))
    assert outcome(answer) == ("DENY", "SYNC_OUTBOUND_REDEMPTION_DISABLED")
    no_policy = {"t": tenant(target, partners=[partner(source)])}
    assert outcome(engine(tmp_path / "p", no_policy).check(_sync(source, target, GROUPS))) == (
        "DENY",
        "SYNC_POLICY_MISSING",
    )


def test_2_10_group_sync_never_crosses_clouds(tmp_path: Path) -> None:
    source, target, spec = _pair(COMMERCIAL_CLOUD, GOV_CLOUD, groups=True)
    pdp = engine(tmp_path, spec)
    assert outcome(pdp.check(_sync(source, target, GROUPS))) == ("DENY", "GROUP_SYNC_CROSS_CLOUD_UNSUPPORTED")
    assert outcome(pdp.check(_sync(source, target, USERS))) == ("ALLOW", "SYNC_ALLOWED")


def test_2_8_unknown_object_kind_is_invalid_argument(tmp_path: Path) -> None:
    source, target, spec = _pair(COMMERCIAL_CLOUD, COMMERCIAL_CLOUD)
    pdp = engine(tmp_path, spec)
    request = pdp_pb2.CheckRequest(
        identity_sync=pdp_pb2.IdentitySyncQuestion(source_tenant_id=source, target_tenant_id=target, object_kind=99)
    )
    answer = pdp.check_proto(request)
    assert (answer.decision, answer.error.field) == (pdp_pb2.DECISION_DENY, "identitySync.objectKind")
    bad_json = pdp.check(_sync(source, target, "SYNC_OBJECT_KIND_CHANNELS"))
    assert bad_json["decision"] == "DECISION_DENY" and "objectKind" in bad_json["error"]["field"]


def test_2_8_group_sync_over_grpc_and_cli_like_the_engine(
    tmp_path: Path, channels: Channels, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target, spec = _pair(COMMERCIAL_CLOUD, COMMERCIAL_CLOUD, groups=False)
    policy = write_policy(tmp_path / "policy", spec)
    pdp = engine(tmp_path / "engine", spec)
    questions = [_sync(source, target, GROUPS), _sync(source, target, USERS), _sync(source, target)]
    srv = InProcessServer(
        settings_from_flags("--policy", str(policy), "--listen", "127.0.0.1:0", "--metrics-listen", "off")
    )
    try:
        channel = channels.open(srv.start().tcp_target)
        for q in questions:
            request = convert.request_from_json(q)
            assert check(channel, request) == pdp.check_proto(request)
        bad = pdp_pb2.CheckRequest(
            identity_sync=pdp_pb2.IdentitySyncQuestion(source_tenant_id=source, target_tenant_id=target, object_kind=7)
        )
        error = rpc_error(lambda: check(channel, bad))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in field_violations(error)] == ["identitySync.objectKind"]
    finally:
        srv.close()
    lines = "\n".join(json.dumps(q) for q in questions)
    monkeypatch.setattr("sys.stdin", __import__("io").TextIOWrapper(__import__("io").BytesIO(lines.encode())))
    assert cli.main(["check", "--policy", str(policy)]) == cli.ExitCode.OK
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [a["reason"] for a in answers] == ["REASON_GROUP_SYNC_NOT_ALLOWED", "REASON_SYNC_ALLOWED"] * 1 + [
        "REASON_SYNC_ALLOWED"
    ]
    # The JSON mapping round-trips the new field.
    parsed = convert.request_from_json(questions[0])
    assert parsed.identity_sync.object_kind == pdp_pb2.SYNC_OBJECT_KIND_GROUPS
    assert json_format.MessageToDict(parsed)["identitySync"]["objectKind"] == GROUPS


# --------------------------------------------------------------------------- the documented conflicts


def _explained(tmp_path: Path, spec: dict[str, dict[str, Any]], question: dict[str, Any], **options: Any) -> str:
    pdp = engine(tmp_path, spec, CompileOptions(**options)) if options else engine(tmp_path, spec)
    _, lines = explain(pdp.index, convert.query_from_proto(convert.request_from_json(question)))
    return "\n".join(lines)


def test_2_8_explain_names_the_inside_21vianet_conflict(tmp_path: Path) -> None:
    source, target, spec = _pair(CHINA_CLOUD, CHINA_CLOUD)
    text = _explained(tmp_path, spec, _sync(source, target))
    assert "docs disagree (2.8)" in text and "21Vianet -> 21Vianet" in text
    assert "SYNC_INSIDE_21VIANET_DOCS_DISAGREE" in text
    # A supported pair carries no conflict line.
    assert "docs disagree" not in _explained(
        tmp_path / "ok", _pair(COMMERCIAL_CLOUD, CHINA_CLOUD)[2], _sync(HOME, CHINA)
    )


def test_2_5_explain_names_the_direct_connect_mfa_conflict(tmp_path: Path) -> None:
    spec = {"r": tenant(RESOURCE, partners=[partner(HOME, inboundTrust={"isMfaAccepted": True})])}
    question = {
        "trust": {
            "tenantId": RESOURCE,
            "externalTenantId": HOME,
            "feature": "FEATURE_B2B_DIRECT_CONNECT",
            "required": ["CLAIM_MFA"],
            "presented": [],
        }
    }
    text = _explained(tmp_path, spec, question)
    assert "docs disagree (2.5)" in text and "E-dco" in text and "TRUST_MFA_IN_HOME_TENANT" in text
    collaboration = dict(question["trust"], feature="FEATURE_B2B_COLLABORATION")
    assert "docs disagree" not in _explained(tmp_path / "c", spec, {"trust": collaboration})


@pytest.mark.parametrize("across", [False, True], ids=["D1-seed-reading", "current-overview-reading"])
def test_2_7_explain_names_the_cross_cloud_redemption_conflict_and_its_switch(tmp_path: Path, across: bool) -> None:
    spec = {
        "h": tenant(HOME, allowed_clouds=[GOV_CLOUD], partners=[_source_partner(GOV)]),
        "g": tenant(GOV, cloud=GOV_CLOUD, allowed_clouds=[COMMERCIAL_CLOUD], partners=[_target_partner(HOME)]),
    }
    question = {"automaticRedemption": {"homeTenantId": HOME, "resourceTenantId": GOV}}
    text = _explained(tmp_path, spec, question, automatic_redemption_across_clouds=across)
    assert "docs disagree (2.7 vs D1)" in text
    if across:
        assert "AUTOMATIC_REDEMPTION_ENABLED" in text and "without --cross-cloud-automatic-redemption" in text
    else:
        assert "AUTOMATIC_REDEMPTION_CROSS_CLOUD_UNSUPPORTED" in text
        assert "with --cross-cloud-automatic-redemption" in text


def test_readme_lists_the_documented_conflicts_with_their_switch() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Where Microsoft's pages disagree", 1)[1].split("\n## ", 1)[0]
    for needle in ("2.5", "2.7", "D1", "--cross-cloud-automatic-redemption", "2.8", "21Vianet"):
        assert needle in section, needle
    assert "REASON_SYNC_INSIDE_21VIANET_DOCS_DISAGREE" in section
