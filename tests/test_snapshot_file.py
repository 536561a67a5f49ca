"""The compiled snapshot file: round trip, determinism, and rejection of anything damaged or foreign.

Format (snapshot.py): MAGIC, then a SnapshotFile {header, body}; the snapshot id is a hash of
the body. The loader must refuse a file it cannot trust with a SnapshotLoadError that says
why, and must never load a truncated or altered body.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import EXAMPLE_POLICY

from xtenant_pdp import loader
from xtenant_pdp import snapshot as snapshot_file
from xtenant_pdp.api import snapshot_pb2
from xtenant_pdp.compiler import CompileResult, compile_policy_dir
from xtenant_pdp.engine import Engine
from xtenant_pdp.errors import SnapshotLoadError

CREATED_AT = 1_700_000_000.0
EXAMPLE_TENANTS = {
    "5de41ce2-ca22-4b65-866a-e46ae037737e",  # contoso
    "6f086a4d-9c20-4b2e-a39f-5dcccb0b955a",  # fabrikam
    "b9ecdb8d-362d-4399-8f18-27c5620f7443",  # woodgrove
    "8ac5a643-8600-41b1-a87e-06ff6534c993",  # tailspin
}
QUESTIONS = EXAMPLE_POLICY.parent / "questions.jsonl"


@pytest.fixture(scope="module")
def compiled() -> CompileResult:
    return compile_policy_dir(EXAMPLE_POLICY, created_at=CREATED_AT)


def _container(data: bytes) -> snapshot_pb2.SnapshotFile:
    container = snapshot_pb2.SnapshotFile()
    container.ParseFromString(data[len(snapshot_file.MAGIC) :])
    return container


def _rebuild(container: snapshot_pb2.SnapshotFile) -> bytes:
    return snapshot_file.MAGIC + container.SerializeToString(deterministic=True)


def _body_offset(data: bytes) -> int:
    body = _container(data).body
    assert data.endswith(body)
    return len(data) - len(body)


# --------------------------------------------------------------------------- round trip


def test_round_trip_loads_the_four_tenants_with_the_same_id(compiled: CompileResult) -> None:
    index = loader.load_snapshot_bytes(compiled.data)
    assert set(index.tenants) == EXAMPLE_TENANTS
    assert index.info.snapshot_id == compiled.info.snapshot_id
    assert index.info.snapshot_id.startswith("sha256:")
    assert index.info.format_version == snapshot_file.FORMAT_VERSION
    assert index.info.compiler_version == snapshot_file.COMPILER_VERSION
    assert index.info.tenant_count == 4
    assert index.partner_count == index.info.partner_count == 8
    assert index.info.created_at == datetime.fromtimestamp(CREATED_AT, UTC)


def test_round_trip_body_is_the_compiled_snapshot(compiled: CompileResult) -> None:
    info, body = snapshot_file.load(compiled.data)
    assert body == compiled.snapshot
    assert info == compiled.info


def test_round_trip_through_a_file_answers_like_the_policy_dir(compiled: CompileResult, tmp_path: Path) -> None:
    path = tmp_path / "policy.xtsnap"
    path.write_bytes(compiled.data)
    from_file = Engine.from_snapshot(path)
    from_dir = Engine.from_policy_dir(EXAMPLE_POLICY)
    assert from_file.snapshot_id == from_dir.snapshot_id == compiled.info.snapshot_id
    lines = [line for line in QUESTIONS.read_text().splitlines() if line.strip()]
    assert len(lines) >= 10
    for line in lines:
        answer = from_file.check(line)
        assert "error" not in answer, line
        assert answer == from_dir.check(line)


# --------------------------------------------------------------------------- determinism


def test_same_created_at_gives_identical_bytes(compiled: CompileResult) -> None:
    again = compile_policy_dir(EXAMPLE_POLICY, created_at=CREATED_AT)
    assert again.data == compiled.data


def test_different_created_at_gives_the_same_snapshot_id(compiled: CompileResult) -> None:
    later = compile_policy_dir(EXAMPLE_POLICY, created_at=CREATED_AT + 86_400)
    assert later.data != compiled.data
    assert later.info.snapshot_id == compiled.info.snapshot_id
    assert _container(later.data).body == _container(compiled.data).body
    assert later.info.created_at == datetime.fromtimestamp(CREATED_AT + 86_400, UTC)


def test_source_date_epoch_makes_compiles_byte_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(CREATED_AT)))
    first = compile_policy_dir(EXAMPLE_POLICY)
    second = compile_policy_dir(EXAMPLE_POLICY)
    assert first.data == second.data
    assert first.info.created_at == datetime.fromtimestamp(CREATED_AT, UTC)


def test_source_digest_follows_the_source_bytes_not_the_snapshot_id(compiled: CompileResult, tmp_path: Path) -> None:
    """Re-indenting a Graph export changes the source digest, never the compiled meaning."""
    copy = tmp_path / "policy"
    for src in EXAMPLE_POLICY.rglob("*.json"):
        dst = copy / src.relative_to(EXAMPLE_POLICY)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(json.dumps(json.loads(src.read_text()), separators=(",", ":")))
    recompiled = compile_policy_dir(copy, created_at=CREATED_AT)
    assert recompiled.info.source_digest != compiled.info.source_digest
    assert recompiled.info.snapshot_id == compiled.info.snapshot_id


# --------------------------------------------------------------------------- rejection


def test_empty_file_is_rejected() -> None:
    with pytest.raises(SnapshotLoadError, match=r"^snapshot: file is empty$"):
        loader.load_snapshot_bytes(b"")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"{}", id="json"),
        pytest.param(b"XTPDPSNQ" + b"\x00" * 64, id="one-letter-off"),
        pytest.param(b"xtpdpsnp" + b"\x00" * 64, id="lower-case"),
        pytest.param(b"XTPDPSN", id="magic-prefix-only"),
    ],
)
def test_wrong_magic_is_rejected(data: bytes) -> None:
    with pytest.raises(SnapshotLoadError, match=r"not an xtenant-pdp snapshot \(bad magic bytes\)"):
        loader.load_snapshot_bytes(data, name="x.xtsnap")


def test_every_truncation_is_rejected(compiled: CompileResult) -> None:
    data = compiled.data
    for length in range(len(data)):
        with pytest.raises(SnapshotLoadError) as caught:
            loader.load_snapshot_bytes(data[:length], name="t.xtsnap")
        message = str(caught.value)
        assert message.startswith("t.xtsnap: "), (length, message)
        if length == 0:
            assert "file is empty" in message
        elif length < len(snapshot_file.MAGIC):
            assert "bad magic bytes" in message
        else:
            assert "corrupt or truncated snapshot" in message, (length, message)


@pytest.mark.parametrize("cut", [1, 2, 16, 100, 1000])
def test_truncation_at_the_end_names_truncation(compiled: CompileResult, cut: int) -> None:
    with pytest.raises(SnapshotLoadError, match="corrupt or truncated snapshot"):
        loader.load_snapshot_bytes(compiled.data[:-cut])


def test_truncation_right_after_magic_names_truncation(compiled: CompileResult) -> None:
    """Regression: a file cut right after the magic bytes said `format version 0 is not supported`."""
    with pytest.raises(
        SnapshotLoadError, match=r"^snapshot: corrupt or truncated snapshot: no header after the magic bytes$"
    ):
        loader.load_snapshot_bytes(compiled.data[: len(snapshot_file.MAGIC)])


def test_every_flipped_body_byte_fails_the_hash_check(compiled: CompileResult) -> None:
    data = compiled.data
    start = _body_offset(data)
    assert len(data) - start > 1000
    for offset in range(start, len(data)):
        damaged = bytearray(data)
        damaged[offset] ^= 0x20
        with pytest.raises(SnapshotLoadError, match=r"^s: corrupt or truncated snapshot: content hash does not match"):
            loader.load_snapshot_bytes(bytes(damaged), name="s")


def test_appended_bytes_are_rejected(compiled: CompileResult) -> None:
    container = _container(compiled.data)
    container.body = container.body + b"\x00"
    with pytest.raises(SnapshotLoadError, match="content hash does not match its id"):
        loader.load_snapshot_bytes(_rebuild(container))


def test_a_body_swapped_from_another_policy_is_rejected(compiled: CompileResult, tmp_path: Path) -> None:
    other_root = tmp_path / "policy" / "solo"
    other_root.mkdir(parents=True)
    (other_root / "tenant.json").write_text('{"tenantId": "8ac5a643-8600-41b1-a87e-06ff6534c993"}')
    other = compile_policy_dir(tmp_path / "policy", created_at=CREATED_AT)
    container = _container(compiled.data)
    container.body = _container(other.data).body
    with pytest.raises(SnapshotLoadError, match="content hash does not match its id"):
        loader.load_snapshot_bytes(_rebuild(container))


def test_format_version_2_is_rejected(compiled: CompileResult) -> None:
    container = _container(compiled.data)
    container.header.format_version = snapshot_file.FORMAT_VERSION + 1
    with pytest.raises(
        SnapshotLoadError,
        match=r"^new\.xtsnap: snapshot format version 2 is not supported \(this build reads version 1\)",
    ):
        loader.load_snapshot_bytes(_rebuild(container), name="new.xtsnap")


def test_rebuilt_unchanged_container_still_loads(compiled: CompileResult) -> None:
    """Control for the two tests around it: rebuilding alone does not break the file."""
    index = loader.load_snapshot_bytes(_rebuild(_container(compiled.data)))
    assert index.info.snapshot_id == compiled.info.snapshot_id


def test_newer_compiler_version_is_rejected(compiled: CompileResult) -> None:
    container = _container(compiled.data)
    container.header.compiler_version = snapshot_file.COMPILER_VERSION + 1
    with pytest.raises(SnapshotLoadError, match=r"compiled by a newer compiler \(version 2 > 1\); upgrade xtenant-pdp"):
        loader.load_snapshot_bytes(_rebuild(container))


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "missing.xtsnap"
    with pytest.raises(SnapshotLoadError, match=r"missing\.xtsnap: does not exist$"):  # issue 10 item 5
        loader.load_snapshot_file(path)
    with pytest.raises(SnapshotLoadError):
        Engine.from_snapshot(path)


def test_a_directory_is_not_a_snapshot(tmp_path: Path) -> None:
    with pytest.raises(SnapshotLoadError, match="cannot read snapshot"):
        loader.load_snapshot_file(tmp_path)


def test_file_is_named_in_load_errors(compiled: CompileResult, tmp_path: Path) -> None:
    path = tmp_path / "bad.xtsnap"
    path.write_bytes(compiled.data[:-10])
    with pytest.raises(SnapshotLoadError) as caught:
        loader.load_snapshot_file(path)
    assert str(caught.value).startswith(f"{path}: corrupt or truncated snapshot")


@pytest.mark.parametrize("field", ["tenant_count", "partner_count"])
def test_header_counts_that_disagree_with_the_body_are_rejected(compiled: CompileResult, field: str) -> None:
    container = _container(compiled.data)
    setattr(container.header, field, getattr(container.header, field) + 1)
    with pytest.raises(SnapshotLoadError, match="corrupt"):
        loader.load_snapshot_bytes(_rebuild(container))
