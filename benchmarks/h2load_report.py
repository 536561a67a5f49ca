"""The h2load part's tables, goal rows and server-flavour verdict (pure: results in, lines out)."""

from __future__ import annotations

from typing import Any

#: One flavour's stack "wins clearly" when its no-op is at least this much faster than the other's.
CLEAR_WIN = 1.10


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} us"


def flavour_verdict(ratios: dict[str, Any]) -> str:
    """One sentence: which flavour's bare stack (the no-op) is faster, by the same run's ratios. The
    product itself runs on the thread-pool server since 6f60f82 (decided on the product's own
    figures: BENCHMARKS.md's dated section on the move)."""
    by = {t: ratios[t]["threads_over_aio_noop"] for t in ("unix", "tcp") if t in ratios}
    if not by:
        return "not measured"
    low, high = min(by.values()), max(by.values())
    both = ", ".join(f"{v:.2f}x ({t})" for t, v in by.items())
    if low >= CLEAR_WIN:
        return f"the thread-pool grpc.server's bare stack wins clearly: {both} the calls/s of grpc.aio's"
    if high <= 1 / CLEAR_WIN:
        return f"grpc.aio's bare stack wins clearly: the thread-pool no-op does {both} its calls/s"
    return (
        f"no clear winner between the bare stacks (thread-pool / grpc.aio no-op calls/s: {both}; "
        f"a clear win is >= {CLEAR_WIN:.2f}x)"
    )


def h2load_goals(h2: dict[str, Any]) -> list[dict[str, Any]]:
    """Goal rows measured by h2load (the product as shipped, a thread-pool server, cache off; its no-op
    is the no-op on the same flavour)."""
    if "ratios" not in h2:
        return []
    rows: list[dict[str, Any]] = []
    ratios = h2["ratios"]
    for transport in ("unix", "tcp"):
        r = ratios[transport]
        runs = h2["runs"]
        rows.append(dict(goal=f"h2load: unary Check / no-op handler ({transport}, cache off)",
                         measured=r["pdp_over_noop"], unit="x", target=">= 0.9x", met=r["pdp_over_noop"] >= 0.9))
        rows.append(dict(goal=f"h2load: BatchCheck 100 / unary decisions/s ({transport})",
                         measured=r["batch_over_unary"], unit="x", target=">= 50x", met=r["batch_over_unary"] >= 50))
        if "pdp_over_noop_limits" in r:
            rows.append(dict(goal=f"(h2load: unary Check / no-op on the product's call pool and limits, {transport})",
                             measured=r["pdp_over_noop_limits"], unit="x", target="-", met=None))
        p99 = runs[f"pdp/{transport}"]["unary_open"]["p99_us"]
        rows.append(dict(goal=f"h2load: p99 at 1,000 checks/s open loop / no-op's p99 ({transport})",
                         measured=r["p99_over_noop"], unit="x", target="<= 1.2x", met=r["p99_over_noop"] <= 1.2))
        rows.append(dict(goal=f"h2load: p99 at 1,000 checks/s open loop ({transport})",
                         measured=p99 / 1000, unit="ms", target="<= 1 ms (quiet run)", met=p99 <= 1000))
        for kind in ("unary", "batch"):
            key = f"log_on_over_off_{kind}"
            if key in r:
                rows.append(dict(goal=f"h2load: decision log on / off, {kind} ({transport})", measured=r[key],
                                 unit="x", target=">= 0.9x", met=r[key] >= 0.9))
    ok = bool(ratios["all_verified"])
    rows.append(dict(goal="h2load: every call answered OK in gRPC terms (server's own count)",
                     measured=1.0 if ok else 0.0, unit="", target="yes", met=ok))
    return rows  # fmt: skip


