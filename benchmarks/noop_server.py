"""The stack's ceiling: a DecisionService that answers every call with one constant.

    python -m benchmarks.noop_server --flavour threads --listen unix:/tmp/noop.sock --listen 127.0.0.1:0
    python -m benchmarks.noop_server --flavour aio --listen ...   # grpc.aio (the product's server before 6f60f82)

``--flavour threads`` is the product's stack (``xtenant-pdp serve`` runs a thread-pool ``grpc.server``
since 6f60f82); ``aio`` is grpc.aio with one event loop. Both use the same server options, Check and
BatchCheck registered on raw bytes with no (de)serializer as ``service/servicer.py`` does), with
nothing behind the handlers: Check returns a prebuilt CheckResponse's bytes, BatchCheck one such
answer per item (``service/wire.py`` splits and joins, as the product does). No metrics,
health or reflection: the difference to the product is everything the product does per
call. Prints
one JSON line ``{"msg": "listening", "addresses": [...]}`` on stderr when ready and stops on
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from concurrent import futures
from pathlib import Path

import grpc

from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.service import wire

SERVICE_NAME = "xtenant.pdp.v1.DecisionService"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
ANSWER = pdp_pb2.CheckResponse(
    decision=pdp_pb2.DECISION_ALLOW,
    reason=pdp_pb2.REASON_ACCESS_ALLOWED,
    source=pdp_pb2.SOURCE_PARTNER,
    policy_tenant_id="5de41ce2-ca22-4b65-866a-e46ae037737e",
    snapshot_id="sha256:00000000000000000000000000000000",
).SerializeToString()


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


async def check(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return ANSWER


async def batch_check(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return wire.join_items([ANSWER] * len(wire.split_items(raw, 1000)))


def handler() -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "Check": grpc.unary_unary_rpc_method_handler(check),
            "BatchCheck": grpc.unary_unary_rpc_method_handler(batch_check),
        },
    )


async def serve(listen: Sequence[str]) -> int:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    server.add_generic_rpc_handlers([handler()])
    try:
        bound = bind(server, listen)
    except SystemExit as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    await server.start()
    sys.stderr.write(json.dumps({"msg": "listening", "addresses": bound, "pid": os.getpid()}) + "\n")
    sys.stderr.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1.0)
    remove_sockets(listen)
    return 0


def sync_handler() -> grpc.GenericRpcHandler:
    """The same two answers for the thread-pool ``grpc.server`` (plain functions on its threads)."""

    def sync_check(raw: bytes, context: grpc.ServicerContext) -> bytes:
        return ANSWER

    def sync_batch(raw: bytes, context: grpc.ServicerContext) -> bytes:
        return wire.join_items([ANSWER] * len(wire.split_items(raw, 1000)))

    return grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "Check": grpc.unary_unary_rpc_method_handler(sync_check),
            "BatchCheck": grpc.unary_unary_rpc_method_handler(sync_batch),
        },
    )


def product_limits_server() -> grpc.Server:
    """The product's server as ``serve`` builds it with default flags: its call pool (a thread
    per call in progress), --max-concurrent-rpcs and the D6 channel limits (issue 9)."""
    from xtenant_pdp.app import call_server
    from xtenant_pdp.config import Settings
    from xtenant_pdp.service.limits import server_options

    settings = Settings()
    return call_server(settings.max_concurrent_rpcs, server_options(settings), settings.max_concurrent_rpcs)


def serve_threads(listen: Sequence[str], threads: int, *, product_limits: bool = False) -> int:
    server = product_limits_server() if product_limits else thread_server(threads)
    server.add_generic_rpc_handlers([sync_handler()])
    bound = bind(server, listen)
    server.start()
    sys.stderr.write(json.dumps({"msg": "listening", "addresses": bound, "pid": os.getpid()}) + "\n")
    sys.stderr.flush()
    wait_for_signal()
    server.stop(1.0).wait(5)
    remove_sockets(listen)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.noop_server", description=__doc__.split("\n")[0])
    parser.add_argument("--listen", action="append", required=True, metavar="ADDR", help="host:port or unix:/path")
    parser.add_argument(
        "--flavour", choices=("threads", "aio"), default="threads",
        help="thread-pool grpc.server (default: the product's flavour) or grpc.aio",
    )
    parser.add_argument("--threads", type=int, default=8, help="pool threads of --flavour threads (default 8)")
    parser.add_argument(
        "--product-limits", action="store_true",
        help="--flavour threads on the product's call pool and limits (what they cost, apart from the handler)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.flavour == "threads":
        return serve_threads(args.listen, args.threads, product_limits=args.product_limits)
    return asyncio.run(serve(args.listen))


if __name__ == "__main__":
    sys.exit(main())
