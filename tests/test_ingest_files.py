"""D11 and issue 10 items 1 and 5: files that would otherwise read as the service default.

Each damaged input starts from the real Graph bodies (tests/ingest_kit.py) and must be refused
with an error naming the file (and JSON path), never compiled as "not configured".
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ingest_kit import GRAPH_ERROR, PARTNER_ID, TENANT_ID, partners_body, real_tenant, write

from xtenant_pdp import cli
from xtenant_pdp.compiler import compile_policy_dir
from xtenant_pdp.errors import CompileErrors, IssueCode
from xtenant_pdp.graph.files import TENANT_FILES, EncodingProblem, decode


def _errors(root: Path) -> list[tuple[str, str, str, str]]:
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root)
    return [(i.file, i.path, i.code.value, i.hint) for i in caught.value.issues]


def test_D11_real_bodies_compile(tmp_path: Path) -> None:
    result = compile_policy_dir(real_tenant(tmp_path))
    assert result.info.partner_count == 2


@pytest.mark.parametrize("name", ["default.json", "crossTenantAccessPolicy.json", "partners.json", "tenant.json"])
def test_D11_graph_error_body_is_an_error_naming_the_graph_code(tmp_path: Path, name: str) -> None:
    root = real_tenant(tmp_path)
    write(root / "contoso" / name, GRAPH_ERROR)
    with pytest.raises(CompileErrors) as caught:
        compile_policy_dir(root)
    [issue] = [i for i in caught.value.issues if i.code is IssueCode.GRAPH_ERROR_BODY]
    assert (issue.file, issue.path) == (f"contoso/{name}", "$.error")
    assert "Authorization_RequestDenied" in issue.message
    assert "Insufficient privileges" in issue.message


@pytest.mark.parametrize(
    ("wrong", "right"),
    [
        ("Partners.json", "partners.json"),
        ("crosstenantaccesspolicy.json", "crossTenantAccessPolicy.json"),
        ("defaults.json", "default.json"),
        ("partner.JSON", "partners.json"),
    ],
)
def test_D11_misnamed_file_is_an_error_with_did_you_mean(tmp_path: Path, wrong: str, right: str) -> None:
    root = real_tenant(tmp_path)
    folder = root / "contoso"
    (folder / right).rename(folder / wrong)
    errors = _errors(root)
    assert (f"contoso/{wrong}", "$", "E014", f'did you mean "{right}"?') in errors


def test_D11_other_files_are_ignored_unknown_json_far_from_any_name_lists_the_known(tmp_path: Path) -> None:
    root = real_tenant(tmp_path)
    (root / "contoso" / "README.md").write_text("notes", "utf-8")
    (root / "contoso" / ".partners.json.swp").write_text("{", "utf-8")
    assert compile_policy_dir(root).info.partner_count == 2
    write(root / "contoso" / "zzz.json", {})
    [(file, _, code, hint)] = _errors(root)
    assert (file, code) == ("contoso/zzz.json", "E014")
    assert all(name in hint for name in TENANT_FILES)


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"], ids=["utf8", "utf8-bom", "utf16-bom-native"])
def test_D11_accepted_encodings(tmp_path: Path, encoding: str) -> None:
    root = real_tenant(tmp_path)
    path = root / "contoso" / "partners.json"
    path.write_bytes(json.dumps(partners_body(), indent=2).encode(encoding))
    assert compile_policy_dir(root).info.partner_count == 2


@pytest.mark.parametrize(("bom", "codec"), [(b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")])
def test_D11_powershell_utf16_with_bom_loads(tmp_path: Path, bom: bytes, codec: str) -> None:
    """PowerShell 5's `>` writes UTF-16 LE with BOM."""
    root = real_tenant(tmp_path)
    text = json.dumps(partners_body(), indent=2).replace("\n", "\r\n")
    (root / "contoso" / "partners.json").write_bytes(bom + text.encode(codec))
    assert compile_policy_dir(root).info.partner_count == 2


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ('{"displayName": "Contoso Ltd \u00e9"}'.encode("cp1252"), "is not UTF-8: byte 0xe9 at line 1 column 30"),
        ('{"a": 1}'.encode("utf-16-le"), "looks like UTF-16 without a byte order mark"),
        (b"\xff\xfe\x00\x00" + '{"a": 1}'.encode("utf-32-le"), "is UTF-32 LE"),
        (b"\xff\xfe\x00\xd8", "not valid UTF-16 LE"),
    ],
    ids=["cp1252", "utf16-no-bom", "utf32", "broken-utf16"],
)
def test_D11_other_encodings_are_located_errors_saying_what_to_save_as(tmp_path: Path, data: bytes, says: str) -> None:
    with pytest.raises(EncodingProblem, match=says):
        decode(data)
    root = real_tenant(tmp_path)
    (root / "contoso" / "default.json").write_bytes(data)
    [(file, path, code, hint)] = _errors(root)
    assert (file, path, code) == ("contoso/default.json", "$", "E015")
    assert "save it as UTF-8" in hint


