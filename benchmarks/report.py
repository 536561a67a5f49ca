"""Goals and reports: the goal verdicts, the tables, BENCHMARKS.md."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.h2load_report import h2load_goals, h2load_tables, stack_ceiling
from benchmarks.servers import mean_of
from benchmarks.timing import FRESH_BATCH_STAGE

GIB = 1 << 30

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
    edge = results.get("edge", {}).get("mean_ns", {})
    batch_ns = edge.get(FRESH_BATCH_STAGE)
    if batch_ns is not None:
        us = batch_ns / 1000
        goal("server CPU per decision in BatchCheck of 100 (in-process, fresh ids)", us, "<= 5 us", us <= 5.0, "us")
    admin = results.get("admin")
    if admin:
        goal("(adminAction / access decision, in-process `evaluate` median)", admin["ratio_evaluate"], "-", None, "x")
    for row in h2load_goals(results.get("h2load", {})):
        goal(row["goal"], row["measured"], row["target"], row["met"], row["unit"])
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
    if big and "server" in big:
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
            f"* decision cache on (the default, {c['size']:,} bytes; pre-warmed, so every question is a hit) / off: "
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
    admin = results.get("admin")
    if admin:
        t = admin["timings"]
        q = admin["questions"]
        lines += [
            f"* adminAction (issue 13) against access decisions on the example policy ({q['adminAction']} and "
            f"{q['access']} example questions, interleaved): `evaluate` median "
            f"{t['adminAction evaluate']['median_ns']:,.0f} ns against {t['access evaluate']['median_ns']:,.0f} ns "
            f"({admin['ratio_evaluate']:.2f}x); from request bytes "
            f"{t['adminAction from bytes']['median_ns'] / 1000:.2f} us against "
            f"{t['access from bytes']['median_ns'] / 1000:.2f} us ({admin['ratio_from_bytes']:.2f}x).",
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
    if big and "server" in big:
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


def h2load_section(results: dict[str, Any]) -> list[str]:
    h2 = results.get("h2load")
    if not h2:
        return []
    ceiling = stack_ceiling(results)
    return [
        "### gRPC servers driven by h2load (C load generator; the product and the no-op on its flavour, and the"
        " no-op on grpc.aio)",
        "",
        *h2load_tables(h2),
        *([f"* {ceiling}"] if ceiling else []),
        "",
    ]


def loaded_note(machine: dict[str, Any]) -> list[str]:
    """Say so when the machine was busy with other work: absolute figures are then low and noisy."""
    loads = [*machine.get("load_average_before", []), *machine.get("load_average_after", [])]
    cores = machine.get("nproc") or 1
    if not loads or max(loads) < cores:
        return []
    return [
        f"* **a loaded machine**: load average up to {max(loads):.1f} on {cores} cores during the run (shared with",
        "  other work), so absolute figures are low and noisy; the ratios, each measured side by side in this run,",
        "  are what the goals are judged by, and the p99 goals ask for a quiet run.",
    ]


#: The dated record of the server-flavour decision, appended to BENCHMARKS.md as measured then.
FLAVOUR_HISTORY = Path(__file__).with_name("flavour_history.md")


def _loads(machine: dict[str, Any]) -> str:
    return (f"{' '.join(str(x) for x in machine.get('load_average_before', []))} before, "
            f"{' '.join(str(x) for x in machine.get('load_average_after', []))} after")  # fmt: skip


def later_runs_note(results: dict[str, Any]) -> list[str]:
    """Where a results file combines parts of several runs (``later_runs``: parts, command, started,
    machine), say which figures come from which run; each ratio is still within one run."""
    later = results.get("later_runs", [])
    if not later:
        return []
    lines = []
    for run in later:
        parts = ", ".join(f"`{p}`" for p in run["parts"])
        note = f"; {run['note']}" if run.get("note") else ""
        lines.append(f"* part {parts}: from a later run, `{run['command']}`, started {run['started']}, "
                     f"load average {_loads(run['machine'])}{note}")  # fmt: skip
    replaced = sorted({p for run in later for p in run["parts"]})
    earlier = results.get("earlier_note", "its figures are as that run measured them")
    lines.append(f"* every other figure is from the run of {results['started']} above (not re-measured; "
                 f"{earlier}); each ratio compares figures of one run: parts {', '.join(replaced)} are never "
                 "compared with the others.")  # fmt: skip
    return lines


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
        "* client and servers share the machine: on 2 cores the load generator takes CPU the server would",
        "  otherwise have, which caps every server figure (the no-op handler's figure is that cap).",
        *loaded_note(m),
        *later_runs_note(results),
        *(["* the goals and this text were rendered again from the run's results file with `run.py --render`",
           "  (same figures; the verdict rules of the current code)."] if results.get("rendered_again") else []),
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
        "* h2load (nghttp2's C load generator) drives the same servers with far less client CPU per call than",
        "  the Python client; its section says which client's no-op figure is the stack's ceiling. h2load sends",
        "  one fixed body per run, so each run gets a new question (or batch) whose random ids are new to the",
        "  server when the run starts ('fresh ids' is their share of the body's ids) and repeat within the run;",
        "  the in-process BatchCheck CPU goal is timed on questions never asked before in that process.",
        "* The peers are asked only access questions (2.2 with R1 inheritance), the shape they express; every",
        "  timed question was checked to get the same decision from them as from the evaluator first, and",
        "  each ratio is against our evaluator timed right before and right after that peer.",
        "",
        "## Goals",
        "",
        *(f"* **part `{name}` failed in this run**: {why}" for name, why in results.get("failed_parts", {}).items()),
        *goal_table(results["goals"]),
        "",
        "Rows named `h2load: ...` are measured with h2load (the C client; its section says which client's",
        "no-op figure is the stack's ceiling); the gRPC rows below them with the project's own Python client,",
        "`xtenant-pdp bench`; the in-process rows without any client.",
        "",
        "## Figures",
        "",
        *figure_tables(results),
        "",
        *h2load_section(results),
        *([FLAVOUR_HISTORY.read_text()] if FLAVOUR_HISTORY.exists() else []),
    ]
    path.write_text("\n".join(lines))


