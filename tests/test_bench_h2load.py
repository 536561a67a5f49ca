"""h2load as the suite's gRPC client (benchmarks/h2load.py): frames, command lines, its output and
log, the gRPC check, the goal verdicts; one real h2load run against a real server where h2load is
installed. No timing assertions."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client import CollectorRegistry, generate_latest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `benchmarks` is a folder of the repository, not an installed package
    sys.path.insert(0, str(REPO))

from server_kit import EXAMPLE_POLICY, InProcessServer, settings_from_flags  # noqa: E402

from benchmarks import h2load  # noqa: E402
from benchmarks.h2load_report import flavour_verdict, h2load_goals, h2load_tables  # noqa: E402
from xtenant_pdp.api import pdp_pb2  # noqa: E402
from xtenant_pdp.bench.mix import questions_from_index  # noqa: E402
from xtenant_pdp.loader import load_policy_dir  # noqa: E402
from xtenant_pdp.metrics import Metrics  # noqa: E402
from xtenant_pdp.service.rpc_metrics import RpcMetrics  # noqa: E402

# A real h2load 1.52 summary (closed loop over a Unix socket), trimmed of its progress lines.
SUMMARY = """\
starting benchmark...
spawning thread #0: 2 total client(s). 2000 total requests
Application protocol: h2c

finished in 835.21ms, 2394.60 req/s, 347.64KB/s
requests: 2000 total, 2000 started, 1990 done, 1985 succeeded, 15 failed, 10 errored, 5 timeout
status codes: 1985 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 290.35KB (297319) total, 6.01KB (6150) headers (space savings 96.20%), 175.78KB (180000) data
                     min         max         mean         sd        +/- sd