# --------------------------------------------------------------------------- links (issue 9)


def test_links_to_files_outside_the_policy_folder_are_errors(tmp_path: Path) -> None:
    outside = write(tmp_path / "elsewhere" / "partners.json", partners_body())
    root = real_tenant(tmp_path / "policy")
    (root / "contoso" / "partners.json").unlink()
    (root / "contoso" / "partners.json").symlink_to(outside)
    [(file, path, code, _)] = _errors(root)
    assert (file, path, code) == ("contoso/partners.json", "$", "E016")
    with pytest.raises(CompileErrors, match="outside the policy folder"):
        compile_policy_dir(root)


def test_links_to_folders_outside_the_policy_folder_are_errors(tmp_path: Path) -> None:
    real_tenant(tmp_path / "elsewhere")
    root = real_tenant(tmp_path / "policy", "woodgrove")
    (root / "contoso").symlink_to(tmp_path / "elsewhere" / "contoso")
    errors = _errors(root)
    assert ("contoso", "$", "E016", "copy the folder in: links may only point inside the policy folder") in errors


def test_configmap_links_that_stay_inside_the_volume_are_followed(tmp_path: Path) -> None:
    """A ConfigMap volume: `..2026_11_29/contoso/*`, `..data -> ..2026_11_29`, `contoso -> ..data/contoso`."""
    root = tmp_path / "volume"
    real_tenant(root / "..2026_11_29_10_00_00.123")
    os.symlink("..2026_11_29_10_00_00.123", root / "..data")
    os.symlink("..data/contoso", root / "contoso")
    assert compile_policy_dir(root).info.partner_count == 2
    # File links inside the folder, as ConfigMap items without subPath produce them.
    flat = real_tenant(tmp_path / "flat")
    data = flat / "contoso" / "..data"
    data.mkdir()
    (flat / "contoso" / "partners.json").rename(data / "partners.json")
    os.symlink("..data/partners.json", flat / "contoso" / "partners.json")
    assert compile_policy_dir(flat).info.partner_count == 2


def test_dangling_link_of_a_known_name_is_an_error_not_a_missing_file(tmp_path: Path) -> None:
    root = real_tenant(tmp_path)
    (root / "contoso" / "partners.json").unlink()
    (root / "contoso" / "partners.json").symlink_to(root / "contoso" / "gone.json")
    [(file, _, code, _)] = _errors(root)
    assert (file, code) == ("contoso/partners.json", "E001")


# --------------------------------------------------------------------------- paths (item 5)


def test_missing_path_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(CompileErrors, match="does not exist"):
        compile_policy_dir(tmp_path / "nope")


def test_tenant_folder_suggests_its_parent(tmp_path: Path) -> None:
    root = real_tenant(tmp_path / "policy")
    [(file, _, code, hint)] = _errors(root / "contoso")
    assert code == "E001"
    assert file.endswith("contoso")
    assert f"pass its parent `{root.resolve()}`" in hint


def test_D11_tenant_ids_of_the_real_bodies(tmp_path: Path) -> None:
    result = compile_policy_dir(real_tenant(tmp_path))
    [tenant] = result.tenants
    assert tenant.tenant_id == TENANT_ID
    assert PARTNER_ID in {p.tenant_id for p in tenant.partners}


def test_inspect_of_a_missing_file_is_one_clean_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.xtsnap"
    assert cli.main(["inspect", str(missing)]) == cli.ExitCode.FAILURE
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"error: {missing}: does not exist\n")


def test_validate_names_a_missing_path_and_the_parent_of_a_tenant_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    assert cli.main(["validate", str(missing)]) == cli.ExitCode.INVALID_POLICY
    assert f"error: {missing}: $: does not exist [E001]" in capsys.readouterr().err
    root = real_tenant(tmp_path / "policy")
    assert cli.main(["validate", str(root / "contoso")]) == cli.ExitCode.INVALID_POLICY
    assert f"pass its parent `{root.resolve()}`" in capsys.readouterr().err


def test_issue9_D2_a_fifo_named_like_a_policy_file_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """A FIFO (or device) where partners.json should be blocked `validate`, `compile` and the
    reloader for ever; it is read like the snapshot file now: non-blocking, regular files only."""
    root = real_tenant(tmp_path)
    (root / "contoso" / "partners.json").unlink()
    os.mkfifo(root / "contoso" / "partners.json")
    errors = _errors(root)  # returns at once: nothing ever writes to the FIFO
    plain = "a policy file must be a plain file"
    assert ("contoso/partners.json", "$", IssueCode.UNREADABLE_FILE.value, plain) in errors
