"""CACHES: every cache and memo of one snapshot generation, each bounded in bytes.

A generation (holder.Active) owns its caches, so a snapshot swap drops them whole and an old
snapshot's answer can never be served. Each is a cachetools LRU whose ``maxsize`` is bytes and
whose entries count their key, their value and the bookkeeping around them, so what a client
can make the server keep is bounded by construction: a question or token above its size limit
is answered but never cached, however many distinct ones arrive (issue 9, D4).

The decision server answers on a pool of threads (app.py), so each cache has one lock, taken
by what mutates it (a store, and ``get``, whose LRU bookkeeping reorders); ``peek`` is the
entries dict's own ``get``, atomic under the GIL, and takes none. One shared cache per
generation keeps the byte bound what the flag says, whatever the number of threads; an
uncontended lock costs well under the 0.2 us a per-thread design would have had to beat.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

KIB = 1024
MIB = 1024 * KIB

#: What an entry costs besides its key's and value's own bytes: the bytes object header, the
#: value tuple and the slots of the LRU's dicts (measured with tracemalloc: 184 bytes for an
#: Answer entry, plus 33 for a bytes key's header).
ENTRY_OVERHEAD = 256


@dataclass(frozen=True, slots=True)
class CacheLimits:
    """Byte bounds of one generation's caches (flags: --cache-size, --cache-max-question,
    --memo-size; README "Limits")."""

    #: Decision cache (request bytes -> answer); 0 turns it off.
    decision_bytes: int = 32 * MIB
    #: Questions longer than this are answered but never enter the decision cache.
    max_question_bytes: int = 2 * KIB
    #: Each memo: serialized responses, ext_authz responses, ext_authz token identities.
    memo_bytes: int = 4 * MIB
    #: Token payloads longer than this are read every time, never memoised.
    max_token_bytes: int = 16 * KIB


class ByteLRU(LRUCache):  # type: ignore[type-arg]
    """An LRU whose ``maxsize`` and ``currsize`` are bytes, key included.

    cachetools sizes a value only; the key's size is noted by ``__setitem__`` just before
    cachetools asks. An entry larger than the whole cache is not stored (never an error).
    """

    def __init__(self, maxbytes: int, key_size: Callable[[Any], int], value_size: Callable[[Any], int]) -> None:
        super().__init__(maxsize=maxbytes)
        self._key_size = key_size
        self._value_size = value_size
        self._pending_key = 0
        self._lock = threading.Lock()
        #: A read without the LRU bookkeeping (the entries dict's own ``get``, about a microsecond
        #: less than ``get``): the memos on the hot path read with it, so they evict in insertion
        #: order among entries read this way. cachetools keeps its entries in ``Cache.__data``.
        self.peek: Callable[[Hashable], Any] = self._Cache__data.get  # type: ignore[attr-defined]

    def getsizeof(self, value: Any) -> int:
        return ENTRY_OVERHEAD + self._pending_key + self._value_size(value)

    def __setitem__(self, key: Hashable, value: Any) -> None:
        key_size = self._key_size(key)
        with self._lock:
            self._pending_key = key_size
            if self.getsizeof(value) <= self.maxsize:
                super().__setitem__(key, value)

    def get(self, key: Hashable, default: Any = None) -> Any:
        """A read that counts as a use (LRU order), under the lock: it reorders the entries."""
        with self._lock:
            return super().get(key, default)


def _small(_: object) -> int:
    """Keys and values made of a few enums and ids (results, ext_authz response keys)."""
    return 256


class Caches:
    """One generation's caches. ``decisions`` is None when the decision cache is off."""

    __slots__ = ("callers", "decisions", "max_question_bytes", "max_token_bytes", "payloads", "responses")

    def __init__(self, limits: CacheLimits) -> None:
        self.max_question_bytes = limits.max_question_bytes
        self.max_token_bytes = limits.max_token_bytes
        #: Request bytes -> service.answer.Answer (its cache_hit True).
        self.decisions: ByteLRU | None = (
            ByteLRU(limits.decision_bytes, len, lambda answer: len(answer.payload))
            if limits.decision_bytes > 0
            else None
        )
        #: Result -> its serialized CheckResponse: decisions share few distinct results, but a
        #: question about an unknown tenant makes a new one.
        self.payloads = ByteLRU(limits.memo_bytes, _small, len)
        #: ext_authz: response key -> envoy CheckResponse (a few hundred bytes serialized; a
        #: message object holds about four times its serialized size).
        self.responses = ByteLRU(limits.memo_bytes, _small, lambda response: 4 * response.ByteSize())
        #: ext_authz: serialized JWT payload -> Caller (ids as strings: about 90 bytes each).
        self.callers = ByteLRU(limits.memo_bytes, len, lambda caller: 512 + 90 * len(caller.group_ids))
