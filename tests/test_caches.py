"""D4 (issue 9): every cache and memo is bounded in bytes, and a big question is never cached.

The defect: the decision cache and the ext_authz token memo were keyed by raw request bytes and
bounded only by count, so 200 distinct 4 MiB questions (padded with an unknown field) took RSS
47 -> 875 MB and kept it. Here the bound holds by construction: each cache's ``currsize`` (bytes,
key included) stays under its ``maxsize``, oversized questions and tokens are answered but not
kept, and what a burst of padded questions leaves allocated is measured with tracemalloc.
"""

from __future__ import annotations

import gc
import tracemalloc
import uuid

import pytest
from conftest import EXAMPLE_POLICY
from prometheus_client import CollectorRegistry
from server_kit import flip_question
from test_ext_authz import MEGAN_TOKEN, envoy_request

from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.config import Settings, parse_size
from xtenant_pdp.decision import Decision
from xtenant_pdp.index import Index
from xtenant_pdp.loader import load_policy_dir
from xtenant_pdp.metrics import Metrics
from xtenant_pdp.service.caches import ENTRY_OVERHEAD, KIB, MIB, ByteLRU, CacheLimits
from xtenant_pdp.service.ext_authz import ExtAuthzServicer
from xtenant_pdp.service.holder import SnapshotHolder
from xtenant_pdp.service.servicer import DecisionServicer

#: An unknown field (number 1000, length-delimited) that protobuf parses and ignores.
_UNKNOWN_TAG = b"\xc2\x3e"


_FLIP = flip_question()


def _flip() -> pdp_pb2.CheckRequest:
    """A copy of the flip question (ALLOW with the example policy)."""
    request = pdp_pb2.CheckRequest()
    request.CopyFrom(_FLIP)
    return request


@pytest.fixture(scope="module")
def index() -> Index:
    return load_policy_dir(EXAMPLE_POLICY)


def _servicer(index: Index, limits: CacheLimits) -> tuple[DecisionServicer, SnapshotHolder]:
    holder = SnapshotHolder(limits=limits)
    holder.activate(index, "test")
    return DecisionServicer(holder, Metrics(CollectorRegistry())), holder


