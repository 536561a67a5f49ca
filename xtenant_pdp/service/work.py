"""WORK: what one BatchCheck may cost, and how much batch work may run at once (issue 9, D5).

Every call shares the server's few pool threads and one GIL. A call's work is bounded up front
(questions and bytes: INVALID_ARGUMENT naming the flag), a batch answers in slices (points
where an event loop could run other calls; on the pool threads Python's switch interval hands
the GIL over), and the batch work in progress is a budget: a batch that would exceed it is shed with
RESOURCE_EXHAUSTED before any work is done, so a client sending maximal batches slows the
others by a slice, never by a whole batch, and never starves them. Unary Check is not
budgeted: it is one small question, answered in microseconds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from xtenant_pdp.errors import Busy, QueryError
from xtenant_pdp.service.caches import MIB

#: What each question of a batch counts for in the budget besides its bytes (a question with
#: no ids still costs a decode and an evaluation: 1,000 empty questions count as 512 KiB).
ITEM_COST_BYTES = 512
#: Questions a batch answers between the points where it could hand an event loop to other
#: calls (about 0.5 ms of fresh questions). On the pool threads the GIL's switch interval shares
#: the CPU instead, so the hot loop reads no clock.
SLICE_ITEMS = 64
#: Default of --max-batch (questions per BatchCheck).
MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class WorkLimits:
    """Flags --max-batch, --max-batch-bytes, --max-inflight-work (README "Limits")."""

    max_batch: int = MAX_BATCH
    max_batch_bytes: int = 4 * MIB
    max_inflight: int = 16 * MIB


class WorkBudget:
    """Batch work in progress on this server, in bytes (ITEM_COST_BYTES per question added).

    Taken and given back by the pool threads under one lock: BatchCheck only, twice a call."""

    __slots__ = ("_lock", "in_use", "limits")

    def __init__(self, limits: WorkLimits) -> None:
        self.limits = limits
        self.in_use = 0
        self._lock = threading.Lock()

    def check_size(self, nbytes: int) -> None:
        """A batch above --max-batch-bytes is refused before it is read (QueryError)."""
        limit = self.limits.max_batch_bytes
        if nbytes > limit:
            raise QueryError(
                "requests", f"batch of {nbytes} bytes is above the limit of {limit} bytes (--max-batch-bytes)"
            )

    def acquire(self, nbytes: int, items: int) -> int:
        """Take a batch's cost from the budget (release it with :meth:`release`), or raise Busy."""
        cost = nbytes + items * ITEM_COST_BYTES
        limit = self.limits.max_inflight
        with self._lock:
            in_use = self.in_use
            if not in_use or in_use + cost <= limit:  # one batch alone always fits
                self.in_use = in_use + cost
                return cost
        raise Busy(
            f"server busy: {in_use} bytes of batch work in progress, limit {limit} "
            "(--max-inflight-work); retry with backoff"
        )

    def release(self, cost: int) -> None:
        with self._lock:
            self.in_use -= cost
