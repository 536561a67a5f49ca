"""impact and plan: replay recorded sign-ins against two policies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from policy_kit import (
    ALLOW_ALL,
    BLOCK_ALL,
    GROUP,
    HOME,
    OTHER,
    RESOURCE,
    USER,
    customized_default,
    partner,
    setting,
    tenant,
    write_policy,
)
from test_changes_activity import sign_in

from xtenant_pdp.changes.questions import Kind, Outcome, Question, decide
from xtenant_pdp.cli import main
from xtenant_pdp.decision import Direction, Feature
from xtenant_pdp.loader import load_policy_dir

LOCAL, A, B = RESOURCE, HOME, OTHER
APP1, APP2 = "cccccccc-0000-4000-8000-000000000001", "cccccccc-0000-4000-8000-000000000002"
U1, U2, U3 = (f"aaaaaaaa-0000-4000-8000-00000000001{i}" for i in range(1, 4))


def _policy(root: Path, *, block_a_inbound: bool, b_inbound: dict[str, Any] | None = None) -> Path:
    a = partner(A, b2bCollaborationInbound=BLOCK_ALL) if block_a_inbound else partner(A)
    b = partner(B, b2bCollaborationInbound=b_inbound) if b_inbound else partner(B)
    default = customized_default(b2bCollaborationInbound=ALLOW_ALL, b2bCollaborationOutbound=ALLOW_ALL)
    return write_policy(root, {"local": tenant(LOCAL, default=default, partners=[a, b])})


SIGN_INS = [
    sign_in(1, A, LOCAL, "b2bCollaboration", U1, APP1, "App1"),
    sign_in(2, A, LOCAL, "b2bCollaboration", U2, APP1, "App1", error=50076),
    sign_in(3, A, LOCAL, "b2bCollaboration", U1, APP2, "App2"),
    sign_in(4, A, LOCAL, "b2bDirectConnect", U1, APP1, "App1"),  # denied before and after (default)
    sign_in(5, B, LOCAL, "b2bCollaboration", U3, APP1, "App1"),
    sign_in(6, LOCAL, A, "b2bCollaboration", U3, APP1, "App1"),  # outbound to A: unchanged
    sign_in(7, A, LOCAL, "passthrough", U1, APP1, "App1"),  # not decided by B2B settings
    sign_in(8, A, LOCAL, "none", U1, APP1, "App1"),  # not cross-tenant: not a record
    sign_in(9, A, B, "b2bCollaboration", U1, APP1, "App1"),  # neither tenant is local: not a record
]


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "signins.json"
    path.write_text(json.dumps({"value": SIGN_INS}, indent=1))
    return path


def test_blocking_one_partners_inbound_loses_exactly_its_inbound_sign_ins(tmp_path: Path, export: Path, capsys):
    old = _policy(tmp_path / "old", block_a_inbound=False)
    new = _policy(tmp_path / "new", block_a_inbound=True)
    code = main(["impact", "--from", str(old), "--to", str(new), "--tenant", LOCAL, "--format", "json", str(export)])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert set(out) == {"totals", "changes"}
    assert out["totals"] == {"records": 7, "changed": 3, "lost": 3, "gained": 0, "indeterminate": 1, "users": 2}
    got = {
        (c["externalTenantId"], c["direction"], c["feature"], c["applicationId"], c["change"], c["records"], c["users"])
        for c in out["changes"]
    }
    assert got == {
        (A, "inbound", "b2bCollaboration", APP1, "lost", 2, 2),
        (A, "inbound", "b2bCollaboration", APP2, "lost", 1, 1),
    }
    assert all(c["before"] == "ALLOW" and c["after"] == "DENY" and c["tenantId"] == LOCAL for c in out["changes"])
    assert main(["impact", "--from", str(old), "--to", str(new), "--allow-loss", str(export)]) == 0
    assert main(["impact", "--from", str(old), "--to", str(old), str(export)]) == 0


def test_a_group_scoped_change_is_indeterminate_not_guessed(tmp_path: Path, export: Path, capsys) -> None:
    old = _policy(tmp_path / "old", block_a_inbound=False)
    only_group = setting(("allowed", [GROUP]), ("allowed", "AllApplications"))
    new = _policy(tmp_path / "new", block_a_inbound=False, b_inbound=only_group)
    assert main(["impact", "--from", str(old), "--to", str(new), "--format", "json", str(export)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["totals"]["lost"] == 0 and out["totals"]["indeterminate"] == 2
    assert [(c["externalTenantId"], c["change"], c["after"]) for c in out["changes"]] == [
        (B, "indeterminate", "INDETERMINATE")
    ]


def test_decide_asks_only_what_the_record_can_answer(tmp_path: Path) -> None:
    only_group = setting(("allowed", [GROUP]), ("allowed", "AllApplications"))
    index = load_policy_dir(_policy(tmp_path / "p", block_a_inbound=False, b_inbound=only_group))

    def q(user: str | None, groups_known: bool) -> Question:
        return Question(Kind.ACCESS, LOCAL, B, Direction.INBOUND, Feature.B2B_COLLABORATION, user, groups_known, APP1)

    assert decide(index, q(USER, groups_known=False)) is Outcome.INDETERMINATE  # might be in GROUP
    assert decide(index, q(USER, groups_known=True)) is Outcome.DENY  # presented no group (decision log)
    assert decide(index, q(GROUP, groups_known=True)) is Outcome.ALLOW
    assert decide(index, q(None, groups_known=True)) is Outcome.INDETERMINATE  # masked user


def test_plan_reports_diff_actions_and_impact(tmp_path: Path, export: Path, capsys) -> None:
    old = _policy(tmp_path / "old", block_a_inbound=False)
    new = _policy(tmp_path / "new", block_a_inbound=True)
    assert main(["plan", "--format", "json", str(old), str(new), str(export)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert {r["property"] for r in out["diff"]} == {
        f"b2bCollaborationInbound.{half}.{leaf}"
        for half in ("usersAndGroups", "applications")
        for leaf in ("accessType", "targets")
    }
    assert out["requiredActions"] == [
        {"action": "microsoft.directory/crossTenantAccessPolicy/partners/b2bCollaboration/update", "changes": 4}
    ]
    assert out["impact"]["totals"]["lost"] == 3
    assert main(["plan", str(old), str(new)]) == 0  # no sources: nothing to lose
    text = capsys.readouterr().out
    assert "partners/b2bCollaboration/update" in text and "no sign-ins" in text
    assert main(["plan", "--allow-loss", str(old), str(new), str(export)]) == 0
    assert "ACCESS WOULD BE LOST" in capsys.readouterr().out


EXAMPLE_SIGNINS = sorted(
    str(p) for p in (Path(__file__).resolve().parent.parent / "xtenant_pdp" / "examples" / "signins").glob("*.json")
)
CONTOSO, TAILSPIN = "5de41ce2-ca22-4b65-866a-e46ae037737e", "8ac5a643-8600-41b1-a87e-06ff6534c993"


def test_readme_walkthrough_on_the_bundled_example(tmp_path: Path, capsys) -> None:
    """README "Before you change": activity, then plan of blocking tailspin's inbound collaboration."""
    import shutil

    example = Path(__file__).resolve().parent.parent / "xtenant_pdp" / "examples" / "policy"
    assert main(["activity", "--tenant", CONTOSO, "--format", "json", *EXAMPLE_SIGNINS]) == 0
    rows = {(r["externalTenantId"], r["accessDirection"]): r["signIns"] for r in json.loads(capsys.readouterr().out)}
    assert rows[(TAILSPIN, "Inbound")] == 4
    new = shutil.copytree(example, tmp_path / "new")
    partners = json.loads((new / "contoso" / "partners.json").read_text())
    for p in partners["value"]:
        if p["tenantId"] == TAILSPIN:
            p["b2bCollaborationInbound"] = BLOCK_ALL
    (new / "contoso" / "partners.json").write_text(json.dumps(partners))
    assert main(["plan", "--tenant", CONTOSO, "--format", "json", str(example), str(new), *EXAMPLE_SIGNINS]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["impact"]["totals"] == {
        "records": 9,
        "changed": 4,
        "lost": 4,
        "gained": 0,
        "indeterminate": 3,
        "users": 3,
    }
    assert {(c["externalTenantId"], c["direction"], c["change"]) for c in out["impact"]["changes"]} == {
        (TAILSPIN, "inbound", "lost")
    }


def test_malformed_decision_log_lines_are_reported_with_file_and_line(tmp_path: Path, capsys) -> None:
    good = {
        "time": "2026-11-29T10:00:00Z",
        "kind": "access",
        "tenantId": LOCAL,
        "externalTenantId": A,
        "direction": "DIRECTION_INBOUND",
        "feature": "FEATURE_B2B_COLLABORATION",
        "userId": U1,
        "groupCount": 0,
        "applicationId": APP1,
        "decision": "DECISION_ALLOW",
        "snapshotId": "sha256:x",
    }
    log = tmp_path / "decisions.log"
    log.write_text(
        "\n".join(
            [
                json.dumps(good),
                "{not json",
                json.dumps({**good, "direction": "SIDEWAYS"}),
                json.dumps({**good, "groupCount": -1}),
                "[1]",
                json.dumps(good),
            ]
        )
        + "\n"
    )
    old = _policy(tmp_path / "old", block_a_inbound=False)
    new = _policy(tmp_path / "new", block_a_inbound=True)
    assert main(["impact", "--from", str(old), "--to", str(new), "--format", "json", str(log)]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["totals"] == {
        "records": 2,
        "changed": 2,
        "lost": 2,
        "gained": 0,
        "indeterminate": 0,
        "users": 1,
    }
    for line in (2, 3, 4, 5):
        assert f"{log}:{line}: " in captured.err
    assert "4 malformed" in captured.err


def test_2_5_a_collaboration_record_is_indeterminate_when_one_half_alone_would_change_it(tmp_path: Path) -> None:
    """Collaboration is decided by two users-and-groups halves (2.4, 2.5): home outbound allowing
    only G1, resource inbound blocking G2. With no group and with both the answer is DENY, but a
    member of G1 alone is allowed: a record that lacks the groups cannot say which."""
    g1, g2 = GROUP, "bbbbbbbb-0000-4000-8000-0000000000b2"
    allow_g1 = setting(("allowed", [g1]), ("allowed", "AllApplications"))
    block_g2 = setting(("blocked", [g2]), ("allowed", "AllApplications"))
    spec = {
        "home": tenant(A, partners=[partner(LOCAL, b2bCollaborationOutbound=allow_g1)]),
        "resource": tenant(LOCAL, partners=[partner(A, b2bCollaborationInbound=block_g2)]),
    }
    index = load_policy_dir(write_policy(tmp_path / "p", spec))

    def q(groups_known: bool, user: str = USER) -> Question:
        return Question(
            Kind.COLLABORATION, A, LOCAL, Direction.OUTBOUND, Feature.B2B_COLLABORATION, user, groups_known, APP1
        )

    assert decide(index, q(groups_known=True)) is Outcome.DENY  # presented no group: not in G1
    assert decide(index, q(groups_known=False)) is Outcome.INDETERMINATE


@pytest.mark.parametrize(
    ("tenant", "says"),
    [("not-a-guid", "is not a GUID"), ("dddddddd-0000-4000-8000-00000000000d", "is in neither policy")],
)
@pytest.mark.parametrize("command", ["impact", "plan"])
def test_a_tenant_that_is_not_in_the_policies_is_a_usage_error_not_an_empty_pass(
    tmp_path: Path, export: Path, capsys, command: str, tenant: str, says: str
) -> None:
    """A typo in --tenant made every sign-in 'not about this tenant': 0 records replayed, exit 0,
    so a change that loses access passed the gate."""
    old = _policy(tmp_path / "old", block_a_inbound=False)
    new = _policy(tmp_path / "new", block_a_inbound=True)
    args = ["--from", str(old), "--to", str(new)] if command == "impact" else [str(old), str(new)]
    assert main([command, "--tenant", tenant, *args, str(export)]) == 64
    assert says in capsys.readouterr().err
    assert main([command, "--tenant", LOCAL.upper(), *args, str(export)]) == 1  # the real one: access lost
