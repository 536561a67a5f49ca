"""The benchmark suite: every figure of the performance goals, measured side by side in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/run.py                 # full run (about 15 minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --quick         # smoke run (about 3 minutes; no 100k partners)
    .venv/bin/python benchmarks/run.py --no-100k       # full run without the 100,000-partner part
    .venv/bin/python benchmarks/run.py --markdown BENCHMARKS.md   # also rewrite BENCHMARKS.md

Absolute times on a shared machine drift by a third, so every comparison is made in the same run,
on the same policy, with the same questions and the same client. Servers are real processes
(``python -m xtenant_pdp serve``, ``python -m benchmarks.noop_server``) on free TCP ports and Unix
sockets in a temporary directory, all stopped and removed at the end; the h2load part (``benchmarks/h2load_run.py``) is
skipped with a message where h2load is not installed. Results go to
``bench-results/results.json``; a table of the figures against the goals is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # `python benchmarks/run.py`
    sys.path.insert(0, str(REPO))


from benchmarks.common import Plan, log, machine_facts  # noqa: E402
from benchmarks.h2load_run import H2Plan, bench_h2load, reverify  # noqa: E402
from benchmarks.peer_bench import bench_peers  # noqa: E402
from benchmarks.procs import Procs  # noqa: E402
from benchmarks.reload import bench_big_server  # noqa: E402
from benchmarks.report import goals, print_table, write_markdown  # noqa: E402
from benchmarks.servers import bench_servers, bench_workers  # noqa: E402
from benchmarks.timing import SizedPolicy, bench_admin, bench_edge, bench_in_process, build_policy  # noqa: E402
from xtenant_pdp.bench.micro import timer_overhead_ns  # noqa: E402
from xtenant_pdp.bench.mix import questions_from_index  # noqa: E402

# --------------------------------------------------------------------------- main


def attempt(results: dict[str, Any], name: str, fn: Callable[[], Any]) -> Any:
    """Run one part; a failure is logged and recorded, and the other parts still run (a long run
    on a shared machine should not lose every figure to one part)."""
    try:
        return fn()
    except (Exception, SystemExit) as exc:
        log(f"part {name} failed:\n{traceback.format_exc()}")
        results.setdefault("failed_parts", {})[name] = f"{type(exc).__name__}: {str(exc)[:300]}"
        return None


def render(results_path: Path, markdown: Path) -> int:
    """Goals and markdown again from a saved run (the verdict rules may have changed since)."""
    results = json.loads(results_path.read_text())
    if "h2load" in results:
        reverify(results["h2load"])
    results["goals"] = goals(results)
    results["rendered_again"] = True
    write_markdown(results, markdown)
    sys.stdout.write(f"markdown: {markdown} (from {results_path})\n")
    return 0


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
        help="comma-separated subset of in-process,peers,servers,h2load,workers,big (default: all)",
    )
    parser.add_argument("--output", default=str(REPO / "bench-results" / "results.json"), metavar="FILE")
    parser.add_argument("--markdown", metavar="FILE", help="also write the results as BENCHMARKS.md-style markdown")
    parser.add_argument("--render", metavar="RESULTS", help="measure nothing: write --markdown from a results file")
    args = parser.parse_args(argv)
    if args.render:
        return render(Path(args.render), Path(args.markdown or "BENCHMARKS.md"))
    parts = set((args.only or "in-process,peers,servers,h2load,workers,big").split(","))
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
                wanted = sorted(({plan.server_partners} if parts & {"servers", "workers", "h2load"} else set())
                                | (set(plan.peer_partners) if "peers" in parts else set())
                                | ({plan.big} if plan.big and "big" in parts else set()))  # fmt: skip
            for partners in wanted:
                log(f"policy of {partners:,} partners: write, compile, load")
                sized[partners] = build_policy(workdir, partners, plan)
                s = sized[partners]
                log(f"  compile {s.compile_s:.2f} s, snapshot {s.snapshot_bytes / 1e6:.1f} MB, load {s.load_s:.2f} s")
                if "peers" in parts and partners in plan.peer_partners:
                    log(f"peers on {partners:,} partners")
                    peer_results = attempt(results, f"peers-{partners}", lambda s=s: bench_peers(s, plan, overhead))
                    if peer_results is not None:
                        results.setdefault("peers", []).append(peer_results)
                    for name, peer in (peer_results or {"peers": {}})["peers"].items():
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
                sizes = [sized[n] for n in plan.sizes]
                inproc = attempt(results, "in-process", lambda: bench_in_process(sizes, plan, overhead))
                if inproc is not None:
                    results["in_process"] = inproc
                for r in inproc or []:
                    t = r["timings"]["evaluate"]
                    log(f"  {r['partners']:>7,}: evaluate median {t['median_ns']:.0f} ns, p99 {t['p99_ns']:.0f} ns")
                log("adminAction against access decisions, in-process, on the example policy")
                admin = attempt(results, "admin", lambda: bench_admin(overhead))
                if admin is not None:
                    results["admin"] = admin
                for n in plan.sizes:
                    if n not in (plan.server_partners, plan.big):
                        sized[n].index = None
                gc.collect()
            if parts & {"servers", "workers", "h2load"}:
                server_policy = sized[plan.server_partners]
                assert server_policy.index is not None
                requests = questions_from_index(server_policy.index, 10_000, seed=1)
                if "servers" in parts:
                    log("the server's work per question, stage by stage, in-process")
                    edge = attempt(results, "edge", lambda: bench_edge(server_policy.index, requests, overhead))
                    if edge is not None:
                        results["edge"] = edge
                    for stage, ns in (edge or {"mean_ns": {}})["mean_ns"].items():
                        log(f"  {stage:<50} {ns / 1000:8.2f} us")
                    log(f"servers on the {plan.server_partners:,}-partner snapshot")
                    snap = server_policy.snapshot_path
                    got = attempt(results, "servers", lambda: bench_servers(procs, workdir, snap, requests, plan))
                    if got is not None:
                        results["servers"] = got
                if "h2load" in parts:
                    log("the servers driven by h2load: the product, the no-op on its flavour and on grpc.aio")
                    h2plan = H2Plan.make(quick=plan.quick)
                    got = attempt(results, "h2load", lambda: bench_h2load(
                        procs, workdir, server_policy.snapshot_path, server_policy.index, h2plan))  # fmt: skip
                    if got is not None:
                        results["h2load"] = got
                if "workers" in parts:
                    log("--workers 2 against --workers 1")
                    snap = server_policy.snapshot_path
                    got = attempt(results, "workers", lambda: bench_workers(procs, workdir, snap, requests, plan))
                    if got is not None:
                        results["workers"] = got
            if plan.big and "big" in parts:
                big = sized[plan.big]
                assert big.index is not None
                requests = questions_from_index(big.index, 10_000, seed=2)
                big.index = None
                gc.collect()
                log("100,000 partners: server RSS and hot reload under load")
                snap = big.snapshot_path
                got = attempt(results, "big", lambda: bench_big_server(procs, workdir, snap, requests, plan))
                if got is not None:
                    results["big"]["server"] = got
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
