"""The product's DecisionService on the thread-pool ``grpc.server``: a prototype to measure.

    python -m benchmarks.threadpool_server --snapshot FILE --listen unix:/tmp/pdp.sock \
        --listen 127.0.0.1:0 [--metrics-listen 127.0.0.1:PORT] [--threads 8]

Issue 11 asks which server flavour the product should run on, by measurement. This hosts the
product's own servicer (``DecisionServicer.answer`` and ``.batch``, the decision cache off as the
suite runs it, the same grpc_server_* metrics around Check) on ``grpc.server`` with a
``ThreadPoolExecutor`` instead of ``grpc.aio``; nothing else (no reload, health or reflection).
It is not safe to ship as is: the hot counters are plain ``n += 1`` meant for one thread. Prints
``{"msg": "listening", "addresses": [...]}`` on stderr when ready; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, start_http_server

from xtenant_pdp.errors import QueryError
from xtenant_pdp.loader import load_snapshot_file
from xtenant_pdp.metrics import Metrics
from xtenant_pdp.service import servicer as servicer_module
from xtenant_pdp.service.holder import SnapshotHolder
from xtenant_pdp.service.rpc_metrics import RpcMetrics
from xtenant_pdp.service.servicer import SERVICE_NAME, DecisionServicer

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_perf = time.perf_counter


def handler(servicer: DecisionServicer, metrics: Metrics) -> grpc.GenericRpcHandler:
    """Check and BatchCheck on raw bytes, answered synchronously on the pool's threads."""
    failure = getattr(servicer_module, "_failure", _failure)  # the product's own mapping, where it has one

    def measured(method: str, behavior: Any) -> Any:
        rpc = RpcMetrics.of(metrics).method(f"/{SERVICE_NAME}/{method}")
        ok = rpc.handled[grpc.StatusCode.OK]

        def call(raw: bytes, context: grpc.ServicerContext) -> bytes:
            rpc.started.inc()
            start = _perf()
            try:
                payload = behavior(raw)
            except Exception as exc:
                code, details, trailing = failure(exc, metrics)
                rpc.handled[code].inc()
                rpc.handling.observe(_perf() - start)
                context.abort_with_status(_Status(code, details, trailing))
                raise  # not reached
            ok.inc()
            rpc.handling.observe(_perf() - start)
            return payload

        return call

    return grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "Check": grpc.unary_unary_rpc_method_handler(measured("Check", servicer.answer)),
            "BatchCheck": grpc.unary_unary_rpc_method_handler(measured("BatchCheck", servicer.batch)),
        },
    )


def _failure(exc: Exception, metrics: Metrics) -> tuple[grpc.StatusCode, str, Any]:
    if isinstance(exc, QueryError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc), ()
    return grpc.StatusCode.INTERNAL, "internal error", ()


class _Status(grpc.Status):
    def __init__(self, code: grpc.StatusCode, details: str, trailing: Any) -> None:
        self.code = code
        self.details = details
        self.trailing_metadata = tuple(trailing or ())


def remove_sockets(listen: Sequence[str]) -> None:
    for address in listen:
        if address.startswith("unix:"):
            with contextlib.suppress(OSError):
                Path(address.removeprefix("unix:")).unlink()


def bind(server: grpc.Server | grpc.aio.Server, listen: Sequence[str]) -> list[str]:
    """Bind every ``--listen`` address (a stale Unix socket file is replaced); the bound names."""
    bound = []
    for address in listen:
        if address.startswith("unix:"):
            path = Path(address.removeprefix("unix:"))
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            server.add_insecure_port(address)
            bound.append(address)
        else:
            port = server.add_insecure_port(address)
            if port == 0:
                raise SystemExit(json.dumps({"msg": "cannot listen", "address": address}))
            bound.append(f"{address.rpartition(':')[0]}:{port}")
    return bound


def thread_server(threads: int) -> grpc.Server:
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )


def wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.threadpool_server", description=__doc__.split("\n")[0])
    parser.add_argument("--snapshot", required=True, type=Path)
    parser.add_argument("--listen", action="append", required=True, metavar="ADDR", help="host:port or unix:/path")
    parser.add_argument("--metrics-listen", default="", metavar="HOST:PORT", help="serve /metrics here")
    parser.add_argument("--threads", type=int, default=8, help="pool threads (default 8)")
    args = parser.parse_args(argv)
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    holder = SnapshotHolder()
    holder.activate(load_snapshot_file(args.snapshot), str(args.snapshot))
    servicer = DecisionServicer(holder, metrics)
    server = thread_server(args.threads)
    server.add_generic_rpc_handlers([handler(servicer, metrics)])
    bound = bind(server, args.listen)
    if args.metrics_listen:
        host, _, port = args.metrics_listen.rpartition(":")
        start_http_server(int(port), addr=host, registry=registry)
    server.start()
    sys.stderr.write(json.dumps({"msg": "listening", "addresses": bound, "pid": os.getpid()}) + "\n")
    sys.stderr.flush()
    wait_for_signal()
    server.stop(1.0).wait(5)
    remove_sockets(args.listen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
