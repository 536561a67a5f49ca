"""METRICS: every Prometheus metric of the server, built against an injected registry.

Labels come from bounded enums only (question kind, decision, cache result, gRPC method and
code), never tenant, user, group or application ids. Label children are bound once here, so a
decision costs one counter increment and one histogram observation. With several worker
processes, prometheus_client's multiprocess mode adds the workers' values up (see app.py).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from xtenant_pdp.decision import Decision

QUESTION_KINDS = (
    "access",
    "collaboration",
    "trust",
    "automatic_redemption",
    "identity_sync",
    "tenant_restrictions",
    "ext_authz",
    "invalid",
)
DECISIONS = ("allow", "deny", "error")

# Sub-millisecond resolution: an in-process decision takes microseconds, a call a fraction of a ms.
DECISION_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 1e-2)
RPC_BUCKETS = (5e-5, 1e-4, 2.5e-4, 5e-4, 7.5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.5, 1.0)


class HistogramBatcher:
    """Observations of a batch added up locally, then recorded in one step per bucket.

    prometheus_client has no weighted observe; a BatchCheck of 100 would otherwise take 100
    locks. The batch adds to the histogram's own bucket and sum values, which works for the
    in-process and the multiprocess value classes alike (tests/test_metrics.py compares the
    result with plain observe()).
    """

    __slots__ = ("_bounds", "_histogram")

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._bounds = list(histogram._upper_bounds)

    def batch(self) -> _Batch:
        return _Batch(self._histogram, self._bounds)


class _Batch:
    __slots__ = ("_bounds", "_counts", "_histogram", "_sum")

    def __init__(self, histogram: Histogram, bounds: list[float]) -> None:
        self._histogram = histogram
        self._bounds = bounds
        self._counts = [0] * len(bounds)
        self._sum = 0.0

    def add(self, seconds: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, seconds)] += 1
        self._sum += seconds

    def record(self) -> None:
        if not any(self._counts):
            return
        histogram = self._histogram
        for bucket, n in zip(histogram._buckets, self._counts, strict=True):
            if n:
                bucket.inc(n)
        histogram._sum.inc(self._sum)


@dataclass
class Metrics:
    """The server's metrics. Create one per process (and one per test) with its own registry."""

    registry: CollectorRegistry
    decisions: Counter = field(init=False)
    decision_duration: Histogram = field(init=False)
    cache_requests: Counter = field(init=False)
    snapshot_info: Gauge = field(init=False)
    snapshot_loaded: Gauge = field(init=False)
    snapshot_created: Gauge = field(init=False)
    snapshot_load_failures: Counter = field(init=False)
    snapshot_partners: Gauge = field(init=False)
    snapshot_tenants: Gauge = field(init=False)
    snapshot_stale: Gauge = field(init=False)
    grpc_started: Counter = field(init=False)
    grpc_handled: Counter = field(init=False)
    grpc_handling: Histogram = field(init=False)

    def __post_init__(self) -> None:
        r = self.registry
        self.decisions = Counter(
            "xtenant_pdp_decisions",
            "Questions answered, by question kind and decision.",
            ["question", "decision"],
            registry=r,
        )
        self.decision_duration = Histogram(
            "xtenant_pdp_decision_duration_seconds",
            "Time to answer one question (conversion and evaluation).",
            buckets=DECISION_BUCKETS,
            registry=r,
        )
        self.cache_requests = Counter(
            "xtenant_pdp_cache_requests",
            "Decision cache look-ups, by result.",
            ["result"],
            registry=r,
        )
        self.snapshot_info = Gauge(
            "xtenant_pdp_snapshot_info",
            "The active snapshot (value 1).",
            ["snapshot_id"],
            registry=r,
            multiprocess_mode="liveall",
        )
        self.snapshot_loaded = Gauge(
            "xtenant_pdp_snapshot_loaded_timestamp_seconds",
            "When the active snapshot was activated.",
            registry=r,
            multiprocess_mode="max",
        )
        self.snapshot_created = Gauge(
            "xtenant_pdp_snapshot_created_timestamp_seconds",
            "When the active snapshot was compiled (time() minus this is its age, which --max-snapshot-age limits).",
            registry=r,
            multiprocess_mode="max",
        )
        self.snapshot_load_failures = Counter(
            "xtenant_pdp_snapshot_load_failures",
            "Snapshots rejected (corrupt, truncated, wrong version, failing compile); the previous one kept serving.",
            registry=r,
        )
        self.snapshot_partners = Gauge(
            "xtenant_pdp_snapshot_partners",
            "Partner configurations in the active snapshot.",
            registry=r,
            multiprocess_mode="max",
        )
        self.snapshot_tenants = Gauge(
            "xtenant_pdp_snapshot_tenants",
            "Local tenants in the active snapshot.",
            registry=r,
            multiprocess_mode="max",
        )
        self.snapshot_stale = Gauge(
            "xtenant_pdp_snapshot_stale",
            "1 when the active snapshot is older than --max-snapshot-age.",
            registry=r,
            multiprocess_mode="max",
        )
        self.grpc_started = Counter(
            "grpc_server_started",
            "RPCs started on the server.",
            ["grpc_type", "grpc_service", "grpc_method"],
            registry=r,
        )
        self.grpc_handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, regardless of success or failure.",
            ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
            registry=r,
        )
        self.grpc_handling = Histogram(
            "grpc_server_handling_seconds",
            "Response latency of RPCs handled by the server.",
            ["grpc_type", "grpc_service", "grpc_method"],
            buckets=RPC_BUCKETS,
            registry=r,
        )
        # Bound children: one dict look-up per decision instead of a labels() call.
        self.decision_counters = {
            (kind, decision): self.decisions.labels(kind, decision) for kind in QUESTION_KINDS for decision in DECISIONS
        }
        self.cache_hit = self.cache_requests.labels("hit")
        self.cache_miss = self.cache_requests.labels("miss")
        self.decision_durations = HistogramBatcher(self.decision_duration)

    def count_decision(self, kind: str, decision: Decision | None) -> None:
        label = "error" if decision is None else ("allow" if decision is Decision.ALLOW else "deny")
        self.decision_counters[(kind, label)].inc()

    def snapshot_activated(
        self,
        snapshot_id: str,
        previous_id: str | None,
        loaded_at: float,
        partners: int,
        tenants: int,
        created_at: float = 0.0,
    ) -> None:
        if previous_id is not None and previous_id != snapshot_id:
            # 0 first: in multiprocess mode the value file outlives remove().
            self.snapshot_info.labels(previous_id).set(0)
            self.snapshot_info.remove(previous_id)
        self.snapshot_info.labels(snapshot_id).set(1)
        self.snapshot_loaded.set(loaded_at)
        self.snapshot_created.set(created_at)
        self.snapshot_partners.set(partners)
        self.snapshot_tenants.set(tenants)
