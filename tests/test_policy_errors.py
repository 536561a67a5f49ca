"""Policy source errors: every problem at once, each with its file and exact JSON path (D6, R5, C1, D7).

One broken policy directory holds every kind of mistake the parser and the check-source stage
know about, spread over several files and tenant folders; `compile_policy_dir` must report all
of them in one CompileErrors, sorted by file then path, never just the first.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE_POLICY
from policy_kit import ALLOW_ALL

from xtenant_pdp import cli
from xtenant_pdp.compiler import CompileOptions, compile_policy_dir
from xtenant_pdp.errors import CompileErrors, CompileIssue, IssueCode, Severity

SHARED_GRAPH_EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "examples" / "graph"

CONTOSO = "5de41ce2-ca22-4b65-866a-e46ae037737e"
WOODGROVE = "b9ecdb8d-362d-4399-8f18-27c5620f7443"
FABRIKAM = "6f086a4d-9c20-4b2e-a39f-5dcccb0b955a"
P3 = "11111111-1111-4111-8111-111111111111"
P4 = "22222222-2222-4222-8222-222222222222"
P5 = "33333333-3333-4333-8333-333333333333"
P6 = "44444444-4444-4444-8444-444444444444"
GUID_HINT = "use the 36-character id, e.g. 3d0f5dec-5d3d-455c-8016-e2af1ae4d31a"


def _write(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document if isinstance(document, str) else json.dumps(document, indent=2), encoding="utf-8")


def _tenant(tenant_id: str, cloud: str = "microsoftonline.com") -> dict[str, str]:
    return {"tenantId": tenant_id, "cloud": cloud}


# --------------------------------------------------------------------------- the broken policy

BROKEN_PARTNERS = {
    "value": [
        # [0] D6: the overview's own typo, a leading space.
        {
            "tenantId": FABRIKAM,
            "b2bCollaborationInbound": {
                "usersAndGroups": {"accessType": " blocked", "targets": [{"target": "AllUsers", "targetType": "user"}]},
                "applications": {
                    "accessType": "blocked",
                    "targets": [{"target": "AllApplications", "targetType": "application"}],
                },
            },
        },
        # [1] the same partner again, upper case (D4: tenant ids compare case-insensitively).
        {"tenantId": FABRIKAM.upper()},
        # [2] not a GUID.
        {"tenantId": "not-a-guid"},
        # [3] D6 a case variant of an enum value; a string where an object is; a number where a boolean is.
        # (unknownFutureValue itself compiles fail-closed since D6 was revised: tests/test_ingest_unknown.py.)
        {
            "tenantId": P3,
            "b2bDirectConnectInbound": {
                "usersAndGroups": {"accessType": "allowed", "targets": [{"target": "AllUsers", "targetType": "user"}]},
                "applications": {
                    "accessType": "Blocked",
                    "targets": [{"target": "AllApplications", "targetType": "application"}],
                },
            },
            "inboundTrust": "yes",
            "isServiceProvider": 1,
        },
        # [4] a target that is neither GUID nor keyword; a targetType in the wrong half; D6 targetType case.
        {
            "tenantId": P4,
            "b2bCollaborationOutbound": {
                "usersAndGroups": {"accessType": "allowed", "targets": [{"target": "allusers", "targetType": "user"}]},
                "applications": {
                    "accessType": "allowed",
                    "targets": [{"target": "AllApplications", "targetType": "user"}],
                },
            },
            "tenantRestrictions": {
                "usersAndGroups": {
                    "accessType": "blocked",
                    "targets": [{"target": "AllUsers", "targetType": "User"}],
                }
            },
        },
        # [5] 1.6: an identity sync policy belongs to its partner.
        {
            "tenantId": P5,
            "identitySynchronization": {"tenantId": P6, "userSyncInbound": {"isSyncAllowed": True}},
        },
    ]
}

# (file, path, code, message, hint), in the order CompileErrors must list them: by file, then path.
EXPECTED: list[tuple[str, str, str, str, str]] = [
    (
        "contoso/default.json",
        "$",
        "E002",
        "invalid JSON at line 2 column 23: expecting value",
        "fix the syntax; Graph bodies are exported as plain JSON",
    ),
    (
        "contoso/partners.json",
        "$.value[0].b2bCollaborationInbound.usersAndGroups.accessType",
        "E005",
        'unknown value " blocked"',
        'did you mean "blocked"?',
    ),
    (
        "contoso/partners.json",
        "$.value[1].tenantId",
        "E007",
        f"duplicate partner `{FABRIKAM}` (first at $.value[0])",
        "merge the two entries: Graph keys partners by tenantId",
    ),
    ("contoso/partners.json", "$.value[2].tenantId", "E006", "`not-a-guid` is not a GUID", GUID_HINT),
    (
        "contoso/partners.json",
        "$.value[3].b2bDirectConnectInbound.applications.accessType",
        "E005",
        'unknown value "Blocked"',
        'did you mean "blocked"?',
    ),
    ("contoso/partners.json", "$.value[3].inboundTrust", "E003", "expected an object, got a string", ""),
    ("contoso/partners.json", "$.value[3].isServiceProvider", "E003", "expected a boolean or null, got a number", ""),
    (
        "contoso/partners.json",
        "$.value[4].b2bCollaborationOutbound.applications.targets[0].targetType",
        "E010",
        'targetType "user" does not belong in applications',
        'use "application"',
    ),
    (
        "contoso/partners.json",
        "$.value[4].b2bCollaborationOutbound.usersAndGroups.targets[0].target",
        "E009",
        "`allusers` is neither a GUID nor a keyword",
        'did you mean "AllUsers"?',
    ),
    (
        "contoso/partners.json",
        "$.value[4].tenantRestrictions.usersAndGroups.targets[0].targetType",
        "E005",
        'unknown value "User"',
        'did you mean "user"?',
    ),
    (
        "contoso/partners.json",
        "$.value[5].identitySynchronization.tenantId",
        "E011",
        f"`{P6}` differs from the partner's tenantId `{P5}`",
        "an identity sync policy belongs to its partner",
    ),
    (
        "fabrikam/tenant.json",
        "$",
        "E001",
        "is missing",
        'add {"tenantId": "<GUID>", "cloud": "microsoftonline.com"}',
    ),
    (
        "woodgrove/crossTenantAccessPolicy.json",
        "$.allowedCloudEndpoints",
        "E003",
        "expected an array, got a string",
        "",
    ),
    ("woodgrove/default.json", "$.b2bCollaborationOutbound", "E003", "expected an object, got a string", ""),
    (
        "woodgrove/default.json",
        "$.inboundTrust.isMfaAccepted",
        "E003",
        "expected a boolean or null, got a string",
        "",
    ),
    ("woodgrove/default.json", "$.isServiceDefault", "E003", "expected a boolean or null, got a number", ""),
]


def _write_broken_policy(root: Path) -> Path:
    _write(root / "contoso" / "tenant.json", _tenant(CONTOSO))
    _write(root / "contoso" / "partners.json", BROKEN_PARTNERS)
    # Invalid JSON: `tru` is not a value (line 2, column 23).
    _write(root / "contoso" / "default.json", '{\n  "isServiceDefault": tru\n}\n')
    # No tenant.json: the folder is a tenant folder all the same.
    _write(root / "fabrikam" / "default.json", {})
    _write(root / "woodgrove" / "tenant.json", _tenant(WOODGROVE, "microsoftonline.us"))
    _write(root / "woodgrove" / "crossTenantAccessPolicy.json", {"allowedCloudEndpoints": "microsoftonline.com"})
    _write(
        root / "woodgrove" / "default.json",
        {"isServiceDefault": 0, "b2bCollaborationOutbound": "blocked", "inboundTrust": {"isMfaAccepted": "true"}},
    )
    return root


def _as_tuples(issues: list[CompileIssue]) -> list[tuple[str, str, str, str, str]]:
    return [(i.file, i.path, i.code.value, i.message, i.hint) for i in issues]


@pytest.fixture(scope="module")
def broken_errors(tmp_path_factory: pytest.TempPathFactory) -> CompileErrors:
    root = _write_broken_policy(tmp_path_factory.mktemp("broken") / "policy")
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root)
    return caught.value


def test_every_error_is_reported_at_once_sorted_by_file_then_path(broken_errors: CompileErrors) -> None:
    assert _as_tuples(broken_errors.issues) == EXPECTED
    assert all(i.severity is Severity.ERROR for i in broken_errors.issues)
    assert broken_errors.args[0] == f"{len(EXPECTED)} errors in policy source"
    # The text form names file, path, message, hint and code of each, one per line.
    lines = str(broken_errors).splitlines()
    assert lines[0] == f"{len(EXPECTED)} errors in policy source"
    # Inside a partner entry the partner is named too (issue 10 item 2).
    subjects = [i.subject() for i in broken_errors.issues]
    assert lines[1:] == [
        f"{f}: {p}{s}: {m}{f' ({h})' if h else ''} [{c}]" for (f, p, c, m, h), s in zip(EXPECTED, subjects, strict=True)
    ]
    assert subjects[1] == f" (partner {FABRIKAM})"


@pytest.mark.parametrize(
    "expected",
    [
        pytest.param(EXPECTED[0], id="invalid-JSON-line-and-column"),
        pytest.param(EXPECTED[1], id="D6-misspelt-accessType-leading-space"),
        pytest.param(EXPECTED[2], id="D4-duplicate-partner-case-insensitive"),
        pytest.param(EXPECTED[3], id="D4-non-GUID-tenantId"),
        pytest.param(EXPECTED[4], id="D6-case-variant-accessType"),
        pytest.param(EXPECTED[5], id="wrong-type-string-for-object"),
        pytest.param(EXPECTED[6], id="wrong-type-number-for-boolean"),
        pytest.param(EXPECTED[7], id="1.5-targetType-mismatch"),
        pytest.param(EXPECTED[8], id="D4-target-neither-GUID-nor-keyword"),
        pytest.param(EXPECTED[9], id="D6-case-variant-targetType"),
        pytest.param(EXPECTED[10], id="1.6-identitySynchronization-tenantId-mismatch"),
        pytest.param(EXPECTED[11], id="missing-tenant.json"),
        pytest.param(EXPECTED[12], id="wrong-type-string-for-array"),
    ],
)
def test_each_error_names_file_and_exact_json_path(
    broken_errors: CompileErrors, expected: tuple[str, str, str, str, str]
) -> None:
    assert expected in _as_tuples(broken_errors.issues)


def test_compile_options_do_not_hide_errors(tmp_path: Path) -> None:
    """strict adds errors, it never removes one; the same 16 are there."""
    root = _write_broken_policy(tmp_path / "policy")
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root, CompileOptions(strict=True))
    assert _as_tuples(caught.value.issues) == EXPECTED


def test_target_errors_are_reported_even_when_tenant_json_is_bad(tmp_path: Path) -> None:
    """Regression: target checks were skipped for a folder whose tenant.json failed (not every error at once)."""
    root = tmp_path / "policy"
    _write(root / "contoso" / "tenant.json", {"tenantId": "nope"})
    bad = {"accessType": "allowed", "targets": [{"target": "allusers", "targetType": "user"}]}
    _write(
        root / "contoso" / "partners.json",
        {"value": [{"tenantId": FABRIKAM, "b2bCollaborationInbound": {"usersAndGroups": bad}}]},
    )
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root)
    assert [(i.file, i.path, i.code) for i in caught.value.issues] == [
        (
            "contoso/partners.json",
            "$.value[0].b2bCollaborationInbound.usersAndGroups.targets[0].target",
            IssueCode.INVALID_TARGET,
        ),
        ("contoso/tenant.json", "$.tenantId", IssueCode.INVALID_GUID),
    ]


def test_array_indices_sort_as_numbers(tmp_path: Path) -> None:
    """Regression: paths sorted as strings listed $.value[10] before $.value[2]."""
    root = tmp_path / "policy"
    _write(root / "contoso" / "tenant.json", _tenant(CONTOSO))
    partners = [{"tenantId": f"{i:08x}-0000-4000-8000-000000000000"} for i in range(1, 13)]
    partners[2]["tenantId"] = "bad-2"
    partners[10]["tenantId"] = "bad-10"
    _write(root / "contoso" / "partners.json", {"value": partners})
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root)
    assert [i.path for i in caught.value.issues] == ["$.value[2].tenantId", "$.value[10].tenantId"]


# --------------------------------------------------------------------------- R5, D6: unknown properties


def _clean_policy(root: Path) -> Path:
    _write(root / "contoso" / "tenant.json", _tenant(CONTOSO))
    _write(root / "contoso" / "crossTenantAccessPolicy.json", {"displayName": "X", "allowedCloudEndpoints": []})
    _write(root / "contoso" / "default.json", {"inboundTrust": {"isMfaAccepted": False}})
    _write(
        root / "contoso" / "partners.json",
        {
            "value": [
                {
                    "tenantId": FABRIKAM,
                    "b2bCollaborationInbound": copy.deepcopy(ALLOW_ALL),
                    "identitySynchronization": {"tenantId": FABRIKAM, "userSyncInbound": {"isSyncAllowed": True}},
                }
            ]
        },
    )
    return root


def _noisy_policy(root: Path) -> Path:
    """The clean policy plus unknown properties and @odata annotations everywhere."""
    _write(root / "contoso" / "tenant.json", {**_tenant(CONTOSO), "futureField": 1})
    _write(
        root / "contoso" / "crossTenantAccessPolicy.json",
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#policies/crossTenantAccessPolicy/$entity",
            "@odata.type": "#microsoft.graph.crossTenantAccessPolicy",
            "displayName": "X",
            "allowedCloudEndpoints": [],
            "newPolicyThing": [1],
        },
    )
    _write(
        root / "contoso" / "default.json",
        {"@odata.context": "x", "futureSetting": {"a": 1}, "inboundTrust": {"isMfaAccepted": False, "newTrust": True}},
    )
    inbound = copy.deepcopy(ALLOW_ALL)
    inbound["@odata.type"] = "#microsoft.graph.crossTenantAccessPolicyB2BSetting"
    inbound["usersAndGroups"]["targets"][0]["extra"] = True
    inbound["usersAndGroups"]["targets"][0]["@odata.type"] = "#microsoft.graph.crossTenantAccessPolicyTarget"
    _write(
        root / "contoso" / "partners.json",
        {
            "@odata.context": "x",
            "@odata.count": 1,
            "weird": 1,
            "value": [
                {
                    "tenantId": FABRIKAM,
                    "@odata.type": "#microsoft.graph.crossTenantAccessPolicyConfigurationPartner",
                    "newThing": {"a": 1},
                    # Documented but unused (R5): ignored without being listed.
                    "crossCloudMeetingConfiguration": {"inboundAllowed": True, "outboundAllowed": True},
                    "protectedContentSharing": {"inboundAllowed": True},
                    "m365CollaborationInbound": None,
                    "appServiceConnectInbound": None,
                    "b2bCollaborationInbound": inbound,
                    "identitySynchronization@odata.context": "x",
                    "identitySynchronization": {
                        "tenantId": FABRIKAM,
                        "userSyncInbound": {"isSyncAllowed": True, "x": 1},
                        "y": 2,
                    },
                }
            ],
        },
    )
    return root


UNKNOWN_LISTED = [
    ("contoso/crossTenantAccessPolicy.json", "$.newPolicyThing"),
    ("contoso/default.json", "$.futureSetting"),
    ("contoso/default.json", "$.inboundTrust.newTrust"),
    ("contoso/partners.json", "$.value[0].b2bCollaborationInbound.usersAndGroups.targets[0].extra"),
    ("contoso/partners.json", "$.value[0].identitySynchronization.userSyncInbound.x"),
    ("contoso/partners.json", "$.value[0].identitySynchronization.y"),
    ("contoso/partners.json", "$.value[0].newThing"),
    ("contoso/partners.json", "$.weird"),
    ("contoso/tenant.json", "$.futureField"),
]


def test_D6_R5_unknown_properties_and_odata_annotations_are_ignored_and_listed_as_info(tmp_path: Path) -> None:
    noisy = compile_policy_dir(_noisy_policy(tmp_path / "noisy"), created_at=0)
    clean = compile_policy_dir(_clean_policy(tmp_path / "clean"), created_at=0)
    infos = [f for f in noisy.findings if f.severity is Severity.INFO]
    assert [(f.file, f.path) for f in infos] == UNKNOWN_LISTED
    assert {f.code for f in infos} == {IssueCode.UNKNOWN_PROPERTY}
    assert all(f.message == "unknown property ignored" for f in infos)
    # No @odata annotation and no documented-but-unused property is listed.
    assert not [f for f in noisy.findings if "@odata" in f.path or "crossCloud" in f.path or "m365" in f.path]
    assert not [f for f in clean.findings if f.severity is Severity.INFO]
    # Ignored means ignored: the compiled body (and so the snapshot id) is the same.
    assert noisy.info.snapshot_id == clean.info.snapshot_id
    assert noisy.snapshot == clean.snapshot


def test_D6_show_unknown_lists_ignored_properties_only_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _noisy_policy(tmp_path / "policy")
    assert cli.main(["validate", str(root)]) == 0
    quiet = capsys.readouterr().out
    assert "unknown property ignored" not in quiet
    assert cli.main(["validate", str(root), "--show-unknown"]) == 0
    shown = capsys.readouterr().out
    for file, path in UNKNOWN_LISTED:
        # Inside a partner entry the line also names the partner (issue 10 item 2).
        partner = r"( \(partner [0-9a-f-]{36}\))?"
        line = re.escape(f"info: {file}: {path}") + partner + r": unknown property ignored \[I001\]\n"
        assert re.search(line, shown), line


def test_odata_nextLink_is_a_warning_that_strict_turns_into_an_error(tmp_path: Path) -> None:
    root = _clean_policy(tmp_path / "policy")
    partners = json.loads((root / "contoso" / "partners.json").read_text())
    partners["@odata.nextLink"] = (
        "https://graph.microsoft.com/v1.0/policies/crossTenantAccessPolicy/partners?$skiptoken=x"
    )
    _write(root / "contoso" / "partners.json", partners)

    result = compile_policy_dir(root)
    warnings = [f for f in result.findings if f.severity is Severity.WARNING]
    assert [(w.file, w.path) for w in warnings] == [("contoso/partners.json", "$['@odata.nextLink']")]
    assert "later pages are missing" in warnings[0].message
    assert result.info.partner_count == 1

    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root, CompileOptions(strict=True))
    assert [(i.file, i.path) for i in caught.value.issues] == [("contoso/partners.json", "$['@odata.nextLink']")]


# --------------------------------------------------------------------------- C1 / D7 and --strict

EXAMPLE_FINDINGS = [
    ("contoso/partners.json", "$.value[0].inboundTrust.isMfaAccepted", "D7-MFA"),
    ("contoso/partners.json", "$.value[1].b2bCollaborationOutbound.applications", "D7-OME"),
    ("contoso/partners.json", "$.value[3].inboundTrust.isMfaAccepted", "D7-MFA"),
    ("contoso/partners.json", "$.value[4].b2bDirectConnectInbound.applications", "C1a"),
    ("contoso/partners.json", "$.value[4].b2bDirectConnectOutbound.usersAndGroups", "C1b"),
    ("woodgrove/partners.json", "$.value[0].inboundTrust.isMfaAccepted", "D7-MFA"),
]


def test_C1_D7_findings_are_warnings_by_default() -> None:
    result = compile_policy_dir(EXAMPLE_POLICY)
    assert [(f.file, f.path, f.code.value) for f in result.findings] == EXAMPLE_FINDINGS
    assert all(f.severity is Severity.WARNING for f in result.findings)


def test_C1_D7_strict_turns_findings_into_errors() -> None:
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(EXAMPLE_POLICY, CompileOptions(strict=True))
    assert [(i.file, i.path, i.code.value) for i in caught.value.issues] == EXAMPLE_FINDINGS


def test_C1_D7_strict_errors_have_error_severity() -> None:
    """Regression: escalated findings kept severity `warning`, so a failed compile listed no error."""
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(EXAMPLE_POLICY, CompileOptions(strict=True))
    assert {i.severity for i in caught.value.issues} == {Severity.ERROR}


# --------------------------------------------------------------------------- the shared Graph examples

PARTNER_ID = "9c5d131d-b1c3-4fc4-9e3f-c6557947d551"
G1 = "bbbbbbbb-0000-4000-8000-000000000001"
A1 = "cccccccc-0000-4000-8000-000000000001"


def _replace_placeholders(document: Any) -> Any:
    """The overview scenarios name their group and app `g1` and `a1`; a policy needs GUIDs."""
    text = json.dumps(document).replace('"g1"', json.dumps(G1)).replace('"a1"', json.dumps(A1))
    return json.loads(text)


def _place(name: str, document: Any, folder: Path) -> int:
    """Write one shared example into a tenant folder in its Graph role; returns the partners expected."""
    if name == "crosstenantaccesspolicy-get-response.json":
        _write(folder / "crossTenantAccessPolicy.json", document)
        return 0
    if name == "default-get-response.json":
        _write(folder / "default.json", document)
        return 0
    if name == "identitysync-get-response.json":
        _write(
            folder / "partners.json",
            {"value": [{"tenantId": document["tenantId"], "identitySynchronization": document}]},
        )
        return 1
    if name == "partners-list-expand-identitysync-response.json":
        _write(folder / "partners.json", document)
        return len(document["value"])
    if name.startswith("partner-"):
        _write(folder / "partners.json", {"value": [document]})
        return 1
    if name.startswith("overview-scenario-"):
        setting_ = _replace_placeholders(document)["b2bSetting"]
        _write(folder / "partners.json", {"value": [{"tenantId": PARTNER_ID, "b2bCollaborationInbound": setting_}]})
        return 1
    raise AssertionError(f"no Graph role known for shared example {name}: add one to this test")


SHARED_FILES = sorted(p.name for p in SHARED_GRAPH_EXAMPLES.glob("*.json")) if SHARED_GRAPH_EXAMPLES.is_dir() else []


def test_shared_graph_examples_are_all_here() -> None:
    assert len(SHARED_FILES) >= 16, SHARED_FILES


@pytest.mark.parametrize("name", SHARED_FILES)
def test_4_shared_graph_example_compiles_in_its_role(tmp_path: Path, name: str) -> None:
    document = json.loads((SHARED_GRAPH_EXAMPLES / name).read_text(encoding="utf-8"))
    root = tmp_path / "policy"
    folder = root / "contoso"
    _write(folder / "tenant.json", _tenant(CONTOSO))
    partners = _place(name, document, folder)
    result = compile_policy_dir(root)
    assert result.info.tenant_count == 1
    assert result.info.partner_count == partners
    # Documented Graph bodies carry no property the parser does not know (R5 lists only the unknown).
    assert not [f for f in result.findings if f.severity is Severity.INFO]
    assert not [f for f in result.findings if f.severity is Severity.ERROR]


def test_4_crosstenantaccesspolicy_example_keeps_its_cloud_endpoints(tmp_path: Path) -> None:
    document = json.loads((SHARED_GRAPH_EXAMPLES / "crosstenantaccesspolicy-get-response.json").read_text())
    root = tmp_path / "policy"
    _write(root / "contoso" / "tenant.json", _tenant(CONTOSO))
    _write(root / "contoso" / "crossTenantAccessPolicy.json", document)
    (tenant,) = compile_policy_dir(root).tenants
    assert sorted(c.endpoint for c in tenant.allowed_cloud_endpoints) == sorted(
        document["value"]["allowedCloudEndpoints"]
    )


def test_4_overview_scenarios_with_placeholder_ids_name_the_bad_targets(tmp_path: Path) -> None:
    """Verbatim, `g1`/`a1` are not GUIDs: each becomes an INVALID_TARGET at its exact path."""
    document = json.loads((SHARED_GRAPH_EXAMPLES / "overview-scenario-08-allow-g1-only-a1.json").read_text())
    root = tmp_path / "policy"
    _write(root / "contoso" / "tenant.json", _tenant(CONTOSO))
    _write(
        root / "contoso" / "partners.json",
        {"value": [{"tenantId": PARTNER_ID, "b2bCollaborationInbound": document["b2bSetting"]}]},
    )
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root)
    prefix = "$.value[0].b2bCollaborationInbound"
    assert [(i.path, i.code, i.message) for i in caught.value.issues] == [
        (f"{prefix}.applications.targets[0].target", IssueCode.INVALID_TARGET, "`a1` is neither a GUID nor a keyword"),
        (
            f"{prefix}.usersAndGroups.targets[0].target",
            IssueCode.INVALID_TARGET,
            "`g1` is neither a GUID nor a keyword",
        ),
    ]


def test_deeply_nested_json_is_a_compile_error_not_a_crash(tmp_path: Path) -> None:
    """Regression: ~1000 nested arrays escaped compile_policy_dir as RecursionError."""
    root = tmp_path / "policy"
    _write(root / "contoso" / "tenant.json", _tenant(CONTOSO))
    _write(root / "contoso" / "partners.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root)
    assert [(i.file, i.path, i.code) for i in caught.value.issues] == [
        ("contoso/partners.json", "$", IssueCode.INVALID_JSON)
    ]


@pytest.mark.parametrize(
    "half",
    [
        pytest.param(
            {"accessType": " blocked", "targets": [{"target": "allusers", "targetType": "user"}]},
            id="D6-misspelt-accessType-hides-target",
        ),
        pytest.param(
            {
                "accessType": "allowed",
                "targets": [
                    {"target": "AllUsers", "targetType": "Users"},
                    {"target": "allusers", "targetType": "user"},
                ],
            },
            id="D6-misspelt-targetType-hides-sibling-target",
        ),
    ],
)
def test_errors_inside_a_broken_half_are_all_reported(tmp_path: Path, half: dict[str, Any]) -> None:
    """Regression: a half dropped for a bad accessType or targetType hid the bad targets next to it."""
    root = tmp_path / "policy"
    _write(root / "contoso" / "tenant.json", _tenant(CONTOSO))
    _write(
        root / "contoso" / "partners.json",
        {"value": [{"tenantId": FABRIKAM, "b2bCollaborationInbound": {"usersAndGroups": half}}]},
    )
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root)
    assert [i.code for i in caught.value.issues] == [IssueCode.UNKNOWN_VALUE, IssueCode.INVALID_TARGET]
    bad_target = caught.value.issues[1]
    assert bad_target.path.startswith("$.value[0].b2bCollaborationInbound.usersAndGroups.targets[")
    assert bad_target.hint == 'did you mean "AllUsers"?'


@pytest.mark.parametrize("target_type", [pytest.param([], id="array"), pytest.param({}, id="object")])
def test_D6_non_string_targetType_is_a_wrong_type_error(tmp_path: Path, target_type: Any) -> None:
    """Regression: the parser's fast path raised TypeError (unhashable type) for these."""
    root = tmp_path / "policy"
    _write(root / "contoso" / "tenant.json", _tenant(CONTOSO))
    half = {"accessType": "allowed", "targets": [{"target": "AllUsers", "targetType": target_type}]}
    _write(root / "contoso" / "default.json", {"b2bCollaborationInbound": {"usersAndGroups": half}})
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root)
    assert [(i.file, i.path, i.code) for i in caught.value.issues] == [
        ("contoso/default.json", "$.b2bCollaborationInbound.usersAndGroups.targets[0].targetType", IssueCode.WRONG_TYPE)
    ]
