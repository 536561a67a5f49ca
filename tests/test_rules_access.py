"""Table-driven cases for graph-model.md 2.1 (R1-R5), 2.2 (with the overview table), 2.10, D2-D5.

Every case runs the real pipeline: Graph JSON -> compile -> snapshot -> index -> evaluator,
and asserts the decision and the reason (and where it matters the source).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from policy_kit import (
    ALLOW_ALL,
    APP,
    APP2,
    BLOCK_ALL,
    CHINA,
    CHINA_CLOUD,
    EXCHANGE,
    GOV,
    GOV_CLOUD,
    GRAPH_APP,
    GROUP,
    GROUP2,
    HOME,
    OTHER,
    RESOURCE,
    USER,
    USER2,
    access,
    customized_default,
    engine,
    outcome,
    partner,
    setting,
    tenant,
)

from xtenant_pdp.compiler import CompileOptions, MissingHalf
from xtenant_pdp.graph.parse import parse_b2b_setting_document

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "examples" / "graph"
G1 = "99999999-0000-4000-8000-0000000000a1"
A1 = "99999999-0000-4000-8000-0000000000b1"

# 2.2 overview table: (file, member of g1 -> a1, member -> other app, non-member -> a1, non-member -> other)
OVERVIEW = [
    ("01-block-all-users-block-all-apps", ["USER_AND_APPLICATION_BLOCKED"] * 4),
    ("02-allow-all-users-allow-all-apps", ["ACCESS_ALLOWED"] * 4),
    ("03-allow-group-g1-any-app", ["ACCESS_ALLOWED", "ACCESS_ALLOWED", "USER_NOT_ALLOWED", "USER_NOT_ALLOWED"]),
    (
        "04-allow-only-app-a1",
        ["ACCESS_ALLOWED", "APPLICATION_NOT_ALLOWED", "ACCESS_ALLOWED", "APPLICATION_NOT_ALLOWED"],
    ),
    ("05-allow-g1-block-app-a1", ["APPLICATION_BLOCKED", "ACCESS_ALLOWED", "USER_NOT_ALLOWED", "USER_NOT_ALLOWED"]),
    (
        "06-block-g1-from-all-apps",
        ["USER_AND_APPLICATION_BLOCKED", "USER_AND_APPLICATION_BLOCKED", "ACCESS_ALLOWED", "ACCESS_ALLOWED"],
    ),
    ("07-block-g1-allow-only-a1", ["USER_BLOCKED", "USER_BLOCKED", "ACCESS_ALLOWED", "APPLICATION_NOT_ALLOWED"]),
    ("08-allow-g1-only-a1", ["ACCESS_ALLOWED", "APPLICATION_NOT_ALLOWED", "USER_NOT_ALLOWED", "USER_NOT_ALLOWED"]),
    ("09-block-g1-from-a1", ["USER_AND_APPLICATION_BLOCKED", "ACCESS_ALLOWED", "ACCESS_ALLOWED", "ACCESS_ALLOWED"]),
]


def _overview_setting(name: str) -> dict[str, object]:
    """The shared overview file with its placeholders g1/a1 replaced by GUIDs."""
    path = next(EXAMPLES.glob(f"overview-scenario-{name}.json"))
    text = path.read_text().replace('"g1"', f'"{G1}"').replace('"a1"', f'"{A1}"')
    return json.loads(text)["b2bSetting"]


@pytest.mark.parametrize(("name", "expected"), OVERVIEW, ids=[f"2.2-row-{n[:2]}" for n, _ in OVERVIEW])
def test_2_2_overview_table(tmp_path: Path, name: str, expected: list[str]) -> None:
    pdp = engine(
        tmp_path,
        {"r": tenant(RESOURCE, partners=[partner(HOME, b2bCollaborationInbound=_overview_setting(name))])},
    )
    cases = [((G1,), A1), ((G1,), APP), ((GROUP,), A1), ((GROUP,), APP)]
    got = [outcome(pdp.check(access(groups=groups, app=app)))[1] for groups, app in cases]
    assert got == expected
    for answer in (pdp.check(access(groups=g, app=a)) for g, a in cases):
        assert (answer["decision"] == "DECISION_ALLOW") == (answer["reason"] == "REASON_ACCESS_ALLOWED")
        assert answer["source"] == "SOURCE_PARTNER"


def test_2_2_both_blocked_asymmetry_row_6(tmp_path: Path) -> None:
    """Block g1 + block AllApplications lets everyone else reach everything (violates C1, still evaluated)."""
    pdp = engine(
        tmp_path,
        {
            "r": tenant(
                RESOURCE,
                partners=[partner(HOME, b2bCollaborationInbound=_overview_setting("06-block-g1-from-all-apps"))],
            )
        },
    )
    assert outcome(pdp.check(access(groups=(GROUP2,), app=GRAPH_APP))) == ("ALLOW", "ACCESS_ALLOWED")
    assert outcome(pdp.check(access(groups=(GROUP2, G1), app=GRAPH_APP))) == ("DENY", "USER_AND_APPLICATION_BLOCKED")


@pytest.mark.parametrize(
    ("users", "groups", "user", "expected"),
    [
        pytest.param([USER], (), USER, "ACCESS_ALLOWED", id="D3-user-id-targeted"),
        pytest.param([GROUP], (GROUP2, GROUP), USER, "ACCESS_ALLOWED", id="D3-any-presented-group"),
        pytest.param([USER, GROUP], (), USER2, "USER_NOT_ALLOWED", id="D3-neither-user-nor-group"),
        pytest.param([USER, GROUP], (GROUP,), USER2, "ACCESS_ALLOWED", id="D3-union-of-user-and-group-targets"),
        pytest.param([GROUP], (), USER, "USER_NOT_ALLOWED", id="D3-no-nesting-without-presented-group"),
    ],
)
def test_d3_users_and_groups_union(
    tmp_path: Path, users: list[str], groups: tuple[str, ...], user: str, expected: str
) -> None:
    b2b = setting(("allowed", users), ("allowed", "AllApplications"))
    pdp = engine(tmp_path, {"r": tenant(RESOURCE, partners=[partner(HOME, b2bCollaborationInbound=b2b)])})
    assert outcome(pdp.check(access(user=user, groups=groups)))[1] == expected


def test_d4_ids_are_case_insensitive(tmp_path: Path) -> None:
    b2b = setting(("allowed", [GROUP.upper()]), ("allowed", [APP.upper()]))
    pdp = engine(
        tmp_path, {"r": tenant(RESOURCE.upper(), partners=[partner(HOME.upper(), b2bCollaborationInbound=b2b)])}
    )
    answer = pdp.check(access(tenant_id=RESOURCE.upper(), external=HOME, groups=(GROUP.upper(),), app=APP))
    assert outcome(answer) == ("ALLOW", "ACCESS_ALLOWED")
    assert answer["policyTenantId"] == RESOURCE


@pytest.mark.parametrize(
    ("keyword", "app", "expected"),
    [
        pytest.param("Office365", EXCHANGE, "ACCESS_ALLOWED", id="D5-office365-member"),
        pytest.param("Office365", GRAPH_APP, "APPLICATION_NOT_ALLOWED", id="D5-office365-non-member"),
        pytest.param("AllMicrosoftApps", GRAPH_APP, "ACCESS_ALLOWED", id="D5-all-microsoft-apps"),
        pytest.param("AllMicrosoftApps", EXCHANGE, "ACCESS_ALLOWED", id="D5-all-microsoft-apps-covers-office365"),
        pytest.param("AllMicrosoftApps", APP, "APPLICATION_NOT_ALLOWED", id="D5-third-party-app"),
    ],
)
def test_d5_application_catalogue(tmp_path: Path, keyword: str, app: str, expected: str) -> None:
    b2b = setting(("allowed", "AllUsers"), ("allowed", keyword))
    pdp = engine(tmp_path, {"r": tenant(RESOURCE, partners=[partner(HOME, b2bCollaborationInbound=b2b)])})
    assert outcome(pdp.check(access(app=app)))[1] == expected


def test_d5_catalogue_replaced_per_policy_source(tmp_path: Path) -> None:
    b2b = setting(("allowed", "AllUsers"), ("allowed", "Office365"))
    pdp = engine(
        tmp_path,
        {"r": tenant(RESOURCE, partners=[partner(HOME, b2bCollaborationInbound=b2b)])},
        catalog={"Office365": [APP2], "AllMicrosoftApps": []},
    )
    assert outcome(pdp.check(access(app=APP2)))[1] == "ACCESS_ALLOWED"
    assert outcome(pdp.check(access(app=EXCHANGE)))[1] == "APPLICATION_NOT_ALLOWED"


# --------------------------------------------------------------------------- 2.1 inheritance


@pytest.mark.parametrize(
    ("external", "expected", "source"),
    [
        pytest.param(HOME, ("ALLOW", "ACCESS_ALLOWED"), "SOURCE_PARTNER", id="R1-partner-takes-precedence"),
        pytest.param(
            OTHER, ("DENY", "USER_AND_APPLICATION_BLOCKED"), "SOURCE_DEFAULT", id="R1-default-without-partner"
        ),
    ],
)
def test_r1_partner_else_default(tmp_path: Path, external: str, expected: tuple[str, str], source: str) -> None:
    pdp = engine(
        tmp_path,
        {
            "r": tenant(
                RESOURCE,
                default=customized_default(b2bCollaborationInbound=BLOCK_ALL),
                partners=[partner(HOME, b2bCollaborationInbound=ALLOW_ALL)],
            )
        },
    )
    answer = pdp.check(access(external=external))
    assert outcome(answer) == expected
    assert answer["source"] == source


def test_r1_service_default_without_default_file(tmp_path: Path) -> None:
    pdp = engine(tmp_path, {"r": tenant(RESOURCE)})
    collab = pdp.check(access())
    direct = pdp.check(access(feature="FEATURE_B2B_DIRECT_CONNECT"))
    assert outcome(collab) == ("ALLOW", "ACCESS_ALLOWED")
    assert outcome(direct) == ("DENY", "USER_AND_APPLICATION_BLOCKED")
    assert collab["source"] == direct["source"] == "SOURCE_SERVICE_DEFAULT"


def test_r2_null_partner_property_inherits_default(tmp_path: Path) -> None:
    pdp = engine(
        tmp_path,
        {
            "r": tenant(
                RESOURCE,
                default=customized_default(b2bDirectConnectInbound=ALLOW_ALL),
                partners=[partner(HOME, b2bCollaborationInbound=BLOCK_ALL, b2bDirectConnectInbound=None)],
            )
        },
    )
    assert outcome(pdp.check(access())) == ("DENY", "USER_AND_APPLICATION_BLOCKED")
    inherited = pdp.check(access(feature="FEATURE_B2B_DIRECT_CONNECT"))
    assert outcome(inherited) == ("ALLOW", "ACCESS_ALLOWED")
    assert inherited["source"] == "SOURCE_DEFAULT"


def test_r4_d2_missing_half_inherits_default_half(tmp_path: Path) -> None:
    b2b = setting(None, ("allowed", [APP]))
    spec = {
        "r": tenant(
            RESOURCE,
            default=customized_default(
                b2bCollaborationInbound=setting(("allowed", "AllUsers"), ("allowed", "AllApplications"))
            ),
            partners=[partner(HOME, b2bCollaborationInbound=b2b)],
        )
    }
    pdp = engine(tmp_path / "a", spec)
    assert outcome(pdp.check(access(app=APP))) == ("ALLOW", "ACCESS_ALLOWED")
    assert outcome(pdp.check(access(app=APP2))) == ("DENY", "APPLICATION_NOT_ALLOWED")


def test_r4_missing_half_inherits_a_blocking_default_half(tmp_path: Path) -> None:
    """The documented create example: DC inbound with only applications keeps the default's blocked users."""
    b2b = setting(None, ("allowed", "Office365"))
    spec = {"r": tenant(RESOURCE, partners=[partner(HOME, b2bDirectConnectInbound=b2b)])}
    inherit = engine(tmp_path / "inherit", spec)
    loose = engine(tmp_path / "loose", spec, CompileOptions(missing_half=MissingHalf.NO_RESTRICTION))
    q = access(feature="FEATURE_B2B_DIRECT_CONNECT", app=EXCHANGE)
    denied = inherit.check(q)
    assert outcome(denied) == ("DENY", "USER_BLOCKED")
    assert denied["source"] == "SOURCE_SERVICE_DEFAULT"
    assert outcome(loose.check(q)) == ("ALLOW", "ACCESS_ALLOWED")


