"""The suite's own arithmetic (benchmarks/report.py, servers.py): paired rounds, goal verdicts, the goal table.

No timing here: the inputs are made-up figures, the outputs what the suite must conclude.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `benchmarks` is a folder of the repository, not an installed package
    sys.path.insert(0, str(REPO))

from benchmarks import report, servers  # noqa: E402


def test_rounds_flip_each_group_on_odd_rounds() -> None:
    groups = [[("pdp", "unix"), ("noop", "unix"), ("pdp+cache", "unix")], [("pdp", "tcp"), ("noop", "tcp")]]
    assert servers.round_order(groups, 0) == [
        ("pdp", "unix"), ("noop", "unix"), ("pdp+cache", "unix"), ("pdp", "tcp"), ("noop", "tcp"),
    ]  # fmt: skip
    assert servers.round_order(groups, 1) == [
        ("pdp+cache", "unix"), ("noop", "unix"), ("pdp", "unix"), ("noop", "tcp"), ("pdp", "tcp"),
    ]  # fmt: skip
    assert servers.round_order(groups, 2) == servers.round_order(groups, 0)


def _timing(median_ns: float) -> dict[str, float]:
    return {"median_ns": median_ns, "p99_ns": median_ns * 3, "mean_ns": median_ns, "samples": 1}


def _in_process(partners: int, evaluate_ns: float, warm_ns: float, bare_ns: float) -> dict[str, Any]:
    return {
        "partners": partners,
        "timings": {
            "evaluate": _timing(evaluate_ns),
            "evaluate_access_warm": _timing(warm_ns),
            "bare_reference": _timing(bare_ns),
        },
    }


def _by_goal(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["goal"]: row for row in rows}


def test_partner_ratio_goal_and_its_context_rows() -> None:
    results = {"in_process": [_in_process(10, 800, 500, 400), _in_process(100_000, 1_000, 510, 900)]}
    rows = _by_goal(report.goals(results))
    ratio = rows["100k-partner median / 10-partner median"]
    assert ratio["measured"] == 1.25 and ratio["met"] is False
    assert rows["access decision median, 100000 partners"]["met"] is True  # 1.0 us <= 2 us
    warm = rows["(same, cache-warm (the look-ups alone))"]
    assert warm["measured"] == 510 / 500 and warm["met"] is None  # context, not a verdict
    assert rows["(same, for a bare hand-indexed reference (the memory's share))"]["measured"] == 900 / 400


def _server_figures(unary_unix: float, batch_dps: float, cache_batch_dps: float) -> dict[str, Any]:
    run_ = {"p99_us": 900.0, "decisions_per_s": batch_dps}
    return {
        "unary_ratio_unix": unary_unix,
        "unary_ratio_cached_unix": 0.95,
        "unary_ratio_tcp": 0.95,
        "unary_cpu_capacity_ratio_unix": 0.91,
        "unary_cpu_capacity_ratio_tcp": 0.89,
        "fixed_rate_1000": {"pdp/unix": {"p99_us": 1_500.0}, "noop/unix": {"p99_us": 2_500.0}},
        "batch_ratio": batch_dps / 2_000,
        "batch100": {"pdp/unix": run_, "noop/unix": {"decisions_per_s": 180_000.0}},
        "cache": {
            "on": {
                "unary": [{"rps": 2_000.0}, {"rps": 2_200.0}],
                "batch100": {"decisions_per_s": cache_batch_dps},
                "fixed_rate_1000": {"p99_us": 800.0},
            }
        },
    }


def test_server_goals_follow_the_figures() -> None:
    rows = _by_goal(report.goals({"servers": _server_figures(0.92, 60_000.0, 210_000.0)}))
    assert rows["unary Check / no-op handler (unix)"]["met"] is True
    assert rows["same, by server CPU per call (tcp)"]["met"] is False  # 0.89 < 0.9
    assert rows["unary Check / no-op, decision cache on as by default (all hits, unix)"]["met"] is True
    assert rows["p99 at 1,000 checks/s offered (unix)"]["measured"] == 1.5
    assert rows["p99 at 1,000 checks/s offered (unix)"]["met"] is False
    assert rows["(the no-op handler's own p99 there: the stack's floor)"]["measured"] == 2.5
    assert rows["BatchCheck 100 / unary decisions/s"]["measured"] == 30 and not rows[
        "BatchCheck 100 / unary decisions/s"
    ]["met"]
    cached = rows["BatchCheck 100 / unary, decision cache on (all hits)"]
    assert cached["measured"] == 210_000 / 2_100 and cached["met"] is True  # against the mean unary rate
    assert rows["BatchCheck 100 decisions/s, decision cache on (all hits)"]["met"] is True
    assert rows["same p99, decision cache on (all hits)"]["met"] is True


def test_goal_table_marks_context_rows_with_a_dash() -> None:
    rows = report.goals({"servers": _server_figures(0.85, 60_000.0, 150_000.0)})
    table = report.goal_table(rows)
    assert table[:2] == ["| goal | measured | target | met |", "|---|---:|---|---|"]
    floor = next(line for line in table if "stack's floor" in line)
    assert floor.endswith("| - | - |")
    unary = next(line for line in table if line.startswith("| unary Check / no-op handler (unix)"))
    assert unary.endswith("| **no** |")


def test_a_failing_part_is_recorded_and_the_run_goes_on() -> None:
    from benchmarks.run import attempt

    results: dict[str, object] = {}

    def boom() -> None:
        raise SystemExit("pdp not SERVING within 120s")  # how the suite's helpers give up

    assert attempt(results, "servers", boom) is None
    assert attempt(results, "h2load", lambda: {"ok": 1}) == {"ok": 1}
    assert results == {"failed_parts": {"servers": "SystemExit: pdp not SERVING within 120s"}}


def test_a_combined_results_file_says_which_run_each_part_comes_from() -> None:
    from benchmarks.report import FLAVOUR_HISTORY, later_runs_note

    assert later_runs_note({"started": "2026-11-29T18:02:56+00:00"}) == []
    machine = {"load_average_before": [0.5, 1.0, 2.0], "load_average_after": [1.9, 1.5, 1.8]}
    results = {
        "started": "2026-11-29T18:02:56+00:00",
        "later_runs": [{"parts": ["h2load"], "command": "benchmarks/run.py --only h2load",
                        "started": "2026-11-29T18:45:00+00:00", "machine": machine}],
    }  # fmt: skip
    first, rest = later_runs_note(results)
    assert "`h2load`" in first and "18:45:00" in first and "0.5 1.0 2.0 before, 1.9 1.5 1.8 after" in first
    assert "2026-11-29T18:02:56" in rest and "h2load are never compared with the others" in rest
    assert "Why the product moved to a thread-pool server" in FLAVOUR_HISTORY.read_text()
