"""`xtenant-pdp` in-process (cli.main with capsys) and once through `python -m xtenant_pdp`.

Exit codes (cli.ExitCode): 0 ok/allow, 1 failure (bad question line, unreadable snapshot),
2 deny (explain), 3 policy compile/validation errors, 64 usage.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE_POLICY

from xtenant_pdp import __version__, cli, loader
from xtenant_pdp.compiler import compile_policy_dir
from xtenant_pdp.engine import Engine
from xtenant_pdp.errors import CompileErrors

QUESTIONS = EXAMPLE_POLICY.parent / "questions.jsonl"
QUESTION_LINES = [line for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
# Line 1: fabrikam's group to SharePoint under contoso's partner setting -> ALLOW.
ALLOW_LINE = QUESTION_LINES[0]
# Line 2: the same user to an app the partner setting does not list -> DENY (APPLICATION_NOT_ALLOWED).
DENY_LINE = QUESTION_LINES[1]
CONTOSO = "5de41ce2-ca22-4b65-866a-e46ae037737e"


def _bad_question(**changes: Any) -> str:
    question = json.loads(ALLOW_LINE)
    question["access"].update(changes)
    return json.dumps(question)


@pytest.fixture(scope="module")
def snapshot_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("snap") / "example.xtsnap"
    path.write_bytes(compile_policy_dir(EXAMPLE_POLICY).data)
    return path


@pytest.fixture
def bad_policy(tmp_path: Path) -> Path:
    root = tmp_path / "bad"
    (root / "contoso").mkdir(parents=True)
    (root / "contoso" / "tenant.json").write_text(json.dumps({"tenantId": CONTOSO}))
    (root / "contoso" / "default.json").write_text('{"isServiceDefault": "yes"')
    misspelt = {"usersAndGroups": {"accessType": " blocked", "targets": [{"target": "AllUsers", "targetType": "user"}]}}
    bad_target = {
        "usersAndGroups": {"accessType": "allowed", "targets": [{"target": "allusers", "targetType": "user"}]}
    }
    partners = {
        "value": [
            {"tenantId": "nope"},
            {"tenantId": "6f086a4d-9c20-4b2e-a39f-5dcccb0b955a", "b2bCollaborationInbound": misspelt},
            {"tenantId": "b9ecdb8d-362d-4399-8f18-27c5620f7443", "b2bCollaborationInbound": bad_target},
        ]
    }
    (root / "contoso" / "partners.json").write_text(json.dumps(partners))
    (root / "fabrikam").mkdir()
    return root


def _stdin(text: str) -> io.TextIOWrapper:
    """Like the real sys.stdin: text over a byte buffer."""
    return io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8")


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == cli.ExitCode.USAGE == 64
    err = capsys.readouterr().err
    assert "usage: xtenant-pdp" in err
    return err


# --------------------------------------------------------------------------- entry point


def test_python_dash_m_version_runs_the_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "xtenant_pdp", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=EXAMPLE_POLICY.parent,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"xtenant-pdp {__version__}\n"


def test_version_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"xtenant-pdp {__version__}\n"


# --------------------------------------------------------------------------- compile


def test_compile_writes_a_loadable_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "policy.xtsnap"
    assert cli.main(["compile", str(EXAMPLE_POLICY), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    index = loader.load_snapshot_file(out)
    assert set(index.tenants) == {
        CONTOSO,
        "6f086a4d-9c20-4b2e-a39f-5dcccb0b955a",
        "b9ecdb8d-362d-4399-8f18-27c5620f7443",
        "8ac5a643-8600-41b1-a87e-06ff6534c993",
    }
    assert index.info.snapshot_id == compile_policy_dir(EXAMPLE_POLICY).info.snapshot_id
    assert f"compiled 4 tenant(s), 8 partner(s) -> {out} ({out.stat().st_size} bytes, {index.info.snapshot_id})" in err
    # Findings (C1, D7) are printed as warnings, and do not fail the compile.
    assert err.count("warning: ") == 6
    assert "[C1a]" in err and "[D7-OME]" in err


def test_compile_bad_policy_exits_3_with_every_error_on_stderr(
    bad_policy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(bad_policy)
    expected = caught.value.issues
    assert len(expected) == 5  # invalid JSON, non-GUID, " blocked", `allusers`, fabrikam/tenant.json missing

    out = tmp_path / "never.xtsnap"
    assert cli.main(["compile", str(bad_policy), "-o", str(out)]) == cli.ExitCode.INVALID_POLICY == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    # Every error, then the count per code (issue 10 item 2), then the total.
    assert lines[:5] == [f"error: {issue}" for issue in expected]
    assert lines[5] == "findings by code:"
    assert sorted(line.split()[0] for line in lines[6:11]) == sorted(i.code.value for i in expected)
    assert lines[11:] == [f"5 errors in policy source: {bad_policy}"]
    assert not out.exists()


def test_compile_strict_fails_on_C1_D7_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "strict.xtsnap"
    assert cli.main(["compile", str(EXAMPLE_POLICY), "-o", str(out), "--strict"]) == 3
    err = capsys.readouterr().err
    assert "[C1a]" in err and "[C1b]" in err and "[D7-MFA]" in err
    assert err.rstrip().endswith(f"6 errors in policy source: {EXAMPLE_POLICY}")
    assert not out.exists()


def test_compile_to_unwritable_path_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Regression: this raised FileNotFoundError (a traceback) instead of exiting 1."""
    out = tmp_path / "no" / "such" / "dir.xtsnap"
    assert cli.main(["compile", str(EXAMPLE_POLICY), "-o", str(out)]) == cli.ExitCode.FAILURE
    assert capsys.readouterr().err.endswith(f"error: cannot write snapshot: No such file or directory: {out}\n")
    assert not out.exists()


