"""Issue 10 items 2 and 3: findings a team can live with, and feedback on long work.

Findings name their partner; waivers (waivers.json, --ignore) let --strict pass once each finding
is accepted, and stop doing so when a waiver goes; the human report is capped per code with a
summary while JSON keeps everything; progress shows on a terminal only.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE_POLICY
from policy_kit import ALLOW_ALL, HOME, partner, tenant, write_policy

from xtenant_pdp import cli
from xtenant_pdp.compiler import CompileOptions, compile_policy_dir
from xtenant_pdp.errors import CompileErrors, IssueCode, Severity


def _example(tmp_path: Path) -> Path:
    root = tmp_path / "policy"
    shutil.copytree(EXAMPLE_POLICY, root)
    return root


def _waive_everything(root: Path) -> dict[str, list[dict[str, str]]]:
    """One waiver per finding of the example, in each finding's tenant folder."""
    waivers: dict[str, list[dict[str, str]]] = {}
    for f in compile_policy_dir(root).findings:
        if f.severity is Severity.WARNING:
            entry = {"code": f.code.value, "partner": f.partner, "reason": "accepted in review 2026-11"}
            waivers.setdefault(f.file.split("/")[0], []).append(entry)
    for folder, entries in waivers.items():
        (root / folder / "waivers.json").write_text(json.dumps({"waivers": entries}), "utf-8")
    return waivers


def test_findings_name_the_partner_by_tenant_id_and_display_name() -> None:
    findings = [f for f in compile_policy_dir(EXAMPLE_POLICY).findings if f.severity is Severity.WARNING]
    assert findings and all(f.partner for f in findings)
    fabrikam = next(f for f in findings if f.partner == "6f086a4d-9c20-4b2e-a39f-5dcccb0b955a")
    assert fabrikam.partner_name == "Fabrikam"
    assert '(partner 6f086a4d-9c20-4b2e-a39f-5dcccb0b955a "Fabrikam")' in str(fabrikam)
    # A partner that is a local tenant of the policy is named from its tenant.json.
    woodgrove = next(f for f in findings if f.partner == "b9ecdb8d-362d-4399-8f18-27c5620f7443")
    assert woodgrove.partner_name


def test_strict_passes_the_bundled_example_once_waived_and_fails_when_a_waiver_goes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _example(tmp_path)
    assert cli.main(["validate", str(root), "--strict"]) == cli.ExitCode.INVALID_POLICY
    waivers = _waive_everything(root)
    capsys.readouterr()
    assert cli.main(["validate", str(root), "--strict"]) == cli.ExitCode.OK
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "ok: 4 tenant(s), 8 partner(s), 6 warning(s) (6 waived)"
    assert "  D7-MFA   warning  3 (3 partners, 3 waived)" in out  # waived findings are counted, not hidden
    assert "(waived: accepted in review 2026-11)" in out
    assert cli.main(["compile", str(root), "--strict", "-o", str(tmp_path / "p.xtsnap")]) == cli.ExitCode.OK
    # Remove one waiver: strict fails again, on exactly that finding.
    folder, entries = next(iter(waivers.items()))
    removed = entries.pop()
    (root / folder / "waivers.json").write_text(json.dumps({"waivers": entries}), "utf-8")
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root, CompileOptions(strict=True))
    assert [(i.code.value, i.partner) for i in caught.value.issues] == [(removed["code"], removed["partner"])]
    assert cli.main(["validate", str(root), "--strict"]) == cli.ExitCode.INVALID_POLICY


def test_ignore_waives_codes_everywhere_and_rejects_unknown_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    codes = ["C1a", "C1b", "D7-MFA", "D7-OME"]
    argv = ["validate", str(EXAMPLE_POLICY), "--strict"]
    assert cli.main([*argv, *(a for c in codes for a in ("--ignore", c))]) == cli.ExitCode.OK
    assert cli.main([*argv, *(a for c in codes[:-1] for a in ("--ignore", c))]) == cli.ExitCode.INVALID_POLICY
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        cli.main([*argv, "--ignore", "D7-mfa"])
    assert exited.value.code == cli.ExitCode.USAGE
    assert 'did you mean "D7-MFA"?' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([*argv, "--ignore", "E005"])  # errors cannot be waived


