"""LOAD: a snapshot file (or a policy directory, compiled on the spot) -> a ready Index.

Either the whole file is read, verified and indexed, or SnapshotLoadError/CompileErrors is
raised and nothing changes: callers swap in the result only when this returns.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path

from xtenant_pdp import index as index_module
from xtenant_pdp import snapshot
from xtenant_pdp.compiler import DEFAULT_OPTIONS, CompileOptions, compile_policy_dir
from xtenant_pdp.errors import SnapshotLoadError
from xtenant_pdp.index import Index


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while an index is built.

    An index is up to millions of long-lived objects made at once (100,000 partners: about
    1.3 million). With the collector on, every object threshold passed starts a collection,
    and the full ones re-traverse everything built so far, and any index already serving,
    while holding the GIL against the thread that answers calls. Nothing built here is
    cyclic garbage, so nothing is lost by not looking.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_snapshot_bytes(data: bytes, *, name: str = "snapshot") -> Index:
    info, body = snapshot.load(data, name=name)
    with collector_paused():
        return index_module.build(info, body)


def load_snapshot_file(path: Path | str) -> Index:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SnapshotLoadError(f"{path}: cannot read snapshot: {exc.strerror or exc}") from None
    return load_snapshot_bytes(data, name=str(path))


def load_policy_dir(path: Path | str, options: CompileOptions = DEFAULT_OPTIONS) -> Index:
    """Compile and index a policy directory. Raises CompileErrors."""
    result = compile_policy_dir(path, options)
    return load_snapshot_bytes(result.data, name=str(path))
