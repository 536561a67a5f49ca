"""The servers driven by h2load: the product, and the no-op on both server flavours, TCP and Unix socket.

    .venv/bin/python benchmarks/h2load_run.py            # about 4 minutes on 2 cores
    .venv/bin/python benchmarks/h2load_run.py --quick    # about 1 minute
    .venv/bin/python benchmarks/h2load_run.py --json bench-results/h2load.json

Also run by ``benchmarks/run.py`` (part ``h2load``). Servers on one 10,000-partner snapshot,
decision cache off: the product (``xtenant-pdp serve``, a thread-pool ``grpc.server`` since
6f60f82), the product with its decision log on, and the no-op handler on the product's flavour
(``noop``, what the product is judged against), on ``grpc.aio`` (``noop-aio``: the two no-ops
say what each stack costs), and on the product's call pool and limits (``noop+limits``: product /
noop+limits is what the handler costs, noop+limits / noop what those settings cost). Per
server and transport: unary Check closed loop (paired rounds, order flipped each round),
BatchCheck of 100 closed loop, and both open loop at a fixed rate with each call's latency from
h2load's logs. Every run's calls are checked to have succeeded in gRPC terms (h2load only
sees HTTP 200): the product's ``grpc_server_handled_total{grpc_code="OK"}`` must have grown by
h2load's count, and the no-op answers one real client's call with the run's body.

h2load posts one fixed body per run, so every run gets a body of its own drawn with a new seed:
its never-seen ids (users, applications, unknown tenants) are new to the server at the start of
the run, then repeat for the run's length (the server's id memo sees them again). The share of
ids new to the server is recorded per run ("fresh_ids").
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/h2load_run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc

from benchmarks import h2load
from benchmarks.common import RPC_TIMEOUT, log
from benchmarks.procs import Proc, Procs, free_port, serve_args, wait_connectable, wait_serving
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.bench.mix import questions_from_index
from xtenant_pdp.compiler import compile_policy_dir
from xtenant_pdp.index import Index
from xtenant_pdp.loader import load_snapshot_file
from xtenant_pdp.synthetic import write_policy_dir

SERVERS = ("pdp", "noop", "noop-aio", "noop+limits")
#: The no-op server's arguments per name: ``noop`` runs on the product's flavour, ``noop+limits``
#: also on the product's call pool and limits (so product / noop+limits is the handler's cost).
NOOP_ARGS = {
    "noop": ["--flavour", "threads"],
    "noop-aio": ["--flavour", "aio"],
    "noop+limits": ["--flavour", "threads", "--product-limits"],
}
#: The product with its decision log on (issue 12), where ``serve`` has the flag: unary and batch only.
LOGGED = "pdp+log"
TRANSPORTS = ("unix", "tcp")
BATCH = 100
_GUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class H2Plan:
    rounds: int
    duration_s: float
    open_calls: int
    rate: int
    batch_rate: int
    partners: int
    open_rounds: int = 3

    @classmethod
    def make(cls, *, quick: bool) -> H2Plan:
        if quick:
            return cls(rounds=1, duration_s=1.0, open_calls=2000, rate=1000, batch_rate=40, partners=1000,
                       open_rounds=1)  # fmt: skip
        return cls(rounds=5, duration_s=2.0, open_calls=5000, rate=1000, batch_rate=40, partners=10_000, open_rounds=3)

    def loads(self) -> dict[str, h2load.Load]:
        return {
            "unary": h2load.Load(clients=4, streams=8, duration_s=self.duration_s),
            "batch": h2load.Load(clients=2, streams=2, duration_s=self.duration_s),
            "unary_open": h2load.Load(clients=8, streams=16, rate=self.rate, calls=self.open_calls),
            "batch_open": h2load.Load(
                clients=2, streams=8, rate=self.batch_rate, calls=max(2, self.open_calls * self.batch_rate // self.rate)
            ),
        }


@dataclass
class Server:
    name: str
    proc: Proc
    addresses: dict[str, str]
    metrics_url: str = ""

    def cpu_s(self) -> float:
        return self.proc.cpu_s() or 0.0


@dataclass
class Bodies:
    """A new question (or batch) per run, and the share of its ids the servers never saw."""

    index: Index
    workdir: Path
    seed: int = 1000
    seen: set[bytes] = field(default_factory=set)

    def next(self, kind: str) -> tuple[Path, bytes, float]:
        """A body for one run. A unary question is redrawn (up to 50 times) until it holds an id
        the servers never saw: the mix also asks about known targets, which alone would repeat."""
        for _ in range(50):
            self.seed += 1
            if kind.startswith("batch"):
                batch = pdp_pb2.BatchCheckRequest(requests=questions_from_index(self.index, BATCH, seed=self.seed))
                message = batch.SerializeToString()
            else:
                question = questions_from_index(self.index, 1, seed=self.seed, kinds=["access"])[0]
                message = question.SerializeToString()
            ids = set(_GUID.findall(message))
            if ids - self.seen:
                break
        fresh = len(ids - self.seen) / len(ids) if ids else 0.0
        self.seen |= ids
        path = self.workdir / f"body-{self.seed}.bin"
        path.write_bytes(h2load.grpc_frame(message))
        return path, message, fresh


def _handled(server: Server, method: str) -> tuple[float, float] | None:
    if not server.metrics_url:
        return None
    with urllib.request.urlopen(server.metrics_url, timeout=RPC_TIMEOUT) as answer:
        return h2load.handled(answer.read().decode(), method)


def _real_call_ok(address: str, method: str, message: bytes) -> bool:
    """Does a real client get OK for the run's body? A busy machine may time a call out: that is
    retried (twice); any other status is the answer."""
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(f"/{h2load.SERVICE}/{method}")
        for _ in range(3):
            try:
                call(message, timeout=2 * RPC_TIMEOUT)
                return True
            except grpc.RpcError as exc:
                if exc.code() not in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
                    return False
    return False


def decision_log_supported() -> bool:
    done = subprocess.run([sys.executable, "-m", "xtenant_pdp", "serve", "--help"], capture_output=True, text=True,
                          check=False, timeout=60)  # fmt: skip
    return "--decision-log" in done.stdout


def start_servers(procs: Procs, workdir: Path, snapshot: Path, names: Sequence[str]) -> dict[str, Server]:
    servers: dict[str, Server] = {}
    for name in names:
        sock = f"unix:{workdir}/{name}.sock"
        tcp = f"127.0.0.1:{free_port()}"
        metrics = ""
        if name in ("pdp", LOGGED):
            metrics = f"127.0.0.1:{free_port()}"
            extra = ["--metrics-listen", metrics]
            if name == LOGGED:
                extra += ["--decision-log", str(workdir / "decisions.jsonl")]
            argv = serve_args(snapshot, sock, tcp, extra=extra)
        else:
            argv = ["-m", "benchmarks.noop_server", *NOOP_ARGS[name], "--listen", sock, "--listen", tcp]
        proc = procs.spawn(f"h2-{name}", argv)
        if name in ("pdp", LOGGED):
            wait_serving(proc, sock)
        else:
            wait_connectable(proc, sock)
        servers[name] = Server(name, proc, {"unix": sock, "tcp": tcp}, f"http://{metrics}/metrics" if metrics else "")
    return servers


def run_one(exe: str, server: Server, transport: str, kind: str, load: h2load.Load, bodies: Bodies,
            workdir: Path) -> dict[str, Any]:  # fmt: skip
    """One h2load run; its figures, the server's CPU, and whether gRPC said OK to every call."""
    method = "BatchCheck" if kind.startswith("batch") else "Check"
    address = server.addresses[transport]
    body, message, fresh = bodies.next(kind)
    call_ok = _real_call_ok(address, method, message)
    before = _handled(server, method)
    cpu_before = server.cpu_s()
    limit = (load.duration_s or load.calls / load.rate) * 3 + 30
    if load.open_loop:  # one h2load process a connection (h2load.Load says why)
        logs = [workdir / f"calls-{k}.log" for k in range(load.clients)]
        argvs = []
        for k, log_path in enumerate(logs):
            script = workdir / f"script-{k}.tsv"
            script.write_text(h2load.timing_script(load, address, method, connection=k))
            log_path.unlink(missing_ok=True)
            argvs.append(h2load.command(exe, address, method, str(body), load, script_path=str(script),
                                        log_path=str(log_path)))  # fmt: skip
    else:
        logs, argvs = [], [h2load.command(exe, address, method, str(body), load)]
    running = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for a in argvs]
    outputs = []
    try:
        for argv, proc in zip(argvs, running, strict=True):
            try:
                stdout, stderr = proc.communicate(timeout=limit)
            except subprocess.TimeoutExpired:
                raise SystemExit(f"h2load did not finish in {limit:.0f} s: {' '.join(argv)}") from None
            if proc.returncode != 0:
                raise SystemExit(f"h2load failed ({proc.returncode}): {' '.join(argv)}\n{stderr[-2000:]}")
            outputs.append(stdout)
    finally:  # one connection's failure must not leave the others running
        for proc in running:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
    cpu = server.cpu_s() - cpu_before
    summary = h2load.merged([h2load.parse_summary(out) for out in outputs])
    if summary.succeeded == 0:
        raise SystemExit(f"h2load: no call succeeded: {' '.join(argvs[0])}\n{outputs[0][-2000:]}")
    after = _handled(server, method)
    ok_calls = all_calls = None
    verified = call_ok
    if before is not None and after is not None:
        ok_calls, all_calls = round(after[0] - before[0]), round(after[1] - before[1])
        cut_off = 0 if load.open_loop else load.clients * load.streams
        verified = call_ok and h2load.verified(ok_calls, all_calls, summary.succeeded, cut_off=cut_off)
    if not verified:
        log(f"  h2load {server.name}/{transport} {kind}: NOT verified: real client call OK {call_ok}, server's "
            f"OK/all answers {ok_calls}/{all_calls if ok_calls is not None else '-'}, h2load succeeded "
            f"{summary.succeeded}")  # fmt: skip
    decisions = BATCH if method == "BatchCheck" else 1
    figures: dict[str, Any] = {
        "calls_per_s": summary.rps,
        "decisions_per_s": summary.rps * decisions,
        "succeeded": summary.succeeded,
        "failed": summary.total - summary.succeeded,
        "grpc_ok": ok_calls,
        "grpc_all": all_calls,
        "real_call_ok": call_ok,
        "verified": verified,
        "server_cpu_us_per_call": 1e6 * cpu / summary.succeeded if summary.succeeded else None,
        "fresh_ids": fresh,
    }
    if load.open_loop:
        connections = [h2load.parse_log(log_path.read_text()) for log_path in logs]
        rows = [row for connection in connections for row in connection]
        figures.update(h2load.latency_figures(rows, load, connections=connections))
    return figures


