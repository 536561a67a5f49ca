"""Issue 13 item 3: `diff --principal` says, for each role action a change needs, whether that
principal may perform it (D13, against the role assignments in force before the change) and which
authentication context a step-up must bring; it exits 2 when any is missing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from server_kit import CONTOSO, EXAMPLE_POLICY

from xtenant_pdp.admin.plan import EXIT_ACTION_DENIED, ActionCheck, check_actions, principal_from
from xtenant_pdp.cli import main
from xtenant_pdp.decision import Reason
from xtenant_pdp.errors import QueryError
from xtenant_pdp.loader import load_policy_dir

P = "microsoft.directory/crossTenantAccessPolicy/"
ALEX = "e1a1c0de-0001-4a00-8a00-000000000001"  # Cross-tenant access administrator
RITA = "e1a1c0de-0002-4a00-8a00-000000000002"  # Cross-tenant access reader
PAT = "e1a1c0de-0003-4a00-8a00-000000000003"
PARTNER_MANAGERS = "e1a1c0de-0100-4a00-8a00-000000000100"  # partner administrator (group)
LITWARE = "bb9e6048-0da4-4c01-bd66-d95061dbf6de"
FABRIKAM = "6f086a4d-9c20-4b2e-a39f-5dcccb0b955a"


@pytest.fixture(scope="module")
def change(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """contoso: trust MFA in the default, drop fabrikam's direct connect inbound, delete litware."""
    root = tmp_path_factory.mktemp("change")
    old, new = root / "old", root / "new"
    shutil.copytree(EXAMPLE_POLICY, old)
    shutil.copytree(EXAMPLE_POLICY, new)
    partners = json.loads((new / "contoso" / "partners.json").read_text())
    for partner in partners["value"]:
        if partner["tenantId"] == FABRIKAM:
            partner["b2bDirectConnectInbound"] = None
    partners["value"] = [p for p in partners["value"] if p["tenantId"] != LITWARE]
    (new / "contoso" / "partners.json").write_text(json.dumps(partners))
    default = json.loads((new / "contoso" / "default.json").read_text())
    default["inboundTrust"]["isMfaAccepted"] = True
    (new / "contoso" / "default.json").write_text(json.dumps(default))
    return old, new


def test_issue13_check_actions_asks_D13_once_per_distinct_action() -> None:
    index = load_policy_dir(EXAMPLE_POLICY)
    principal = principal_from(PAT, [PARTNER_MANAGERS], ["C2"])
    needed = [
        (CONTOSO, P + "partners/create"),
        (CONTOSO, (P + "partners/create").upper()),
        (CONTOSO, P + "basic/update"),
    ]
    checks = check_actions(index, principal, needed)
    assert [(c.action, c.allowed, c.result.reason, c.required_context) for c in checks] == [
        (P + "partners/create", True, Reason.ADMIN_ACTION_ALLOWED, "c2"),
        (P + "basic/update", True, Reason.ADMIN_ACTION_ALLOWED, ""),
    ]
    without_group = check_actions(index, principal_from(PAT, [], ["c2"]), needed[:1])
    assert [c.result.reason for c in without_group] == [Reason.ADMIN_NO_ROLE_GRANTS]


@pytest.mark.parametrize(
    ("args", "field"),
    [(("bob", [], []), "--principal"), ((ALEX, ["g"], []), "--group[0]"), ((ALEX, [], [""]), "--acrs")],
)
def test_issue13_principal_options_are_validated(args: tuple[str, list[str], list[str]], field: str) -> None:
    with pytest.raises(QueryError) as caught:
        principal_from(*args)
    assert caught.value.field == field