# --------------------------------------------------------------------------- validate


def test_validate_json_lists_findings_with_code_file_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(EXAMPLE_POLICY), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert len(report["issues"]) == 6
    for issue in report["issues"]:
        assert set(issue) == {"file", "path", "code", "severity", "message", "hint", "partner", "partnerName", "waived"}
        assert issue["partner"]  # every finding here is about a partner, named by tenant id (issue 10 item 2)
        assert issue["file"].endswith("/partners.json")
        assert issue["path"].startswith("$.value[")
        assert issue["severity"] == "warning"
    assert sorted({i["code"] for i in report["issues"]}) == ["C1a", "C1b", "D7-MFA", "D7-OME"]


def test_validate_json_on_a_bad_policy_exits_3_with_the_errors(
    bad_policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["validate", str(bad_policy), "--format", "json"]) == 3
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["ok"] is False
    got = [(i["file"], i["path"], i["code"]) for i in report["issues"]]
    assert got == [
        ("contoso/default.json", "$", "E002"),
        ("contoso/partners.json", "$.value[0].tenantId", "E006"),
        ("contoso/partners.json", "$.value[1].b2bCollaborationInbound.usersAndGroups.accessType", "E005"),
        ("contoso/partners.json", "$.value[2].b2bCollaborationInbound.usersAndGroups.targets[0].target", "E009"),
        ("fabrikam/tenant.json", "$", "E001"),
    ]
    assert {i["severity"] for i in report["issues"]} == {"error"}


def test_validate_text_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(EXAMPLE_POLICY)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "ok: 4 tenant(s), 8 partner(s), 6 warning(s)"
    assert out.count("warning: ") == 6


# --------------------------------------------------------------------------- check


def _answers(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_check_snapshot_answers_one_line_per_question_in_order(
    snapshot_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], example_engine: Engine
) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(QUESTION_LINES) + "\n", encoding="utf-8")
    assert cli.main(["check", "--snapshot", str(snapshot_path), "--input", str(questions)]) == 0
    answers = _answers(capsys.readouterr().out)
    assert answers == [example_engine.check(line) for line in QUESTION_LINES]
    assert not [a for a in answers if "error" in a]
    assert answers[0]["decision"] == "DECISION_ALLOW"
    assert answers[1]["decision"] == "DECISION_DENY"


