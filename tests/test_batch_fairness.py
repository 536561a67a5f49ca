"""D5 (issue 9): one client cannot starve the rest.

The defect: a maximal BatchCheck (1,000 questions x 380 never-seen group ids, 14.7 MB) held the
single event loop for 342 ms, so another client's Check p50 went to 309 ms, past Envoy's 250 ms
ext_authz timeout, while health stayed SERVING. Now a call's work is bounded (questions and
bytes, INVALID_ARGUMENT naming the flag), a batch answers in slices that hand the loop back,
and batch work beyond the in-flight budget is shed with RESOURCE_EXHAUSTED (never a wrong or
partial answer). The end-to-end test uses a call deadline, not a timing assertion.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from conftest import EXAMPLE_POLICY
from prometheus_client import CollectorRegistry
from server_kit import (
    SERVING,
    Channels,
    Procs,
    compile_example,
    decision_stub,
    flip_question,
    health_status,
    rpc_error,
)

from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.config import ConfigError, Settings, settings_from
from xtenant_pdp.engine import Engine
from xtenant_pdp.errors import Busy, QueryError
from xtenant_pdp.index import Index
from xtenant_pdp.loader import load_policy_dir, load_snapshot_bytes
from xtenant_pdp.metrics import Metrics
from xtenant_pdp.service.caches import KIB, MIB
from xtenant_pdp.service.holder import SnapshotHolder
from xtenant_pdp.service.servicer import SERVICE_NAME, DecisionServicer
from xtenant_pdp.service.work import ITEM_COST_BYTES, WorkBudget, WorkLimits

#: Envoy's default ext_authz timeout: a Check beside abusive batches must answer within it.
ENVOY_EXT_AUTHZ_TIMEOUT_S = 0.25
_FLIP = flip_question()


def _fresh_ids(salt: int, n: int) -> list[str]:
    """``n`` group ids no server has seen (distinct per salt)."""
    return [f"{i:08x}-0000-4000-8000-{salt:012x}" for i in range(n)]


def maximal_batch(salt: int, items: int, ids_per_item: int) -> bytes:
    """A BatchCheckRequest of flip questions (ALLOW) each carrying fresh group ids."""
    batch = pdp_pb2.BatchCheckRequest()
    for i in range(items):
        request = batch.requests.add()
        request.CopyFrom(_FLIP)
        request.access.group_ids.extend(_fresh_ids(salt * 10_000 + i, ids_per_item))
    return batch.SerializeToString()


@pytest.fixture(scope="module")
def index() -> Index:
    return load_policy_dir(EXAMPLE_POLICY)


def _servicer(index: Index, work: WorkLimits) -> DecisionServicer:
    holder = SnapshotHolder()
    holder.activate(index, "test")
    return DecisionServicer(holder, Metrics(CollectorRegistry()), work=work)


# --------------------------------------------------------------------------- limits, in process


def test_D5_a_batch_above_max_batch_bytes_is_refused_naming_the_flag(index: Index) -> None:
    servicer = _servicer(index, WorkLimits(max_batch_bytes=64 * KIB, max_inflight=64 * KIB))
    raw = maximal_batch(1, 100, 20)
    assert len(raw) > 64 * KIB
    with pytest.raises(QueryError, match="--max-batch-bytes") as caught:
        servicer.batch(raw)
    assert caught.value.field == "requests"


def test_D5_the_budget_sheds_beyond_the_work_in_progress_and_frees_on_release() -> None:
    budget = WorkBudget(WorkLimits(max_batch_bytes=10 * KIB, max_inflight=16 * KIB))
    first = budget.acquire(8 * KIB, 4)
    assert first == 8 * KIB + 4 * ITEM_COST_BYTES == budget.in_use
    with pytest.raises(Busy, match="--max-inflight-work"):
        budget.acquire(8 * KIB, 4)
    assert budget.in_use == first  # a shed call takes nothing
    budget.release(first)
    assert budget.in_use == 0
    # One batch alone always fits, even when its per-question cost passes the budget.
    whole = budget.acquire(10 * KIB, 1000)
    budget.release(whole)


def test_D5_a_batch_answers_in_slices_with_the_same_answer(index: Index) -> None:
    servicer = _servicer(index, WorkLimits())
    raw = maximal_batch(2, 1000, 40)  # 40,000 never-seen ids: tens of ms of work
    steps = servicer.batch_steps(raw, servicer._items(raw))
    slices = 0
    while True:
        try:
            next(steps)
            slices += 1
        except StopIteration as done:
            sliced = done.value
            break
    assert slices >= 2, "the batch never handed the loop back"
    expected = servicer.batch(raw)
    assert sliced == expected
    answers = pdp_pb2.BatchCheckResponse.FromString(sliced).responses
    assert len(answers) == 1000 and {a.decision for a in answers} == {pdp_pb2.DECISION_ALLOW}


def test_D5_the_default_servicer_takes_the_default_limits(index: Index) -> None:
    holder = SnapshotHolder()
    holder.activate(index, "test")
    servicer = DecisionServicer(holder, Metrics(CollectorRegistry()))
    answers = pdp_pb2.BatchCheckResponse.FromString(servicer.batch(maximal_batch(3, 10, 2))).responses
    assert len(answers) == 10
    with pytest.raises(QueryError, match="at most 1000"):
        servicer.batch(maximal_batch(4, 1001, 0))


def test_D5_inflight_work_below_one_batch_is_a_config_error() -> None:
    args = type("Args", (), {})()
    env = {"XTENANT_PDP_SNAPSHOT": "x.xtsnap", "XTENANT_PDP_MAX_BATCH_BYTES": "8MiB"}
    env["XTENANT_PDP_MAX_INFLIGHT_WORK"] = "4MiB"
    with pytest.raises(ConfigError, match="--max-inflight-work"):
        settings_from(args, env)  # type: ignore[arg-type]
    assert Settings().max_inflight_work >= Settings().max_batch_bytes


# --------------------------------------------------------------------------- a real server


#: Above this 1-minute load average per core the machine, not the server, decides a deadline in
#: milliseconds (on the shared 2-core development machine, at load 15-38, a process was descheduled
#: for 5-20 ms in the middle of a 0.5 ms slice): the latency test is skipped, saying why.
_MAX_LOAD_PER_CORE = 2.0


def _machine_too_loaded() -> str | None:
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    if load > _MAX_LOAD_PER_CORE * cores:
        return f"load average {load:.1f} on {cores} cores: a 250 ms deadline would measure the machine"
    return None


def test_D5_a_check_beside_two_maximal_batch_clients_meets_envoys_timeout(
    tmp_path: Path, procs: Procs, channels: Channels
) -> None:
    if (why := _machine_too_loaded()) is not None:
        pytest.skip(why)
    data = compile_example().data
    snapshot = tmp_path / "policy.xtsnap"
    snapshot.write_bytes(data)
    # The default budget takes both clients' batches: they queue and answer in slices.
    proc = procs.spawn(
        *("--snapshot", str(snapshot), "--listen", "127.0.0.1:0", "--metrics-listen", "off"),
        *("--cache-size", "0", "--max-batch-bytes", "4MiB"),
    )
    expected = Engine(load_snapshot_bytes(data)).check_proto(_FLIP)
    assert expected.decision == pdp_pb2.DECISION_ALLOW
    # 1,000 questions x 96 never-seen ids: about 3.9 MiB, just under --max-batch-bytes.
    batches = [maximal_batch(salt, 1000, 96) for salt in range(3)]
    assert all(3 * MIB < len(b) <= 4 * MIB for b in batches)

    stop = threading.Event()
    started = threading.Event()
    outcomes: list[tuple[str, object]] = []
    lock = threading.Lock()

    def batch_client(offset: int) -> None:
        channel = channels.open(proc.tcp_target)
        call: Callable[..., pdp_pb2.BatchCheckResponse] = channel.unary_unary(
            f"/{SERVICE_NAME}/BatchCheck",
            request_serializer=None,  # the bytes as they are
            response_deserializer=pdp_pb2.BatchCheckResponse.FromString,
        )
        n = offset
        while not stop.is_set():
            started.set()
            try:
                response = call(batches[n % len(batches)], timeout=30)
                outcome: tuple[str, object] = ("ok", response)
            except grpc.RpcError as exc:
                outcome = (exc.code().name, exc.details())
            with lock:
                outcomes.append(outcome)
            n += 1

    clients = [threading.Thread(target=batch_client, args=(i,), daemon=True) for i in range(2)]
    for client in clients:
        client.start()
    try:
        assert started.wait(10)
        stub = decision_stub(channels.open(proc.tcp_target))
        for _ in range(30):
            stop.wait(0.05)
            # Raises DEADLINE_EXCEEDED (and fails the test) if the loop is held for a whole batch.
            assert stub.Check(_FLIP, timeout=ENVOY_EXT_AUTHZ_TIMEOUT_S) == expected
        assert health_status(channels.open(proc.tcp_target), "") == SERVING
    finally:
        stop.set()
        for client in clients:
            client.join(40)

    _assert_answered_or_shed(outcomes, expected, shed_expected=False)


def _assert_answered_or_shed(
    outcomes: list[tuple[str, object]], expected: pdp_pb2.CheckResponse, *, shed_expected: bool
) -> None:
    """Every batch is answered in full and right, or shed with RESOURCE_EXHAUSTED naming the limit."""
    answered = [o for code, o in outcomes if code == "ok"]
    shed = [o for code, o in outcomes if code != "ok"]
    assert answered, "no maximal batch was answered: the test measured nothing"
    for response in answered:
        assert isinstance(response, pdp_pb2.BatchCheckResponse)
        assert len(response.responses) == 1000
        assert all(r.decision == expected.decision and r.reason == expected.reason for r in response.responses)
    assert {code for code, _ in outcomes} <= {"ok", "RESOURCE_EXHAUSTED"}
    assert all("--max-inflight-work" in str(details) for details in shed)
    if shed_expected:
        assert shed, "no batch was shed: the test measured nothing"


def test_D5_batches_beyond_the_budget_are_shed_never_answered_wrong(
    tmp_path: Path, procs: Procs, channels: Channels
) -> None:
    data = compile_example().data
    snapshot = tmp_path / "policy.xtsnap"
    snapshot.write_bytes(data)
    # Room for one maximal batch: of four clients sending at once, the others are shed.
    proc = procs.spawn(
        *("--snapshot", str(snapshot), "--listen", "127.0.0.1:0", "--metrics-listen", "off"),
        *("--cache-size", "0", "--max-batch-bytes", "2MiB", "--max-inflight-work", "2MiB"),
    )
    expected = Engine(load_snapshot_bytes(data)).check_proto(_FLIP)
    batch = maximal_batch(7, 1000, 40)
    assert 1 * MIB < len(batch) <= 2 * MIB
    outcomes: list[tuple[str, object]] = []
    lock = threading.Lock()
    go = threading.Barrier(4)

    def client() -> None:
        channel = channels.open(proc.tcp_target)
        call = channel.unary_unary(
            f"/{SERVICE_NAME}/BatchCheck",
            request_serializer=None,
            response_deserializer=pdp_pb2.BatchCheckResponse.FromString,
        )
        go.wait(10)
        for _ in range(2):
            try:
                outcome: tuple[str, object] = ("ok", call(batch, timeout=30))
            except grpc.RpcError as exc:
                outcome = (exc.code().name, exc.details())
            with lock:
                outcomes.append(outcome)

    clients = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(60)
    assert len(outcomes) == 8
    _assert_answered_or_shed(outcomes, expected, shed_expected=True)


def test_D5_an_oversized_batch_is_invalid_argument_through_the_server(
    tmp_path: Path, procs: Procs, channels: Channels
) -> None:
    snapshot = tmp_path / "policy.xtsnap"
    snapshot.write_bytes(compile_example().data)
    proc = procs.spawn(
        *("--snapshot", str(snapshot), "--listen", "127.0.0.1:0", "--metrics-listen", "off"),
        *("--max-batch-bytes", "64KiB", "--max-inflight-work", "64KiB"),
    )
    stub = decision_stub(channels.open(proc.tcp_target))
    request = pdp_pb2.BatchCheckRequest.FromString(maximal_batch(9, 100, 20))
    error = rpc_error(lambda: stub.BatchCheck(request, timeout=10))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "--max-batch-bytes" in (error.details() or "")