def _padded(request: pdp_pb2.CheckRequest, size: int, salt: int) -> bytes:
    """``request`` with an unknown field of about ``size`` bytes: a distinct question each salt."""
    body = salt.to_bytes(8, "little") * (size // 8)
    length = len(body)
    varint = bytearray()
    while length > 0x7F:
        varint.append((length & 0x7F) | 0x80)
        length >>= 7
    varint.append(length)
    return request.SerializeToString() + _UNKNOWN_TAG + bytes(varint) + body


def _distinct(n: int) -> list[bytes]:
    """``n`` small distinct questions (a fresh user id each)."""
    out = []
    for _ in range(n):
        request = _flip()
        request.access.user_id = str(uuid.uuid4())
        out.append(request.SerializeToString())
    return out


def test_D4_padded_questions_are_answered_but_never_cached(index: Index) -> None:
    servicer, holder = _servicer(index, CacheLimits(decision_bytes=1 * MIB, max_question_bytes=2 * KIB))
    expected = servicer.answer(_flip().SerializeToString())
    cache = holder.current.caches.decisions  # type: ignore[union-attr]
    assert cache is not None and len(cache) == 1  # the small question is cached
    for salt in range(50):
        raw = _padded(_flip(), 64 * KIB, salt)
        assert servicer.answer(raw) == expected  # same answer: the unknown field is ignored
    assert len(cache) == 1
    assert cache.currsize <= cache.maxsize


def test_D4_decision_cache_stays_under_its_byte_bound_counting_keys(index: Index) -> None:
    servicer, holder = _servicer(index, CacheLimits(decision_bytes=64 * KIB))
    questions = _distinct(2000)
    for raw in questions:
        servicer.answer(raw)
    cache = holder.current.caches.decisions  # type: ignore[union-attr]
    assert cache is not None
    assert 0 < cache.currsize <= 64 * KIB
    kept = list(cache.keys())
    assert 0 < len(kept) < len(questions)  # evicted, not grown
    # Every entry counts its key, its payload and the overhead: at least this many bytes.
    assert cache.currsize >= sum(len(k) + ENTRY_OVERHEAD for k in kept)
    # The most recent questions are the ones kept (LRU), and a hit answers as before.
    assert questions[-1] in cache
    hits = servicer._hit.n
    servicer.answer(questions[-1])
    assert servicer._hit.n == hits + 1


def test_D4_a_burst_of_big_questions_leaves_nothing_behind(index: Index) -> None:
    """The defect's scenario, scaled down: 100 distinct 1 MiB questions retain < 1 MiB."""
    servicer, _ = _servicer(index, CacheLimits())  # the serve defaults
    servicer.answer(_flip().SerializeToString())  # warm: memos and the payload
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for salt in range(100):
            servicer.answer(_padded(_flip(), 1 * MIB, salt))
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert retained < 1 * MIB, f"{retained} bytes retained after 100 MiB of questions"


def test_D4_payload_memo_is_bounded_under_unknown_tenants(index: Index) -> None:
    """Each unknown tenant id makes a new result (TENANT_NOT_IN_SNAPSHOT names it)."""
    servicer, holder = _servicer(index, CacheLimits(decision_bytes=0, memo_bytes=32 * KIB))
    for _ in range(1000):
        request = _flip()
        request.access.tenant_id = str(uuid.uuid4())
        servicer.answer(request.SerializeToString())
    payloads = holder.current.caches.payloads  # type: ignore[union-attr]
    assert 0 < payloads.currsize <= 32 * KIB
    assert len(payloads) < 1000


def test_D4_token_memo_is_bounded_and_skips_big_tokens(index: Index) -> None:
    limits = CacheLimits(memo_bytes=64 * KIB, max_token_bytes=4 * KIB)
    holder = SnapshotHolder(limits=limits)
    holder.activate(index, "test")
    servicer = ExtAuthzServicer(holder, Metrics(CollectorRegistry()), Settings())
    callers = holder.current.caches.callers  # type: ignore[union-attr]
    # Many distinct small tokens: memoised, evicted in LRU order, never above the bound.
    for _ in range(2000):
        token = dict(MEGAN_TOKEN, oid=str(uuid.uuid4()))
        servicer.check(envoy_request(token=token))
    assert 0 < callers.currsize <= 64 * KIB
    assert len(callers) < 2000
    # A token above max_token_bytes is answered (same decision as a small one) but never kept.
    small, _ = servicer.check(envoy_request(token=MEGAN_TOKEN))
    callers.clear()
    big = dict(MEGAN_TOKEN, padding="x" * (8 * KIB))
    for _ in range(3):
        response, decision = servicer.check(envoy_request(token=big))
        assert decision is Decision.ALLOW
        assert response == small
    assert len(callers) == 0


def test_D4_every_generation_starts_with_empty_caches(index: Index) -> None:
    servicer, holder = _servicer(index, CacheLimits())
    servicer.answer(_flip().SerializeToString())
    first = holder.current.caches  # type: ignore[union-attr]
    assert first.decisions is not None and len(first.decisions) == 1 and len(first.payloads) == 1
    holder.activate(index, "again")
    second = holder.current.caches  # type: ignore[union-attr]
    assert second is not first
    assert second.decisions is not None and len(second.decisions) == 0 and len(second.payloads) == 0


def test_peek_reads_the_entries_without_reordering() -> None:
    cache = ByteLRU(10 * KIB, len, len)
    cache[b"a"], cache[b"b"] = b"1", b"2"
    assert cache.peek(b"a") == b"1" and cache.peek(b"missing") is None
    cache.popitem()  # peek did not make `a` recently used: it goes first
    assert b"a" not in cache and cache.peek(b"a") is None and cache.peek(b"b") == b"2"


def test_D4_an_entry_larger_than_the_whole_cache_is_skipped_not_an_error() -> None:
    cache = ByteLRU(1 * KIB, len, len)
    cache[b"k"] = b"v" * 100
    cache[b"big"] = b"v" * (2 * KIB)
    assert b"big" not in cache and b"k" in cache
    assert cache.currsize == ENTRY_OVERHEAD + 1 + 100


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("65536", 65536), ("64KiB", 64 * KIB), ("32MiB", 32 * MIB), ("1g", 1 << 30), ("2 KB", 2 * KIB)],
)
def test_sizes_parse_in_binary_multiples(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["lots", "-1", "1.5MiB", "10TB"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)
