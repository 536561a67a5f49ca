"""The thread-pool server (app.py): calls answered on many threads at once, across reloads.

Every answer must name a snapshot and be that snapshot's answer (one holder read per call, a
batch never mixes two generations), the shared caches must keep their byte accounting, and the
per-thread metric cells must lose no add: the counts scraped at the end equal the calls made.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from server_kit import (
    RPC_TIMEOUT,
    SERVING,
    ConfigMapDir,
    InProcessServer,
    compile_pair,
    decision_stub,
    flip_question,
    sample_value,
    settings_from_flags,
    wait_health,
    wait_until,
)

from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.metrics import HotCounter, HotHistogram
from xtenant_pdp.service.caches import ENTRY_OVERHEAD, ByteLRU

SERVICE = "xtenant.pdp.v1.DecisionService"
CLIENTS = 12
#: Each client's calls: a Check then a BatchCheck of BATCH, repeated.
ROUNDS = 60
BATCH = 5


@pytest.fixture
def switch_often() -> Iterator[None]:
    """Threads hand the GIL over every microsecond, so that a racy read-add-write would lose adds."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _hammer(threads: int, work: int, fn: object) -> None:
    start = threading.Barrier(threads)

    def run() -> None:
        start.wait()
        for _ in range(work):
            fn()  # type: ignore[operator]

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)


def test_hot_counter_and_histogram_lose_no_add_across_threads(switch_often: None) -> None:
    registry = CollectorRegistry()
    counter = HotCounter(Counter("c", "c", registry=registry))
    histogram = HotHistogram(Histogram("h", "h", buckets=(0.5, 1.0), registry=registry))

    def both() -> None:
        counter.inc()
        counter.inc(2)
        histogram.observe(0.25)
        histogram.observe_many(0.75, 3)

    _hammer(8, 5_000, both)
    assert counter.n == 8 * 5_000 * 3
    assert histogram.counts == [8 * 5_000, 8 * 5_000 * 3, 0]
    counter.flush()
    histogram.flush()
    assert registry.get_sample_value("c_total") == 8 * 5_000 * 3
    assert registry.get_sample_value("h_count") == 8 * 5_000 * 4
    assert registry.get_sample_value("h_bucket", {"le": "0.5"}) == 8 * 5_000


def test_D4_shared_cache_keeps_its_byte_bound_across_threads(switch_often: None) -> None:
    cache = ByteLRU(40 * (ENTRY_OVERHEAD + 8 + 8), len, len)
    counter = iter(range(10**9))

    def store_and_read() -> None:
        key = next(counter).to_bytes(8, "big")
        cache[key] = b"x" * 8
        cache.get(key)
        cache.get(b"\0" * 8)

    _hammer(8, 2_000, store_and_read)
    assert len(cache) == 40
    assert cache.currsize == 40 * (ENTRY_OVERHEAD + 8 + 8) <= cache.maxsize


def _scraped(registry: CollectorRegistry) -> list[object]:
    return list(text_string_to_metric_families(generate_latest(registry).decode()))


