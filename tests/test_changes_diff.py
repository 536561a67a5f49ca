"""diff: every changed property and nothing else, each with its audit activity and role action."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from policy_kit import (
    ALLOW_ALL,
    APP,
    GROUP,
    GROUP2,
    HOME,
    OTHER,
    RESOURCE,
    customized_default,
    partner,
    setting,
    tenant,
    write_policy,
)

from xtenant_pdp.changes.actions import PREFIX, RULES
from xtenant_pdp.changes.diff import diff
from xtenant_pdp.cli import main
from xtenant_pdp.loader import load_policy_dir, load_snapshot_file

NEW_PARTNER = "66666666-6666-4666-8666-666666666666"
SECTION_5_ACTIONS = {
    "allowedCloudEndpoints/update",
    "basic/update",
    "default/b2bCollaboration/update",
    "default/b2bDirectConnect/update",
    "default/tenantRestrictions/update",
    "partners/create",
    "partners/delete",
    "partners/b2bCollaboration/update",
    "partners/b2bDirectConnect/update",
    "partners/tenantRestrictions/update",
    "partners/identitySynchronization/create",
    "partners/identitySynchronization/basic/update",
}


def _policy(root: Path, *, new: bool) -> Path:
    home: dict[str, Any] = partner(
        HOME, b2bCollaborationInbound=setting(("allowed", [GROUP, GROUP2] if new else [GROUP]), ("allowed", [APP]))
    )
    if new:
        home["identitySynchronization"] = {"tenantId": HOME, "userSyncInbound": {"isSyncAllowed": True}}
    partners = [home, partner(NEW_PARTNER, b2bCollaborationOutbound=ALLOW_ALL)] if new else [home, partner(OTHER)]
    inbound = setting(("blocked" if new else "allowed", "AllUsers"), ("allowed", "AllApplications"))
    spec = tenant(
        RESOURCE,
        default=customized_default(b2bCollaborationInbound=inbound),
        partners=partners,
        allowed_clouds=["microsoftonline.us"] if new else [],
    )
    return write_policy(root, {"resource": spec})


@pytest.fixture
def policies(tmp_path: Path) -> tuple[Path, Path]:
    return _policy(tmp_path / "old", new=False), _policy(tmp_path / "new", new=True)


def test_diff_lists_every_changed_property_and_nothing_else(policies: tuple[Path, Path]) -> None:
    records = diff(load_policy_dir(policies[0]), load_policy_dir(policies[1]))
    got = {
        (r.target, r.property, r.required_action.removeprefix(PREFIX) if r.required_action else None) for r in records
    }
    assert got == {
        ("policy", "allowedCloudEndpoints", "allowedCloudEndpoints/update"),
        ("default", "b2bCollaborationInbound.usersAndGroups.accessType", "default/b2bCollaboration/update"),
        (HOME, "b2bCollaborationInbound.usersAndGroups.targets", "partners/b2bCollaboration/update"),
        (HOME, "identitySynchronization", "partners/identitySynchronization/create"),
        (OTHER, None, "partners/delete"),
        (NEW_PARTNER, None, "partners/create"),
    }
    assert len(records) == len(got)  # one record each
    by_key = {(r.target, r.property): r for r in records}
    targets = by_key[(HOME, "b2bCollaborationInbound.usersAndGroups.targets")]
    assert (targets.old_value, targets.new_value) == ((GROUP,), tuple(sorted([GROUP, GROUP2])))
    assert targets.activity == "Update a partner cross-tenant access setting"
    assert by_key[(OTHER, None)].activity == "Delete partner specific cross-tenant access setting"
    assert by_key[(NEW_PARTNER, None)].activity == "Add a partner to cross-tenant access setting"
    assert by_key[(NEW_PARTNER, None)].new_value["b2bCollaborationOutbound.usersAndGroups.targets"] == ("AllUsers",)
    assert by_key[("policy", "allowedCloudEndpoints")].new_value == ("microsoftonline.us",)
    assert all(r.tenant_id == RESOURCE and r.category == "CrossTenantAccessSettings" for r in records)


def test_diff_back_and_forth_is_symmetric(policies: tuple[Path, Path]) -> None:
    old, new = load_policy_dir(policies[0]), load_policy_dir(policies[1])
    forward = {(r.target, r.property): (r.old_value, r.new_value) for r in diff(old, new)}
    backward = {(r.target, r.property): (r.new_value, r.old_value) for r in diff(new, old)}
    assert forward == backward


def test_diff_of_a_folder_and_its_snapshot_is_empty(tmp_path: Path) -> None:
    snapshot = tmp_path / "example.xtsnap"
    assert main(["compile", "xtenant_pdp/examples/policy", "-o", str(snapshot)]) == 0
    assert diff(load_policy_dir("xtenant_pdp/examples/policy"), load_snapshot_file(snapshot)) == []


def test_diff_cli_json_has_exactly_the_record_keys(policies: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    assert main(["diff", str(policies[0]), str(policies[1]), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 6
    for r in records:
        assert set(r) == {
            "category",
            "activity",
            "tenantId",
            "target",
            "property",
            "oldValue",
            "newValue",
            "requiredAction",
        }


def test_diff_cli_bad_folder_exits_3(tmp_path: Path, policies: tuple[Path, Path]) -> None:
    bad = tmp_path / "bad"
    (bad / "t").mkdir(parents=True)
    (bad / "t" / "tenant.json").write_text('{"tenantId": "nope"}')
    assert main(["diff", str(policies[0]), str(bad)]) == 3


def test_every_role_action_in_the_table_is_one_of_section_5() -> None:
    for rule in RULES:
        assert rule.action is None or rule.action in SECTION_5_ACTIONS, rule


def test_skipping_unchanged_partners_changes_nothing(policies: tuple[Path, Path], tmp_path: Path) -> None:
    """diff compares partner signatures before flattening; the result equals diffing everything."""
    import shutil

    from xtenant_pdp.changes.diff import diff_tenant, flatten

    example = load_policy_dir("xtenant_pdp/examples/policy")
    edited = shutil.copytree("xtenant_pdp/examples/policy", tmp_path / "edited")
    body = json.loads((edited / "contoso" / "partners.json").read_text())
    for p in body["value"]:
        if p["tenantId"] == "bb9e6048-0da4-4c01-bd66-d95061dbf6de":  # litware: one trust flag
            p["inboundTrust"]["isMfaAccepted"] = not p["inboundTrust"]["isMfaAccepted"]
        if p["tenantId"] == "fd7325cf-3c2d-49b8-8b31-fe28f59b1e3a":  # adatum: identity sync appears
            p["identitySynchronization"] = {"tenantId": p["tenantId"], "userSyncInbound": {"isSyncAllowed": False}}
    (edited / "contoso" / "partners.json").write_text(json.dumps(body))
    changed = load_policy_dir(edited)
    pairs = [
        (load_policy_dir(policies[0]), load_policy_dir(policies[1])),
        (example, changed),
        (changed, example),
        (example, load_policy_dir(policies[1])),
    ]
    for old, new in pairs:
        before, after = flatten(old), flatten(new)
        full = [
            r for t in sorted(before.keys() | after.keys()) for r in diff_tenant(t, before.get(t, {}), after.get(t, {}))
        ]
        assert diff(old, new) == full
    assert {(r.target, r.property) for r in diff(example, changed)} == {
        ("bb9e6048-0da4-4c01-bd66-d95061dbf6de", "inboundTrust.isMfaAccepted"),
        ("fd7325cf-3c2d-49b8-8b31-fe28f59b1e3a", "identitySynchronization"),
    }
