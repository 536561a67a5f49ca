"""HOLD: the one reference to the snapshot that answers, swapped whole, never edited.

A request reads ``holder.current`` once and uses that generation to the end, so a swap in
the middle of a batch cannot mix two snapshots. Each generation owns its caches
(service/caches.py): a swap starts empty ones, so an old snapshot's answer can never be served
after it.

Staleness is a property of the generation, not a flag someone must remember to refresh: each
``Active`` carries the wall-clock deadline ``expires_at`` fixed at activation, and
``active.stale`` compares it with the clock wherever it is read (every request). So a reloader
that died or hangs can never keep an old snapshot answering ALLOW (issue 9, D1/D2).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from xtenant_pdp.index import Index
from xtenant_pdp.service.caches import CacheLimits, Caches

#: The holder's default: memos on, decision cache off.
NO_DECISION_CACHE = CacheLimits(decision_bytes=0)


@dataclass(frozen=True, slots=True)
class Active:
    index: Index
    generation: int
    #: Wall-clock time of activation.
    loaded_at: float
    #: Where it came from (file or policy directory), for logs.
    origin: str
    #: This generation's caches and memos (bounded in bytes), dropped with it.
    caches: Caches
    #: Wall-clock time from which this generation is stale and every decision fails closed
    #: (``--max-snapshot-age`` after the snapshot's created time; inf without that flag).
    expires_at: float = math.inf

    @property
    def snapshot_id(self) -> str:
        return self.index.info.snapshot_id

    @property
    def stale(self) -> bool:
        """Computed on every read: one clock read and a float compare."""
        return _now() >= self.expires_at


_now = time.time
#: A created time up to this far ahead of the clock is clock skew; further ahead it is not
#: trusted (see :func:`expiry`).
FUTURE_SKEW_S = 300.0


def expiry(created_at: float, activated_at: float, max_age_s: float | None) -> float:
    """When a snapshot created at ``created_at`` goes stale. A created time in the future is
    clamped to the activation time: the age then counts from activation, so a snapshot that
    claims to be from year 9999 still goes stale ``max_age_s`` after it was loaded."""
    if max_age_s is None:
        return math.inf
    return min(created_at, activated_at) + max_age_s


class SnapshotHolder:
    """Last-good semantics: only ``activate`` with a fully built index changes what answers."""

    def __init__(
        self,
        *,
        limits: CacheLimits = NO_DECISION_CACHE,
        max_age_s: float | None = None,
    ) -> None:
        self.current: Active | None = None
        #: Byte bounds of every generation's caches; the decision cache is off unless asked for.
        self.limits = limits
        self.max_age_s = max_age_s
        self._generation = 0

    def activate(self, index: Index, origin: str) -> Active:
        self._generation += 1
        now = _now()
        expires_at = expiry(index.info.created_at.timestamp(), now, self.max_age_s)
        active = Active(index, self._generation, now, origin, Caches(self.limits), expires_at=expires_at)
        self.current = active  # the swap: one reference assignment
        return active

    def age_s(self) -> float | None:
        active = self.current
        if active is None:
            return None
        return _now() - active.index.info.created_at.timestamp()

    @property
    def stale(self) -> bool:
        """True when the active snapshot is past its ``expires_at``: decisions fail closed."""
        active = self.current
        return active is not None and active.stale

    @property
    def serving(self) -> bool:
        active = self.current
        return active is not None and not active.stale
