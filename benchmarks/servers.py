"""gRPC load with the project's own client (``xtenant-pdp bench``): paired product/no-op
rounds, BatchCheck, the open loop, --workers."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from benchmarks.common import REPO, RPC_TIMEOUT, Plan, log
from benchmarks.procs import Proc, Procs, default_cache_size, free_port, serve_args, wait_connectable, wait_serving
from xtenant_pdp.api import pdp_pb2, pdp_pb2_grpc
from xtenant_pdp.bench import loadgen
from xtenant_pdp.bench.report import BenchResult

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
    noop_args = ["--flavour", "threads", "--listen", noop_tcp, "--listen", sock("noop")]  # the product's flavour
    noop = procs.spawn("noop", ["-m", "benchmarks.noop_server", *noop_args])
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

    log(f"  decision cache: the default ({default_cache_size():,} bytes) against --cache-size 0, pre-warmed")
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


