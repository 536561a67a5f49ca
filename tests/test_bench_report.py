"""The bench report: ghz-shaped JSON (exact keys, types, units) and the text summary."""

from __future__ import annotations

import json

import pytest

from xtenant_pdp.bench.pacing import NS_PER_S, Mode
from xtenant_pdp.bench.report import (
    REPORT_KEYS,
    BenchResult,
    build_report,
    format_duration,
    render_text,
    to_json,
)
from xtenant_pdp.bench.stats import summarize

US = 1_000

EXPECTED_KEYS = {
    "count",
    "total",
    "average",
    "fastest",
    "slowest",
    "rps",
    "latencyDistribution",
    "histogram",
    "statusCodeDistribution",
    "errorDistribution",
    "decisionsPerSecond",
    "mode",
    "offeredRate",
    "concurrency",
}


def closed_result() -> BenchResult:
    """100 OK calls of 1..100 us and 2 failures in half a second, batches of 4."""
    return BenchResult(
        mode=Mode.CLOSED,
        concurrency=8,
        offered_rate=None,
        batch_size=4,
        elapsed_ns=NS_PER_S // 2,
        count=102,
        decisions=400,
        latency=summarize(i * US for i in range(1, 101)),
        status_codes={"OK": 100, "UNAVAILABLE": 2},
        errors={"UNAVAILABLE: connection reset": 2},
    )


def test_report_has_exactly_the_ghz_keys_and_ours() -> None:
    report = build_report(closed_result())
    assert set(report) == EXPECTED_KEYS == REPORT_KEYS


def test_report_types_and_values() -> None:
    report = build_report(closed_result())
    for key in ("count", "total", "average", "fastest", "slowest", "concurrency"):
        assert type(report[key]) is int, key
    for key in ("rps", "decisionsPerSecond"):
        assert type(report[key]) is float, key
    assert report["count"] == 102
    assert report["total"] == NS_PER_S // 2  # wall-clock ns of the run, as in ghz
    assert report["average"] == 50_500
    assert (report["fastest"], report["slowest"]) == (1 * US, 100 * US)
    assert report["rps"] == 204.0
    assert report["decisionsPerSecond"] == 800.0
    assert report["mode"] == "closed"
    assert report["offeredRate"] is None
    assert report["concurrency"] == 8
    assert report["statusCodeDistribution"] == {"OK": 100, "UNAVAILABLE": 2}
    assert report["errorDistribution"] == {"UNAVAILABLE: connection reset": 2}


def test_latency_distribution_entries() -> None:
    dist = build_report(closed_result())["latencyDistribution"]
    assert [set(d) for d in dist] == [{"percentage", "latency"}] * 5
    assert [d["percentage"] for d in dist] == [50.0, 90.0, 95.0, 99.0, 99.9]
    assert all(type(d["percentage"]) is float and type(d["latency"]) is int for d in dist)
    assert [d["latency"] for d in dist] == [50 * US, 90 * US, 95 * US, 99 * US, 100 * US]


def test_histogram_entries_use_seconds_as_ghz_does() -> None:
    hist = build_report(closed_result())["histogram"]
    assert len(hist) == 10
    assert [set(b) for b in hist] == [{"mark", "count", "frequency"}] * 10
    assert all(type(b["mark"]) is float and type(b["count"]) is int for b in hist)
    assert all(type(b["frequency"]) is float for b in hist)
    assert hist[0]["mark"] == pytest.approx(10.9e-6)  # 1 us + 99 us / 10
    assert hist[-1]["mark"] == pytest.approx(100e-6)
    assert sum(b["count"] for b in hist) == 100
    assert sum(b["frequency"] for b in hist) == pytest.approx(1.0)


def test_open_loop_report_carries_the_offered_rate() -> None:
    result = BenchResult(
        mode=Mode.OPEN,
        concurrency=64,
        offered_rate=200.0,
        batch_size=1,
        elapsed_ns=NS_PER_S,
        count=200,
        decisions=200,
        latency=summarize([5 * US] * 200),
        status_codes={"OK": 200},
    )
    report = build_report(result)
    assert report["mode"] == "open"
    assert report["offeredRate"] == 200.0
    assert report["rps"] == report["decisionsPerSecond"] == 200.0
    assert report["errorDistribution"] == {}


def test_report_without_successful_calls() -> None:
    result = BenchResult(
        mode=Mode.CLOSED,
        concurrency=1,
        offered_rate=None,
        batch_size=1,
        elapsed_ns=0,
        count=3,
        decisions=0,
        latency=summarize([]),
        status_codes={"UNAVAILABLE": 3},
        errors={"UNAVAILABLE: no route": 3},
    )
    report = build_report(result)
    assert set(report) == EXPECTED_KEYS
    assert report["latencyDistribution"] == []
    assert report["histogram"] == []
    assert report["rps"] == 0.0
    assert (report["average"], report["fastest"], report["slowest"]) == (0, 0, 0)
    assert json.loads(to_json(result)) == report


def test_to_json_round_trips() -> None:
    result = closed_result()
    text = to_json(result)
    assert json.loads(text) == build_report(result)
    assert "\n" not in to_json(result, indent=None)
    assert json.loads(to_json(result))["offeredRate"] is None


def test_build_report_copies_the_distributions() -> None:
    result = closed_result()
    report = build_report(result)
    report["statusCodeDistribution"]["OK"] = 0
    assert result.status_codes["OK"] == 100


def test_text_summary_sections() -> None:
    text = render_text(closed_result())
    for heading in ("Summary:", "Response time histogram (us):", "Latency distribution:"):
        assert heading in text
    assert "Status code distribution:" in text
    assert "Error distribution:" in text
    assert "Mode:" in text
    assert "closed loop" in text
    assert "Batch size:" in text
    assert "Count:          102" in text
    assert "Requests/sec:   204.00" in text
    assert "Decisions/sec:  800.00" in text
    assert "99.9 % in 100.00 us" in text
    assert "[OK]" in text
    assert "100 responses" in text
    assert "[UNAVAILABLE]" in text
    assert "[2]     UNAVAILABLE: connection reset" in text
    assert "successful calls only" in text
    histogram_lines = [line for line in text.splitlines() if "|" in line]
    assert len(histogram_lines) == 10
    assert all(line.split("|")[1] == "#" * 40 for line in histogram_lines)  # equal buckets, full bars
    assert text.isascii()


def test_text_summary_of_an_overloaded_open_loop() -> None:
    result = BenchResult(
        mode=Mode.OPEN,
        concurrency=4,
        offered_rate=1000.0,
        batch_size=1,
        elapsed_ns=NS_PER_S,
        count=10,
        decisions=10,
        latency=summarize([2 * NS_PER_S] * 10),
        status_codes={"OK": 10},
        unsent=990,
    )
    text = render_text(result)
    assert "open loop, offered 1000.00 req/s" in text
    assert "990 requests were dropped" in text
    assert "Response time histogram (s):" in text
    assert "Batch size" not in text
    assert "Error distribution" not in text


@pytest.mark.parametrize(
    ("ns", "text"),
    [(0, "0 ns"), (850, "850 ns"), (1_500, "1.50 us"), (1_234_567, "1.23 ms"), (2_500_000_000, "2.50 s")],
)
def test_format_duration(ns: int, text: str) -> None:
    assert format_duration(ns) == text
