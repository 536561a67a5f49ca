"""The benchmark suite: every figure of the performance goals, measured side by side in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/run.py                 # full run (about 10 minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --quick         # smoke run (about 2 minutes; no 100k partners)
    .venv/bin/python benchmarks/run.py --no-100k       # full run without the 100,000-partner part
    .venv/bin/python benchmarks/run.py --markdown BENCHMARKS.md   # also rewrite BENCHMARKS.md

Absolute times on a shared machine drift by a third, so every comparison is made in the same run,
on the same policy, with the same questions and the same client. Servers are real processes
(``python -m xtenant_pdp serve``, ``python -m benchmarks.noop_server``) on free TCP ports and Unix
sockets in a temporary directory, all stopped and removed at the end. Results go to
``bench-results/results.json``; a table of the figures against the goals is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # `python benchmarks/run.py`
    sys.path.insert(0, str(REPO))

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from xtenant_pdp import convert, snapshot  # noqa: E402
from xtenant_pdp.api import pdp_pb2, pdp_pb2_grpc  # noqa: E402
from xtenant_pdp.bench import loadgen  # noqa: E402
from xtenant_pdp.bench.micro import bare_access, bare_questions  # noqa: E402
from xtenant_pdp.bench.mix import questions_from_index  # noqa: E402
from xtenant_pdp.bench.report import BenchResult  # noqa: E402
from xtenant_pdp.bench.stats import percentile  # noqa: E402
from xtenant_pdp.compiler import compile_policy_dir  # noqa: E402
from xtenant_pdp.decision import AccessQuery, Decision, QuestionKind  # noqa: E402
from xtenant_pdp.engine import Engine  # noqa: E402
from xtenant_pdp.evaluator import evaluate, evaluate_access  # noqa: E402
from xtenant_pdp.index import Index  # noqa: E402
from xtenant_pdp.loader import load_snapshot_file  # noqa: E402
from xtenant_pdp.synthetic import questions as synthetic_questions  # noqa: E402
from xtenant_pdp.synthetic import write_policy_dir  # noqa: E402

GIB = 1 << 30
RPC_TIMEOUT = 5.0
READY_TIMEOUT = 120.0
_perf_ns = time.perf_counter_ns


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Plan:
    """How long and how big each part runs; ``--quick`` shrinks everything."""

    quick: bool
    sizes: tuple[int, ...]
    big: int | None
    questions: int
    passes: int
    peer_partners: tuple[int, ...]
    peer_questions: int
    duration_s: float
    warmup_s: float
    rounds: int
    fixed_rate_s: float
    server_partners: int
    reload_hold_s: float

    @classmethod
    def make(cls, *, quick: bool, big: bool) -> Plan:
        if quick:
            return cls(True, (10, 1000), None, 5000, 3, (10,), 500, 2.0, 0.5, 1, 3.0, 1000, 2.0)
        sizes = (10, 10_000, 100_000) if big else (10, 10_000)
        return cls(False, sizes, 100_000 if big else None, 20_000, 5, (10, 1000), 2000, 4.0, 1.0, 7, 10.0, 10_000, 5.0)


# --------------------------------------------------------------------------- machine facts


def machine_facts() -> dict[str, Any]:
    def cpu_model() -> str:
        with contextlib.suppress(OSError):
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        return platform.processor() or "unknown"

    def mem_total() -> int | None:
        with contextlib.suppress(OSError, ValueError):
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
        return None

    def version(module: str) -> str | None:
        try:
            from importlib.metadata import version as v

            return v(module)
        except Exception:
            return None

    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        load = [str(x) for x in os.getloadavg()]
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_bytes": mem_total(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "grpcio": grpc.__version__,
        "protobuf": version("protobuf"),
        "cedarpy": version("cedarpy"),
        "casbin": version("casbin"),
        "load_average_before": [float(x) for x in load],
    }


# --------------------------------------------------------------------------- in-process timing


def timer_overhead_ns(rounds: int = 50_000) -> float:
    """What two back-to-back clock reads cost; subtracted from every per-call sample."""
    samples = []
    for _ in range(rounds):
        t0 = _perf_ns()
        samples.append(_perf_ns() - t0)
    return float(statistics.median(samples))


def time_calls(fn: Callable[[Any, Any], object], first: Any, items: Sequence[Any], passes: int) -> list[int]:
    """Per-call times in ns of ``fn(first, item)`` (GC off while timing)."""
    samples: list[int] = []
    append = samples.append
    gc.collect()
    gc.disable()
    try:
        for _ in range(passes):
            for item in items:
                t0 = _perf_ns()
                fn(first, item)
                append(_perf_ns() - t0)
    finally:
        gc.enable()
    return samples


def summary_ns(samples: Sequence[float], overhead: float) -> dict[str, float]:
    adjusted = sorted(max(0.0, s - overhead) for s in samples)
    return {
        "samples": len(adjusted),
        "median_ns": float(statistics.median(adjusted)),
        "p99_ns": float(percentile(adjusted, 99)),
        "mean_ns": float(statistics.fmean(adjusted)),
    }


@dataclass
class SizedPolicy:
    partners: int
    root: Path
    snapshot_path: Path
    compile_s: float
    snapshot_bytes: int
    load_s: float
    index: Index | None
    access: list[AccessQuery] = field(default_factory=list)


def build_policy(workdir: Path, partners: int, plan: Plan) -> SizedPolicy:
    policy = write_policy_dir(workdir / f"policy-{partners}", partners=partners, tenants=3)
    t0 = time.perf_counter()
    compiled = compile_policy_dir(policy.root)
    compile_s = time.perf_counter() - t0
    path = workdir / f"policy-{partners}.xtsnap"
    path.write_bytes(compiled.data)
    size = len(compiled.data)
    del compiled
    gc.collect()
    t0 = time.perf_counter()
    index = load_snapshot_file(path)
    load_s = time.perf_counter() - t0
    raw = synthetic_questions(policy, plan.questions, seed=partners, kinds=["access"])
    access = [convert.query_from_proto(convert.request_from_json(item)) for item in raw]
    return SizedPolicy(partners, policy.root, path, compile_s, size, load_s, index, access)  # type: ignore[arg-type]


def bench_in_process(policies: Sequence[SizedPolicy], plan: Plan, overhead: float) -> list[dict[str, Any]]:
    """Per-call times of each function at each policy size, the sizes interleaved pass by pass.

    Timing the sizes one after another would let a noisy minute on a shared machine land on one
    size only and skew their ratio; interleaving spreads it over all of them.
    """
    prepared = []
    for sized in policies:
        index = sized.index
        assert index is not None
        queries = sized.access
        requests = [pdp_pb2.CheckRequest(access=_access_message(q)) for q in queries]
        bare, table = bare_questions(index, queries)
        # Each of 50 questions asked 200 times in a row: the look-ups without CPU-cache misses.
        warm = [q for q in queries[:50] for _ in range(200)]
        functions: dict[str, tuple[Callable[[Any, Any], object], Any, Sequence[Any]]] = {
            "evaluate": (evaluate, index, queries),
            "evaluate_access": (evaluate_access, index, queries),
            "evaluate_access_warm": (evaluate_access, index, warm),
            "bare_reference": (bare_access, table, bare),
            "engine_check_proto": (Engine.check_proto, Engine(index), requests),
        }
        prepared.append((sized, functions, {name: [] for name in functions}))
    # Indexes and questions out of the collector's sight (as the server does with its index), so
    # the collection before each timed pass is short rather than a walk of every index.
    gc.collect()
    gc.freeze()
    try:
        for _ in range(plan.passes):
            for _sized, functions, samples in prepared:
                for name, (fn, first, items) in functions.items():
                    samples[name].extend(time_calls(fn, first, items, 1))
    finally:
        gc.unfreeze()
    out = []
    for sized, _functions, samples in prepared:
        index = sized.index
        assert index is not None
        allowed = sum(evaluate(index, q).decision == 1 for q in sized.access)
        out.append(
            {
                "partners": sized.partners,
                "compile_s": sized.compile_s,
                "snapshot_bytes": sized.snapshot_bytes,
                "load_s": sized.load_s,
                "questions": len(sized.access),
                "passes": plan.passes,
                "allowed_share": allowed / len(sized.access) if sized.access else 0.0,
                "timings": {name: summary_ns(samples[name], overhead) for name in samples},
            }
        )
    return out


def _access_message(q: AccessQuery) -> pdp_pb2.AccessQuestion:
    return pdp_pb2.AccessQuestion(
        tenant_id=q.tenant_id,
        external_tenant_id=q.external_tenant_id,
        direction=int(q.direction),
        feature=int(q.feature),
        user_id=q.user_id,
        group_ids=list(q.group_ids),
        application_id=q.application_id,
    )


# --------------------------------------------------------------------------- peers


def bench_peers(sized: SizedPolicy, plan: Plan, overhead: float) -> dict[str, Any]:
    from benchmarks import peers

    index = sized.index
    assert index is not None
    # pycasbin scans every rule per call: fewer questions on the larger policy keep the run short.
    count = plan.peer_questions if sized.partners <= 100 else plan.peer_questions // 4
    questions = peers.peer_questions(index, sized.access[:count])
    dropped = count - len(questions)
    our_queries = [q.query for q in questions]
    # Ours takes microseconds: many passes for a steady median.
    our_passes = max(plan.passes, 10)
    ours = summary_ns(time_calls(evaluate_access, index, our_queries, our_passes), overhead)
    out: dict[str, Any] = {
        "partners": sized.partners,
        "questions": len(questions),
        "questions_not_expressible": dropped,
        "ours": ours,
        "peers": {},
    }
    available = peers.available_peers()
    for cls in (peers.CedarPeer, peers.CasbinPeer):
        why = available[cls.name]
        if why is not None:
            log(f"  {cls.name} skipped: {why}")
            out["peers"][cls.name] = {"skipped": why}
            continue
        t0 = time.perf_counter()
        peer = cls(index)
        build_s = time.perf_counter() - t0
        wrong = peers.disagreements(index, peer, questions)
        if wrong:
            q, mine, theirs = wrong[0]
            raise SystemExit(
                f"{cls.name} disagrees with the evaluator on {len(wrong)} of {len(questions)} questions, "
                f"e.g. {q} (ours {'allow' if mine else 'deny'}, theirs {'allow' if theirs else 'deny'})"
            )
        prepared = peer.prepare(questions)
        passes = 1 if sized.partners > 100 else min(plan.passes, 3)
        # Ours timed right before and right after the peer, so a drift of the machine during
        # the peer's (much longer) run lands on both sides of the ratio.
        ours_samples = time_calls(evaluate_access, index, our_queries, our_passes)
        timing = summary_ns(time_calls(type(peer).decide, peer, prepared, passes), overhead)
        ours_samples += time_calls(evaluate_access, index, our_queries, our_passes)
        ours_here = summary_ns(ours_samples, overhead)
        out["peers"][cls.name] = {
            "rules": peer.policy_count,
            "build_s": build_s,
            "identical_decisions": len(questions),
            "timing": timing,
            "ours": ours_here,
            "ratio_median": timing["median_ns"] / ours_here["median_ns"],
            "ratio_p99": timing["p99_ns"] / ours_here["p99_ns"],
        }
        if cls is peers.CedarPeer:
            out["peers"][cls.name]["call_floor"] = cedar_call_floor(prepared, overhead)
    return out


def cedar_call_floor(requests: Sequence[dict[str, Any]], overhead: float) -> dict[str, float]:
    """cedarpy.is_authorized with one unconditional permit: the wrapper's own cost per call."""
    import cedarpy

    policies = cedarpy.PolicySet.from_str("permit(principal, action, resource);")
    entities = cedarpy.Entities.from_json_str("[]")

    def call(_: object, request: dict[str, Any]) -> object:
        return cedarpy.is_authorized(request, policies, entities)

    return summary_ns(time_calls(call, None, requests, 1), overhead)