time for request:      588us     16.75ms      6.59ms      1.55ms    77.15%
"""


# ----------------------------------------------------------------------------- frames and commands


def test_grpc_frame_is_flag_zero_then_big_endian_length_then_the_message() -> None:
    message = pdp_pb2.CheckRequest(access=pdp_pb2.AccessQuestion(tenant_id="t" * 300)).SerializeToString()
    frame = h2load.grpc_frame(message)
    assert frame[0] == 0
    assert int.from_bytes(frame[1:5], "big") == len(message) > 255  # a length that needs two bytes
    assert frame[5:] == message
    assert h2load.unframe(frame) == message
    assert pdp_pb2.CheckRequest.FromString(h2load.unframe(frame)).access.tenant_id == "t" * 300
    assert h2load.grpc_frame(b"") == b"\x00\x00\x00\x00\x00"


@pytest.mark.parametrize("body", [b"", b"\x01\x00\x00\x00\x00", b"\x00\x00\x00\x00\x05abc"])
def test_unframe_refuses_what_is_not_one_uncompressed_frame(body: bytes) -> None:
    with pytest.raises(ValueError):
        h2load.unframe(body)


def test_command_closed_loop_over_a_unix_socket() -> None:
    load = h2load.Load(clients=4, streams=8, duration_s=3)
    argv = h2load.command("h2load", "unix:/tmp/x/pdp.sock", "Check", "/tmp/body", load)
    assert argv[:9] == ["h2load", "-t", "1", "-c", "4", "-m", "8", "-d", "/tmp/body"]
    assert "content-type: application/grpc" in argv and "te: trailers" in argv
    assert argv[argv.index("-D") + 1] == "3s"
    assert argv[-3:] == ["-B", "unix:/tmp/x/pdp.sock", "http://localhost/xtenant.pdp.v1.DecisionService/Check"]
    assert "--timing-script-file" not in argv


def test_command_open_loop_over_tcp_takes_its_uris_from_the_script() -> None:
    load = h2load.Load(clients=8, streams=16, rate=1000, calls=4000)
    argv = h2load.command("h2load", "127.0.0.1:5000", "BatchCheck", "/b", load, script_path="/s", log_path="/l")
    assert argv[argv.index("--timing-script-file") + 1] == "/s"
    assert argv[argv.index("--log-file") + 1] == "/l"
    assert argv[argv.index("-c") + 1] == "1"  # one connection a process: the runner starts `clients` of them
    assert "-r" not in argv and "--rate-period" not in argv
    assert "-D" not in argv and not any(a.startswith("http") for a in argv)
    with pytest.raises(ValueError):
        h2load.command("h2load", "127.0.0.1:5000", "Check", "/b", load)


def test_timing_script_spreads_the_rate_over_the_connections() -> None:
    load = h2load.Load(clients=4, streams=16, rate=1000, calls=40)
    lines = h2load.timing_script(load, "127.0.0.1:7", "Check").splitlines()
    assert len(lines) == 10  # each connection runs the whole script: 4 x 10 = 40 calls
    offsets = [float(line.split("\t")[0]) for line in lines]
    assert offsets[:3] == [0.0, 4.0, 8.0]  # 4 connections at 250/s each
    third = [float(line.split("\t")[0]) for line in h2load.timing_script(load, "127.0.0.1:7", "Check", 2).splitlines()]
    assert third[:3] == [2.0, 6.0, 10.0]  # connection 2 of 4 starts 2/rate in: the sends interleave
    with pytest.raises(ValueError):
        h2load.timing_script(load, "127.0.0.1:7", "Check", 4)
    assert {line.split("\t")[1] for line in lines} == {"http://127.0.0.1:7/xtenant.pdp.v1.DecisionService/Check"}
    unix = h2load.timing_script(load, "unix:/s.sock", "Check").splitlines()[0]
    assert unix.endswith("http://localhost/xtenant.pdp.v1.DecisionService/Check")
    with pytest.raises(ValueError):
        h2load.timing_script(h2load.Load(clients=4, streams=1, duration_s=1), "127.0.0.1:7", "Check")


# ----------------------------------------------------------------------------- output


def test_parse_summary_reads_h2loads_end_of_run_lines() -> None:
    s = h2load.parse_summary(SUMMARY)
    assert s.duration_s == pytest.approx(0.83521)
    assert s.rps == pytest.approx(2394.60)
    assert (s.total, s.started, s.done, s.succeeded) == (2000, 2000, 1990, 1985)
    assert (s.failed, s.errored, s.timeout, s.status_2xx) == (15, 10, 5, 1985)
    assert h2load.parse_summary(SUMMARY.replace("835.21ms", "3.01s")).duration_s == pytest.approx(3.01)
    assert h2load.parse_summary(SUMMARY.replace("835.21ms", "950us")).duration_s == pytest.approx(0.00095)


@pytest.mark.parametrize("cut", ["finished in", "requests:", "status codes:"])
def test_parse_summary_refuses_output_missing_a_line(cut: str) -> None:
    text = "\n".join(line for line in SUMMARY.splitlines() if not line.startswith(cut))
    with pytest.raises(ValueError, match="not h2load's summary"):
        h2load.parse_summary(text)


def test_parse_log_and_its_errors() -> None:
    rows = h2load.parse_log("1795970625158215\t200\t1523\n\n1795970625158217\t-1\t2329\t7\n")
    assert rows == [h2load.Row(1795970625158215, 200, 1523), h2load.Row(1795970625158217, -1, 2329)]
    with pytest.raises(ValueError, match="line 1: expected 3"):
        h2load.parse_log("1\t200\n")
    with pytest.raises(ValueError, match="line 2: not integers"):
        h2load.parse_log("1\t200\t3\n1\t200\tx\n")


def test_latency_figures_quantiles_failures_and_saturation() -> None:
    # 1,000 calls 1 ms apart, latencies 1..1000 us; one failed stream.
    rows = [h2load.Row(10_000_000 + i * 1000, 200, i + 1) for i in range(1000)]
    rows[500] = h2load.Row(rows[500].start_us, -1, 5)
    load = h2load.Load(clients=1, streams=2, rate=1000, calls=1000)
    f = h2load.latency_figures(rows, load)
    assert f["calls"] == 1000 and f["failed"] == 1
    assert f["p50_us"] == 500  # nearest rank over the 999 answered calls (501 failed)
    assert f["p99_us"] == 991 and f["p999_us"] == 1000 and f["max_us"] == 1000
    assert f["achieved_rate"] == pytest.approx(1000.0)
    assert f["max_in_flight"] == 1 and f["saturated"] is False
    slow = [h2load.Row(r.start_us, 200, 5000) for r in rows]  # 5 calls in flight at once, 2 streams
    assert h2load.latency_figures(slow, load)["saturated"] is True
    with pytest.raises(ValueError):
        h2load.latency_figures([], load)


def test_max_in_flight_counts_overlaps() -> None:
    rows = [h2load.Row(0, 200, 10), h2load.Row(5, 200, 10), h2load.Row(6, 200, 1), h2load.Row(20, 200, 1)]
    assert h2load.max_in_flight(rows) == 3


# ----------------------------------------------------------------------------- the gRPC check


def test_handled_reads_the_products_own_exposition() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    rpc = RpcMetrics.of(metrics)
    check = rpc.method(f"/{h2load.SERVICE}/Check")
    check.handled[grpc.StatusCode.OK].inc(7)
    check.handled[grpc.StatusCode.INVALID_ARGUMENT].inc(2)
    rpc.method(f"/{h2load.SERVICE}/BatchCheck").handled[grpc.StatusCode.OK].inc(5)
    rpc.method("/other.Service/Check").handled[grpc.StatusCode.OK].inc(11)
    text = generate_latest(registry).decode()  # a scrape flushes the hot counters first
    assert h2load.handled(text, "Check") == (7.0, 9.0)
    assert h2load.handled(text, "BatchCheck") == (5.0, 5.0)
    assert h2load.handled(text, "Check", "other.Service") == (11.0, 11.0)


def test_verified_needs_no_other_code_and_at_least_h2loads_successes() -> None:
    assert h2load.verified(1002, 1002, 1000)  # two answered after -D's window closed
    assert not h2load.verified(999, 1002, 1000)  # three calls failed in gRPC terms, HTTP 200 all
    assert not h2load.verified(990, 990, 1000)
    assert h2load.verified(999, 1000, 1000, tolerance=0.001)
    assert h2load.verified(1027, 1028, 1026, cut_off=4)  # one batch in flight when -D's window closed
    assert not h2load.verified(1020, 1028, 1020, cut_off=4)
    assert not h2load.verified(990, 1000, 1000, tolerance=0.001)


# ----------------------------------------------------------------------------- verdicts and tables


def _ratios(threads_unix: float, threads_tcp: float, **over: float) -> dict[str, object]:
    """Ratios as ``h2load_run.ratios`` makes them; the two arguments are the bare stacks' (no-op's)
    thread-pool / grpc.aio unary calls/s per transport."""
    base = {
        "pdp_over_noop": 0.92, "pdp_over_noop_by_cpu": 0.9, "threads_over_aio_noop_by_cpu": 1.0,
        "threads_over_aio_noop_batch": 1.1, "batch_over_unary": 55.0, "p99_over_noop": 1.1,
        "p99_threads_over_aio_noop": 1.0,
        "unary_calls_per_s": {"pdp": 900.0, "noop": 1000.0, "noop-aio": 950.0},
    }  # fmt: skip
    base.update(over)
    return {
        "unix": {**base, "threads_over_aio_noop": threads_unix},
        "tcp": {**base, "threads_over_aio_noop": threads_tcp},
        "all_verified": True,
        "rounds": 3,
    }


def test_flavour_verdict_needs_a_clear_win_on_both_transports() -> None:
    assert "thread-pool grpc.server's bare stack wins clearly" in flavour_verdict(_ratios(1.3, 1.2))
    assert "1.30x (unix)" in flavour_verdict(_ratios(1.3, 1.2))
    assert "no clear winner" in flavour_verdict(_ratios(1.3, 1.05))
    assert "grpc.aio's bare stack wins clearly" in flavour_verdict(_ratios(0.8, 0.85))
    assert flavour_verdict({}) == "not measured"


def _h2(p99_pdp: float, p99_noop: float, **over: float) -> dict[str, object]:
    figures = {"calls_per_s": 1000.0, "decisions_per_s": 1000.0, "server_cpu_us_per_call": 400.0, "fresh_ids": 0.5,
               "verified": True}  # fmt: skip
    runs = {}
    for transport in ("unix", "tcp"):
        for name, p99 in (("pdp", p99_pdp), ("noop", p99_noop), ("noop-aio", p99_noop)):
            runs[f"{name}/{transport}"] = {
                "unary_rounds": [figures],
                "batch": figures,
                "unary_open": {**figures, "p50_us": 500.0, "p99_us": p99, "p999_us": 2 * p99, "achieved_rate": 990.0},
                "batch_open": {**figures, "p99_us": 3000.0},
            }
    load = {"clients": 4, "streams": 8, "duration_s": 3.0, "rate": 1000, "calls": 5000}
    return {
        "h2load": "h2load nghttp2/1.52.0",
        "loads": {"unary": load, "batch": load, "unary_open": load, "batch_open": load},
        "runs": runs,
        "ratios": _ratios(1.0, 1.0, **over),
    }


def test_h2load_goals_say_which_are_met() -> None:
    rows = {r["goal"]: r for r in h2load_goals(_h2(900.0, 800.0, p99_over_noop=1.125, batch_over_unary=30.0))}
    assert rows["h2load: unary Check / no-op handler (unix, cache off)"]["met"] is True  # 0.92
    assert rows["h2load: BatchCheck 100 / unary decisions/s (tcp)"]["met"] is False  # 30x
    assert rows["h2load: p99 at 1,000 checks/s open loop / no-op's p99 (unix)"]["met"] is True  # 1.125x
    p99 = rows["h2load: p99 at 1,000 checks/s open loop (unix)"]
    assert p99["measured"] == pytest.approx(0.9) and p99["met"] is True
    slow = {r["goal"]: r for r in h2load_goals(_h2(1500.0, 800.0, p99_over_noop=1.9, pdp_over_noop=0.85))}
    assert slow["h2load: p99 at 1,000 checks/s open loop (tcp)"]["met"] is False
    assert slow["h2load: p99 at 1,000 checks/s open loop / no-op's p99 (tcp)"]["met"] is False
    assert slow["h2load: unary Check / no-op handler (tcp, cache off)"]["met"] is False
    assert h2load_goals({"skipped": h2load.MISSING}) == []


def test_h2load_tables_have_a_row_per_server_and_transport_and_the_verdict() -> None:
    lines = h2load_tables(_h2(900.0, 800.0))
    rows = [line for line in lines if line.startswith("| ") and "/" in line.split("|")[1] and "server" not in line]
    assert [r.split("|")[1].strip() for r in rows] == [
        f"{s}/{t}" for t in ("unix", "tcp") for s in ("pdp", "noop", "noop-aio")
    ]
    assert any(line.startswith("* Stack flavour: no clear winner") for line in lines)
    assert h2load_tables({"skipped": h2load.MISSING}) == [f"* {h2load.MISSING}."]


# ----------------------------------------------------------------------------- a real run


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[InProcessServer, str]]:
    sock = tmp_path / "pdp.sock"
    settings = settings_from_flags(
        "--policy", str(EXAMPLE_POLICY), "--listen", f"unix:{sock}", "--metrics-listen", "off",
        "--shutdown-delay", "0s", "--cache-size", "0",
    )  # fmt: skip
    pdp = InProcessServer(settings)
    try:
        pdp.start()
        yield pdp, f"unix:{sock}"
    finally:
        pdp.close()


@pytest.mark.skipif(h2load.h2load_path() is None, reason=h2load.MISSING)
def test_h2load_drives_the_real_server_and_grpc_says_ok(served: tuple[InProcessServer, str], tmp_path: Path) -> None:
    pdp, address = served
    request = questions_from_index(load_policy_dir(EXAMPLE_POLICY), 1, seed=3, kinds=["access"])[0]
    body = tmp_path / "body.bin"
    body.write_bytes(h2load.grpc_frame(request.SerializeToString()))
    before = h2load.handled(generate_latest(pdp.registry).decode(), "Check")
    argv = h2load.command(h2load.h2load_path() or "", address, "Check", str(body), h2load.Load(2, 4, calls=40))
    assert argv[argv.index("-n") + 1] == "40" and "-D" not in argv
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    summary = h2load.parse_summary(done.stdout)
    after = h2load.handled(generate_latest(pdp.registry).decode(), "Check")
    assert summary.succeeded == 40
    assert h2load.verified(round(after[0] - before[0]), round(after[1] - before[1]), summary.succeeded)
    assert after[0] - before[0] == 40
    # A body that is not a question: h2load still counts HTTP 200, gRPC says INVALID_ARGUMENT.
    body.write_bytes(h2load.grpc_frame(b"\xff\xff"))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    again = h2load.handled(generate_latest(pdp.registry).decode(), "Check")
    assert h2load.parse_summary(done.stdout).succeeded == 40
    assert not h2load.verified(round(again[0] - after[0]), round(again[1] - after[1]), 40)


def test_the_suites_goal_table_holds_the_batch_cpu_goal_and_the_h2load_rows() -> None:
    from benchmarks import report
    from benchmarks.timing import FRESH_BATCH_STAGE

    results = {"edge": {"mean_ns": {FRESH_BATCH_STAGE: 4200.0}}, "h2load": _h2(900, 800)}
    rows = {r["goal"]: r for r in report.goals(results)}
    cpu = rows["server CPU per decision in BatchCheck of 100 (in-process, fresh ids)"]
    assert cpu["measured"] == pytest.approx(4.2) and cpu["met"] is True
    assert rows["h2load: unary Check / no-op handler (tcp, cache off)"]["met"] is True
    slow = report.goals({"edge": {"mean_ns": {FRESH_BATCH_STAGE: 12_500.0}}})
    assert [r["met"] for r in slow] == [False]


def test_stack_ceiling_names_the_client_that_drives_the_no_op_harder() -> None:
    from benchmarks.h2load_report import stack_ceiling

    h2 = _h2(900, 800)  # the no-op at 1,000 calls/s under h2load
    slower = {"servers": {"unary": {"noop/unix": {"rps": 500.0}, "noop/tcp": {"rps": 400.0}}}, "h2load": h2}
    assert "h2load drives the stack harder" in stack_ceiling(slower)
    assert "(unix, 2.00x)" in stack_ceiling(slower)
    faster = {"servers": {"unary": {"noop/unix": {"rps": 2000.0}, "noop/tcp": {"rps": 2000.0}}}, "h2load": h2}
    assert "`xtenant-pdp bench` drives the stack harder" in stack_ceiling(faster)
    assert stack_ceiling({"h2load": h2}) == ""


def test_decision_log_rows_appear_when_the_run_had_the_logging_server() -> None:
    h2 = _h2(900, 800, log_on_over_off_unary=0.95, log_on_over_off_batch=0.7)
    h2["runs"]["pdp+log/unix"] = {
        "unary_rounds": h2["runs"]["pdp/unix"]["unary_rounds"],
        "batch": h2["runs"]["pdp/unix"]["batch"],
    }
    rows = {r["goal"]: r for r in h2load_goals(h2)}
    assert rows["h2load: decision log on / off, unary (unix)"]["met"] is True
    assert rows["h2load: decision log on / off, batch (tcp)"]["met"] is False
    lines = h2load_tables(h2)
    assert any(line.startswith("| pdp+log/unix |") for line in lines)  # no open-loop runs: still a row
    assert any("decision log on / off (`serve --decision-log FILE`): unary 0.95x" in line for line in lines)
    assert not any("decision log" in r["goal"] for r in h2load_goals(_h2(900, 800)))


def test_ratios_are_medians_of_per_round_ratios() -> None:
    from benchmarks.h2load_run import LOGGED, SERVERS, ratios

    def f(calls: float, dps: float | None = None, p99: float = 1000.0) -> dict[str, object]:
        return {"calls_per_s": calls, "decisions_per_s": dps if dps is not None else calls,
                "server_cpu_us_per_call": 1e6 / calls, "verified": True, "p99_us": p99}  # fmt: skip

    def server(
        unary: list[float], batch: list[tuple[float, float]], p99: list[float] | None = None
    ) -> dict[str, object]:
        run: dict[str, object] = {"unary_rounds": [f(c) for c in unary], "batch_rounds": [f(c, d) for c, d in batch]}
        if p99 is not None:
            run["unary_open_rounds"] = [f(900, p99=x) for x in p99]
        return run

    runs: dict[str, dict[str, object]] = {}
    for transport in ("unix", "tcp"):
        # Three rounds; the machine slows down in round 2 for everyone.
        runs[f"pdp/{transport}"] = server([900, 450, 800], [(9, 45_000), (4, 18_000), (8, 48_000)], [1200, 3000, 1100])
        runs[f"noop/{transport}"] = server([1000, 500, 1000], [(10, 100_000), (5, 100_000), (10, 150_000)], [1000] * 3)
        aio_batch = [(10, 50_000), (5, 20_000), (10, 80_000)]
        runs[f"noop-aio/{transport}"] = server([833, 375, 909], aio_batch, [2000, 500, 2000])
        runs[f"noop+limits/{transport}"] = server([1000, 450, 1000], [(10, 90_000)] * 3, [1000, 1500, 1000])
        runs[f"{LOGGED}/{transport}"] = server([810, 450, 640], [(9, 45_000), (4, 9_000), (8, 40_000)])
    out = ratios(runs, 3)
    unix = out["unix"]
    assert unix["pdp_over_noop"] == pytest.approx(0.9)  # per round 0.9, 0.9, 0.8
    assert unix["threads_over_aio_noop"] == pytest.approx(1.2, rel=1e-3)  # per round 1.2, 1.333, 1.1
    assert unix["batch_over_unary"] == pytest.approx(50.0)  # per round 50, 40, 60
    assert unix["log_on_over_off_unary"] == pytest.approx(0.9)  # 0.9, 1.0, 0.8
    assert unix["log_on_over_off_batch"] == pytest.approx(0.8333, rel=1e-3)  # 1.0, 0.5, 0.833
    assert unix["threads_over_aio_noop_batch"] == pytest.approx(2.0)  # 2.0, 5.0, 1.875
    # p99 open loop, per round: 1.2, 3.0, 1.1 (a hiccup in round 2); no-op over aio 0.5, 2.0, 0.5.
    assert unix["p99_over_noop"] == pytest.approx(1.2) and unix["p99_threads_over_aio_noop"] == pytest.approx(0.5)
    # The product's pool and limits apart from the handler: pdp / noop+limits 0.9, 1.0, 0.8; the limits 1.0, 0.9, 1.0.
    assert unix["pdp_over_noop_limits"] == pytest.approx(0.9) and unix["limits_over_noop"] == pytest.approx(1.0)
    assert unix["p99_over_noop_limits"] == pytest.approx(1.2)  # 1.2, 2.0, 1.1
    assert unix["unary_calls_per_s"]["pdp"] == 800 and set(unix["unary_calls_per_s"]) == {*SERVERS, LOGGED}
    assert out["all_verified"] is True and out["rounds"] == 3
    runs["noop/tcp"]["unary_rounds"][1] = {**f(500), "verified": False}
    assert ratios(runs, 3)["all_verified"] is False


def test_every_run_gets_a_framed_body_with_ids_the_server_never_saw(tmp_path: Path) -> None:
    from benchmarks.h2load_run import BATCH, Bodies

    bodies = Bodies(load_policy_dir(EXAMPLE_POLICY), tmp_path)
    seen: set[bytes] = set()
    for kind in ["unary"] * 10 + ["batch"] * 2:
        path, message, fresh = bodies.next(kind)
        assert h2load.unframe(path.read_bytes()) == message
        assert 0 < fresh <= 1
        assert message not in seen
        seen.add(message)
    assert len(pdp_pb2.BatchCheckRequest.FromString(message).requests) == BATCH


def test_reverify_applies_the_current_rule_to_saved_counts() -> None:
    from benchmarks.h2load_run import reverify

    h2 = _h2(900, 800)
    load = {"clients": 2, "streams": 2, "duration_s": 2.0, "rate": 0.0, "calls": 0}
    h2["loads"] = {"unary": load, "batch": load, "unary_open": {**load, "rate": 1000.0, "calls": 100},
                   "batch_open": {**load, "rate": 40.0, "calls": 4}}  # fmt: skip
    batch = {**h2["runs"]["pdp/unix"]["batch"], "verified": False, "grpc_ok": 1027, "grpc_all": 1028,
             "succeeded": 1026, "real_call_ok": True}  # fmt: skip
    h2["runs"]["pdp/unix"]["batch"] = batch
    h2["ratios"]["all_verified"] = False
    reverify(h2)
    assert batch["verified"] is True and h2["ratios"]["all_verified"] is True  # one call cut off by -D
    batch["grpc_all"] = 1040  # more failures than calls in flight: a real failure
    reverify(h2)
    assert batch["verified"] is False and h2["ratios"]["all_verified"] is False


def test_merged_summaries_add_counts_and_rates_and_last_as_long_as_the_longest() -> None:
    one = h2load.Summary(2.0, 100.0, 200, 200, 200, 199, 1, 0, 0, 199)
    two = h2load.Summary(2.5, 80.0, 200, 200, 200, 200, 0, 0, 0, 200)
    both = h2load.merged([one, two])
    assert both == h2load.Summary(2.5, 180.0, 400, 400, 400, 399, 1, 0, 0, 399)
    with pytest.raises(ValueError):
        h2load.merged([])


def test_one_full_connection_is_saturation_though_the_others_are_idle() -> None:
    """The open loop runs one h2load per connection: 16 calls stuck on one 16-stream connection
    delay that connection's sends even though 8 x 16 streams were never all in use."""
    load = h2load.Load(clients=8, streams=16, rate=1000, calls=100)
    stuck = [h2load.Row(1_000_000 + i, 200, 50_000) for i in range(16)]
    idle = [[h2load.Row(2_000_000 + 8000 * i, 200, 500)] for i in range(7)]
    rows = [*stuck, *(r for c in idle for r in c)]
    assert h2load.latency_figures(rows, load)["saturated"] is False  # counted over all connections
    assert h2load.latency_figures(rows, load, connections=[stuck, *idle])["saturated"] is True
    calm = [stuck[:15], *idle]
    assert h2load.latency_figures([r for c in calm for r in c], load, connections=calm)["saturated"] is False
