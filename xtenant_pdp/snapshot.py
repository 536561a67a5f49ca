"""COMPILED form on disk: magic bytes, then a ``SnapshotFile`` (header + serialized body).

The snapshot id is a content hash of the body, so the same policy always compiles to the
same id; the header's created time is the only part that varies between compiles (set
``SOURCE_DATE_EPOCH`` for byte-identical files). The loader checks magic, format version
and hash before it trusts a byte of the body.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.message import DecodeError

from xtenant_pdp._version import __version__
from xtenant_pdp.api import snapshot_pb2 as pb
from xtenant_pdp.errors import SnapshotLoadError

MAGIC = b"XTPDPSNP"
FORMAT_VERSION = 1

# One entry per change of compiled meaning; the compiler version is its length (cerbos).
COMPILER_MIGRATIONS: tuple[str, ...] = ("initial: resolved configurations, deduplicated target sets",)
COMPILER_VERSION = len(COMPILER_MIGRATIONS)


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotInfo:
    """What a snapshot says about itself (header), for logs, metrics and GetSnapshotInfo."""

    snapshot_id: str
    format_version: int
    compiler_version: int
    compiler_release: str
    created_at: datetime
    source_digest: str
    tenant_count: int
    partner_count: int


def snapshot_id_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()[:32]


def _created_at() -> float:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return float(epoch) if epoch and epoch.isdigit() else time.time()


def dump(snapshot: pb.Snapshot, *, source_digest: str, created_at: float | None = None) -> bytes:
    """The file bytes for a snapshot. Deterministic for the same snapshot and created time."""
    body = snapshot.SerializeToString(deterministic=True)
    header = pb.Header(
        format_version=FORMAT_VERSION,
        snapshot_id=snapshot_id_of(body),
        compiler_version=COMPILER_VERSION,
        compiler_release=__version__,
        source_digest=source_digest,
        tenant_count=len(snapshot.tenants),
        partner_count=sum(len(t.partners) for t in snapshot.tenants),
    )
    header.created_at.FromNanoseconds(int((created_at if created_at is not None else _created_at()) * 1e9))
    header.integrity = _integrity(header, body)
    return MAGIC + pb.SnapshotFile(header=header, body=body).SerializeToString(deterministic=True)


def _integrity(header: pb.Header, body: bytes) -> str:
    unsigned = pb.Header()
    unsigned.CopyFrom(header)
    unsigned.integrity = ""
    return "sha256:" + hashlib.sha256(unsigned.SerializeToString(deterministic=True) + body).hexdigest()


def info_of(header: pb.Header) -> SnapshotInfo:
    return SnapshotInfo(
        snapshot_id=header.snapshot_id,
        format_version=header.format_version,
        compiler_version=header.compiler_version,
        compiler_release=header.compiler_release,
        created_at=header.created_at.ToDatetime(tzinfo=UTC),
        source_digest=header.source_digest,
        tenant_count=header.tenant_count,
        partner_count=header.partner_count,
    )


def load(data: bytes, *, name: str = "snapshot") -> tuple[SnapshotInfo, pb.Snapshot]:
    """Parse and verify snapshot file bytes. Raises SnapshotLoadError saying what is wrong."""
    if not data:
        raise SnapshotLoadError(f"{name}: file is empty")
    if not data.startswith(MAGIC):
        raise SnapshotLoadError(
            f"{name}: not an xtenant-pdp snapshot (bad magic bytes); compile one with `xtenant-pdp compile`"
        )
    container = pb.SnapshotFile()
    try:
        container.ParseFromString(data[len(MAGIC) :])
    except DecodeError as exc:
        raise SnapshotLoadError(f"{name}: corrupt or truncated snapshot: {exc}") from None
    header = container.header
    if not container.HasField("header") or not header.snapshot_id:
        raise SnapshotLoadError(f"{name}: corrupt or truncated snapshot: no header after the magic bytes")
    if header.format_version != FORMAT_VERSION:
        raise SnapshotLoadError(
            f"{name}: snapshot format version {header.format_version} is not supported "
            f"(this build reads version {FORMAT_VERSION}); recompile it with this release"
        )
    if header.compiler_version < 1:
        raise SnapshotLoadError(f"{name}: corrupt snapshot: compiler version {header.compiler_version}")
    if header.compiler_version > COMPILER_VERSION:
        raise SnapshotLoadError(
            f"{name}: compiled by a newer compiler (version {header.compiler_version} > {COMPILER_VERSION}); "
            "upgrade xtenant-pdp or recompile"
        )
    body = container.body  # each read of a bytes field copies it: once
    if snapshot_id_of(body) != header.snapshot_id:
        raise SnapshotLoadError(f"{name}: corrupt or truncated snapshot: content hash does not match its id")
    if not header.integrity:
        raise SnapshotLoadError(f"{name}: snapshot has no integrity hash (written by an older build); recompile it")
    if _integrity(header, body) != header.integrity:
        raise SnapshotLoadError(f"{name}: corrupt snapshot: the header does not match its integrity hash")
    snapshot = pb.Snapshot()
    try:
        # One C call: 0.06-0.18 s at 100,000 partners (parsing it a partner at a time so the GIL
        # could change hands in between was tried: 0.6-1.0 s, not worth it).
        snapshot.ParseFromString(body)
    except DecodeError as exc:  # pragma: no cover - the hash check catches damage first
        raise SnapshotLoadError(f"{name}: corrupt snapshot body: {exc}") from None
    try:
        info = info_of(header)
    except (ValueError, OverflowError) as exc:  # a created time outside years 1-9999
        raise SnapshotLoadError(f"{name}: corrupt snapshot header: created time out of range ({exc})") from None
    return info, snapshot