def h2load_tables(h2: dict[str, Any]) -> list[str]:
    if "skipped" in h2:
        return [f"* {h2['skipped']}."]
    loads = h2["loads"]
    runs = h2["runs"]
    ratios = h2["ratios"]
    u, b, uo, bo = loads["unary"], loads["batch"], loads["unary_open"], loads["batch_open"]
    lines = [
        f"{h2['h2load']}, one thread, on the same two cores as the servers. Closed loop: unary "
        f"{u['clients']} connections x {u['streams']} streams, BatchCheck of 100 {b['clients']} x {b['streams']}, "
        f"{u['duration_s']:g} s each, in {ratios['rounds']} rounds (the servers back to back, order flipped each "
        "round; each ratio is the median of its per-round ratios, each figure the median round's). Open loop: "
        f"{uo['calls']:,} calls at {uo['rate']:g} calls/s from {uo['clients']} h2load processes of one connection "
        f"each (their timing scripts 1/rate apart; merged, the sends arrive about as a Poisson stream), and "
        f"{bo['rate']:g} batches/s ({bo['calls']:,} batches) from {bo['clients']}, in "
        f"{h2.get('plan', {}).get('open_rounds', 1)} paired rounds (the p99 ratio is the median of the rounds', "
        "each figure the median-p99 round's); latency per call from h2load's logs, measured from the call's "
        "send, which h2load's timer makes whatever the server does (no coordinated omission unless all streams "
        "fill: 'saturated'). One h2load process per connection: a single process started every "
        "connection's script at once (8 calls together every 8 ms), which measured bursts queueing.",
        "",
        "| server / transport | unary calls/s | CPU/call | BatchCheck 100 decisions/s | CPU/decision | "
        "open loop achieved /s | p50 | p99 | p99.9 | batch open p99 | fresh ids (mean) | gRPC OK |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, run in runs.items():
        rounds = run["unary_rounds"]
        rates = sorted(r["calls_per_s"] for r in rounds)
        cpu = sorted(r["server_cpu_us_per_call"] or 0 for r in rounds)
        batch, open_, bopen = run["batch"], run.get("unary_open", {}), run.get("batch_open", {})
        every = [*rounds, batch, *([open_, bopen] if open_ else [])]
        fresh = sum(r["fresh_ids"] for r in every) / len(every)
        verified = all(r["verified"] for r in every)
        saturated = " (saturated)" if open_.get("saturated") else ""
        lines.append(
            f"| {key} | {_n(rates[len(rates) // 2])} | {_us(cpu[len(cpu) // 2])} | {_n(batch['decisions_per_s'])} | "
            f"{_n((batch['server_cpu_us_per_call'] or 0) / 100, 1)} us | {_n(open_.get('achieved_rate'))}{saturated} | "
            f"{_us(open_.get('p50_us'))} | {_us(open_.get('p99_us'))} | {_us(open_.get('p999_us'))} | "
            f"{_us(bopen.get('p99_us'))} | {fresh:.0%} | {'yes' if verified else '**no**'} |"
        )
    lines.append("")
    for transport in ("unix", "tcp"):
        r = ratios[transport]
        lines.append(
            f"* {transport}: product / no-op (both thread-pool) unary {r['pdp_over_noop']:.2f}x (by server CPU "
            f"per call {r['pdp_over_noop_by_cpu']:.2f}x); BatchCheck 100 / unary decisions/s "
            f"{r['batch_over_unary']:.1f}x; p99 at {uo['rate']:g}/s / no-op's {r['p99_over_noop']:.2f}x. "
            f"The bare stacks, thread-pool no-op / grpc.aio no-op: unary {r['threads_over_aio_noop']:.2f}x "
            f"calls/s ({r['threads_over_aio_noop_by_cpu']:.2f}x by CPU per call), BatchCheck 100 "
            f"{r['threads_over_aio_noop_batch']:.2f}x, p99 {r['p99_threads_over_aio_noop']:.2f}x."
        )
        if "pdp_over_noop_limits" in r:
            lines.append(
                f"* {transport}: the handler apart from the server settings: product / the no-op on the product's call "
                f"pool and limits (`noop+limits`) unary {r['pdp_over_noop_limits']:.2f}x (by server CPU per call "
                f"{r['pdp_over_noop_limits_by_cpu']:.2f}x), p99 {r['p99_over_noop_limits']:.2f}x; those settings "
                f"themselves, no-op with them / without: {r['limits_over_noop']:.2f}x "
                f"({r['limits_over_noop_by_cpu']:.2f}x by CPU per call)."
            )
        if "log_on_over_off_unary" in r:
            lines.append(
                f"* {transport}: decision log on / off (`serve --decision-log FILE`): unary "
                f"{r['log_on_over_off_unary']:.2f}x, BatchCheck 100 {r['log_on_over_off_batch']:.2f}x."
            )
    lines.append(f"* Stack flavour: {flavour_verdict(ratios)}.")
    return lines


def stack_ceiling(results: dict[str, Any]) -> str:
    """Which client's no-op figure is the stack's ceiling: the higher calls/s of the same no-op
    server under h2load and under ``xtenant-pdp bench`` in this run."""
    h2 = results.get("h2load", {})
    servers = results.get("servers", {})
    if "ratios" not in h2 or "unary" not in servers:
        return ""
    parts = []
    for transport in ("unix", "tcp"):
        ours = servers["unary"].get(f"noop/{transport}", {}).get("rps")
        theirs = h2["ratios"][transport]["unary_calls_per_s"]["noop"]
        if ours:
            parts.append(f"{theirs:,.0f} calls/s under h2load against {ours:,.0f} under `xtenant-pdp bench` "
                         f"({transport}, {theirs / ours:.2f}x)")  # fmt: skip
    if not parts:
        return ""
    ratio_unix = h2["ratios"]["unix"]["unary_calls_per_s"]["noop"] / servers["unary"]["noop/unix"]["rps"]
    which = "h2load" if ratio_unix >= 1 else "`xtenant-pdp bench`"
    return (
        f"The no-op handler (the stack with nothing behind it) does {'; '.join(parts)}: {which} drives the stack "
        "harder, so its no-op figure is the stack's ceiling here and the h2load ratios are the ones the goals "
        "are judged by; the Python client's figures show what a Python caller of the sidecar sees."
    )