def test_r5_unmodelled_partner_properties_are_ignored(tmp_path: Path) -> None:
    real = json.loads((EXAMPLES / "partner-get-response.json").read_text())
    real["tenantId"] = HOME
    pdp = engine(tmp_path, {"r": tenant(RESOURCE, partners=[real])})
    # partner-get-response: DC inbound allows AllUsers to Office365.
    q = access(feature="FEATURE_B2B_DIRECT_CONNECT", app=EXCHANGE)
    assert outcome(pdp.check(q)) == ("ALLOW", "ACCESS_ALLOWED")


# --------------------------------------------------------------------------- 2.10 cross-cloud


@pytest.mark.parametrize(
    ("spec", "query", "expected"),
    [
        pytest.param(
            {"r": tenant(RESOURCE)},
            access(external=GOV, cloud=GOV_CLOUD),
            ("DENY", "CLOUD_NOT_ENABLED"),
            id="2.10-cloud-not-enabled",
        ),
        pytest.param(
            {"r": tenant(RESOURCE, allowed_clouds=[GOV_CLOUD])},
            access(external=GOV, cloud=GOV_CLOUD),
            ("DENY", "CROSS_CLOUD_PARTNER_REQUIRED"),
            id="2.10-enabled-cloud-blocks-until-partner-added",
        ),
        pytest.param(
            {"r": tenant(RESOURCE, allowed_clouds=[GOV_CLOUD], partners=[partner(GOV)])},
            access(external=GOV, cloud=GOV_CLOUD),
            ("ALLOW", "ACCESS_ALLOWED"),
            id="2.10-partner-added-default-settings-apply",
        ),
        pytest.param(
            {
                "r": tenant(
                    RESOURCE, allowed_clouds=[GOV_CLOUD], partners=[partner(GOV, b2bDirectConnectInbound=ALLOW_ALL)]
                )
            },
            access(external=GOV, cloud=GOV_CLOUD, feature="FEATURE_B2B_DIRECT_CONNECT"),
            ("DENY", "CROSS_CLOUD_DIRECT_CONNECT_UNSUPPORTED"),
            id="2.10-no-direct-connect-across-clouds",
        ),
        pytest.param(
            {"g": tenant(GOV, cloud=GOV_CLOUD, allowed_clouds=[CHINA_CLOUD], partners=[partner(CHINA)])},
            access(tenant_id=GOV, external=CHINA, cloud=CHINA_CLOUD),
            ("DENY", "CLOUD_PAIR_UNSUPPORTED"),
            id="2.10-gov-china-unsupported-pair",
        ),
        pytest.param(
            {"r": tenant(RESOURCE, partners=[partner(CHINA)]), "c": tenant(CHINA, cloud=CHINA_CLOUD)},
            access(external=CHINA),
            ("DENY", "CLOUD_NOT_ENABLED"),
            id="2.10-cloud-known-from-snapshot",
        ),
        pytest.param(
            {"r": tenant(RESOURCE, allowed_clouds=[GOV_CLOUD], partners=[partner(GOV)])},
            access(external=GOV),
            ("ALLOW", "ACCESS_ALLOWED"),
            id="2.10-same-cloud-assumed-when-unknown",
        ),
    ],
)
def test_2_10_cross_cloud(
    tmp_path: Path, spec: dict[str, dict[str, object]], query: dict[str, object], expected: tuple[str, str]
) -> None:
    pdp = engine(tmp_path, spec)
    answer = pdp.check(query)
    assert outcome(answer) == expected
    if expected[0] == "DENY":
        assert answer["source"] == "SOURCE_CLOUD_SETTINGS"


