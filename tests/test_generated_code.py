"""The committed generated code is exactly what protoc makes of proto/ (never edited by hand)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from conftest import REPO


def _load_generator():
    spec = importlib.util.spec_from_file_location("generate", REPO / "proto" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_matches_proto(tmp_path: Path) -> None:
    generated = _load_generator().generate(tmp_path)
    committed_root = REPO / "xtenant_pdp" / "api"
    assert generated, "protoc produced nothing"
    names = sorted(p.relative_to(tmp_path).as_posix() for p in generated)
    committed = sorted(
        p.relative_to(committed_root).as_posix()
        for p in committed_root.rglob("*")
        if p.suffix in {".py", ".pyi"} and "xtenant" in p.parts
    )
    assert names == committed
    for path in generated:
        rel = path.relative_to(tmp_path)
        assert path.read_bytes() == (committed_root / rel).read_bytes(), f"{rel} is stale: run proto/generate.py"
