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
def collector_paused(*, freeze: bool = False) -> Iterator[None]:
    """The cyclic garbage collector off while an index is built; with ``freeze``, what was
    built is moved out of its sight (``gc.freeze``) before it is switched back on.

    An index is up to millions of long-lived objects made at once (100,000 partners: about
    1.3 million). With the collector on, every object threshold passed starts a collection and
    the full ones re-walk everything built so far, holding the GIL. Off, the walk is only
    deferred: the first young collection afterwards walks every new object (0.66 s at 100,000
    partners, measured) on whichever thread allocates next, the server's event loop as like as
    not. Frozen, it is never walked. Nothing built here is cyclic garbage, and an index holds no
    reference cycles, so a frozen index is still freed by reference counting
    (tests/test_loader_memory.py). Freezing is process-wide, so only the server asks for it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if freeze:
            gc.freeze()
    finally:
        if enabled:
            gc.enable()


def load_snapshot_bytes(data: bytes, *, name: str = "snapshot", freeze: bool = False) -> Index:
    """Verify and index snapshot bytes; ``freeze``: see :func:`collector_paused`."""
    info, body = snapshot.load(data, name=name)
    with collector_paused(freeze=freeze):
        return index_module.build(info, body)


def load_snapshot_file(path: Path | str, *, freeze: bool = False) -> Index:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SnapshotLoadError(f"{path}: cannot read snapshot: {exc.strerror or exc}") from None
    return load_snapshot_bytes(data, name=str(path), freeze=freeze)


def load_policy_dir(path: Path | str, options: CompileOptions = DEFAULT_OPTIONS, *, freeze: bool = False) -> Index:
    """Compile and index a policy directory. Raises CompileErrors."""
    result = compile_policy_dir(path, options)
    return load_snapshot_bytes(result.data, name=str(path), freeze=freeze)