# --------------------------------------------------------------------------- D12 a known tenant's cloud

COMMERCIAL_CLOUD = "microsoftonline.com"
D12_SPEC = {
    # The resource enables US Government and adds GOV as a partner: GOV (known, in Gov) may collaborate.
    "r": tenant(RESOURCE, partners=[partner(GOV), partner(CHINA)], allowed_clouds=[GOV_CLOUD]),
    "g": tenant(GOV, cloud=GOV_CLOUD, allowed_clouds=[COMMERCIAL_CLOUD], partners=[partner(RESOURCE)]),
    "c": tenant(CHINA, cloud=CHINA_CLOUD),
}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(access(external=CHINA), ("DENY", "CLOUD_NOT_ENABLED"), id="D12-omitted-snapshot-decides"),
        pytest.param(
            access(external=CHINA, cloud=CHINA_CLOUD),
            ("DENY", "CLOUD_NOT_ENABLED"),
            id="D12-agreeing-value-same-answer",
        ),
        pytest.param(access(external=GOV, cloud=GOV_CLOUD), ("ALLOW", "ACCESS_ALLOWED"), id="D12-agreeing-allow"),
        pytest.param(
            access(external=OTHER, cloud=GOV_CLOUD),
            ("DENY", "CROSS_CLOUD_PARTNER_REQUIRED"),
            id="D12-unknown-tenant-caller-value-used",
        ),
        pytest.param(
            access(external=OTHER, cloud=CHINA_CLOUD), ("DENY", "CLOUD_NOT_ENABLED"), id="D12-unknown-tenant-china"
        ),
    ],
)
def test_D12_known_tenant_cloud_comes_from_snapshot(
    tmp_path: Path, query: dict[str, object], expected: tuple[str, str]
) -> None:
    answer = engine(tmp_path, D12_SPEC).check(query)
    assert outcome(answer) == expected
    assert "error" not in answer


