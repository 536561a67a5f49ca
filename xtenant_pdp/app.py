"""Composition root of `xtenant-pdp serve`: settings -> metrics -> holder -> reloader -> gRPC server.

Two planes. The calls (DecisionService, ext_authz, health, reflection) are answered by a
thread-pool ``grpc.server`` (``--threads``): measured with h2load against ``grpc.aio``, it
serves the product 1.1-1.3x more unary calls/s for 1.1-1.5x less server CPU per call (README
"The decision service"), because the handlers' Python work overlaps gRPC core's own I/O.
Everything else runs on the asyncio loop of the main thread: signals, the reloader, timers,
metric flushes and health updates. A call reads ``holder.current`` once; a reload builds the
next index off the loop and swaps that one reference, so a call answers wholly from one
generation. What calls share is safe across threads without a lock on the hot path: each
generation's caches lock their own stores (service/caches.py), the hot metrics count per
thread (metrics.py). SIGTERM flips health to NOT_SERVING, drains, and stops the server with a
grace period for in-flight calls; SIGHUP reloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import HealthServicer
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, start_http_server

from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.config import ListenAddress, Settings
from xtenant_pdp.metrics import FLUSH_INTERVAL_S, Metrics
from xtenant_pdp.service import ext_authz, malloc, sockets
from xtenant_pdp.service.audit import EnforcementAudit
from xtenant_pdp.service.caches import CacheLimits
from xtenant_pdp.service.decision_log import DecisionLog
from xtenant_pdp.service.holder import SnapshotHolder
from xtenant_pdp.service.limits import server_options
from xtenant_pdp.service.pool import ElasticPool
from xtenant_pdp.service.reloader import Reloader, off_loop
from xtenant_pdp.service.rpc_metrics import InstrumentedServer
from xtenant_pdp.service.servicer import SERVICE_NAME, DecisionServicer
from xtenant_pdp.service.sources import PolicyDirSource, SnapshotFileSource, SnapshotSource
from xtenant_pdp.service.watchdog import STALL_S, LoopWatchdog
from xtenant_pdp.service.work import WorkLimits
from xtenant_pdp.workers import WORKER_ENV

log = logging.getLogger("xtenant_pdp.server")

HEALTH_SERVICES = ("", SERVICE_NAME)
#: SERVING while the process runs and its event loop answers (service/watchdog.py), whatever the
#: snapshot: the liveness probe's service, so that a stale or missing snapshot (which a restart cannot
#: cure) makes the pod unready but never restarts it, and a hung control loop restarts it.
LIVENESS_SERVICE = "liveness"
#: Pool of the --health-listen server (probes only), also its cap on calls in progress: a Watch
#: holds a thread, and watchers beyond the cap are shed rather than stalling the probes.
HEALTH_THREADS = 16


class StartupError(Exception):
    """The server cannot start as configured; the message names the setting."""


@dataclass
class Server:
    """A started server and what it owns; ``stop()`` tears it down in order."""

    grpc_server: grpc.Server
    holder: SnapshotHolder
    reloader: Reloader
    metrics: Metrics
    health: HealthServicer
    settings: Settings
    bound: list[str] = field(default_factory=list)
    metrics_http: Any = None
    #: The plaintext health-only server of --health-listen (Kubernetes gRPC probes), if any.
    health_server: grpc.Server | None = None
    decision_log: DecisionLog | None = None
    watchdog: LoopWatchdog | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def stop(self, grace_s: float | None = None, drain_s: float = 0.0) -> None:
        """NOT_SERVING first; keep answering for ``drain_s`` while callers notice; then finish
        in-flight calls within the grace period and release everything."""
        self.health.enter_graceful_shutdown()
        if drain_s > 0:
            await asyncio.sleep(drain_s)
        if self.watchdog is not None:
            self.watchdog.stop()
        for task in self._tasks:
            task.cancel()
        self.reloader.stop()
        await _stopped(self.grpc_server, self.settings.grace_period_s if grace_s is None else grace_s)
        if self.health_server is not None:
            await _stopped(self.health_server, 0)
        if self.decision_log is not None:  # every answered call is queued by now: drain them all
            await asyncio.get_running_loop().run_in_executor(None, self.decision_log.close)
        self.metrics.flush()  # the last calls' counts, before the process goes
        if self.metrics_http is not None:
            self.metrics_http.shutdown()
            self.metrics_http.server_close()
        _remove_sockets(self.settings.listen)


async def _stopped(server: grpc.Server, grace_s: float | None) -> None:
    """``server.stop`` and wait, off the loop: in-flight calls finish on their pool threads."""
    done = server.stop(grace_s)
    await off_loop(done.wait, name="grpc-server-stop")


def call_server(threads: int, options: list[tuple[str, Any]], maximum_concurrent_rpcs: int | None) -> grpc.Server:
    """A thread-pool server: ``threads`` calls answered at once, the rest wait in its queue
    (up to ``maximum_concurrent_rpcs`` in progress; more are RESOURCE_EXHAUSTED).

    A unary call's pool thread waits there for the call's request: ten half-sent calls stalled
    every call on an 8-thread pool, so the default pool has a thread per call the cap lets in.
    Threads start as calls need them and end after a while idle (``ElasticPool``), so a server
    answering 32 calls at once runs about 32, and fewer again when the burst is over."""
    pool = ElasticPool(threads)
    return grpc.server(pool, options=options, maximum_concurrent_rpcs=maximum_concurrent_rpcs)


def _remove_sockets(addresses: Sequence[ListenAddress]) -> None:
    for address in addresses:
        if address.is_unix:
            with contextlib.suppress(OSError):
                address.path.unlink()


def source_for(settings: Settings) -> SnapshotSource:
    if settings.snapshot is not None:
        return SnapshotFileSource(settings.snapshot)
    assert settings.policy is not None
    return PolicyDirSource(settings.policy, settings.compile_options)


def _credentials(settings: Settings) -> grpc.ServerCredentials | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    pair = (settings.tls_key.read_bytes(), settings.tls_cert.read_bytes())
    client_ca = settings.tls_client_ca.read_bytes() if settings.tls_client_ca else None
    return grpc.ssl_server_credentials([pair], root_certificates=client_ca, require_client_auth=client_ca is not None)


def _bind(
    server: grpc.Server, address: ListenAddress, credentials: grpc.ServerCredentials | None, settings: Settings
) -> str:
    if address.is_unix:
        # D3: a private directory, and the socket's mode set as it is created (never a chmod after).
        sockets.prepare(address.path, settings.socket_mode, trusted=settings.trust_socket_dir)
        with sockets.created_with_mode(settings.socket_mode):
            server.add_insecure_port(address.raw)
        sockets.verify(address.path, settings.socket_mode)
        return address.raw
    port = (
        server.add_secure_port(address.raw, credentials)
        if credentials is not None
        else server.add_insecure_port(address.raw)
    )
    if port == 0:
        raise RuntimeError(f"cannot listen on {address.raw}")
    host = address.raw.rpartition(":")[0]
    return f"{host}:{port}"


def _start_metrics_http(settings: Settings, registry: CollectorRegistry) -> Any:
    if settings.metrics_listen is None:
        return None
    host, _, port = settings.metrics_listen.rpartition(":")
    try:
        http_server, _thread = start_http_server(int(port), addr=host or "0.0.0.0", registry=registry)
    except OSError as exc:
        raise StartupError(f"--metrics-listen {settings.metrics_listen}: {exc.strerror or exc}") from None
    return http_server


def _start_health_server(settings: Settings, health: HealthServicer) -> grpc.Server:
    """Only grpc.health.v1 on a TCP port, so probes reach the pod while decisions stay on the socket."""
    server = call_server(HEALTH_THREADS, [("grpc.so_reuseport", 1 if settings.reuse_port else 0)], HEALTH_THREADS)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    assert settings.health_listen is not None
    if server.add_insecure_port(settings.health_listen) == 0:
        raise StartupError(f"--health-listen {settings.health_listen}: cannot listen")
    server.start()
    return server


def _health_updater(
    reloader: Reloader, health: HealthServicer, watchdog: LoopWatchdog | None = None
) -> Callable[[], None]:
    def update() -> None:  # the sync servicer's set() takes its own lock
        serving = reloader.serving and not (watchdog is not None and watchdog.stalled)
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in HEALTH_SERVICES:
            health.set(name, status)

    return update


def _loop_watchdog(reloader: Reloader, health: HealthServicer, stall_s: float) -> LoopWatchdog:
    """Stalled: every health service NOT_SERVING (liveness too); recovered: liveness SERVING and
    readiness as the snapshot says."""

    def on_stall() -> None:
        for name in (*HEALTH_SERVICES, LIVENESS_SERVICE):
            health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    def on_recover() -> None:
        health.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        reloader.on_change()

    watchdog = LoopWatchdog(on_stall, on_recover, stall_s=stall_s)
    reloader.on_change = _health_updater(reloader, health, watchdog)
    return watchdog


async def start(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    serve_metrics: bool = True,
    load_first: bool = True,
    loop_stall_s: float = STALL_S,
) -> Server:
    """Build, bind and start everything. ``load_first``: the first snapshot load is awaited (it
    may fail); otherwise it is the reloader's first tick, so that a signal never waits for it.
    ``loop_stall_s``: how long the event loop may stay silent before health goes NOT_SERVING."""
    registry = registry if registry is not None else CollectorRegistry()
    metrics = Metrics(registry)
    limits = CacheLimits(
        decision_bytes=settings.cache_size,
        max_question_bytes=settings.cache_max_question,
        memo_bytes=settings.memo_size,
    )
    holder = SnapshotHolder(limits=limits, max_age_s=settings.max_snapshot_age_s)
    # A blocking Watch: a watching client holds a pool thread, and so counts as a call in
    # progress against --max-concurrent-rpcs (a non-blocking one would escape that cap).
    health = HealthServicer(experimental_non_blocking=False)
    decisions = _decision_log(settings, registry)
    for name in HEALTH_SERVICES:
        health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    health.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    reloader = Reloader(
        source_for(settings), holder, metrics, interval_s=settings.reload_interval_s, audit=EnforcementAudit(decisions)
    )
    watchdog = _loop_watchdog(reloader, health, loop_stall_s)
    threads = settings.threads or settings.max_concurrent_rpcs
    grpc_server = call_server(threads, server_options(settings), settings.max_concurrent_rpcs)
    work = WorkLimits(
        max_batch=settings.max_batch,
        max_batch_bytes=settings.max_batch_bytes,
        max_inflight=settings.max_inflight_work,
    )
    servicer = DecisionServicer(holder, metrics, work=work, recorder=decisions)
    grpc_server.add_generic_rpc_handlers([servicer.handler()])  # measures itself
    # Other unary services register through the stand-in that adds the grpc_server_* metrics.
    instrumented = InstrumentedServer(grpc_server, metrics)
    health_pb2_grpc.add_HealthServicer_to_server(health, instrumented)
    services = [SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
    services += ext_authz.register(instrumented, holder, metrics, settings, decisions)
    # Reflection (streaming only, so unmeasured) needs the descriptors of the raw-bytes
    # services in the default pool, and the real server.
    _ = pdp_pb2.DESCRIPTOR
    reflection.enable_server_reflection([*services, reflection.SERVICE_NAME], grpc_server)
    # Metrics first: a taken port must fail before anything is bound or started.
    metrics_http = _start_metrics_http(settings, registry) if serve_metrics else None
    bound: list[str] = []
    try:
        credentials = _credentials(settings)
        for address in settings.listen:
            bound.append(_bind(grpc_server, address, credentials, settings))
        health_server = _start_health_server(settings, health) if settings.health_listen else None
    except (OSError, RuntimeError, StartupError) as exc:
        if metrics_http is not None:
            metrics_http.shutdown()
            metrics_http.server_close()
        grpc_server.stop(None)
        # Only the sockets this process created: one in use belongs to someone else.
        _remove_sockets([a for a in settings.listen if a.raw in bound])
        raise exc if isinstance(exc, StartupError) else StartupError(f"--listen: {exc}") from None
    grpc_server.start()
    server = Server(grpc_server, holder, reloader, metrics, health, settings, bound, metrics_http, health_server)
    server.decision_log, server.watchdog = decisions, watchdog
    if decisions is not None:
        decisions.start()
    log.info(
        "listening",
        extra={
            "addresses": bound,
            "metrics": settings.metrics_listen if serve_metrics else None,
            "health": settings.health_listen,
            "tls": credentials is not None,
            "pid": os.getpid(),
        },
    )
    if load_first:
        await reloader.tick()
    reloader.start()
    server._tasks.append(asyncio.create_task(_flush_metrics(metrics)))
    server._tasks.append(asyncio.create_task(watchdog.beat()))
    watchdog.start()
    return server


def _decision_log(settings: Settings, registry: CollectorRegistry) -> DecisionLog | None:
    config = settings.decision_log
    if config is None:
        return None
    worker = os.environ.get(WORKER_ENV)
    if worker is not None and config.path != "-":  # --workers N: one file per worker
        config = dataclasses.replace(config, path=f"{config.path}.worker{worker}")
    return DecisionLog(config, registry)


async def _flush_metrics(metrics: Metrics) -> None:
    """The hot path counts lock-free; this adds its counts to the exported (and, with
    --workers, multiprocess) values. A scrape of this process flushes on its own as well."""
    while True:
        await asyncio.sleep(FLUSH_INTERVAL_S)
        metrics.flush()


async def serve(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    serve_metrics: bool = True,
) -> int:
    """Run until SIGTERM or SIGINT; reload on SIGHUP. Returns the process exit code."""
    malloc.limit_arenas()  # before the call pool's threads exist (service/malloc.py)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloaders: list[Reloader] = []  # the server's, once it has started

    def on_sighup() -> None:
        for reloader in reloaders:  # none yet: the first load is about to read the file anyway
            reloader.request_reload()

    # Handlers first (issue 9, D11): a SIGHUP or SIGTERM during start-up must neither kill the
    # process (SIGHUP's default action) nor be lost; the first load runs on the reloader's task,
    # so neither waits for it either.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    try:
        server = await start(settings, registry=registry, serve_metrics=serve_metrics, load_first=False)
    except StartupError as exc:
        log.error("cannot start", extra={"error": str(exc)})
        return 1
    reloaders.append(server.reloader)
    await stop.wait()
    log.info(
        "stopping: draining, then finishing in-flight calls",
        extra={"shutdown_delay_s": settings.shutdown_delay_s, "grace_period_s": settings.grace_period_s},
    )
    await server.stop(drain_s=settings.shutdown_delay_s)
    log.info("stopped")
    return 0