# --------------------------------------------------------------------------- the server's per-question cost


def bench_edge(index: Index, requests: Sequence[pdp_pb2.CheckRequest], overhead: float) -> dict[str, Any]:
    """What the server does per question, stage by stage, in this process (no gRPC): mean ns each.

    The same questions as the load runs (every kind). ``servicer.answer`` is the whole of it; the
    stages after it are its parts, timed apart on the same questions.
    """
    from prometheus_client import CollectorRegistry

    from xtenant_pdp.metrics import Metrics
    from xtenant_pdp.service.holder import SnapshotHolder
    from xtenant_pdp.service.servicer import DecisionServicer

    holder = SnapshotHolder(cache_size=0, max_age_s=None)
    holder.activate(index, "bench")
    metrics = Metrics(CollectorRegistry())
    servicer = DecisionServicer(holder, metrics)
    cached_holder = SnapshotHolder(cache_size=len(requests) * 2, max_age_s=None)
    cached_holder.activate(index, "bench")
    cached_servicer = DecisionServicer(cached_holder, Metrics(CollectorRegistry()))
    raw = [r.SerializeToString() for r in requests]
    for b in raw:  # fill the cache: the timed passes are all hits
        cached_servicer.answer(b)
    parsed = [pdp_pb2.CheckRequest.FromString(b) for b in raw]
    queries = [convert.query_from_proto(r) for r in parsed]
    results = [evaluate(index, q) for q in queries]
    responses = [convert.response_from_result(r, index.snapshot_id) for r in results]
    batches = [
        pdp_pb2.BatchCheckRequest(requests=requests[i : i + 100]).SerializeToString()
        for i in range(0, len(requests) - 99, 100)
    ]
    counter = metrics.decision_counters[(QuestionKind.ACCESS, Decision.ALLOW)]
    observe = metrics.observe_decision
    sid = index.snapshot_id

    def count_and_observe(_: object, __: object) -> None:
        counter.n += 1
        observe(1e-6)

    def mean(fn: Callable[[Any, Any], object], first: Any, items: Sequence[Any], per: int = 1) -> float:
        return summary_ns(time_calls(fn, first, items, 2), overhead)["mean_ns"] / per

    stages = {
        "servicer.answer (all of it)": mean(lambda _, b: servicer.answer(b), None, raw),
        "servicer.answer, decision cache on (warm: every answer a hit)": mean(
            lambda _, b: cached_servicer.answer(b), None, raw
        ),
        "servicer.batch, per question (batches of 100)": mean(DecisionServicer.batch, servicer, batches, 100),
        "CheckRequest.FromString": mean(lambda _, b: pdp_pb2.CheckRequest.FromString(b), None, raw),
        "convert.query_from_proto": mean(lambda _, r: convert.query_from_proto(r), None, parsed),
        "evaluate": mean(evaluate, index, queries),
        "convert.response_from_result": mean(lambda _, r: convert.response_from_result(r, sid), None, results),
        "CheckResponse.SerializeToString": mean(lambda _, r: r.SerializeToString(), None, responses),
        "metrics: one counter inc + one histogram observe": mean(count_and_observe, None, raw),
    }
    return {"questions": len(requests), "mean_ns": stages}


# --------------------------------------------------------------------------- server processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A server (or client) process with its stderr in a file; ``stop()`` ends it and waits."""

    def __init__(self, name: str, argv: Sequence[str], workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, *argv], cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def status_kib(self, key: str) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return None

    def cpu_s(self) -> float | None:
        """User + system CPU seconds of the process (all its threads) so far."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int | None:
        kib = self.status_kib("VmRSS")
        return None if kib is None else kib * 1024

    def peak_rss_bytes(self) -> int | None:
        kib = self.status_kib("VmHWM")
        return None if kib is None else kib * 1024

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


class Procs:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.all: list[Proc] = []

    def spawn(self, name: str, argv: Sequence[str]) -> Proc:
        proc = Proc(name, argv, self.workdir)
        self.all.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.all:
            self.all.remove(proc)

    def close(self) -> None:
        while self.all:
            self.all.pop().stop()


def wait_serving(proc: Proc, target: str, timeout: float = READY_TIMEOUT) -> float:
    """Poll grpc.health.v1 until SERVING; return seconds since the process was spawned."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if not proc.alive():
                raise SystemExit(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.tail()}")
            with contextlib.suppress(grpc.RpcError):
                answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return time.perf_counter() - proc.started
            if time.monotonic() > deadline:
                raise SystemExit(f"{proc.name} not SERVING within {timeout:g}s:\n{proc.tail()}")
            time.sleep(0.05)