def test_waivers_json_errors_and_unused_waivers(tmp_path: Path) -> None:
    root = _example(tmp_path)
    waivers = {
        "waivers": [
            {"code": "E005", "partner": "*", "reason": "no"},
            {"code": "D7-MFA", "partner": "fabrikam", "reason": "no"},
            {"code": "D7-MFA", "partner": "*", "reason": " "},
        ]
    }
    (root / "contoso" / "waivers.json").write_text(json.dumps(waivers), "utf-8")
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root)
    got = [(i.file, i.path, i.code) for i in caught.value.issues]
    assert got == [
        ("contoso/waivers.json", "$.waivers[0].code", IssueCode.INVALID_WAIVER),
        ("contoso/waivers.json", "$.waivers[1].partner", IssueCode.INVALID_WAIVER),
        ("contoso/waivers.json", "$.waivers[2].reason", IssueCode.INVALID_WAIVER),
    ]
    assert "errors cannot be waived" in caught.value.issues[0].message
    stale = {"waivers": [{"code": "C4", "partner": "*", "reason": "MSA tenant rules, reviewed"}]}
    (root / "contoso" / "waivers.json").write_text(json.dumps(stale), "utf-8")
    [notice] = [f for f in compile_policy_dir(root).findings if f.code is IssueCode.UNUSED_WAIVER]
    assert (notice.file, notice.path, notice.severity) == ("contoso/waivers.json", "$.waivers[0]", Severity.NOTICE)


# --------------------------------------------------------------------------- capped reports


def _many_findings(tmp_path: Path, count: int) -> Path:
    """`count` partners that trust MFA (D7-MFA each) and one that finds nothing."""
    trusting = [
        partner(f"{i:08x}-0000-4000-8000-000000000000", inboundTrust={"isMfaAccepted": True}) for i in range(count)
    ]
    spec: dict[str, Any] = {
        "home": tenant(
            HOME,
            partners=[*trusting, partner("ffffffff-0000-4000-8000-000000000000", b2bCollaborationInbound=ALLOW_ALL)],
        )
    }
    return write_policy(tmp_path / "policy", spec)


def test_human_report_is_capped_per_code_with_a_summary_and_json_keeps_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _many_findings(tmp_path, 60)
    assert cli.main(["validate", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) <= 10
    assert sum(line.startswith("warning: ") for line in lines) == 5
    assert "... and 55 more" in "\n".join(lines)
    assert "  D7-MFA   warning  60 (60 partners)" in lines
    assert cli.main(["validate", str(root), "--max-findings", "0"]) == 0
    assert capsys.readouterr().out.count("warning: ") == 60
    assert cli.main(["validate", str(root), "--quiet"]) == 0
    quiet = capsys.readouterr().out.splitlines()
    assert quiet == ["findings by code:", "  D7-MFA   warning  60 (60 partners)", quiet[-1]]
    assert cli.main(["validate", str(root), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["issues"]) == 60
    assert report["summary"] == {"D7-MFA": {"count": 60, "partners": 60, "waived": 0}}


# --------------------------------------------------------------------------- progress and size


def _run_validate(stderr_tty: bool) -> str:
    """validate of the example with stderr on a pseudo-terminal or a pipe; returns what stderr got."""
    argv = [sys.executable, "-m", "xtenant_pdp", "validate", str(EXAMPLE_POLICY)]
    if not stderr_tty:
        proc = subprocess.run(argv, capture_output=True, timeout=60, check=True)
        return proc.stderr.decode()
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(master)
    return b"".join(chunks).decode()


def test_progress_on_a_terminal_only() -> None:
    shown = _run_validate(stderr_tty=True)
    assert "parse: 0 partners" in shown
    for stage in ("check-source", "resolve", "find-conflicts", "emit", "dump"):
        assert f"{stage}: 8/8 partners" in shown
    assert shown.endswith("\r\x1b[K")  # the status line is cleared at the end
    assert _run_validate(stderr_tty=False) == ""


def test_compile_warns_when_the_snapshot_outgrows_a_configmap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "p.xtsnap"
    assert cli.main(["compile", str(EXAMPLE_POLICY), "-o", str(out)]) == 0
    assert "ConfigMap" not in capsys.readouterr().err
    monkeypatch.setattr(cli, "CONFIGMAP_LIMIT", out.stat().st_size // 2)  # sizes vary by a byte or two (timestamps)
    assert cli.main(["compile", str(EXAMPLE_POLICY), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"warning: the snapshot ({out.stat().st_size:,} bytes) is over the 1 MiB a Kubernetes ConfigMap holds" in err
    assert "deploy/README.md" in err


def test_readme_lists_every_issue_code() -> None:
    """CI scripts rely on the codes: each one is in README's table."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    missing = [c.value for c in IssueCode if f"`{c.value}`" not in readme]
    assert not missing
