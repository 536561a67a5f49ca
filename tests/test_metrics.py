"""Metrics definitions: batched histogram recording equals plain observe(); labels stay bounded."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from xtenant_pdp.decision import Decision, QuestionKind
from xtenant_pdp.metrics import DECISION_BUCKETS, Metrics
from xtenant_pdp.service.rpc_metrics import RpcMetrics


def _samples(registry: CollectorRegistry, name: str) -> dict[str, float]:
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in registry.collect()
        for s in family.samples
        if s.name.startswith(name)
    }


@pytest.mark.parametrize(
    "values",
    [
        [1e-7, 3e-6, 3e-6, 4e-4, 0.5, 99.0],
        [bound for bound in DECISION_BUCKETS],  # exactly on each bound: `le` is inclusive
        [],
    ],
    ids=["spread", "on-bounds", "empty"],
)
def test_hot_histogram_equals_observe(values: list[float]) -> None:
    hot, plain = Metrics(CollectorRegistry()), Metrics(CollectorRegistry())
    name = "xtenant_pdp_decision_duration_seconds"
    half = len(values) // 2
    for v in values[:half]:
        hot.observe_decision(v)
    hot.flush()  # flushes add only what is new
    for v in values[half:]:
        hot.observe_decision(v)
    for v in values:
        plain.decision_duration.observe(v)
    assert _samples(hot.registry, name) == pytest.approx(_samples(plain.registry, name))
    assert _samples(hot.registry, name)[f"{name}_count[]"] == len(values)


def test_observe_many_equals_repeated_observe() -> None:
    many, plain = Metrics(CollectorRegistry()), Metrics(CollectorRegistry())
    many.observe_decisions(3e-6, 100)
    many.observe_decisions(2.5e-6, 2)  # on a bound
    for _ in range(100):
        plain.decision_duration.observe(3e-6)
    plain.decision_duration.observe(2.5e-6)
    plain.decision_duration.observe(2.5e-6)
    name = "xtenant_pdp_decision_duration_seconds"
    assert _samples(many.registry, name) == pytest.approx(_samples(plain.registry, name))


def test_hot_counts_reach_the_registry_on_collect_and_flush_once() -> None:
    metrics = Metrics(CollectorRegistry())
    for _ in range(3):
        metrics.cache_hit.inc()
    rpc = RpcMetrics.of(metrics)
    method = rpc.method("/xtenant.pdp.v1.DecisionService/Check")
    method.started.inc(2)
    assert RpcMetrics.of(metrics).method("/xtenant.pdp.v1.DecisionService/Check") is method
    page = generate_latest(metrics.registry).decode()  # a scrape flushes first
    assert 'xtenant_pdp_cache_requests_total{result="hit"} 3.0' in page
    assert 'grpc_server_started_total{grpc_method="Check",grpc_service="xtenant.pdp.v1.DecisionService"' in page
    metrics.flush()
    metrics.flush()
    assert metrics.cache_requests.labels("hit")._value.get() == 3  # not added twice
    assert rpc.started.labels("unary", "xtenant.pdp.v1.DecisionService", "Check")._value.get() == 2


def test_count_decision_uses_bounded_labels() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.count_decision(QuestionKind.ACCESS, Decision.ALLOW)
    metrics.count_decision(QuestionKind.TRUST, Decision.DENY)
    metrics.count_decision(QuestionKind.INVALID, None)
    values = _samples(metrics.registry, "xtenant_pdp_decisions_total")
    assert values["xtenant_pdp_decisions_total[('decision', 'allow'), ('question', 'access')]"] == 1
    assert values["xtenant_pdp_decisions_total[('decision', 'deny'), ('question', 'trust')]"] == 1
    assert values["xtenant_pdp_decisions_total[('decision', 'error'), ('question', 'invalid')]"] == 1


def test_snapshot_info_keeps_only_the_active_snapshot() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.snapshot_activated("sha256:a", None, 1.0, 10, 2)
    metrics.snapshot_activated("sha256:b", "sha256:a", 2.0, 12, 2)
    text = generate_latest(metrics.registry).decode()
    assert 'xtenant_pdp_snapshot_info{snapshot_id="sha256:b"} 1.0' in text
    assert "sha256:a" not in text
    assert "xtenant_pdp_snapshot_partners 12.0" in text
