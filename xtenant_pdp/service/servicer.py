"""SERVE: xtenant.pdp.v1.DecisionService: convert -> evaluate -> convert -> record.

No business rule lives here. Check and BatchCheck take and return raw bytes (registered with
no (de)serializer) so that a cache hit costs one look-up and no protobuf work at all; on a miss
the bytes are decoded (convert.py), evaluated (evaluator.py) and the result's response bytes
taken from the generation's memo. Each call reads the holder once: that generation, and
whether it is stale, answer the whole call (a batch never mixes two). Typed errors map to
status codes in one place (``_failure``). "Record" is one step per call: metrics, and the
optional recorder (the decision log).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Generator
from typing import Any, NamedTuple, NoReturn

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from xtenant_pdp import convert
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.convert import question_from_bytes
from xtenant_pdp.decision import QuestionKind
from xtenant_pdp.errors import Busy, NoSnapshot, QueryError
from xtenant_pdp.evaluator import STALE_SNAPSHOT, evaluate
from xtenant_pdp.metrics import Metrics
from xtenant_pdp.service import wire
from xtenant_pdp.service.answer import Answer, Recorder
from xtenant_pdp.service.holder import Active, SnapshotHolder
from xtenant_pdp.service.rpc_metrics import RpcMetrics, measured
from xtenant_pdp.service.work import MAX_BATCH, SLICE_ITEMS, WorkBudget, WorkLimits

log = logging.getLogger("xtenant_pdp.service")

SERVICE_NAME = "xtenant.pdp.v1.DecisionService"

_perf = time.perf_counter
_INVALID = (QuestionKind.INVALID, None)

__all__ = ["MAX_BATCH", "SERVICE_NAME", "DecisionServicer", "NoSnapshot", "invalid_argument_status"]


def invalid_argument_status(error: QueryError) -> Any:
    """INVALID_ARGUMENT with a google.rpc.BadRequest field violation naming the field."""
    detail = error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(field=error.field, description=error.message)]
    )
    status = status_pb2.Status(code=grpc.StatusCode.INVALID_ARGUMENT.value[0], message=str(error))
    status.details.add().Pack(detail)
    return rpc_status.to_status(status)


class DecisionServicer:
    """Answers from ``holder.current``; every answer names the snapshot that gave it."""

    def __init__(
        self,
        holder: SnapshotHolder,
        metrics: Metrics,
        *,
        max_batch: int = MAX_BATCH,
        work: WorkLimits | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self._holder = holder
        #: The decision log's record step (service/decision_log.py), or None.
        self._recorder = recorder
        self._metrics = metrics
        limits = work if work is not None else WorkLimits(max_batch=max_batch)
        self._max_batch = limits.max_batch
        self._budget = WorkBudget(limits)
        self._batch_turn = threading.Lock()
        self._observe = metrics.observe_decision
        self._observe_many = metrics.observe_decisions
        self._counters = metrics.decision_counters
        self._hit = metrics.cache_hit
        self._miss = metrics.cache_miss
        self._check_rpc = RpcMetrics.of(metrics).method(f"/{SERVICE_NAME}/Check")
        self._check_ok = self._check_rpc.handled[grpc.StatusCode.OK]

    # ------------------------------------------------------------------ one question

    def _active(self) -> Active:
        """The one read of the holder a call makes."""
        active = self._holder.current
        if active is None:
            raise NoSnapshot
        return active

    def decide(self, active: Active, stale: bool, raw: bytes) -> Answer:
        """Convert -> evaluate -> convert for one serialized CheckRequest. Raises QueryError for
        a malformed question (also when stale). Records nothing: callers do, once per call."""
        caches = active.caches
        cache = caches.decisions
        if cache is not None and not stale:
            found = cache.get(raw)
            if found is not None:
                return found
        kind, query = question_from_bytes(raw)
        result = STALE_SNAPSHOT if stale else evaluate(active.index, query)
        payloads = caches.payloads
        payload = payloads.peek(result)
        if payload is None:
            payload = payloads[result] = convert.response_from_result(result, active.snapshot_id).SerializeToString()
        if cache is None or stale:
            return Answer(payload, kind, result.decision, None)
        if len(raw) <= caches.max_question_bytes:  # a padded question never fills the cache
            cache[raw] = Answer(payload, kind, result.decision, True)
        return Answer(payload, kind, result.decision, False)

    def answer(self, raw: bytes) -> bytes:
        """One question, recorded (the unary path)."""
        start = _perf()
        active = self._active()
        answer = self.decide(active, active.stale, raw)
        self._record(raw, answer, _perf() - start)
        return answer.payload

    def _record(self, raw: bytes, answer: Answer, elapsed: float) -> None:
        """Record one answered question: metrics, then the recorder."""
        hit = answer.cache_hit
        if hit is not None:
            (self._hit if hit else self._miss).inc()
        self._counters[(answer.kind, answer.decision)].inc()
        self._observe(elapsed)
        if self._recorder is not None:
            self._recorder.record(raw, answer.payload, elapsed)

    # ------------------------------------------------------------------ a batch

    def _items(self, raw: bytes) -> list[bytes]:
        self._budget.check_size(len(raw))
        items = wire.split_items(raw, self._max_batch)
        if not items:
            raise QueryError("requests", "is empty: send at least one question")
        return items

    def batch_steps(self, raw: bytes, items: list[bytes]) -> Generator[None, None, bytes]:
        """Every item answered in order (a malformed one with its own error answer), yielding
        every SLICE_ITEMS questions (where an event loop could hand itself to other calls; on
        the pool threads nothing waits there); then the batch is recorded and its
        BatchCheckResponse bytes returned."""
        start = _perf()
        active = self._active()
        stale = active.stale  # one answer for the whole batch
        payloads: list[bytes] = []
        answers: list[Answer] = []
        add_payload, add_answer = payloads.append, answers.append
        decide = self.decide
        for i, item in enumerate(items):
            try:
                answer = decide(active, stale, item)
            except QueryError as exc:
                prefixed = QueryError(f"requests[{i}].{exc.field}", exc.message)
                error = convert.error_response(prefixed, active.snapshot_id).SerializeToString()
                answer = Answer(error, QuestionKind.INVALID, None, None)
            add_payload(answer.payload)
            add_answer(answer)
            if i % SLICE_ITEMS == SLICE_ITEMS - 1:
                yield  # other calls run here
        payload = wire.join_items(payloads, expected=len(items))
        self._record_batch(raw, answers, payload, _perf() - start)
        return payload

    def _record_batch(self, raw: bytes, answers: list[Answer], payload: bytes, elapsed: float) -> None:
        """Record a batch: its answers counted by kind, decision and cache use (one add each
        per distinct value), each question at the batch's mean time; then the recorder."""
        counters = self._counters
        for (kind, decision), n in Counter([(a.kind, a.decision) for a in answers]).items():
            counters[(kind, decision)].inc(n)
        used = Counter([a.cache_hit for a in answers])
        if used[True]:
            self._hit.inc(used[True])
        if used[False]:
            self._miss.inc(used[False])
        mean = elapsed / len(answers)
        self._observe_many(mean, len(answers))
        if self._recorder is not None:
            self._recorder.record_batch(raw, payload, mean)

    def batch(self, raw: bytes) -> bytes:
        """A whole batch, outside the work budget (in-process callers and benchmarks)."""
        return _to_the_end(self.batch_steps(raw, self._items(raw)))

    def _batch_budgeted(self, raw: bytes) -> bytes:
        """A batch within the work budget, one batch at a time."""
        items = self._items(raw)
        budget = self._budget
        cost = budget.acquire(len(raw), len(items))
        try:
            # One batch answers at a time (the others wait on the lock, holding their budget and
            # a pool thread but no CPU), so a Check's thread shares the GIL with one batch's, and
            # Python's switch interval hands it over: a slice's yield is only a marker here.
            with self._batch_turn:
                return _to_the_end(self.batch_steps(raw, items))
        finally:
            budget.release(cost)

    # ------------------------------------------------------------------ RPCs (pool threads)

    def Check(self, raw: bytes, context: grpc.ServicerContext) -> bytes:  # noqa: N802 - gRPC names
        # The grpc_server_* metrics inline rather than through rpc_metrics.measured (as the
        # other methods are): one frame less on the hottest path.
        rpc = self._check_rpc
        rpc.started.inc()
        start = _perf()
        try:
            payload = self.answer(raw)
        except Exception as exc:
            code, details, trailing = _failure(exc, self._metrics)
            rpc.handled[code].inc()
            rpc.handling.observe(_perf() - start)
            _abort(context, code, details, trailing)
        self._check_ok.inc()
        rpc.handling.observe(_perf() - start)
        return payload

    def BatchCheck(self, raw: bytes, context: grpc.ServicerContext) -> bytes:  # noqa: N802
        try:
            return self._batch_budgeted(raw)
        except Exception as exc:
            _abort(context, *_failure(exc, self._metrics))

    def GetSnapshotInfo(  # noqa: N802
        self, request: pdp_pb2.GetSnapshotInfoRequest, context: grpc.ServicerContext
    ) -> pdp_pb2.GetSnapshotInfoResponse:
        try:
            active = self._active()
            return convert.snapshot_info_response(active.index, active.loaded_at)
        except Exception as exc:
            _abort(context, *_failure(exc, self._metrics))

    def handler(self) -> grpc.GenericRpcHandler:
        """Check/BatchCheck on raw bytes; GetSnapshotInfo with the generated (de)serializers.

        With its grpc_server_* metrics: register it on the server itself, not through
        rpc_metrics.InstrumentedServer."""
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Check": grpc.unary_unary_rpc_method_handler(self.Check),  # measures itself
                "BatchCheck": grpc.unary_unary_rpc_method_handler(
                    measured(self._metrics, f"/{SERVICE_NAME}/BatchCheck", self.BatchCheck)
                ),
                "GetSnapshotInfo": grpc.unary_unary_rpc_method_handler(
                    measured(self._metrics, f"/{SERVICE_NAME}/GetSnapshotInfo", self.GetSnapshotInfo),
                    request_deserializer=pdp_pb2.GetSnapshotInfoRequest.FromString,
                    response_serializer=pdp_pb2.GetSnapshotInfoResponse.SerializeToString,
                ),
            },
        )


def _to_the_end(steps: Generator[None, None, bytes]) -> bytes:
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


class _Status(NamedTuple):
    """What ``context.abort_with_status`` reads (a grpc.Status)."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: Any


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, details: str, trailing: Any) -> NoReturn:
    """End the call with ``code``, its details and trailers (the BadRequest of INVALID_ARGUMENT)."""
    context.abort_with_status(_Status(code, details, trailing))
    raise AssertionError("not reached: abort raises")


def _failure(exc: Exception, metrics: Metrics) -> tuple[grpc.StatusCode, str, Any]:
    """Typed errors to status codes; anything unexpected is INTERNAL with a generic message."""
    if isinstance(exc, QueryError):
        metrics.decision_counters[_INVALID].inc()
        status = invalid_argument_status(exc)
        return status.code, status.details, status.trailing_metadata
    if isinstance(exc, NoSnapshot):
        return grpc.StatusCode.UNAVAILABLE, "no policy snapshot is loaded yet", ()
    if isinstance(exc, Busy):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc), ()
    log.error("internal error while answering", exc_info=exc)
    return grpc.StatusCode.INTERNAL, "internal error", ()
