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
from xtenant_pdp.errors import SnapshotLoadError, SnapshotMissing
from xtenant_pdp.fsread import NotRegularFile, read_regular
from xtenant_pdp.index import Index

#: Objects the permanent generation may gain over reloads before it is reclaimed (see
#: :func:`collector_paused`): a few MB of garbage at most.
RECLAIM_EXCESS_OBJECTS = 10_000
#: The permanent generation's size right after the last reclaim (empty: never reclaimed yet).
_frozen_baseline: list[int] = []


def _reclaim_if_due() -> None:
    """Collect the garbage of the young generations, and every ``RECLAIM_EXCESS_OBJECTS`` of
    growth the permanent generation's too (unfreeze, collect, freeze again)."""
    if _frozen_baseline and gc.get_freeze_count() - _frozen_baseline[0] <= RECLAIM_EXCESS_OBJECTS:
        gc.collect()  # cheap: the frozen objects (the index) are not walked
        return
    gc.unfreeze()
    gc.collect()  # walks the active index once: amortised over many reloads
    gc.freeze()
    _frozen_baseline[:] = [gc.get_freeze_count()]


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

    But ``gc.freeze`` freezes every object then alive, not only the index: the garbage not yet
    collected and, under traffic, the objects of calls in flight, which turn into cyclic
    garbage the collector can no longer see once the calls end. Frozen on every reload, that
    grew the server by 35 MB over 600 reloads (issue 9, D7). So garbage is collected before the
    build, and what leaks in spite of that is reclaimed whenever the permanent generation has
    grown by RECLAIM_EXCESS_OBJECTS since the last reclaim: memory stays flat (a saw tooth of
    a few MB), for one walk of the active index every few hundred reloads.
    """
    enabled = gc.isenabled()
    if freeze:
        _reclaim_if_due()
    gc.disable()
    try:
        yield
        if freeze:
            gc.freeze()
    finally:
        if enabled:
            gc.enable()


def load_snapshot_bytes(data: bytes, *, name: str = "snapshot", freeze: bool = False) -> Index:
    """Verify and index snapshot bytes; ``freeze``: see :func:`collector_paused`.

    A body whose hashes are right but whose content cannot be indexed (a cloud or reference out
    of range: written by a broken or hostile tool) is a SnapshotLoadError like any other damage,
    never a stray ValueError that ends whoever called (issue 9, D1)."""
    info, body = snapshot.load(data, name=name)
    try:
        with collector_paused(freeze=freeze):
            return index_module.build(info, body)
    except SnapshotLoadError as exc:
        raise SnapshotLoadError(f"{name}: {exc}") from None
    except (ValueError, LookupError, TypeError, AttributeError, OverflowError) as exc:
        raise SnapshotLoadError(f"{name}: snapshot content cannot be indexed: {type(exc).__name__}: {exc}") from None


def read_regular_file(path: Path | str) -> bytes:
    """The whole file, which must be a regular file. Opened non-blocking, so a FIFO or device
    standing where the snapshot should be (a hung mount, a mistake, an attacker) is refused at
    once instead of blocking the reader forever (issue 9, D2). Raises SnapshotLoadError."""
    try:
        return read_regular(path)
    except FileNotFoundError:
        raise SnapshotMissing(f"{path}: does not exist") from None
    except NotRegularFile:
        raise SnapshotLoadError(
            f"{path}: cannot read snapshot: not a regular file (a snapshot must be a plain file)"
        ) from None
    except OSError as exc:
        raise SnapshotLoadError(f"{path}: cannot read snapshot: {exc.strerror or exc}") from None


def load_snapshot_file(path: Path | str, *, freeze: bool = False) -> Index:
    return load_snapshot_bytes(read_regular_file(path), name=str(path), freeze=freeze)


def load_policy_dir(path: Path | str, options: CompileOptions = DEFAULT_OPTIONS, *, freeze: bool = False) -> Index:
    """Compile and index a policy directory. Raises CompileErrors."""
    result = compile_policy_dir(path, options)
    return load_snapshot_bytes(result.data, name=str(path), freeze=freeze)