def wait_connectable(proc: Proc, target: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not proc.alive():
            raise SystemExit(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.tail()}")
        with grpc.insecure_channel(target) as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=1.0)
                return
            except grpc.FutureTimeoutError:
                pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{proc.name} not reachable within {timeout:g}s:\n{proc.tail()}")


def serve_args(snapshot_path: Path, *listen: str, extra: Sequence[str] = (), cache: bool = False) -> list[str]:
    """``serve`` arguments. The decision cache is off (``--cache-size 0``) unless ``cache``: with it on,
    a benchmark cycling a fixed set of questions would measure cache hits, not decisions."""
    args = ["-m", "xtenant_pdp", "serve", "--snapshot", str(snapshot_path), "--metrics-listen", "off"]
    for address in listen:
        args += ["--listen", address]
    if not cache:
        args += ["--cache-size", "0"]
    return [*args, "--shutdown-delay", "0s", "--grace-period", "2s", *extra]


def default_cache_size() -> int:
    from xtenant_pdp.config import Settings

    return int(Settings.__dataclass_fields__["cache_size"].default)


# --------------------------------------------------------------------------- gRPC load


def figures(result: BenchResult) -> dict[str, Any]:
    lat = result.latency
    ok = result.status_codes.get("OK", 0)
    return {
        "mode": result.mode.value,
        "concurrency": result.concurrency,
        "offered_rate": result.offered_rate,
        "batch_size": result.batch_size,
        "calls": result.count,
        "failed": result.count - ok,
        "unsent": result.unsent,
        "seconds": result.elapsed_ns / 1e9,
        "rps": result.rps,
        "decisions_per_s": result.decisions_per_second,
        "p50_us": lat.p50_ns / 1e3,
        "p90_us": lat.p90_ns / 1e3,
        "p99_us": lat.p99_ns / 1e3,
        "p999_us": lat.p999_ns / 1e3,
        "status": dict(result.status_codes),
    }


def load(
    target: str,
    requests: Sequence[pdp_pb2.CheckRequest],
    plan: Plan,
    *,
    concurrency: int = 16,
    batch_size: int = 1,
    rate: float | None = None,
    duration_s: float | None = None,
) -> dict[str, Any]:
    result = loadgen.run(
        target,
        requests,
        mode="open" if rate is not None else "closed",
        rate=rate,
        concurrency=concurrency,
        duration_s=duration_s or plan.duration_s,
        warmup_s=plan.warmup_s,
        batch_size=batch_size,
        timeout_s=RPC_TIMEOUT,
    )
    return figures(result)


def load_on(
    server: Proc, target: str, requests: Sequence[pdp_pb2.CheckRequest], plan: Plan, **kw: Any
) -> dict[str, Any]:
    """:func:`load`, plus the server's CPU use: cores busy and CPU time per call and per decision.

    The CPU is read around the whole run (warm-up included) and spread over the calls at the
    measured rate, so it assumes the warm-up ran at that rate too.
    """
    cpu0, t0 = server.cpu_s(), time.perf_counter()
    r = load(target, requests, plan, **kw)
    cpu1, t1 = server.cpu_s(), time.perf_counter()
    if cpu0 is not None and cpu1 is not None and r["rps"] > 0:
        busy = (cpu1 - cpu0) / (t1 - t0)
        r["server_cores_busy"] = busy
        r["server_cpu_us_per_call"] = busy / r["rps"] * 1e6
        r["server_cpu_us_per_decision"] = busy / r["decisions_per_s"] * 1e6 if r["decisions_per_s"] else None
    return r


def load_in_own_process(
    server: Proc,
    target: str,
    questions_file: Path,
    plan: Plan,
    *,
    concurrency: int,
    rate: float | None = None,
    duration_s: float | None = None,
) -> dict[str, Any]:
    """:func:`load_on` through ``xtenant-pdp bench`` in a process of its own, for the latency
    figures: a lean client, exactly as a user runs it, rather than this process, which holds
    every policy and index the suite built (its allocator and collector then weigh on the tail)."""
    out = questions_file.with_name(f"bench-{time.monotonic_ns()}.json")
    argv = [
        sys.executable, "-m", "xtenant_pdp", "bench", "--questions", str(questions_file), "--target", target,
        "-c", str(concurrency), "-z", f"{duration_s or plan.duration_s:g}s", "--warmup", f"{plan.warmup_s:g}s",
        "--timeout", f"{RPC_TIMEOUT:g}s", "--format", "json", "--no-progress", "-o", str(out),
    ]  # fmt: skip
    if rate is not None:
        argv += ["--mode", "open", "--rate", f"{rate:g}"]
    cpu0, t0 = server.cpu_s(), time.perf_counter()
    # Exit status 1 only says some calls failed: the report counts them.
    limit = (duration_s or plan.duration_s) + plan.warmup_s + 120
    done = subprocess.run(argv, check=False, timeout=limit, cwd=REPO)
    cpu1, t1 = server.cpu_s(), time.perf_counter()
    if done.returncode not in (0, 1) or not out.exists():
        raise SystemExit(f"xtenant-pdp bench against {target} exited {done.returncode}: {' '.join(argv)}")
    r = figures_of_report(json.loads(out.read_text()))
    if cpu0 is not None and cpu1 is not None and r["rps"] > 0:
        r["server_cores_busy"] = (cpu1 - cpu0) / (t1 - t0)
    return r


def figures_of_report(report: dict[str, Any]) -> dict[str, Any]:
    """:func:`figures` of the JSON report ``xtenant-pdp bench --format json`` writes."""
    lat = {row["percentage"]: row["latency"] for row in report["latencyDistribution"]}
    ok = report["statusCodeDistribution"].get("OK", 0)
    return {
        "mode": report["mode"],
        "concurrency": report["concurrency"],
        "offered_rate": report["offeredRate"],
        "batch_size": 1,
        "calls": report["count"],
        "failed": report["count"] - ok,
        "unsent": report.get("unsent", 0),
        "seconds": report["total"] / 1e9,
        "rps": report["rps"],
        "decisions_per_s": report["decisionsPerSecond"],
        "p50_us": lat[50.0] / 1e3,
        "p90_us": lat[90.0] / 1e3,
        "p99_us": lat[99.0] / 1e3,
        "p999_us": lat[99.9] / 1e3,
        "status": dict(report["statusCodeDistribution"]),
    }


def write_questions(path: Path, requests: Sequence[pdp_pb2.CheckRequest]) -> Path:
    """The suite's questions as CheckRequest JSON lines, what ``xtenant-pdp bench --questions`` reads."""
    with path.open("w") as f:
        for request in requests:
            f.write(json_format.MessageToJson(request, indent=None) + "\n")
    return path


def mean_of(runs: Sequence[dict[str, Any]], key: str) -> float:
    return statistics.fmean(r[key] for r in runs)


