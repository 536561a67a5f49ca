"""HOLD: the one reference to the snapshot that answers, swapped whole, never edited.

A request reads ``holder.current`` once and uses that generation to the end, so a swap in
the middle of a batch cannot mix two snapshots. Each generation owns its decision cache: a
swap starts an empty cache, so an old snapshot's answer can never be served after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache

from xtenant_pdp.index import Index
from xtenant_pdp.service.answer import Answer


@dataclass(frozen=True, slots=True)
class Active:
    index: Index
    generation: int
    #: Wall-clock time of activation.
    loaded_at: float
    #: Where it came from (file or policy directory), for logs.
    origin: str
    #: Request bytes -> its Answer (cache_hit True); None when caching is off. Owned by this
    #: generation only.
    cache: LRUCache[bytes, Answer] | None = field(default=None)
    #: Result -> its serialized CheckResponse: decisions share few distinct results, so each is
    #: serialized once per generation (bounded; see servicer.PAYLOAD_MEMO_LIMIT).
    payloads: dict[Any, bytes] = field(default_factory=dict)

    @property
    def snapshot_id(self) -> str:
        return self.index.info.snapshot_id


class SnapshotHolder:
    """Last-good semantics: only ``activate`` with a fully built index changes what answers."""

    def __init__(
        self,
        *,
        cache_size: int = 0,
        max_age_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.current: Active | None = None
        #: True when the active snapshot is older than max_age_s: decisions fail closed.
        self.stale = False
        self.cache_size = cache_size
        self.max_age_s = max_age_s
        self._clock = clock
        self._generation = 0
        #: Outcome of the last load attempt, for logs and GetSnapshotInfo-style diagnostics.
        self.last_error: str | None = None

    def activate(self, index: Index, origin: str) -> Active:
        self._generation += 1
        cache: Any = LRUCache(maxsize=self.cache_size) if self.cache_size > 0 else None
        active = Active(index, self._generation, self._clock(), origin, cache)
        self.current = active  # the swap: one reference assignment
        self.last_error = None
        self.refresh_staleness()
        return active

    def record_failure(self, message: str) -> None:
        self.last_error = message

    def age_s(self) -> float | None:
        active = self.current
        if active is None:
            return None
        return self._clock() - active.index.info.created_at.timestamp()

    def refresh_staleness(self) -> bool:
        """Re-evaluate the staleness flag (called on activation and on every reload tick)."""
        age = self.age_s()
        self.stale = self.max_age_s is not None and age is not None and age > self.max_age_s
        return self.stale

    @property
    def serving(self) -> bool:
        return self.current is not None and not self.stale
