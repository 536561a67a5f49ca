"""gRPC server metrics as the gRPC ecosystem names them (go-grpc-prometheus, py-grpc-prometheus).

``grpc_server_started_total``, ``grpc_server_handled_total{grpc_code}`` and
``grpc_server_handling_seconds`` for unary methods. The wrapped handler is built once per
method, so a call costs a clock read, one counter and one histogram update.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from xtenant_pdp.metrics import Metrics

_CODE_NAMES = {code: code.name for code in grpc.StatusCode}


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        wrapped = self._wrapped[method] = self._wrap(method, handler)
        return wrapped

    def _wrap(self, method: str, handler: Any) -> Any:
        service, _, name = method.lstrip("/").rpartition("/")
        labels = ("unary", service, name)
        started = self._metrics.grpc_started.labels(*labels).inc
        handling = self._metrics.grpc_handling.labels(*labels).observe
        handled = {code: self._metrics.grpc_handled.labels(*labels, code.name) for code in grpc.StatusCode}
        ok = handled[grpc.StatusCode.OK].inc
        behavior = handler.unary_unary
        perf = time.perf_counter

        async def measured(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started()
            start = perf()
            try:
                response = await behavior(request, context)
            except asyncio.CancelledError:
                handled[grpc.StatusCode.CANCELLED].inc()
                raise
            except BaseException:
                code = context.code()
                handled[code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN].inc()
                handling(perf() - start)
                raise
            ok()
            handling(perf() - start)
            return response

        return handler._replace(unary_unary=measured)
