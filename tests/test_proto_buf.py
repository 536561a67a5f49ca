"""proto/ checked with buf: `buf lint` with the STANDARD rules, and `buf breaking` (FILE rules)
against the previous commit, so the wire contract cannot change incompatibly without a test
failing. buf comes from npm (@bufbuild/buf, pinned in .ci/node/package.json); .ci/run installs
it, and so does this module when it is missing and npm is there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from server_kit import REPO

PROTO = REPO / "proto"
NODE_TOOLS = REPO / ".ci" / "node"
BUF = NODE_TOOLS / "node_modules" / ".bin" / "buf"
NPM_INSTALL = ["install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--prefix", str(NODE_TOOLS)]
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def buf() -> Path:
    if not BUF.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(f"buf is not installed ({BUF}) and npm is missing to install it: install Node.js and npm")
        result = subprocess.run([npm, *NPM_INSTALL], capture_output=True, text=True, timeout=300, check=False)
        if result.returncode != 0 or not BUF.exists():
            pytest.fail(f"`npm {' '.join(NPM_INSTALL)}` did not install buf:\n{result.stdout}\n{result.stderr}")
    return BUF


def run(buf: Path, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(buf), *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=False)


def test_buf_config_is_standard_lint_and_file_breaking() -> None:
    config = yaml.safe_load((PROTO / "buf.yaml").read_text(encoding="utf-8"))
    assert config["version"] == "v2"
    # The whole STANDARD category, nothing switched off.
    assert config["lint"] == {"use": ["STANDARD"]}
    assert config["breaking"] == {"use": ["FILE"]}
    assert "modules" not in config  # proto/ itself is the module root, as protoc's -I proto


def test_buf_version_is_the_pinned_one(buf: Path) -> None:
    pinned = json.loads((NODE_TOOLS / "package.json").read_text(encoding="utf-8"))["dependencies"]["@bufbuild/buf"]
    assert run(buf, "--version").stdout.strip() == pinned


def test_buf_lint_is_clean(buf: Path) -> None:
    result = run(buf, "lint", "proto")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_buf_lint_is_not_a_no_op(buf: Path, tmp_path: Path) -> None:
    """A file without a versioned package in a matching folder is reported."""
    shutil.copy(PROTO / "buf.yaml", tmp_path / "buf.yaml")
    (tmp_path / "bad.proto").write_text('syntax = "proto3";\nmessage bad_name { string X = 1; }\n', encoding="utf-8")
    result = run(buf, "lint", str(tmp_path))
    assert result.returncode != 0
    assert "PACKAGE_DEFINED" in run(buf, "lint", str(tmp_path), "--error-format", "json").stdout


def test_buf_breaking_against_the_previous_commit(buf: Path) -> None:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: there is no previous commit to compare proto/ with")
    if git("rev-parse", "--verify", "--quiet", "HEAD~1^{commit}").returncode != 0:
        pytest.skip("the repository has a single commit (or is a shallow clone): no previous commit to compare with")
    if git("cat-file", "-e", "HEAD~1:proto").returncode != 0:
        pytest.skip("the previous commit has no proto/ folder")
    result = run(buf, "breaking", "proto", "--against", ".git#ref=HEAD~1,subdir=proto")
    assert result.returncode == 0, (
        "proto/ breaks the wire contract of the previous commit:\n" + result.stdout + result.stderr
    )


def test_buf_breaking_catches_a_renumbered_field(buf: Path, tmp_path: Path) -> None:
    """The check above can fail: moving a field to another number is reported."""
    changed = tmp_path / "proto"
    shutil.copytree(PROTO, changed)
    api = changed / "xtenant" / "pdp" / "v1" / "pdp.proto"
    text = api.read_text(encoding="utf-8")
    assert "string external_tenant_id = 2;" in text
    api.write_text(text.replace("string external_tenant_id = 2;", "string external_tenant_id = 42;", 1))
    result = run(buf, "breaking", str(changed), "--against", str(PROTO), "--error-format", "json")
    assert result.returncode != 0
    kinds = {json.loads(line)["type"] for line in result.stdout.splitlines() if line.strip()}
    assert "FIELD_NO_DELETE" in kinds, result.stdout
