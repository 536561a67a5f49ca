"""SERVE: xtenant.pdp.v1.DecisionService. Convert, evaluate, convert; map typed errors to codes.

No business rule lives here. Check and BatchCheck take and return raw bytes (registered with
no (de)serializer) so that a cache hit costs one dict look-up and no protobuf work at all; on a
miss the bytes are parsed, converted (convert.py), evaluated (evaluator.py) and serialized.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from xtenant_pdp import convert
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.convert import question_from_bytes
from xtenant_pdp.decision import Decision, QuestionKind
from xtenant_pdp.errors import QueryError
from xtenant_pdp.evaluator import STALE_SNAPSHOT, evaluate
from xtenant_pdp.metrics import Metrics
from xtenant_pdp.service import wire
from xtenant_pdp.service.answer import Answer, Recorder
from xtenant_pdp.service.holder import Active, SnapshotHolder
from xtenant_pdp.service.rpc_metrics import measured

log = logging.getLogger("xtenant_pdp.service")

SERVICE_NAME = "xtenant.pdp.v1.DecisionService"
#: Largest BatchCheck accepted; larger batches are INVALID_ARGUMENT (documented in README).
MAX_BATCH = 1000

_perf = time.perf_counter
_DENY = Decision.DENY
_INVALID = (QuestionKind.INVALID, None)


class NoSnapshot(Exception):
    """No snapshot has been activated yet: UNAVAILABLE, clients may retry."""


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
        self, holder: SnapshotHolder, metrics: Metrics, *, max_batch: int = MAX_BATCH, recorder: Recorder | None = None
    ) -> None:
        self._holder = holder
        #: The decision log's record step (service/decision_log.py), or None.
        self._recorder = recorder
        self._metrics = metrics
        self._max_batch = max_batch
        self._observe = metrics.observe_decision
        self._observe_many = metrics.observe_decisions
        self._counters = metrics.decision_counters
        self._hit = metrics.cache_hit
        self._miss = metrics.cache_miss
        self._check_rpc = metrics.method(f"/{SERVICE_NAME}/Check")
        self._check_ok = self._check_rpc.handled[grpc.StatusCode.OK]

    # ------------------------------------------------------------------ one question

    def decide(self, active: Active, raw: bytes) -> Answer:
        """The answer to one serialized CheckRequest. Raises QueryError for a malformed
        question. Records no metrics: callers do, once per call or once per batch."""
        if self._holder.stale:
            kind = question_from_bytes(raw)[0]  # still INVALID_ARGUMENT for a malformed question
            return Answer(self._stale_payload(active), kind, _DENY, None)
        caches = active.caches
        cache = caches.decisions
        if cache is not None:
            found = cache.get(raw)
            if found is not None:
                return found
        kind, query = question_from_bytes(raw)
        result = evaluate(active.index, query)
        payloads = caches.payloads
        payload = payloads.peek(result)
        if payload is None:
            payload = payloads[result] = convert.response_from_result(result, active.snapshot_id).SerializeToString()
        decision = result.decision
        if cache is None:
            return Answer(payload, kind, decision, None)
        if len(raw) <= caches.max_question_bytes:  # a padded question never fills the cache
            cache[raw] = Answer(payload, kind, decision, True)
        return Answer(payload, kind, decision, False)

    @staticmethod
    def _stale_payload(active: Active) -> bytes:
        return convert.response_from_result(STALE_SNAPSHOT, active.snapshot_id).SerializeToString()

    def answer(self, raw: bytes) -> bytes:
        """One question with its metrics (the unary path)."""
        start = _perf()
        answer = self.decide(self._active(), raw)
        hit = answer.cache_hit
        if hit is not None:
            (self._hit if hit else self._miss).n += 1
        self._counters[(answer.kind, answer.decision)].n += 1
        elapsed = _perf() - start
        self._observe(elapsed)
        if self._recorder is not None:
            self._recorder.record(raw, answer.payload, elapsed)
        return answer.payload

    def _active(self) -> Active:
        active = self._holder.current
        if active is None:
            raise NoSnapshot
        return active

    # ------------------------------------------------------------------ RPCs (aio)

    async def Check(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:  # noqa: N802 - gRPC names
        # The grpc_server_* metrics inline rather than through rpc_metrics.measured (as the
        # other methods are): one coroutine frame less on the hottest path.
        rpc = self._check_rpc
        rpc.started.n += 1
        start = _perf()
        try:
            payload = self.answer(raw)
        except Exception as exc:
            code, details, trailing = _failure(exc, self._metrics)
            rpc.handled[code].n += 1
            rpc.handling.observe(_perf() - start)
            await context.abort(code, details, trailing)
            raise  # not reached: abort raises
        self._check_ok.n += 1
        rpc.handling.observe(_perf() - start)
        return payload

    def batch(self, raw: bytes) -> bytes:
        """Every item answered in order. Metrics per item are lock-free adds (metrics.py), and
        the clock is read once per batch: each question is recorded at the batch's mean time."""
        start = _perf()
        active = self._active()
        items = wire.split_items(raw, self._max_batch)
        if not items:
            raise QueryError("requests", "is empty: send at least one question")
        answers = []
        append = answers.append
        counters = self._counters
        decide = self.decide
        hits = misses = 0
        for i, item in enumerate(items):
            try:
                answer = decide(active, item)
            except QueryError as exc:
                counters[_INVALID].n += 1
                prefixed = QueryError(f"requests[{i}].{exc.field}", exc.message)
                payload = convert.error_response(prefixed, active.snapshot_id).SerializeToString()
                hit = None
            else:
                counters[(answer.kind, answer.decision)].n += 1
                payload, hit = answer.payload, answer.cache_hit
            if hit is not None:
                if hit:
                    hits += 1
                else:
                    misses += 1
            append(payload)
        self._hit.n += hits
        self._miss.n += misses
        mean = (_perf() - start) / len(items)
        self._observe_many(mean, len(items))
        joined = wire.join_items(answers, expected=len(items))
        if self._recorder is not None:
            self._recorder.record_batch(raw, joined, mean)
        return joined

    async def BatchCheck(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:  # noqa: N802
        return await _guard(context, lambda: self.batch(raw), self._metrics)

    def snapshot_info(self) -> pdp_pb2.GetSnapshotInfoResponse:
        active = self._active()
        info = active.index.info
        created = Timestamp()
        created.FromDatetime(info.created_at)
        loaded = Timestamp()
        loaded.FromNanoseconds(int(active.loaded_at * 1e9))
        return pdp_pb2.GetSnapshotInfoResponse(
            snapshot_id=info.snapshot_id,
            format_version=info.format_version,
            compiler_version=info.compiler_version,
            compiler_release=info.compiler_release,
            created_at=created,
            loaded_at=loaded,
            source_digest=info.source_digest,
            tenant_count=len(active.index.tenants),
            partner_count=active.index.partner_count,
        )

    async def GetSnapshotInfo(  # noqa: N802
        self, request: pdp_pb2.GetSnapshotInfoRequest, context: grpc.aio.ServicerContext
    ) -> pdp_pb2.GetSnapshotInfoResponse:
        return await _guard(context, self.snapshot_info, self._metrics)

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


async def _guard(context: grpc.aio.ServicerContext, fn: Callable[[], Any], metrics: Metrics) -> Any:
    try:
        return fn()
    except Exception as exc:
        code, details, trailing = _failure(exc, metrics)
        await context.abort(code, details, trailing)


def _failure(exc: Exception, metrics: Metrics) -> tuple[grpc.StatusCode, str, Any]:
    """Typed errors to status codes; anything unexpected is INTERNAL with a generic message."""
    if isinstance(exc, QueryError):
        metrics.decision_counters[_INVALID].n += 1
        status = invalid_argument_status(exc)
        return status.code, status.details, status.trailing_metadata
    if isinstance(exc, NoSnapshot):
        return grpc.StatusCode.UNAVAILABLE, "no policy snapshot is loaded yet", ()
    log.error("internal error while answering", exc_info=exc)
    return grpc.StatusCode.INTERNAL, "internal error", ()
