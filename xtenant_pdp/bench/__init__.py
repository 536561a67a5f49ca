"""Load generation for ``xtenant-pdp bench``: a ghz-style gRPC benchmark of the DecisionService.

The pure parts (statistics, open-loop pacing, the report) live apart from the gRPC client loop
(:mod:`~xtenant_pdp.bench.loadgen`) so they can be tested with fake clocks and known data.
"""

from xtenant_pdp.bench.loadgen import BenchError, run
from xtenant_pdp.bench.pacing import Bounds, Mode, Pacer, Schedule
from xtenant_pdp.bench.report import BenchResult, build_report, render_text, to_json
from xtenant_pdp.bench.stats import Bucket, LatencyRecorder, LatencySummary, percentile, summarize

__all__ = [
    "BenchError",
    "BenchResult",
    "Bounds",
    "Bucket",
    "LatencyRecorder",
    "LatencySummary",
    "Mode",
    "Pacer",
    "Schedule",
    "build_report",
    "percentile",
    "render_text",
    "run",
    "summarize",
    "to_json",
]