def median_of(runs: Sequence[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def prewarm_cache(target: str, requests: Sequence[pdp_pb2.CheckRequest]) -> None:
    """Ask every question once (BatchCheck of 100) so a decision cache holds them all."""
    with grpc.insecure_channel(target) as channel:
        stub = pdp_pb2_grpc.DecisionServiceStub(channel)
        for i in range(0, len(requests), 100):
            stub.BatchCheck(pdp_pb2.BatchCheckRequest(requests=requests[i : i + 100]), timeout=RPC_TIMEOUT)


def round_order(groups: Sequence[Sequence[tuple[str, str]]], round_: int) -> list[tuple[str, str]]:
    """The (server, transport) runs of one round: each group back to back, in its order on even
    rounds and reversed on odd ones, so drift lands on every side of a comparison in turn."""
    return [key for group in groups for key in (group if round_ % 2 == 0 else reversed(group))]


def bench_servers(
    procs: Procs, workdir: Path, snapshot_path: Path, requests: list[pdp_pb2.CheckRequest], plan: Plan
) -> dict[str, Any]:
    sock = lambda name: f"unix:{workdir / name}.sock"  # noqa: E731
    pdp_tcp = f"127.0.0.1:{free_port()}"
    noop_tcp = f"127.0.0.1:{free_port()}"
    cached_sock = sock("pdp-cache")
    pdp = procs.spawn("pdp", serve_args(snapshot_path, pdp_tcp, sock("pdp")))
    noop = procs.spawn("noop", ["-m", "benchmarks.noop_server", "--listen", noop_tcp, "--listen", sock("noop")])
    # The product as deployed by default, decision cache on: pre-warmed, so every question is a hit.
    cached = procs.spawn("pdp-cache", serve_args(snapshot_path, cached_sock, cache=True))
    wait_serving(pdp, pdp_tcp)
    wait_connectable(noop, noop_tcp)
    wait_serving(cached, cached_sock)
    prewarm_cache(cached_sock, requests)
    servers = {"pdp": pdp, "noop": noop, "pdp+cache": cached}
    targets = {
        ("pdp", "unix"): sock("pdp"),
        ("noop", "unix"): sock("noop"),
        ("pdp+cache", "unix"): cached_sock,
        ("pdp", "tcp"): pdp_tcp,
        ("noop", "tcp"): noop_tcp,
    }
    groups = [[("pdp", "unix"), ("noop", "unix"), ("pdp+cache", "unix")], [("pdp", "tcp"), ("noop", "tcp")]]
    out: dict[str, Any] = {"questions": len(requests), "unary": {}, "pdp_rss_bytes": pdp.rss_bytes()}

    log(f"  unary Check, closed loop, 16 in flight: product against the no-op handler, {plan.rounds} rounds")
    runs: dict[str, list[dict[str, Any]]] = {}
    for round_ in range(plan.rounds):
        # The servers compared back to back on each transport, the order flipped every round:
        # the machine's drift lands on both sides of each pair, and each pair gives one ratio.
        for server, transport in round_order(groups, round_):
            target = targets[(server, transport)]
            key = f"{server}/{transport}"
            r = load_on(servers[server], target, requests, plan)
            runs.setdefault(key, []).append(r)
            log(
                f"    round {round_ + 1} {key:<10} {r['rps']:>9.0f} calls/s  p50 {r['p50_us']:.0f} us  "
                f"server {r.get('server_cpu_us_per_call', 0):.0f} us CPU/call  failed {r['failed']}"
            )
    for key, rs in runs.items():
        out["unary"][key] = {
            "runs": rs,
            "rps": median_of(rs, "rps"),
            "server_cpu_us_per_call": median_of(rs, "server_cpu_us_per_call"),
            "server_cores_busy": median_of(rs, "server_cores_busy"),
            "failed": sum(r["failed"] for r in rs),
        }
    for transport in ("unix", "tcp"):
        pairs = list(zip(runs[f"pdp/{transport}"], runs[f"noop/{transport}"], strict=True))
        rps_ratios = [p["rps"] / n["rps"] for p, n in pairs]
        # What the throughput ratio would be with the server the only bottleneck: CPU per call, inverted.
        cpu_ratios = [n["server_cpu_us_per_call"] / p["server_cpu_us_per_call"] for p, n in pairs]
        out[f"unary_ratio_{transport}"] = statistics.median(rps_ratios)
        out[f"unary_ratio_rounds_{transport}"] = rps_ratios
        out[f"unary_cpu_capacity_ratio_{transport}"] = statistics.median(cpu_ratios)
        out[f"unary_cpu_ratio_rounds_{transport}"] = cpu_ratios
    pairs = list(zip(runs["pdp+cache/unix"], runs["noop/unix"], strict=True))
    out["unary_ratio_cached_unix"] = statistics.median(p["rps"] / n["rps"] for p, n in pairs)
    out["unary_ratio_rounds_cached_unix"] = [p["rps"] / n["rps"] for p, n in pairs]
    unary = out["unary"]

    log("  BatchCheck of 100, closed loop, 4 in flight")
    batch = load_on(pdp, targets[("pdp", "unix")], requests, plan, concurrency=4, batch_size=100)
    batch_noop = load_on(noop, targets[("noop", "unix")], requests, plan, concurrency=4, batch_size=100)
    out["batch100"] = {"pdp/unix": batch, "noop/unix": batch_noop}
    out["batch_ratio"] = batch["decisions_per_s"] / unary["pdp/unix"]["rps"]
    log(
        f"    BatchCheck 100: {batch['decisions_per_s']:.0f} decisions/s "
        f"({batch.get('server_cpu_us_per_decision') or 0:.1f} us server CPU each; "
        f"no-op {batch_noop['decisions_per_s']:.0f})"
    )

    log("  fixed offered rate of 1,000 checks/s over the Unix socket (open loop)")
    questions_file = write_questions(workdir / "questions.jsonl", requests)
    fixed_rate = {"rate": 1000.0, "concurrency": 64, "duration_s": plan.fixed_rate_s}
    fixed = load_in_own_process(pdp, targets[("pdp", "unix")], questions_file, plan, **fixed_rate)
    fixed_noop = load_in_own_process(noop, targets[("noop", "unix")], questions_file, plan, **fixed_rate)
    out["fixed_rate_1000"] = {"pdp/unix": fixed, "noop/unix": fixed_noop}
    log(
        f"    pdp p50 {fixed['p50_us']:.0f} us p99 {fixed['p99_us']:.0f} us p99.9 {fixed['p999_us']:.0f} us; "
        f"no-op p50 {fixed_noop['p50_us']:.0f} us p99 {fixed_noop['p99_us']:.0f} us"
    )
    out["round_trip_floor"] = {
        "pdp/unix": load_in_own_process(pdp, targets[("pdp", "unix")], questions_file, plan, concurrency=1),
        "noop/unix": load_in_own_process(noop, targets[("noop", "unix")], questions_file, plan, concurrency=1),
    }
    procs.stop(noop)

    log(f"  decision cache: the default ({default_cache_size():,} entries) against --cache-size 0, pre-warmed")
    # Unary on and off: the rounds above, where the two ran back to back.
    cache: dict[str, Any] = {"on": {"unary": runs["pdp+cache/unix"]}, "off": {"unary": runs["pdp/unix"]}}
    cache["off"]["batch100"] = batch
    cache["on"]["batch100"] = load_on(cached, cached_sock, requests, plan, concurrency=4, batch_size=100)
    cache["on"]["fixed_rate_1000"] = load_in_own_process(cached, cached_sock, questions_file, plan, **fixed_rate)
    cache["size"] = default_cache_size()
    cache["unary_ratio"] = mean_of(cache["on"]["unary"], "rps") / mean_of(cache["off"]["unary"], "rps")
    cache["batch_ratio"] = cache["on"]["batch100"]["decisions_per_s"] / batch["decisions_per_s"]
    cache["unary_cpu_ratio"] = mean_of(cache["on"]["unary"], "server_cpu_us_per_call") / mean_of(
        cache["off"]["unary"], "server_cpu_us_per_call"
    )
    out["cache"] = cache
    log(f"    cache on/off: unary {cache['unary_ratio']:.2f}x, BatchCheck 100 {cache['batch_ratio']:.2f}x")
    procs.stop(cached)
    procs.stop(pdp)
    return out


# --------------------------------------------------------------------------- workers


def bench_workers(
    procs: Procs, workdir: Path, snapshot_path: Path, requests: list[pdp_pb2.CheckRequest], plan: Plan
) -> dict[str, Any]:
    """--workers 2 against 1 over TCP; the load comes from separate client processes (one connection
    each, so SO_REUSEPORT can spread them) since one channel would pin every call to one worker."""
    questions_file = workdir / "questions.jsonl"
    questions_file.write_text(
        "".join(json.dumps(json_format.MessageToDict(r), separators=(",", ":")) + "\n" for r in requests)
    )
    clients = 2 if plan.quick else 4
    out: dict[str, Any] = {"client_processes": clients}
    for workers in (1, 2):
        target = f"127.0.0.1:{free_port()}"
        server = procs.spawn(
            f"pdp-workers-{workers}", serve_args(snapshot_path, target, extra=["--workers", str(workers)])
        )
        wait_serving(server, target)
        time.sleep(1.0 if workers > 1 else 0.0)  # every worker up, not just the first
        row: dict[str, Any] = {}
        for label, extra in (("unary", ["-c", "8"]), ("batch100", ["-c", "2", "--batch-size", "100"])):
            results = run_clients(procs, target, questions_file, clients, plan, extra, f"w{workers}-{label}")
            row[label] = {
                "clients": results,
                "rps": sum(r["rps"] for r in results),
                "decisions_per_s": sum(r["decisionsPerSecond"] for r in results),
                "failed": sum(r["count"] - r["statusCodeDistribution"].get("OK", 0) for r in results),
            }
            log(f"    --workers {workers} {label:<8} {row[label]['decisions_per_s']:>10.0f} decisions/s")
        out[str(workers)] = row
        procs.stop(server)
    out["unary_ratio"] = out["2"]["unary"]["decisions_per_s"] / out["1"]["unary"]["decisions_per_s"]
    out["batch_ratio"] = out["2"]["batch100"]["decisions_per_s"] / out["1"]["batch100"]["decisions_per_s"]
    return out


def run_clients(
    procs: Procs, target: str, questions_file: Path, clients: int, plan: Plan, extra: Sequence[str], name: str
) -> list[dict[str, Any]]:
    started = []
    for i in range(clients):
        output = procs.workdir / f"{name}-{i}.json"
        argv = [
            "-m", "xtenant_pdp.bench.cli", "--target", target, "--questions", str(questions_file),
            "--duration", f"{plan.duration_s}s", "--warmup", f"{plan.warmup_s + 1.0}s", "--format", "json",
            "--no-progress", "--output", str(output), *extra,
        ]  # fmt: skip
        started.append((procs.spawn(f"{name}-{i}", argv), output))
    results = []
    for proc, output in started:
        code = proc.proc.wait(plan.duration_s + plan.warmup_s + 120)
        procs.stop(proc)
        if not output.exists():
            raise SystemExit(f"client {proc.name} exited with {code} and wrote no report:\n{proc.tail()}")
        results.append(json.loads(output.read_text()))
    return results


# --------------------------------------------------------------------------- 100k partners: server, hot reload


class TimelineLoad:
    """Closed-loop Check calls from ``threads`` threads, recording when each finished and how."""

    def __init__(self, target: str, requests: Sequence[pdp_pb2.CheckRequest], threads: int = 8) -> None:
        self.target = target
        self.payloads = [r.SerializeToString() for r in requests]
        self.threads = threads
        self.stop = threading.Event()
        self.records: list[list[tuple[float, str, float]]] = [[] for _ in range(threads)]
        self._workers: list[threading.Thread] = []
        self.channel = grpc.insecure_channel(target)
        self._call = self.channel.unary_unary(
            "/xtenant.pdp.v1.DecisionService/Check", request_serializer=None, response_deserializer=None
        )

    def _work(self, slot: int) -> None:
        call = self._call
        payloads = self.payloads
        out = self.records[slot]
        i = slot
        clock = time.perf_counter
        while not self.stop.is_set():
            sent = clock()
            try:
                call(payloads[i % len(payloads)], timeout=RPC_TIMEOUT)
                code = "OK"
            except grpc.RpcError as exc:
                status = exc.code()
                code = status.name if status is not None else "UNKNOWN"
            end = clock()
            out.append((end, code, end - sent))
            i += self.threads

    def start(self) -> None:
        grpc.channel_ready_future(self.channel).result(timeout=READY_TIMEOUT)
        for slot in range(self.threads):
            t = threading.Thread(target=self._work, args=(slot,), daemon=True, name=f"timeline-{slot}")
            t.start()
            self._workers.append(t)

    def finish(self) -> list[tuple[float, str, float]]:
        self.stop.set()
        for t in self._workers:
            t.join(RPC_TIMEOUT + 5)
        self.channel.close()
        return sorted(r for rs in self.records for r in rs)


def snapshot_info(target: str) -> str | None:
    with grpc.insecure_channel(target) as channel:
        try:
            answer = pdp_pb2_grpc.DecisionServiceStub(channel).GetSnapshotInfo(
                pdp_pb2.GetSnapshotInfoRequest(), timeout=RPC_TIMEOUT
            )
        except grpc.RpcError:
            return None
    return str(answer.snapshot_id)


def variant_of(data: bytes) -> bytes:
    """The same snapshot with one display name changed: a new snapshot id, same size and shape."""
    info, body = snapshot.load(data, name="variant")
    body.tenants[0].display_name += " (reloaded)"
    return snapshot.dump(body, source_digest=info.source_digest)


def bench_big_server(
    procs: Procs, workdir: Path, snapshot_path: Path, requests: list[pdp_pb2.CheckRequest], plan: Plan
) -> dict[str, Any]:
    live = workdir / "live.xtsnap"
    data = snapshot_path.read_bytes()
    live.write_bytes(data)
    target = f"unix:{workdir / 'big.sock'}"
    server = procs.spawn("pdp-100k", serve_args(live, target, extra=["--reload-interval", "0.5s"]))
    ready_s = wait_serving(server, target)
    time.sleep(0.5)
    out: dict[str, Any] = {
        "server_ready_s": ready_s,
        "server_rss_bytes": server.rss_bytes(),
        "server_peak_rss_bytes": server.peak_rss_bytes(),
    }
    log(f"  100k server SERVING {ready_s:.1f}s after spawn, RSS {out['server_rss_bytes'] / 2**20:.0f} MiB")
    variant = variant_of(data)
    staged = workdir / "staged.xtsnap"
    staged.write_bytes(variant)
    before = snapshot_info(target)
    gen = TimelineLoad(target, requests)
    gen.start()
    t_start = time.perf_counter()
    time.sleep(plan.reload_hold_s)
    t_swap = time.perf_counter()
    os.replace(staged, live)
    t_seen = None
    deadline = t_swap + 120
    while time.perf_counter() < deadline:
        current = snapshot_info(target)
        if current is not None and current != before:
            t_seen = time.perf_counter()
            break
        time.sleep(0.1)
    time.sleep(plan.reload_hold_s)
    t_end = time.perf_counter()
    records = gen.finish()
    out["server_rss_after_reload_bytes"] = server.rss_bytes()
    out["server_peak_rss_after_reload_bytes"] = server.peak_rss_bytes()
    procs.stop(server)
    out["reload_seen_s"] = None if t_seen is None else t_seen - t_swap
    out.update(timeline_figures(records, t_start, t_swap, t_seen or t_end, t_end))
    log(
        f"  hot reload under load: seen after {out['reload_seen_s']}s; baseline {out['baseline_rps']:.0f} calls/s, "
        f"lowest 250 ms window {out['min_window_rps']:.0f} calls/s (dip {out['dip'] * 100:.0f}%), "
        f"failed calls {out['failed']}"
    )
    return out


def timeline_figures(
    records: Sequence[tuple[float, str, float]],
    t_start: float,
    t_swap: float,
    t_seen: float,
    t_end: float,
    window: float = 0.25,
) -> dict[str, Any]:
    """Throughput per window before and during the reload, and every non-OK status."""
    buckets: dict[int, int] = {}
    failed: dict[str, int] = {}
    for t, code, _ in records:
        if code == "OK":
            k = int((t - t_start) / window)
            buckets[k] = buckets.get(k, 0) + 1
        else:
            failed[code] = failed.get(code, 0) + 1
    n = int((t_end - t_start) / window)
    series = [buckets.get(k, 0) / window for k in range(n)]
    swap_k = int((t_swap - t_start) / window)
    seen_k = int((t_seen - t_start) / window) + 1
    before = series[1:swap_k] or series[:1]
    during = series[swap_k : seen_k + 1] or [0.0]
    baseline = statistics.median(before) if before else 0.0
    lowest = min(during)
    latency_before = sorted(lat for t, _, lat in records if t < t_swap)
    latency_during = sorted(lat for t, _, lat in records if t_swap <= t <= t_seen + window)
    return {
        "latency_before_p99_ms": percentile(latency_before, 99) * 1e3 if latency_before else None,
        "latency_during_p99_ms": percentile(latency_during, 99) * 1e3 if latency_during else None,
        "latency_during_max_ms": latency_during[-1] * 1e3 if latency_during else None,
        "window_s": window,
        "baseline_rps": baseline,
        "min_window_rps": lowest,
        "mean_rps_during_reload": statistics.fmean(during),
        "dip": 1 - lowest / baseline if baseline else 1.0,
        "calls": len(records),
        "failed": sum(failed.values()),
        "failed_by_status": failed,
        "series_rps": [round(x) for x in series],
        "swap_window": swap_k,
        "seen_window": seen_k,
    }


# --------------------------------------------------------------------------- goals and reports


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def goal(name: str, value: float | None, target: str, met: bool | None, unit: str = "") -> None:
        rows.append({"goal": name, "measured": value, "unit": unit, "target": target, "met": met})

    inproc = {r["partners"]: r for r in results.get("in_process", [])}
    for partners, r in sorted(inproc.items()):
        median = r["timings"]["evaluate"]["median_ns"] / 1000
        goal(f"access decision median, {partners} partners", median, "<= 2 us", median <= 2.0, "us")
    if 10 in inproc and 100_000 in inproc:
        ratio = inproc[100_000]["timings"]["evaluate"]["median_ns"] / inproc[10]["timings"]["evaluate"]["median_ns"]
        goal("100k-partner median / 10-partner median", ratio, "<= 1.2x", ratio <= 1.2, "x")
        for key, what in (
            ("evaluate_access_warm", "same, cache-warm (the look-ups alone)"),
            ("bare_reference", "same, for a bare hand-indexed reference (the memory's share)"),
        ):
            ratio = inproc[100_000]["timings"][key]["median_ns"] / inproc[10]["timings"][key]["median_ns"]
            goal(f"({what})", ratio, "-", None, "x")
    for p in results.get("peers", []):
        for name, need in (("cedarpy", 50), ("pycasbin", 500)):
            peer = p["peers"].get(name, {})
            if "ratio_median" in peer:
                ratio = peer["ratio_median"]
                goal(f"{name} median / ours, {p['partners']} partners", ratio, f">= {need}x", ratio >= need, "x")
    servers = results.get("servers")
    if servers:
        for transport in ("unix", "tcp"):
            ratio = servers[f"unary_ratio_{transport}"]
            goal(f"unary Check / no-op handler ({transport})", ratio, ">= 0.9x", ratio >= 0.9, "x")
        for transport in ("unix", "tcp"):
            ratio = servers[f"unary_cpu_capacity_ratio_{transport}"]
            goal(f"same, by server CPU per call ({transport})", ratio, ">= 0.9x", ratio >= 0.9, "x")
        if "unary_ratio_cached_unix" in servers:
            ratio = servers["unary_ratio_cached_unix"]
            goal("unary Check / no-op, decision cache on as by default (all hits, unix)", ratio, ">= 0.9x",
                 ratio >= 0.9, "x")  # fmt: skip
        p99 = servers["fixed_rate_1000"]["pdp/unix"]["p99_us"] / 1000
        goal("p99 at 1,000 checks/s offered (unix)", p99, "<= 1 ms", p99 <= 1.0, "ms")
        noop_p99 = servers["fixed_rate_1000"]["noop/unix"]["p99_us"] / 1000
        goal("(the no-op handler's own p99 there: the stack's floor)", noop_p99, "-", None, "ms")
        ratio = servers["batch_ratio"]
        goal("BatchCheck 100 / unary decisions/s", ratio, ">= 50x", ratio >= 50, "x")
        dps = servers["batch100"]["pdp/unix"]["decisions_per_s"]
        goal("BatchCheck 100 decisions/s", dps, ">= 200,000", dps >= 200_000, "/s")
        noop_dps = servers["batch100"]["noop/unix"]["decisions_per_s"]
        goal("(the no-op handler's own BatchCheck 100 decisions/s)", noop_dps, "-", None, "/s")
        cache = servers.get("cache", {})
        on = cache.get("on", {})
        if "fixed_rate_1000" in on:
            p99 = on["fixed_rate_1000"]["p99_us"] / 1000
            goal("same p99, decision cache on (all hits)", p99, "<= 1 ms", p99 <= 1.0, "ms")
        if "batch100" in on:
            ratio = on["batch100"]["decisions_per_s"] / mean_of(on["unary"], "rps")
            goal("BatchCheck 100 / unary, decision cache on (all hits)", ratio, ">= 50x", ratio >= 50, "x")
            dps = on["batch100"]["decisions_per_s"]
            goal("BatchCheck 100 decisions/s, decision cache on (all hits)", dps, ">= 200,000", dps >= 200_000, "/s")
    big = results.get("big")
    if big:
        goal("100k compile", big["compile_s"], "<= 60 s", big["compile_s"] <= 60, "s")
        goal("100k load (read, verify, index)", big["load_s"], "<= 5 s", big["load_s"] <= 5, "s")
        rss = big["server"]["server_rss_bytes"]
        goal("100k server RSS after load", rss / 2**20 if rss else None, "< 1024 MiB", bool(rss and rss < GIB), "MiB")
        failed = big["server"]["failed"]
        goal("failed calls during hot reload under load", failed, "0", failed == 0)
    return rows


def _ratios(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit in ("x", "us", "ms", "s"):
        return f"{value:,.2f} {unit}" if unit != "x" else f"{value:,.2f}x"
    if unit in ("/s", "MiB"):
        return f"{value:,.0f} {unit}"
    return f"{value:,}"


def goal_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = ["| goal | measured | target | met |", "|---|---:|---|---|"]
    for r in rows:
        met = "-" if r["met"] is None else "yes" if r["met"] else "**no**"
        lines.append(f"| {r['goal']} | {_fmt(r['measured'], r['unit'])} | {r['target']} | {met} |")
    return lines


def figure_tables(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    inproc = results.get("in_process", [])
    if inproc:
        lines += [
            "### In-process access decisions (per call; timer overhead subtracted)",
            "",
            "| partners | compile | snapshot | load | `evaluate` median / p99 | `evaluate_access` median / p99 "
            "| cache-warm `evaluate_access` | bare hand-indexed reference | `Engine.check_proto` median / p99 |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in inproc:
            t = r["timings"]

            def pair(k: str, t: dict[str, Any] = t) -> str:
                return f"{t[k]['median_ns'] / 1000:.3f} / {t[k]['p99_ns'] / 1000:.3f} us"

            lines.append(
                f"| {r['partners']:,} | {r['compile_s']:.2f} s | {r['snapshot_bytes'] / 1e6:.2f} MB "
                f"| {r['load_s']:.2f} s "
                f"| {pair('evaluate')} | {pair('evaluate_access')} | {pair('evaluate_access_warm')} "
                f"| {pair('bare_reference')} | {pair('engine_check_proto')} |"
            )
        if len(inproc) > 1:
            for key, what in (
                ("evaluate", "`evaluate`"),
                ("evaluate_access_warm", "cache-warm `evaluate_access` (the look-ups alone)"),
                ("bare_reference", "the bare reference (one dict look-up and the set tests, nothing else)"),
            ):
                base = inproc[0]["timings"][key]["median_ns"]
                ratios = ", ".join(
                    f"{r['partners']:,}: {r['timings'][key]['median_ns'] / base:.2f}x" for r in inproc[1:]
                )
                lines += ["", f"Median against {inproc[0]['partners']} partners, {what}: {ratios}."]
        lines.append("")
    for p in results.get("peers", []):
        lines += [
            f"### Peers on the {p['partners']:,}-partner policy ({p['questions']:,} access questions, "
            "decisions identical on every one)",
            "",
            "| engine | rules | median | p99 | ours timed right before and after it (median) | median ratio |",
            "|---|---:|---:|---:|---:|---:|",
            f"| xtenant-pdp `evaluate_access` | - | {p['ours']['median_ns'] / 1000:.3f} us "
            f"| {p['ours']['p99_ns'] / 1000:.3f} us | | 1x |",
        ]
        for name, peer in p["peers"].items():
            if "skipped" in peer:
                lines.append(f"| {name} | skipped: {peer['skipped']} | | | | |")
                continue
            t = peer["timing"]
            lines.append(
                f"| {name} | {peer['rules']:,} | {t['median_ns'] / 1000:,.1f} us | {t['p99_ns'] / 1000:,.1f} us "
                f"| {peer['ours']['median_ns'] / 1000:.3f} us | {peer['ratio_median']:,.0f}x |"
            )
            if "call_floor" in peer:
                floor = peer["call_floor"]["median_ns"] / 1000
                lines.append(f"| cedarpy with one unconditional permit (its call floor) | 1 | {floor:,.1f} us | | | |")
        lines.append("")
    servers = results.get("servers")
    if servers:
        lines += [
            f"### gRPC server ({results['plan']['server_partners']:,}-partner snapshot, "
            f"{servers['questions']:,} distinct questions, one client process, decision cache off "
            "unless said otherwise)",
            "",
            "| server / transport | unary Check calls/s (closed loop, 16 in flight; each round) "
            "| server CPU per call | server cores busy | failed |",
            "|---|---:|---:|---:|---:|",
        ]
        for key, u in servers["unary"].items():
            runs = ", ".join(f"{r['rps']:,.0f}" for r in u["runs"])
            lines.append(
                f"| {key} | {u['rps']:,.0f} ({runs}) | {u['server_cpu_us_per_call']:,.0f} us "
                f"| {u['server_cores_busy']:.2f} | {u['failed']} |"
            )
        b = servers["batch100"]
        f = servers["fixed_rate_1000"]
        c = servers["cache"]
        rt = servers["round_trip_floor"]
        cf = c["on"]["fixed_rate_1000"]
        lines += [
            "",
            f"* unary Check / no-op: {servers['unary_ratio_unix']:.2f}x (unix), "
            f"{servers['unary_ratio_tcp']:.2f}x (tcp): the median of the ratios of "
            f"{len(servers['unary']['pdp/unix']['runs'])} rounds, each pairing the two servers back to back "
            f"(unix rounds: {_ratios(servers['unary_ratio_rounds_unix'])}; tcp: "
            f"{_ratios(servers['unary_ratio_rounds_tcp'])}). By server CPU per call (no-op / product, the "
            "throughput ratio if the server alone were the bottleneck): "
            f"{servers['unary_cpu_capacity_ratio_unix']:.2f}x (unix), "
            f"{servers['unary_cpu_capacity_ratio_tcp']:.2f}x (tcp). The product as deployed by default (decision "
            "cache on; pre-warmed, so every question is a hit) / no-op, unix: "
            f"{servers['unary_ratio_cached_unix']:.2f}x "
            f"(rounds: {_ratios(servers['unary_ratio_rounds_cached_unix'])}).",
            f"* BatchCheck of 100 (4 in flight, unix): {b['pdp/unix']['decisions_per_s']:,.0f} decisions/s "
            f"= {servers['batch_ratio']:.1f}x unary, {b['pdp/unix'].get('server_cpu_us_per_decision') or 0:.1f} us "
            f"of server CPU per decision; the no-op handler does {b['noop/unix']['decisions_per_s']:,.0f}.",
            f"* 1,000 checks/s offered over the Unix socket (open loop, {f['pdp/unix']['calls']:,} calls): "
            f"p50 {f['pdp/unix']['p50_us']:,.0f} us, p99 {f['pdp/unix']['p99_us']:,.0f} us, "
            f"p99.9 {f['pdp/unix']['p999_us']:,.0f} us, failed {f['pdp/unix']['failed']}; the no-op handler: "
            f"p50 {f['noop/unix']['p50_us']:,.0f} us, p99 {f['noop/unix']['p99_us']:,.0f} us, "
            f"p99.9 {f['noop/unix']['p999_us']:,.0f} us.",
            f"* one call in flight (the round-trip floor), unix: product p50 {rt['pdp/unix']['p50_us']:,.0f} us, "
            f"no-op p50 {rt['noop/unix']['p50_us']:,.0f} us ({rt['noop/unix']['rps']:,.0f} calls/s).",
            f"* decision cache on (the default, {c['size']:,} entries; pre-warmed, so every question is a hit) / off: "
            f"server CPU per unary call "
            f"{c['unary_cpu_ratio']:.2f}x; unary {c['unary_ratio']:.2f}x "
            f"({mean_of(c['on']['unary'], 'rps'):,.0f} against {mean_of(c['off']['unary'], 'rps'):,.0f} calls/s), "
            f"BatchCheck 100 {c['batch_ratio']:.2f}x ({c['on']['batch100']['decisions_per_s']:,.0f} against "
            f"{c['off']['batch100']['decisions_per_s']:,.0f} decisions/s); at 1,000 checks/s offered "
            f"with the cache on: p50 {cf['p50_us']:,.0f} us, p99 {cf['p99_us']:,.0f} us, "
            f"p99.9 {cf['p999_us']:,.0f} us.",
        ]
    edge = results.get("edge")
    if edge:
        lines += [
            "",
            f"### The server's work per question, in-process (mean over {edge['questions']:,} questions of every kind)",
            "",
            "| stage | mean |",
            "|---|---:|",
            *(f"| {stage} | {ns / 1000:.2f} us |" for stage, ns in edge["mean_ns"].items()),
            "",
        ]
    w = results.get("workers")
    if w:
        lines.append(
            f"* `--workers 2` / `--workers 1` over TCP ({w['client_processes']} client processes): unary "
            f"{w['unary_ratio']:.2f}x ({w['2']['unary']['decisions_per_s']:,.0f} against "
            f"{w['1']['unary']['decisions_per_s']:,.0f} calls/s), BatchCheck 100 {w['batch_ratio']:.2f}x "
            f"({w['2']['batch100']['decisions_per_s']:,.0f} against {w['1']['batch100']['decisions_per_s']:,.0f} "
            "decisions/s)."
        )
    big = results.get("big")
    if big:
        s = big["server"]
        lines += [
            "",
            "### 100,000 partners",
            "",
            f"* compile {big['compile_s']:.1f} s, snapshot file {big['snapshot_bytes'] / 1e6:.1f} MB, "
            f"load (read, verify, index) {big['load_s']:.2f} s in-process; the server is SERVING "
            f"{s['server_ready_s']:.1f} s after it is spawned.",
            f"* server RSS after load {s['server_rss_bytes'] / 2**20:,.0f} MiB "
            f"(peak {s['server_peak_rss_bytes'] / 2**20:,.0f} MiB); "
            f"after a hot reload {s['server_rss_after_reload_bytes'] / 2**20:,.0f} MiB "
            f"(peak {s['server_peak_rss_after_reload_bytes'] / 2**20:,.0f} MiB).",
            f"* hot reload under closed-loop load (8 threads, unary Check): the new snapshot answered "
            f"{s['reload_seen_s']:.1f} s after the file was replaced; throughput {s['baseline_rps']:,.0f} calls/s "
            f"before, lowest {s['window_s'] * 1000:.0f} ms window {s['min_window_rps']:,.0f} calls/s "
            f"(dip {s['dip'] * 100:.0f}%), mean {s['mean_rps_during_reload']:,.0f} calls/s while reloading; "
            f"failed calls {s['failed']} of {s['calls']:,} {s['failed_by_status'] or ''}; call latency p99 "
            f"{s['latency_before_p99_ms']:,.1f} ms before, {s['latency_during_p99_ms']:,.0f} ms while reloading "
            f"(slowest {s['latency_during_max_ms']:,.0f} ms).",
        ]
    return lines


def print_table(results: dict[str, Any], out: Any = sys.stdout) -> None:
    out.write("\n" + "\n".join(figure_tables(results)) + "\n\n")
    out.write("\n".join(goal_table(results["goals"])) + "\n")


def write_markdown(results: dict[str, Any], path: Path) -> None:
    m = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `benchmarks/run.py --markdown BENCHMARKS.md` from the run below; every ratio compares figures",
        "measured in that one run (same machine, same policy, same questions, same client). Raw figures:",
        "`bench-results/results.json`. Reproduce with:",
        "",
        "```sh",
        ".venv/bin/pip install -e '.[bench]'",
        f".venv/bin/python {results['command']}",
        "```",
        "",
        "## Machine",
        "",
        f"* {m['nproc']} CPUs ({m['cpu_model']}), {(m['memory_bytes'] or 0) / 2**30:.0f} GiB, Linux {m['kernel']}",
        f"* Python {m['python']}, grpcio {m['grpcio']}, protobuf {m['protobuf']}, cedarpy {m['cedarpy']}, "
        f"casbin {m['casbin']}",
        f"* load average before the run: {' '.join(str(x) for x in m['load_average_before'])}, after: "
        f"{' '.join(str(x) for x in m.get('load_average_after', []))}; "
        f"run started {results['started']}, took {results['duration_s'] / 60:.1f} min",
        "* client and servers share the machine: on 2 cores the Python load generator takes CPU the server would",
        "  otherwise have, which caps every server figure (the no-op handler's figure is that cap).",
        "",
        "## How to read it",
        "",
        "* Servers run with the decision cache off (`--cache-size 0`) unless a line says otherwise: the suite",
        "  cycles a fixed set of 10,000 distinct questions, which a warm cache of the default size answers",
        "  entirely from memory, so with it on the figures would measure cache hits rather than decisions.",
        "* Server CPU per call is read from `/proc/PID/stat` around each run (warm-up included) and divided by",
        "  the calls at the measured rate. With the client and the server sharing two cores it is steadier than",
        "  calls/s, and it is what the throughput ratio would be if the server alone were the bottleneck.",
        "* Product against no-op is the median of per-round ratios: each round runs the two servers back to",
        "  back on each transport, the order flipped every round, so drift lands on both sides of a pair.",
        "* Open-loop latency is measured from each call's intended send time (no coordinated omission), by",
        "  `xtenant-pdp bench` in a process of its own. The round-trip floor (one call in flight) is the least",
        "  any call can take on this machine with this client; rows in parentheses in the goal table are",
        "  such context (the no-op handler's own figure), not goals.",
        "* In-process times are per call with the timer's own cost subtracted, garbage collection off, and the",
        "  policy sizes interleaved pass by pass. On this shared VM a median moves by a third between runs:",
        "  compare figures within one run, as every ratio here does. The bare reference (one dict look-up",
        "  and the 2.2 set tests, nothing else) shows how much of the growth with partners is the memory's.",
        "* The peers are asked only access questions (2.2 with R1 inheritance), the shape they express; every",
        "  timed question was checked to get the same decision from them as from the evaluator first, and",
        "  each ratio is against our evaluator timed right before and right after that peer.",
        "",
        "## Goals",
        "",
        *goal_table(results["goals"]),
        "",
        "## Figures",
        "",
        *figure_tables(results),
        "",
    ]
    path.write_text("\n".join(lines))


# --------------------------------------------------------------------------- main


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="xtb-") as tmp:
        yield Path(tmp)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run: small policies, short loads, no 100k")
    parser.add_argument("--no-100k", action="store_true", help="leave out the 100,000-partner part (5+ minutes)")
    parser.add_argument(
        "--only",
        metavar="PARTS",
        help="comma-separated subset of in-process,peers,servers,workers,big (default: all)",
    )
    parser.add_argument("--output", default=str(REPO / "bench-results" / "results.json"), metavar="FILE")
    parser.add_argument("--markdown", metavar="FILE", help="also write the results as BENCHMARKS.md-style markdown")
    args = parser.parse_args(argv)
    parts = set((args.only or "in-process,peers,servers,workers,big").split(","))
    plan = Plan.make(quick=args.quick, big=not args.no_100k and "big" in parts)
    command = "benchmarks/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    results: dict[str, Any] = {
        "command": command.strip(),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "plan": plan.__dict__,
    }
    t_run = time.perf_counter()
    overhead = timer_overhead_ns()
    results["timer_overhead_ns"] = overhead
    with workspace() as workdir:
        procs = Procs(workdir)
        try:
            sized: dict[int, SizedPolicy] = {}
            wanted = sorted(set(plan.sizes) | set(plan.peer_partners) | {plan.server_partners})
            if "in-process" not in parts:
                wanted = sorted(({plan.server_partners} if parts & {"servers", "workers"} else set())
                                | (set(plan.peer_partners) if "peers" in parts else set())
                                | ({plan.big} if plan.big and "big" in parts else set()))  # fmt: skip
            for partners in wanted:
                log(f"policy of {partners:,} partners: write, compile, load")
                sized[partners] = build_policy(workdir, partners, plan)
                s = sized[partners]
                log(f"  compile {s.compile_s:.2f} s, snapshot {s.snapshot_bytes / 1e6:.1f} MB, load {s.load_s:.2f} s")
                if "peers" in parts and partners in plan.peer_partners:
                    log(f"peers on {partners:,} partners")
                    results.setdefault("peers", []).append(bench_peers(s, plan, overhead))
                    for name, peer in results["peers"][-1]["peers"].items():
                        if "ratio_median" in peer:
                            log(f"  {name}: median {peer['timing']['median_ns'] / 1000:.1f} us = "
                                f"{peer['ratio_median']:.0f}x ours")  # fmt: skip
                if partners == plan.big:
                    results["big"] = {
                        "partners": partners,
                        "compile_s": s.compile_s,
                        "snapshot_bytes": s.snapshot_bytes,
                        "load_s": s.load_s,
                    }
                if partners not in (plan.server_partners, plan.big, *plan.sizes):
                    s.index = None
                    gc.collect()
            if "in-process" in parts:
                log(f"in-process decision time at {', '.join(f'{n:,}' for n in plan.sizes)} partners, interleaved")
                results["in_process"] = bench_in_process([sized[n] for n in plan.sizes], plan, overhead)
                for r in results["in_process"]:
                    t = r["timings"]["evaluate"]
                    log(f"  {r['partners']:>7,}: evaluate median {t['median_ns']:.0f} ns, p99 {t['p99_ns']:.0f} ns")
                for n in plan.sizes:
                    if n not in (plan.server_partners, plan.big):
                        sized[n].index = None
                gc.collect()
            if parts & {"servers", "workers"}:
                server_policy = sized[plan.server_partners]
                assert server_policy.index is not None
                requests = questions_from_index(server_policy.index, 10_000, seed=1)
                if "servers" in parts:
                    log("the server's work per question, stage by stage, in-process")
                    results["edge"] = bench_edge(server_policy.index, requests, overhead)
                    for stage, ns in results["edge"]["mean_ns"].items():
                        log(f"  {stage:<50} {ns / 1000:8.2f} us")
                    log(f"servers on the {plan.server_partners:,}-partner snapshot")
                    results["servers"] = bench_servers(procs, workdir, server_policy.snapshot_path, requests, plan)
                if "workers" in parts:
                    log("--workers 2 against --workers 1")
                    results["workers"] = bench_workers(procs, workdir, server_policy.snapshot_path, requests, plan)
            if plan.big and "big" in parts:
                big = sized[plan.big]
                assert big.index is not None
                requests = questions_from_index(big.index, 10_000, seed=2)
                big.index = None
                gc.collect()
                log("100,000 partners: server RSS and hot reload under load")
                results["big"]["server"] = bench_big_server(procs, workdir, big.snapshot_path, requests, plan)
        finally:
            procs.close()
    results["duration_s"] = time.perf_counter() - t_run
    with contextlib.suppress(OSError):
        results["machine"]["load_average_after"] = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    results["goals"] = goals(results)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_table(results)
    sys.stdout.write(f"\nresults: {output}\n")
    if args.markdown:
        write_markdown(results, Path(args.markdown))
        sys.stdout.write(f"markdown: {args.markdown}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