def test_check_bad_lines_get_error_lines_and_the_others_are_answered(
    snapshot_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], example_engine: Engine
) -> None:
    trust_line = next(line for line in QUESTION_LINES if line.startswith('{"trust"'))
    lines = [
        ALLOW_LINE,
        "",
        "not json",
        DENY_LINE,
        _bad_question(bogusField=1),
        "   \t ",
        _bad_question(userId="not-a-guid"),
        "{}",
        trust_line,
    ]
    monkeypatch.setattr(sys, "stdin", _stdin("\n".join(lines) + "\n"))
    assert cli.main(["check", "--snapshot", str(snapshot_path)]) == cli.ExitCode.FAILURE == 1
    out = capsys.readouterr().out
    answers = _answers(out)
    # Compact JSON, one answer per line.
    assert out.splitlines() == [json.dumps(a, separators=(",", ":")) for a in answers]
    # One answer per input line, blank ones included, so answer N pairs with line N (issue 10 item 4).
    assert len(answers) == len(lines) == 9
    assert answers[0] == example_engine.check(ALLOW_LINE)
    assert answers[0]["decision"] == "DECISION_ALLOW"
    assert answers[3] == example_engine.check(DENY_LINE)
    assert answers[8] == example_engine.check(trust_line)
    errors = {i: answers[i] for i in (1, 2, 4, 5, 6, 7)}
    for answer in errors.values():
        assert answer["decision"] == "DECISION_DENY"
        assert answer["reason"] == "REASON_INVALID_REQUEST"
        assert answer["source"] == "SOURCE_REQUEST"
        assert answer["error"]["code"] == "ERROR_CODE_INVALID_ARGUMENT"
        assert answer["error"]["field"]
        assert answer["snapshotId"] == example_engine.snapshot_id
    assert errors[1]["error"]["message"].startswith("line 2 is blank")
    assert errors[5]["error"]["message"].startswith("line 6 is blank")  # whitespace only
    assert errors[2]["error"]["field"] == "$"  # not JSON
    assert errors[4]["error"]["field"] == "access.bogusField"  # unknown field
    assert errors[6]["error"]["field"] == "access.userId"  # bad GUID
    assert errors[6]["error"]["message"] == "`not-a-guid` is not a GUID"
    assert errors[7]["error"]["field"] == "question"  # missing oneof


def test_check_reads_a_text_only_stdin(
    snapshot_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: a sys.stdin without .buffer (io.StringIO, as when embedding the CLI) raised NameError."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(ALLOW_LINE + "\n"))
    assert cli.main(["check", "--snapshot", str(snapshot_path)]) == 0
    assert _answers(capsys.readouterr().out)[0]["decision"] == "DECISION_ALLOW"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        pytest.param({"bogusField": 1}, "bogusField", id="top-level"),
        pytest.param({"access": {"bogusField": 1}}, "access.bogusField", id="in-question"),
        pytest.param(json.loads(_bad_question(bogusField=1)), "access.bogusField", id="next-to-valid-fields"),
    ],
)
def test_check_unknown_field_error_names_the_field(example_engine: Engine, request_: Any, field: str) -> None:
    """Regression: error.field was `$` for an unknown field."""
    for question in (request_, json.dumps(request_)):
        answer = example_engine.check(question)
        assert answer["reason"] == "REASON_INVALID_REQUEST"
        assert answer["error"]["field"] == field
        assert f'has no field named "{field.rsplit(".", 1)[-1]}"' in answer["error"]["message"]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        pytest.param({"access": {"tenantId": 5}}, "access.tenantId", id="number-for-string"),
        pytest.param({"access": {"groupIds": "abc"}}, "access.groupIds", id="string-for-array"),
    ],
)
def test_check_wrong_type_error_names_the_field(example_engine: Engine, request_: Any, field: str) -> None:
    assert example_engine.check(request_)["error"]["field"] == field


def test_check_policy_answers_like_check_snapshot(
    snapshot_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join([*QUESTION_LINES, "{}"]) + "\n", encoding="utf-8")
    assert cli.main(["check", "--snapshot", str(snapshot_path), "--input", str(questions)]) == 1
    from_snapshot = capsys.readouterr().out
    assert cli.main(["check", "--policy", str(EXAMPLE_POLICY), "--input", str(questions)]) == 1
    from_policy = capsys.readouterr().out
    assert from_policy == from_snapshot
    assert len(from_policy.splitlines()) == len(QUESTION_LINES) + 1