def test_issue13_diff_principal_names_missing_actions_and_step_up(
    change: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = change
    code = main(["diff", str(old), str(new), "--principal", PAT, "--group", PARTNER_MANAGERS, "--acrs", "c2"])
    out = capsys.readouterr().out
    assert code == EXIT_ACTION_DENIED
    assert f"principal {PAT}: 2 of 3 required action(s) allowed" in out
    assert (
        f"{CONTOSO} {P}default/b2bCollaboration/update: may NOT (ADMIN_NO_ROLE_GRANTS); "
        "step-up: authentication context `c1`" in out
    )
    assert (
        f"{CONTOSO} {P}partners/delete: may (ADMIN_ACTION_ALLOWED); roles: Cross-tenant access partner "
        "administrator; step-up: authentication context `c2`" in out
    )


def test_issue13_diff_principal_exits_0_when_every_action_is_allowed(
    change: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = change
    assert main(["diff", str(old), str(new), "--principal", ALEX, "--acrs", "c1", "--acrs", "C2"]) == 0
    assert f"principal {ALEX}: 3 of 3 required action(s) allowed" in capsys.readouterr().out


def test_issue13_diff_principal_without_the_step_up_context_is_denied(
    change: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = change
    assert main(["diff", str(old), str(new), "--principal", ALEX, "--acrs", "c1"]) == EXIT_ACTION_DENIED
    out = capsys.readouterr().out
    assert "may NOT (ADMIN_AUTHENTICATION_CONTEXT_REQUIRED)" in out
    assert "step-up: authentication context `c2`" in out


def test_issue13_diff_principal_json_annotates_every_record_that_needs_an_action(
    change: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = change
    code = main(["diff", str(old), str(new), "--format", "json", "--principal", RITA])
    records = json.loads(capsys.readouterr().out)
    assert code == EXIT_ACTION_DENIED
    needing = [r for r in records if r["requiredAction"]]
    assert needing and all(r["principalCheck"]["decision"] == "DECISION_DENY" for r in needing)
    assert all("principalCheck" not in r for r in records if not r["requiredAction"])
    deleted = next(r for r in needing if r["requiredAction"] == P + "partners/delete")
    assert deleted["principalCheck"] == {
        "tenantId": CONTOSO,
        "action": P + "partners/delete",
        "decision": "DECISION_DENY",
        "reason": "REASON_ADMIN_NO_ROLE_GRANTS",
        "roles": [],
        "requiredAuthenticationContextId": "c2",
    }


def test_issue13_diff_without_principal_is_unchanged(
    change: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = change
    assert main(["diff", str(old), str(new)]) == 0
    assert "principal" not in capsys.readouterr().out


def test_issue13_diff_bad_principal_is_a_usage_error(
    change: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = change
    assert main(["diff", str(old), str(new), "--principal", "alex"]) == 64
    assert "--principal: `alex` is not a GUID" in capsys.readouterr().err


def test_action_check_serialises_its_answer() -> None:
    index = load_policy_dir(EXAMPLE_POLICY)
    [check] = check_actions(index, principal_from(ALEX, [], []), [(CONTOSO, P + "partners/create")])
    assert isinstance(check, ActionCheck)
    assert check.to_dict()["roles"] == ["Cross-tenant access administrator"]
    assert check.to_dict()["reason"] == "REASON_ADMIN_AUTHENTICATION_CONTEXT_REQUIRED"


def test_issue13_plan_principal_reports_each_required_action(
    change: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = change
    args = ["plan", "--principal", PAT, "--group", PARTNER_MANAGERS, "--acrs", "c2", str(old), str(new)]
    assert main(args) == EXIT_ACTION_DENIED
    out = capsys.readouterr().out
    assert "Verdict: no recorded access is lost" in out
    assert f"principal {PAT}: 2 of 3 required action(s) allowed" in out
    assert f"{P}default/b2bCollaboration/update: may NOT (ADMIN_NO_ROLE_GRANTS)" in out
    assert main(["plan", "--principal", ALEX, "--acrs", "c1", "--acrs", "c2", str(old), str(new)]) == 0


def test_issue13_plan_principal_json(change: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    old, new = change
    code = main(["plan", "--format", "json", "--principal", ALEX, "--acrs", "c1", str(old), str(new)])
    report = json.loads(capsys.readouterr().out)
    assert code == EXIT_ACTION_DENIED
    assert report["principal"]["principalId"] == ALEX
    by_action = {a["action"]: a for a in report["principal"]["actions"]}
    assert set(by_action) == {r["action"] for r in report["requiredActions"]}
    assert by_action[P + "partners/delete"]["reason"] == "REASON_ADMIN_AUTHENTICATION_CONTEXT_REQUIRED"
    assert by_action[P + "partners/delete"]["requiredAuthenticationContextId"] == "c2"
    assert by_action[P + "default/b2bCollaboration/update"]["decision"] == "DECISION_ALLOW"


def test_issue13_plan_without_principal_keeps_its_report(
    change: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = change
    assert main(["plan", "--format", "json", str(old), str(new)]) == 0
    assert "principal" not in json.loads(capsys.readouterr().out)