def test_many_threads_across_reloads_every_answer_is_its_snapshots_and_counts_add_up(tmp_path: Path) -> None:
    pair = compile_pair(tmp_path)
    a, b = pair.a.info.snapshot_id, pair.b.info.snapshot_id
    expected = {a: pdp_pb2.DECISION_ALLOW, b: pdp_pb2.DECISION_DENY}
    folder = ConfigMapDir(tmp_path / "config", pair.a.data)
    settings = settings_from_flags(
        *("--snapshot", str(folder.path), "--listen", "127.0.0.1:0", "--reload-interval", "0.05s"),
        *("--metrics-listen", "off", "--threads", "8", "--cache-size", "1MiB"),
    )
    server = InProcessServer(settings).start()
    channels: list[grpc.Channel] = []
    try:
        target = server.tcp_target
        first = grpc.insecure_channel(target)
        channels.append(first)
        wait_health(first, SERVING)
        request = flip_question()
        batch = pdp_pb2.BatchCheckRequest(requests=[request] * BATCH)
        seen: dict[str, int] = {a: 0, b: 0}
        errors: list[str] = []
        done = threading.Barrier(CLIENTS + 1)

        def client() -> None:
            channel = grpc.insecure_channel(target)
            channels.append(channel)
            stub = decision_stub(channel)
            try:
                for _ in range(ROUNDS):
                    answer = stub.Check(request, timeout=RPC_TIMEOUT)
                    answers = stub.BatchCheck(batch, timeout=RPC_TIMEOUT).responses
                    ids = {r.snapshot_id for r in answers}
                    if len(ids) != 1 or len(answers) != BATCH:
                        errors.append(f"a batch answered from {ids}")
                    for one in (answer, *answers):
                        if expected.get(one.snapshot_id) != one.decision:
                            errors.append(f"{one.snapshot_id!r} answered {one.decision}")
                        else:
                            seen[one.snapshot_id] += 1
            except Exception as exc:
                errors.append(repr(exc))
            finally:
                done.wait(60)

        clients = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in clients:
            thread.start()
        # Reloads while the clients ask: b, a, b, each seen answering before the next.
        for data, sid in ((pair.b.data, b), (pair.a.data, a), (pair.b.data, b)):
            folder.publish(data)
            wait_until(
                lambda sid=sid: server.server is not None and server.server.holder.current.snapshot_id == sid,
                what=f"{sid} active",
            )
        done.wait(120)
        for thread in clients:
            thread.join(RPC_TIMEOUT)
        assert errors == []
        questions = CLIENTS * ROUNDS * (1 + BATCH)
        assert seen[a] + seen[b] == questions
        assert seen[b] > 0, "no answer came from the reloaded snapshot: the reloads were not under load"

        families = _scraped(server.registry)
        calls = CLIENTS * ROUNDS
        for method in ("Check", "BatchCheck"):
            labels = {"grpc_service": SERVICE, "grpc_method": method}
            assert sample_value(families, "grpc_server_started_total", **labels) == calls
            assert sample_value(families, "grpc_server_handled_total", grpc_code="OK", **labels) == calls
            assert sample_value(families, "grpc_server_handling_seconds_count", **labels) == calls
        decided = [
            s.value
            for f in families
            for s in f.samples  # type: ignore[attr-defined]
            if s.name == "xtenant_pdp_decisions_total"
        ]
        assert sum(decided) == questions
        assert sample_value(families, "xtenant_pdp_decision_duration_seconds_count") == questions
        hits = sample_value(families, "xtenant_pdp_cache_requests_total", result="hit") or 0
        misses = sample_value(families, "xtenant_pdp_cache_requests_total", result="miss") or 0
        assert hits + misses == questions
    finally:
        for channel in channels:
            channel.close()
        server.close()


def test_D6_half_sent_calls_never_hold_every_thread(tmp_path: Path) -> None:
    """A unary call's pool thread waits for its request: the default pool has a thread per call
    the cap lets in, so calls whose request never comes leave the others answered (with
    ``--threads 8``, ten such calls made every Check miss its deadline)."""
    pair = compile_pair(tmp_path)
    snapshot = tmp_path / "a.xtsnap"
    snapshot.write_bytes(pair.a.data)
    settings = settings_from_flags("--snapshot", str(snapshot), "--listen", "127.0.0.1:0", "--metrics-listen", "off")
    assert settings.threads == 0
    server = InProcessServer(settings).start()
    never = threading.Event()
    channels: list[grpc.Channel] = []
    held: list[grpc.Future] = []

    def request_that_never_comes() -> Iterator[bytes]:
        never.wait(30)
        yield b""

    try:
        for _ in range(12):
            channel = grpc.insecure_channel(server.tcp_target)
            channels.append(channel)
            call = channel.stream_unary(f"/{SERVICE}/Check", request_serializer=None, response_deserializer=None)
            held.append(call.future(request_that_never_comes(), timeout=30))
        other = grpc.insecure_channel(server.tcp_target)
        channels.append(other)
        for _ in range(3):
            answer = decision_stub(other).Check(flip_question(), timeout=RPC_TIMEOUT)
            assert answer.snapshot_id == pair.a.info.snapshot_id
        assert not any(call.done() for call in held), "the half-sent calls must still be held"
    finally:
        never.set()
        for call in held:
            call.cancel()
        for channel in channels:
            channel.close()
        server.close()


def test_hot_cells_of_ended_threads_are_folded_so_the_cells_follow_the_live_threads() -> None:
    """The call pool ends idle threads (service/pool.py): each new thread's first add makes a
    cell, so without folding the cells would grow with every thread the process ever ran."""
    registry = CollectorRegistry()
    counter = HotCounter(Counter("c", "c", registry=registry))
    histogram = HotHistogram(Histogram("h", "h", buckets=(0.5, 1.0), registry=registry))
    for _ in range(50):
        worker = threading.Thread(target=lambda: (counter.inc(3), histogram.observe(0.75)))
        worker.start()
        worker.join(10)
    assert len(counter.cells) == 50 and len(histogram.cells) == 50
    counter.flush()
    histogram.flush()
    assert len(counter.cells) == 0 and len(histogram.cells) == 0
    assert counter.n == 150 and histogram.counts == [0, 50, 0] and histogram.sum == 37.5
    counter.inc()  # this (live) thread keeps its cell across a flush
    counter.flush()
    assert len(counter.cells) == 1 and counter.n == 151
    families = list(text_string_to_metric_families(generate_latest(registry).decode()))
    assert sample_value(families, "c_total") == 151
    assert sample_value(families, "h_bucket", le="1.0") == 50 and sample_value(families, "h_sum") == 37.5