def test_check_with_unreadable_snapshot_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.xtsnap"
    assert cli.main(["check", "--snapshot", str(missing), "--input", str(QUESTIONS)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"error: {missing}: does not exist\n"  # issue 10 item 5: one line that says so


@pytest.mark.parametrize("command", ["check", "explain"])
def test_check_and_explain_with_bad_policy_exit_3(
    bad_policy: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """Regression: these exited 1; 3 is the exit status for a policy that does not compile."""
    extra = ["--input", str(QUESTIONS)] if command == "check" else [ALLOW_LINE]
    assert cli.main([command, "--policy", str(bad_policy), *extra]) == cli.ExitCode.INVALID_POLICY
    captured = capsys.readouterr()
    assert captured.out == ""
    # The partner is named by the tenant id it was exported with (issue 10 item 2), even a bad one.
    assert "contoso/partners.json: $.value[0].tenantId (partner nope): `nope` is not a GUID" in captured.err
    assert captured.err.endswith(f"5 errors in policy source: {bad_policy}\n")


def test_check_missing_input_file_fails_cleanly(
    snapshot_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: this raised FileNotFoundError (a traceback)."""
    missing = tmp_path / "none.jsonl"
    assert cli.main(["check", "--snapshot", str(snapshot_path), "--input", str(missing)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"error: cannot read questions: No such file or directory: {missing}\n"


def test_check_undecodable_line_is_answered_with_an_error(
    snapshot_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: one undecodable line raised UnicodeDecodeError and aborted the whole run."""
    questions = tmp_path / "q.jsonl"
    questions.write_bytes(ALLOW_LINE.encode() + b"\n\n\xff\xfe\n" + DENY_LINE.encode() + b"\n")
    assert cli.main(["check", "--snapshot", str(snapshot_path), "--input", str(questions)]) == 1
    answers = _answers(capsys.readouterr().out)
    # One answer per line, the blank line 2 included (issue 10 item 4).
    assert [a["decision"] for a in answers] == ["DECISION_ALLOW", "DECISION_DENY", "DECISION_DENY", "DECISION_DENY"]
    assert answers[1]["error"]["message"].startswith("line 2 is blank")
    assert answers[2]["reason"] == "REASON_INVALID_REQUEST"
    assert answers[2]["error"]["field"] == "$"
    assert answers[2]["error"]["message"] == "line 3 is not UTF-8 text"
    assert answers[3]["reason"] == "REASON_APPLICATION_NOT_ALLOWED"


# --------------------------------------------------------------------------- explain


def test_explain_allow_exits_0(snapshot_path: Path, capsys: pytest.CaptureFixture[str], example_engine: Engine) -> None:
    assert cli.main(["explain", "--snapshot", str(snapshot_path), ALLOW_LINE]) == cli.ExitCode.OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"snapshot {example_engine.snapshot_id}"
    assert lines[1] == f"b2bCollaborationInbound of Contoso Ltd ({CONTOSO}):"
    assert (
        "  configuration: partner configuration for 6f086a4d-9c20-4b2e-a39f-5dcccb0b955a "
        "(R1; null properties inherit, R2)"
    ) in lines
    assert any(line.startswith("    usersAndGroups: allowed") for line in lines)
    assert any(line.startswith("    applications: allowed [Office365]") for line in lines)
    assert (
        "decision: ALLOW (ACCESS_ALLOWED): the user and the application are both admitted by the setting (2.2)" in lines
    )


def test_explain_deny_exits_2_reading_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", _stdin(DENY_LINE + "\n"))
    assert cli.main(["explain", "--policy", str(EXAMPLE_POLICY)]) == cli.ExitCode.DENY == 2
    out = capsys.readouterr().out
    assert "  configuration: partner configuration for 6f086a4d-9c20-4b2e-a39f-5dcccb0b955a" in out
    assert (
        "decision: DENY (APPLICATION_NOT_ALLOWED): applications is `allowed` and does not target the application\n"
    ) in out


def test_explain_answer_agrees_with_check(snapshot_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The explanation narrates the evaluator's decision: for every example question, same verdict."""
    engine = Engine.from_snapshot(snapshot_path)
    for line in QUESTION_LINES:
        code = cli.main(["explain", "--snapshot", str(snapshot_path), line])
        out = capsys.readouterr().out
        decision = engine.check(line)["decision"].removeprefix("DECISION_")
        assert code == (0 if decision == "ALLOW" else 2), line
        assert f"decision: {decision} (" in out, line


def test_explain_invalid_question_exits_1(snapshot_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "--snapshot", str(snapshot_path), _bad_question(userId="x")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: invalid question: access.userId: `x` is not a GUID\n"


# --------------------------------------------------------------------------- inspect


def test_inspect_prints_the_header_json(snapshot_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["inspect", str(snapshot_path)]) == 0
    header = json.loads(capsys.readouterr().out)
    info = loader.load_snapshot_file(snapshot_path).info
    assert header == {
        "snapshotId": info.snapshot_id,
        "formatVersion": 1,
        "compilerVersion": 1,
        "compilerRelease": __version__,
        "createdAt": info.created_at.isoformat(),
        "sourceDigest": info.source_digest,
        "tenantCount": 4,
        "partnerCount": 8,
    }


def test_inspect_body(snapshot_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["inspect", str(snapshot_path), "--body"]) == 0
    header = json.loads(capsys.readouterr().out)
    assert len(header["body"]["tenants"]) == 4
    assert sum(len(t.get("partners", [])) for t in header["body"]["tenants"]) == header["partnerCount"] == 8


def test_inspect_damaged_or_missing_file_exits_1(
    snapshot_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = tmp_path / "damaged.xtsnap"
    damaged.write_bytes(snapshot_path.read_bytes()[:-3])
    assert cli.main(["inspect", str(damaged)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {damaged}: corrupt or truncated snapshot")
    assert cli.main(["inspect", str(tmp_path / "missing.xtsnap")]) == 1
    assert capsys.readouterr().err.startswith("error: ")


# --------------------------------------------------------------------------- usage


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-command"),
        pytest.param(["frobnicate"], id="unknown-command"),
        pytest.param(["--nope"], id="unknown-option"),
        pytest.param(["compile", "policy"], id="compile-without-output"),
        pytest.param(["check"], id="check-without-source"),
        pytest.param(["check", "--snapshot", "a", "--policy", "b"], id="check-two-sources"),
        pytest.param(["validate", "policy", "--format", "xml"], id="validate-bad-format"),
        pytest.param(["validate", "policy", "--missing-half", "maybe"], id="R4-bad-missing-half"),
        pytest.param(["inspect"], id="inspect-without-file"),
    ],
)
def test_usage_errors_exit_64(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(argv, capsys)
    assert "error: " in err


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("TRUE", True), ("on", True), ("0", False), ("no", False), ("off", False)]
)
def test_switches_from_the_environment_read_yes_and_no(raw: str, expected: bool) -> None:
    from xtenant_pdp.config import settings_from

    args = cli.build_parser().parse_args(["serve", "--policy", "p"])
    assert settings_from(args, env={"XTENANT_PDP_REQUIRE_GROUPS_CLAIM": raw}).require_groups_claim is expected


@pytest.mark.parametrize("name", ["REQUIRE_GROUPS_CLAIM", "TRUST_SOCKET_DIR", "TRUST_HEADERS"])
def test_a_switch_that_is_neither_yes_nor_no_is_an_error_not_off(name: str) -> None:
    """`enabled` read as false switched off --require-groups-claim: tokens without a groups claim
    passed a group block. Unknown input is an error naming the setting."""
    from xtenant_pdp.config import ConfigError, settings_from

    args = cli.build_parser().parse_args(["serve", "--policy", "p"])
    with pytest.raises(ConfigError, match=f"XTENANT_PDP_{name}.*not a switch"):
        settings_from(args, env={f"XTENANT_PDP_{name}": "enabled"})
