"""Latency statistics of the bench: nearest-rank percentiles, histogram and recorder."""

from __future__ import annotations

import math
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xtenant_pdp.bench.stats import (
    PERCENTILES,
    Bucket,
    LatencyRecorder,
    LatencySummary,
    histogram,
    percentile,
    summarize,
)

ONE_TO_HUNDRED = list(range(1, 101))


@pytest.mark.parametrize(("q", "expected"), [(0, 1), (1, 1), (50, 50), (90, 90), (95, 95), (99, 99), (100, 100)])
def test_percentile_of_one_to_hundred_is_q(q: float, expected: int) -> None:
    assert percentile(ONE_TO_HUNDRED, q) == expected


def test_percentile_nearest_rank_rounds_rank_up() -> None:
    samples = [10, 20, 30, 40]
    assert percentile(samples, 25) == 10  # rank ceil(1.0) = 1
    assert percentile(samples, 25.1) == 20  # rank ceil(1.004) = 2
    assert percentile(samples, 50) == 20
    assert percentile(samples, 51) == 30
    assert percentile(samples, 99.9) == 40
    assert percentile(samples, 0) == 10


def test_percentile_uses_the_decimal_value_of_q() -> None:
    # As binary floats 99.9 * 1000 / 100 is 999.0000000000001, whose ceiling would be rank 1000.
    samples = list(range(1, 1001))
    assert percentile(samples, 99.9) == 999
    assert percentile(ONE_TO_HUNDRED, 99.9) == 100
    assert percentile(samples, 0.1) == 1


def test_percentile_of_a_single_sample() -> None:
    for q in (0, 0.001, 50, 100):
        assert percentile([7], q) == 7


@pytest.mark.parametrize("q", [-0.1, 100.01, math.nan, math.inf])
def test_percentile_rejects_q_outside_zero_to_hundred(q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile(ONE_TO_HUNDRED, q)


def test_percentile_rejects_no_samples_and_non_numbers() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(TypeError):
        percentile(ONE_TO_HUNDRED, True)
    with pytest.raises(TypeError):
        percentile(ONE_TO_HUNDRED, "50")  # type: ignore[arg-type]


def test_histogram_of_one_to_hundred_has_ten_equal_buckets() -> None:
    buckets = histogram(ONE_TO_HUNDRED, 10)
    assert [b.mark_ns for b in buckets] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert [b.count for b in buckets] == [10] * 10
    assert all(b.frequency == 0.1 for b in buckets)


def test_histogram_last_mark_is_the_slowest_sample() -> None:
    samples = sorted([3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377])
    buckets = histogram(samples, 7)
    assert len(buckets) == 7
    assert buckets[-1].mark_ns == 377
    assert sum(b.count for b in buckets) == len(samples)
    assert buckets[0].count >= 1  # the fastest sample is in the first bucket


def test_histogram_of_equal_samples_puts_all_in_the_first_bucket() -> None:
    buckets = histogram([5, 5, 5], 4)
    assert [(b.mark_ns, b.count) for b in buckets] == [(5, 3), (5, 0), (5, 0), (5, 0)]


def test_histogram_edge_cases() -> None:
    assert histogram([], 10) == ()
    assert histogram([1, 2, 3], 1) == (Bucket(mark_ns=3, count=3, frequency=1.0),)
    with pytest.raises(ValueError, match="buckets"):
        histogram([1], 0)


def test_summarize_one_to_hundred() -> None:
    s = summarize(reversed(ONE_TO_HUNDRED))  # order of recording does not matter
    assert (s.count, s.total_ns, s.fastest_ns, s.slowest_ns) == (100, 5050, 1, 100)
    assert s.average_ns == 51  # 50.5 rounded half up
    assert (s.p50_ns, s.p90_ns, s.p95_ns, s.p99_ns, s.p999_ns) == (50, 90, 95, 99, 100)
    assert s.distribution() == ((50, 50), (90, 90), (95, 95), (99, 99), (99.9, 100))
    assert [q for q, _ in s.distribution()] == list(PERCENTILES)
    assert sum(b.count for b in s.histogram) == 100
    assert len(s.histogram) == 10


def test_summarize_with_other_bucket_counts() -> None:
    assert len(summarize(ONE_TO_HUNDRED, buckets=20).histogram) == 20


def test_summary_of_no_samples_is_all_zero() -> None:
    s = summarize([])
    assert s == LatencySummary(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ())
    assert s.histogram == ()


def test_summary_is_frozen() -> None:
    s = summarize([1])
    with pytest.raises(AttributeError):
        s.count = 2  # type: ignore[misc]


def test_recorder_records_merges_and_summarizes() -> None:
    a, b = LatencyRecorder(), LatencyRecorder()
    for ns in (30, 10):
        a.record(ns)
    b.record(20)
    a.merge(b)
    assert len(a) == 3
    assert len(b) == 1
    samples = a.samples()
    assert isinstance(samples, array)
    assert samples.typecode == "q"
    assert list(samples) == [30, 10, 20]
    samples.append(99)  # a copy: the recorder is unchanged
    assert len(a) == 3
    s = a.summarize()
    assert (s.count, s.fastest_ns, s.slowest_ns, s.p50_ns) == (3, 10, 30, 20)


def test_recorder_keeps_samples_as_signed_64_bit_ints() -> None:
    rec = LatencyRecorder()
    assert not hasattr(rec, "__dict__")
    rec.record(2**62)  # ns fit a signed 64-bit slot
    with pytest.raises(OverflowError):
        rec.record(2**63)


latencies = st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=300)
qs = st.floats(min_value=0, max_value=100, allow_nan=False)


@given(latencies, qs, qs)
def test_percentile_is_monotonic_and_within_min_max(samples: list[int], q1: float, q2: float) -> None:
    ordered = sorted(samples)
    lo, hi = sorted((q1, q2))
    p_lo, p_hi = percentile(ordered, lo), percentile(ordered, hi)
    assert ordered[0] <= p_lo <= p_hi <= ordered[-1]
    assert p_lo in samples
    assert p_hi in samples


@given(latencies, st.integers(min_value=1, max_value=50))
def test_histogram_counts_sum_to_count(samples: list[int], buckets: int) -> None:
    s = summarize(samples, buckets=buckets)
    assert len(s.histogram) == buckets
    assert sum(b.count for b in s.histogram) == s.count == len(samples)
    assert math.isclose(sum(b.frequency for b in s.histogram), 1.0)
    marks = [b.mark_ns for b in s.histogram]
    assert marks == sorted(marks)
    assert marks[-1] == s.slowest_ns
    assert s.fastest_ns <= s.p50_ns <= s.p90_ns <= s.p95_ns <= s.p99_ns <= s.p999_ns <= s.slowest_ns
    assert s.fastest_ns <= s.average_ns <= s.slowest_ns