@pytest.mark.parametrize(
    ("query", "known"),
    [
        # CHINA is denied (cloud not enabled): claiming commercial must not make it an ALLOW.
        pytest.param(access(external=CHINA, cloud=COMMERCIAL_CLOUD), CHINA_CLOUD, id="D12-china-claims-commercial"),
        pytest.param(access(external=GOV, cloud=COMMERCIAL_CLOUD), GOV_CLOUD, id="D12-gov-claims-commercial"),
        pytest.param(access(external=GOV, cloud=CHINA_CLOUD), GOV_CLOUD, id="D12-gov-claims-china"),
        pytest.param(access(external=RESOURCE, cloud=GOV_CLOUD), COMMERCIAL_CLOUD, id="D12-same-tenant-other-cloud"),
        pytest.param(
            access(tenant_id=GOV, external=RESOURCE, cloud=GOV_CLOUD), COMMERCIAL_CLOUD, id="D12-from-the-gov-side"
        ),
    ],
)
def test_D12_contradicting_external_cloud_is_invalid_argument(
    tmp_path: Path, query: dict[str, object], known: str
) -> None:
    answer = engine(tmp_path, D12_SPEC).check(query)
    assert outcome(answer) == ("DENY", "INVALID_REQUEST")
    assert answer["error"]["code"] == "ERROR_CODE_INVALID_ARGUMENT"
    assert answer["error"]["field"] == "access.externalCloud"
    assert f"`{known}`" in answer["error"]["message"]
    assert "D12" in answer["error"]["message"]