def bench_h2load(procs: Procs, workdir: Path, snapshot: Path, index: Index, plan: H2Plan) -> dict[str, Any]:
    exe = h2load.h2load_path()
    if exe is None:
        log(h2load.MISSING)
        return {"skipped": h2load.MISSING}
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False, timeout=30).stdout.strip()
    names = (*SERVERS, LOGGED) if decision_log_supported() else SERVERS
    servers = start_servers(procs, workdir, snapshot, names)
    bodies = Bodies(index, workdir)
    loads = plan.loads()
    runs: dict[str, dict[str, Any]] = {}
    try:
        for round_ in range(plan.rounds):
            for transport in TRANSPORTS:
                order = names if round_ % 2 == 0 else tuple(reversed(names))
                for name in order:
                    key = f"{name}/{transport}"
                    unary = run_one(exe, servers[name], transport, "unary", loads["unary"], bodies, workdir)
                    batch = run_one(exe, servers[name], transport, "batch", loads["batch"], bodies, workdir)
                    runs.setdefault(key, {}).setdefault("unary_rounds", []).append(unary)
                    runs[key].setdefault("batch_rounds", []).append(batch)
                    log(f"  h2load {key}: unary {unary['calls_per_s']:,.0f} calls/s "
                        f"({unary['server_cpu_us_per_call'] or 0:.0f} us CPU/call), "
                        f"BatchCheck 100 {batch['decisions_per_s']:,.0f} decisions/s")  # fmt: skip
        for run in runs.values():  # the table's BatchCheck figure: the median round's
            ordered = sorted(run["batch_rounds"], key=lambda f: f["decisions_per_s"])
            run["batch"] = ordered[len(ordered) // 2]
        # Open loop in paired rounds too (order flipped each round): one p99 is the 50th-slowest
        # of 5,000 calls, so a single run per server swings with whatever else the machine did.
        open_names = [n for n in names if n != LOGGED]
        for round_ in range(plan.open_rounds):
            for transport in TRANSPORTS:
                for name in open_names if round_ % 2 == 0 else reversed(open_names):
                    key = f"{name}/{transport}"
                    for kind in ("unary_open", "batch_open"):
                        figures = run_one(exe, servers[name], transport, kind, loads[kind], bodies, workdir)
                        runs[key].setdefault(f"{kind}_rounds", []).append(figures)
                        if "p99_us" in figures:
                            log(f"  h2load {key} {kind}: {figures['achieved_rate']:,.0f}/s, p50 "
                                f"{figures['p50_us']:,.0f} p99 {figures['p99_us']:,.0f} "
                                f"p99.9 {figures['p999_us']:,.0f} us")  # fmt: skip
        for name in open_names:  # the table's open-loop figures: the median-p99 round's
            for transport in TRANSPORTS:
                run = runs[f"{name}/{transport}"]
                for kind in ("unary_open", "batch_open"):
                    ordered = sorted(run[f"{kind}_rounds"], key=lambda f: f.get("p99_us", float("inf")))
                    run[kind] = ordered[len(ordered) // 2]
    finally:
        for server in servers.values():
            procs.stop(server.proc)
    return {"h2load": version, "plan": plan.__dict__, "loads": {k: v.__dict__ for k, v in loads.items()},
            "runs": runs, "ratios": ratios(runs, plan.rounds)}  # fmt: skip


def _all_runs(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for v in run.values() for f in (v if isinstance(v, list) else [v])]


def ratios(runs: dict[str, dict[str, Any]], rounds: int) -> dict[str, Any]:
    """Same-run ratios: medians of per-round ratios for the closed loops (unary and BatchCheck, run
    in the same rounds), and of per-round p99 ratios for the open loop."""
    out: dict[str, Any] = {}

    def per_round(a: str, b: str, key: Callable[[dict[str, Any]], float], series: str = "unary_rounds") -> float:
        pairs = zip(runs[a][series], runs[b][series], strict=True)
        return statistics.median([key(x) / key(y) for x, y in pairs])

    def batch_over_unary(key: str) -> float:
        pairs = zip(runs[key]["batch_rounds"], runs[key]["unary_rounds"], strict=True)
        return statistics.median([b["decisions_per_s"] / u["calls_per_s"] for b, u in pairs])

    def p99_per_round(a: str, b: str) -> float:
        pairs = zip(runs[a]["unary_open_rounds"], runs[b]["unary_open_rounds"], strict=True)
        return statistics.median([x["p99_us"] / y["p99_us"] for x, y in pairs])

    for transport in TRANSPORTS:

        def at(name: str, _t: str = transport) -> str:
            return f"{name}/{_t}"

        rate = lambda f: f["calls_per_s"]  # noqa: E731
        dps = lambda f: f["decisions_per_s"]  # noqa: E731
        cpu = lambda f: 1 / f["server_cpu_us_per_call"]  # noqa: E731 - calls per CPU second
        names = [name for name in (*SERVERS, LOGGED) if at(name) in runs]
        unary = {name: statistics.median([r["calls_per_s"] for r in runs[at(name)]["unary_rounds"]]) for name in names}
        out[transport] = {
            "unary_calls_per_s": unary,
            "pdp_over_noop": per_round(at("pdp"), at("noop"), rate),
            "pdp_over_noop_by_cpu": per_round(at("pdp"), at("noop"), cpu),
            "threads_over_aio_noop": per_round(at("noop"), at("noop-aio"), rate),
            "threads_over_aio_noop_by_cpu": per_round(at("noop"), at("noop-aio"), cpu),
            "threads_over_aio_noop_batch": per_round(at("noop"), at("noop-aio"), dps, "batch_rounds"),
            "batch_over_unary": batch_over_unary(at("pdp")),
            "p99_over_noop": p99_per_round(at("pdp"), at("noop")),
            "p99_threads_over_aio_noop": p99_per_round(at("noop"), at("noop-aio")),
            "pdp_over_noop_limits": per_round(at("pdp"), at("noop+limits"), rate),
            "pdp_over_noop_limits_by_cpu": per_round(at("pdp"), at("noop+limits"), cpu),
            "limits_over_noop": per_round(at("noop+limits"), at("noop"), rate),
            "limits_over_noop_by_cpu": per_round(at("noop+limits"), at("noop"), cpu),
            "p99_over_noop_limits": p99_per_round(at("pdp"), at("noop+limits")),
        }
        if at(LOGGED) in runs:
            out[transport]["log_on_over_off_unary"] = per_round(at(LOGGED), at("pdp"), rate)
            out[transport]["log_on_over_off_batch"] = per_round(at(LOGGED), at("pdp"), dps, "batch_rounds")
    out["all_verified"] = all(f["verified"] for r in runs.values() for f in _all_runs(r))
    out["rounds"] = rounds
    return out


def build(workdir: Path, partners: int) -> tuple[Path, Index]:
    policy = write_policy_dir(workdir / f"policy-{partners}", partners=partners, tenants=3)
    path = workdir / f"policy-{partners}.xtsnap"
    path.write_bytes(compile_policy_dir(policy.root).data)
    return path, load_snapshot_file(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/h2load_run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round, short runs, 1,000 partners")
    parser.add_argument("--json", metavar="FILE", help="write the figures here")
    args = parser.parse_args(argv)
    if h2load.h2load_path() is None:
        sys.stdout.write(h2load.MISSING + "\n")
        return 0
    plan = H2Plan.make(quick=args.quick)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xth2-") as tmp:
        workdir = Path(tmp)
        log(f"policy of {plan.partners:,} partners")
        snapshot, index = build(workdir, plan.partners)
        procs = Procs(workdir)
        try:
            results = bench_h2load(procs, workdir, snapshot, index, plan)
        finally:
            procs.close()
    results["duration_s"] = time.perf_counter() - t0
    text = json.dumps(results, indent=2, default=str)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    from benchmarks.h2load_report import h2load_tables

    sys.stdout.write("\n".join(h2load_tables(results)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def reverify(h2: dict[str, Any]) -> None:
    """Apply :func:`h2load.verified` again to a saved run's counts (``run.py --render``), so a
    results file written before a change of the rule reads as the rule says now."""
    if "runs" not in h2:
        return
    loads = {k: h2load.Load(**v) for k, v in h2["loads"].items()}
    for key, run in h2["runs"].items():
        # Before 6f60f82 the thread-pool prototype (``pdp-threads``) counted with single-thread adds.
        tolerance = 0.001 if key.split("/")[0] == "pdp-threads" else 0.0
        for kind, figures in run.items():
            load = loads[kind.removesuffix("_rounds")]
            for f in figures if isinstance(figures, list) else [figures]:
                if f.get("grpc_ok") is None or f.get("grpc_all") is None:
                    continue
                cut_off = 0 if load.open_loop else load.clients * load.streams
                f["verified"] = bool(f.get("real_call_ok", True)) and h2load.verified(
                    f["grpc_ok"], f["grpc_all"], f["succeeded"], tolerance=tolerance, cut_off=cut_off
                )
    h2["ratios"]["all_verified"] = all(f["verified"] for r in h2["runs"].values() for f in _all_runs(r))
