"""Snapshot faults for the reload tests and the fault suite: files whose hashes are all right
but whose content cannot be indexed (what a broken or hostile compiler would write), and the
helpers that put them, or a FIFO, where a server reads its snapshot."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from xtenant_pdp import snapshot
from xtenant_pdp.api import snapshot_pb2 as pb


def _seal(header: pb.Header, body: bytes) -> bytes:
    """The file bytes for ``header`` and ``body`` with the snapshot id and integrity recomputed."""
    header.snapshot_id = snapshot.snapshot_id_of(body)
    header.integrity = ""
    header.integrity = "sha256:" + hashlib.sha256(header.SerializeToString(deterministic=True) + body).hexdigest()
    return snapshot.MAGIC + pb.SnapshotFile(header=header, body=body).SerializeToString(deterministic=True)


def _parts(good: bytes) -> tuple[pb.Header, pb.Snapshot]:
    container = pb.SnapshotFile()
    container.ParseFromString(good[len(snapshot.MAGIC) :])
    body = pb.Snapshot()
    body.ParseFromString(container.body)
    return container.header, body


def _with_body(good: bytes, edit: object) -> bytes:
    header, body = _parts(good)
    edit(body)  # type: ignore[operator]
    return _seal(header, body.SerializeToString(deterministic=True))


def _cloud_zero(body: pb.Snapshot) -> None:
    body.tenants[0].cloud = 0


def _dangling_target_set(body: pb.Snapshot) -> None:
    body.tenants[0].default_configuration.b2b_collaboration_inbound.users = len(body.target_sets) + 1000


def _created_out_of_range(good: bytes) -> bytes:
    header, body = _parts(good)
    header.created_at.seconds = 10**13  # about year 318,000: no datetime can hold it
    return _seal(header, body.SerializeToString(deterministic=True))


def broken_snapshots(good: bytes) -> dict[str, bytes]:
    """Hash-consistent but semantically broken variants of ``good`` (issue 9, D1), by name."""
    return {
        "cloud-0": _with_body(good, _cloud_zero),
        "dangling-target-set": _with_body(good, _dangling_target_set),
        "created-at-out-of-range": _created_out_of_range(good),
    }


def with_created_at(good: bytes, seconds: int) -> bytes:
    """``good`` with another created time (any in range, e.g. far in the future), resealed."""
    header, body = _parts(good)
    header.created_at.seconds = seconds
    header.created_at.nanos = 0
    return _seal(header, body.SerializeToString(deterministic=True))


def configmap_with_items(root: Path, policy: Path, version: int) -> None:
    """What the kubelet writes for a ConfigMap volume with `items`: ``..<ts>/`` holds the files,
    ``..data`` points at it (swapped atomically), each top-level entry is a link into ``..data``."""
    root.mkdir(exist_ok=True)
    shutil.copytree(policy, root / f"..v{version}")
    tmp = root / "..data_tmp"
    tmp.symlink_to(f"..v{version}")
    os.replace(tmp, root / "..data")
    for entry in sorted(policy.iterdir()):
        link = root / entry.name
        if not link.is_symlink():
            link.symlink_to(f"..data/{entry.name}")