def test_2_10_same_tenant_is_not_cross_tenant(tmp_path: Path) -> None:
    pdp = engine(tmp_path, {"r": tenant(RESOURCE, default=customized_default(b2bCollaborationInbound=BLOCK_ALL))})
    assert outcome(pdp.check(access(external=RESOURCE))) == ("ALLOW", "SAME_TENANT")


def test_d9_access_question_about_missing_tenant_denies(tmp_path: Path) -> None:
    pdp = engine(tmp_path, {"r": tenant(RESOURCE)})
    answer = pdp.check(access(tenant_id=OTHER))
    assert outcome(answer) == ("DENY", "TENANT_NOT_IN_SNAPSHOT")
    assert answer["policyTenantId"] == OTHER
    assert answer["source"] == "SOURCE_SNAPSHOT"


def test_2_2_outbound_direction_reads_outbound_setting(tmp_path: Path) -> None:
    pdp = engine(
        tmp_path,
        {
            "h": tenant(
                HOME,
                partners=[
                    partner(
                        RESOURCE,
                        b2bCollaborationOutbound=setting(
                            ("allowed", [USER]), ("allowed", "AllApplications"), user_kind="user"
                        ),
                    )
                ],
            )
        },
    )
    out = access(tenant_id=HOME, external=RESOURCE, direction="DIRECTION_OUTBOUND")
    assert outcome(pdp.check(out)) == ("ALLOW", "ACCESS_ALLOWED")
    out["access"]["userId"] = USER2
    assert outcome(pdp.check(out)) == ("DENY", "USER_NOT_ALLOWED")
    inbound = access(tenant_id=HOME, external=RESOURCE, user=USER2)
    assert outcome(pdp.check(inbound)) == ("ALLOW", "ACCESS_ALLOWED")


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("overview-scenario-*.json")), ids=lambda p: p.stem[18:20])
def test_2_2_overview_files_load_verbatim(path: Path) -> None:
    """The shared files, placeholders (`g1`, `a1`) and all, parse as B2B settings with the table's access types."""
    setting = parse_b2b_setting_document(json.loads(path.read_text()), path.name)
    raw = json.loads(path.read_text())["b2bSetting"]
    assert setting.users_and_groups is not None and setting.applications is not None
    assert setting.users_and_groups.access_type.value == raw["usersAndGroups"]["accessType"]
    assert setting.applications.access_type.value == raw["applications"]["accessType"]
    assert [t.target for t in setting.users_and_groups.targets] == [
        t["target"] for t in raw["usersAndGroups"]["targets"]
    ]
