"""The bench load generator against a real in-process gRPC server (no timing assertions)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from xtenant_pdp.api import pdp_pb2, pdp_pb2_grpc
from xtenant_pdp.bench import BenchError, Mode, run
from xtenant_pdp.bench.loadgen import progress_line

FAIL_TENANT = "fail"


class AllowAll(pdp_pb2_grpc.DecisionServiceServicer):
    """Answers ALLOW to everything, except UNAVAILABLE for the tenant ``fail``; counts calls."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def _count(self) -> None:
        with self._lock:
            self.calls += 1

    def Check(self, request: pdp_pb2.CheckRequest, context: grpc.ServicerContext) -> pdp_pb2.CheckResponse:
        self._count()
        if request.access.tenant_id == FAIL_TENANT:
            context.abort(grpc.StatusCode.UNAVAILABLE, "try later")
        return pdp_pb2.CheckResponse(decision=pdp_pb2.DECISION_ALLOW)

    def BatchCheck(
        self, request: pdp_pb2.BatchCheckRequest, context: grpc.ServicerContext
    ) -> pdp_pb2.BatchCheckResponse:
        self._count()
        allow = pdp_pb2.CheckResponse(decision=pdp_pb2.DECISION_ALLOW)
        return pdp_pb2.BatchCheckResponse(responses=[allow] * len(request.requests))


class Server:
    def __init__(self, target: str, servicer: AllowAll) -> None:
        self.target = target
        self.servicer = servicer


@pytest.fixture
def server() -> Iterator[Server]:
    servicer = AllowAll()
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    try:
        pdp_pb2_grpc.add_DecisionServiceServicer_to_server(servicer, grpc_server)
        port = grpc_server.add_insecure_port("127.0.0.1:0")
        grpc_server.start()
        yield Server(f"127.0.0.1:{port}", servicer)
    finally:
        grpc_server.stop(grace=None).wait()


def question(tenant: str = "11111111-1111-1111-1111-111111111111") -> pdp_pb2.CheckRequest:
    return pdp_pb2.CheckRequest(
        access=pdp_pb2.AccessQuestion(
            tenant_id=tenant,
            external_tenant_id="22222222-2222-2222-2222-222222222222",
            direction=pdp_pb2.DIRECTION_INBOUND,
            feature=pdp_pb2.FEATURE_B2B_COLLABORATION,
        )
    )


def test_closed_loop_sends_exactly_max_requests(server: Server) -> None:
    result = run(
        server.target,
        [question(), question("33333333-3333-3333-3333-333333333333")],
        mode=Mode.CLOSED,
        concurrency=8,
        max_requests=200,
        duration_s=60,
        timeout_s=10,
    )
    assert result.mode is Mode.CLOSED
    assert (result.count, result.decisions, result.latency.count) == (200, 200, 200)
    assert result.status_codes == {"OK": 200}
    assert result.errors == {}
    assert result.unsent == 0
    assert result.offered_rate is None
    assert result.concurrency == 8
    assert result.elapsed_ns > 0
    assert sum(b.count for b in result.latency.histogram) == 200
    assert server.servicer.calls == 200


def test_open_loop_sends_the_scheduled_requests(server: Server) -> None:
    result = run(server.target, [question()], mode="open", rate=200, concurrency=32, duration_s=0.5, timeout_s=10)
    assert result.mode is Mode.OPEN
    assert result.offered_rate == 200.0
    assert (result.count, result.decisions, result.latency.count) == (100, 100, 100)  # 200/s for 0.5 s
    assert result.status_codes == {"OK": 100}
    assert result.unsent == 0
    assert server.servicer.calls == 100


def test_open_loop_max_requests_cuts_the_schedule(server: Server) -> None:
    result = run(server.target, [question()], mode=Mode.OPEN, rate=200, duration_s=10, max_requests=20)
    assert result.count == 20
    assert result.status_codes == {"OK": 20}


def test_failures_are_counted_by_status_and_message(server: Server) -> None:
    requests = [question(), question(), question(), question(FAIL_TENANT)]
    result = run(server.target, requests, concurrency=4, max_requests=40, duration_s=60, timeout_s=10)
    assert result.count == 40
    assert result.status_codes == {"OK": 30, "UNAVAILABLE": 10}
    assert result.errors == {"UNAVAILABLE: try later": 10}
    assert result.latency.count == result.decisions == 30  # latency of successful calls only


def test_batch_check_counts_decisions(server: Server) -> None:
    result = run(server.target, [question()] * 3, batch_size=5, concurrency=2, max_requests=20, duration_s=60)
    assert result.batch_size == 5
    assert result.count == 20
    assert result.decisions == 100
    assert result.status_codes == {"OK": 20}


def test_warm_up_calls_are_not_measured(server: Server) -> None:
    result = run(server.target, [question()], concurrency=2, max_requests=10, duration_s=60, warmup_s=0.1)
    assert result.count == 10
    assert server.servicer.calls > 10


def test_unreachable_target_raises(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="could not connect"):
        run(f"unix:{tmp_path / 'nobody.sock'}", [question()], max_requests=1, connect_timeout_s=0.2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": Mode.OPEN}, "needs a rate"),
        ({"rate": 10.0}, "open loop only"),
        ({"mode": Mode.OPEN, "rate": 0.0}, "rate"),
        ({"concurrency": 0}, "concurrency"),
        ({"batch_size": 0}, "batch_size"),
        ({"timeout_s": 0.0}, "timeout_s"),
        ({"duration_s": None, "max_requests": None}, "stops by itself"),
        ({"max_requests": 0}, "max_requests"),
        ({"warmup_s": -1.0}, "warmup_s"),
    ],
)
def test_bad_arguments_are_rejected_before_connecting(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run("127.0.0.1:1", [question()], **kwargs)  # type: ignore[arg-type]


def test_no_requests_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty"):
        run("127.0.0.1:1", [], max_requests=1)


def test_progress_line() -> None:
    assert progress_line(0.5, 1234, 3_100_000_000, width=10) == "[=====>    ]  50%  1234 calls  3.1s"
    assert progress_line(1.5, 7, 0, width=4, label="warm-up") == "warm-up [====] 100%  7 calls  0.0s"
    assert progress_line(-1, 0, 0, width=3) == "[>  ]   0%  0 calls  0.0s"
