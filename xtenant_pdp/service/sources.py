"""SOURCES of snapshots for the reloader: a snapshot file, or a policy directory compiled on the spot.

A source splits a load into ``read`` (all the I/O, which the reloader runs under a time limit
on a daemon thread) and ``build`` (CPU only). Both refuse what is not a regular file, so a FIFO
or device never blocks a reader, and a policy directory's links are followed only while they
stay inside it (a ConfigMap volume with ``items``, issue 9 D9).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from xtenant_pdp.compiler import DEFAULT_OPTIONS, CompileOptions, compile_policy_dir
from xtenant_pdp.errors import SnapshotLoadError
from xtenant_pdp.index import Index
from xtenant_pdp.loader import load_snapshot_bytes, read_regular_file

#: Longest a snapshot file read (or a fingerprint's stat calls) may take before it is abandoned
#: as stuck: a 45 MB snapshot reads in well under a second from any working disk.
READ_TIMEOUT_S = 30.0
#: A policy directory is read and compiled in one go: 100,000 partners compile in about 31 s.
POLICY_READ_TIMEOUT_S = 300.0


class SnapshotSource(Protocol):
    description: str
    #: Time limit of one ``fingerprint``/``read`` call (see :func:`off_loop`).
    read_timeout_s: float

    def fingerprint(self) -> object:
        """Cheap to compute; changes whenever the content may have changed."""

    def read(self) -> bytes:
        """The snapshot file bytes: all the I/O of a load. Raises SnapshotLoadError or CompileErrors."""

    def build(self, data: bytes) -> Index:
        """Verify and index what ``read`` returned (CPU only). Raises SnapshotLoadError."""


def _stat_key(path: Path | str) -> tuple[object, ...]:
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError as exc:
        return ("missing", str(exc))
    return (real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class SnapshotFileSource:
    path: Path
    read_timeout_s: float = READ_TIMEOUT_S

    @property
    def description(self) -> str:
        return str(self.path)

    def fingerprint(self) -> object:
        return _stat_key(self.path)

    def read(self) -> bytes:
        return read_regular_file(self.path)

    def build(self, data: bytes) -> Index:
        return load_snapshot_bytes(data, name=str(self.path), freeze=True)


#: The kubelet's pointer to the live version of a ConfigMap/Secret volume (``..data -> ..<ts>``).
CONFIGMAP_DATA_LINK = "..data"


def policy_files(root: Path) -> Iterator[tuple[str, tuple[object, ...]]]:
    """(path relative to ``root``, stat key) of every ``*.json`` below ``root``, sorted.

    Symbolic links are followed when they resolve inside ``root`` (a ConfigMap volume mounted
    with ``items`` makes each tenant folder a link into ``..data``, issue 9 D9) and never out of
    it: a link that leaves the volume yields a ("outside", ...) key instead of a stat, and a
    FIFO or device a ("not a regular file", ...) key, which :meth:`PolicyDirSource.read` refuses
    (the compiler refuses links out of the directory itself).
    """
    real_root = os.path.realpath(root)

    def inside(real: str) -> bool:
        return real == real_root or real.startswith(real_root + os.sep)

    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real_folder = os.path.realpath(folder)
        rel_folder = os.path.relpath(folder, root)
        if not inside(real_folder):
            dirs[:] = []
            yield rel_folder, ("outside", real_folder)
            continue
        if real_folder in seen:  # a link back to a folder already walked: no loops
            dirs[:] = []
            continue
        seen.add(real_folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(n for n in files if n.endswith(".json")):
            path = os.path.join(folder, name)
            rel = os.path.normpath(os.path.join(rel_folder, name))
            real = os.path.realpath(path)
            if not inside(real):
                yield rel, ("outside", real)
                continue
            try:
                st = os.stat(real)
            except OSError as exc:  # vanished meanwhile: the compiler reports it
                yield rel, ("missing", str(exc))
                continue
            if not stat.S_ISREG(st.st_mode):
                yield rel, ("not a regular file", real)
                continue
            yield rel, (real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class PolicyDirSource:
    path: Path
    options: CompileOptions = DEFAULT_OPTIONS
    read_timeout_s: float = POLICY_READ_TIMEOUT_S

    @property
    def description(self) -> str:
        return f"policy directory {self.path}"

    def fingerprint(self) -> object:
        try:
            data_link: object = os.readlink(self.path / CONFIGMAP_DATA_LINK)  # the ConfigMap swap
        except OSError:
            data_link = None
        return (data_link, tuple(policy_files(self.path)))

    def read(self) -> bytes:
        # The compiler reads with plain reads: a FIFO among the files would block it. (Links out
        # of the directory it refuses itself, with a located error.)
        for rel, key in policy_files(self.path):
            if key and key[0] == "not a regular file":
                raise SnapshotLoadError(f"{self.description}: {rel} is not a regular file")
        return compile_policy_dir(self.path, self.options).data

    def build(self, data: bytes) -> Index:
        return load_snapshot_bytes(data, name=str(self.path), freeze=True)
