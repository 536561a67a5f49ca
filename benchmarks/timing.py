"""In-process timing: per-call samples with the timer's own cost subtracted, the decision
sizes interleaved, and the server's work per question stage by stage."""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, Plan
from xtenant_pdp import convert
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.bench.micro import bare_access, bare_questions, time_calls
from xtenant_pdp.bench.mix import questions_from_index
from xtenant_pdp.bench.stats import percentile
from xtenant_pdp.compiler import compile_policy_dir
from xtenant_pdp.decision import AccessQuery, Decision, QuestionKind
from xtenant_pdp.engine import Engine
from xtenant_pdp.evaluator import evaluate, evaluate_access
from xtenant_pdp.index import Index
from xtenant_pdp.loader import load_snapshot_file
from xtenant_pdp.synthetic import questions as synthetic_questions
from xtenant_pdp.synthetic import write_policy_dir

# --------------------------------------------------------------------------- in-process timing


def summary_ns(samples: Sequence[float], overhead: float) -> dict[str, float]:
    adjusted = sorted(max(0.0, s - overhead) for s in samples)
    return {
        "samples": len(adjusted),
        "median_ns": float(statistics.median(adjusted)),
        "p99_ns": float(percentile(adjusted, 99)),
        "mean_ns": float(statistics.fmean(adjusted)),
    }


@dataclass
class SizedPolicy:
    partners: int
    root: Path
    snapshot_path: Path
    compile_s: float
    snapshot_bytes: int
    load_s: float
    index: Index | None
    access: list[AccessQuery] = field(default_factory=list)


def build_policy(workdir: Path, partners: int, plan: Plan) -> SizedPolicy:
    policy = write_policy_dir(workdir / f"policy-{partners}", partners=partners, tenants=3)
    t0 = time.perf_counter()
    compiled = compile_policy_dir(policy.root)
    compile_s = time.perf_counter() - t0
    path = workdir / f"policy-{partners}.xtsnap"
    path.write_bytes(compiled.data)
    size = len(compiled.data)
    del compiled
    gc.collect()
    t0 = time.perf_counter()
    index = load_snapshot_file(path)
    load_s = time.perf_counter() - t0
    raw = synthetic_questions(policy, plan.questions, seed=partners, kinds=["access"])
    access = [convert.query_from_proto(convert.request_from_json(item)) for item in raw]
    return SizedPolicy(partners, policy.root, path, compile_s, size, load_s, index, access)  # type: ignore[arg-type]


def bench_in_process(policies: Sequence[SizedPolicy], plan: Plan, overhead: float) -> list[dict[str, Any]]:
    """Per-call times of each function at each policy size, the sizes interleaved pass by pass.

    Timing the sizes one after another would let a noisy minute on a shared machine land on one
    size only and skew their ratio; interleaving spreads it over all of them.
    """
    prepared = []
    for sized in policies:
        index = sized.index
        assert index is not None
        queries = sized.access
        requests = [pdp_pb2.CheckRequest(access=_access_message(q)) for q in queries]
        bare, table = bare_questions(index, queries)
        # Each of 50 questions asked 200 times in a row: the look-ups without CPU-cache misses.
        warm = [q for q in queries[:50] for _ in range(200)]
        functions: dict[str, tuple[Callable[[Any, Any], object], Any, Sequence[Any]]] = {
            "evaluate": (evaluate, index, queries),
            "evaluate_access": (evaluate_access, index, queries),
            "evaluate_access_warm": (evaluate_access, index, warm),
            "bare_reference": (bare_access, table, bare),
            "engine_check_proto": (Engine.check_proto, Engine(index), requests),
        }
        prepared.append((sized, functions, {name: [] for name in functions}))
    # Indexes and questions out of the collector's sight (as the server does with its index), so
    # the collection before each timed pass is short rather than a walk of every index.
    gc.collect()
    gc.freeze()
    try:
        for _ in range(plan.passes):
            for _sized, functions, samples in prepared:
                for name, (fn, first, items) in functions.items():
                    samples[name].extend(time_calls(fn, first, items, 1))
    finally:
        gc.unfreeze()
    out = []
    for sized, _functions, samples in prepared:
        index = sized.index
        assert index is not None
        allowed = sum(evaluate(index, q).decision == 1 for q in sized.access)
        out.append(
            {
                "partners": sized.partners,
                "compile_s": sized.compile_s,
                "snapshot_bytes": sized.snapshot_bytes,
                "load_s": sized.load_s,
                "questions": len(sized.access),
                "passes": plan.passes,
                "allowed_share": allowed / len(sized.access) if sized.access else 0.0,
                "timings": {name: summary_ns(samples[name], overhead) for name in samples},
            }
        )
    return out


def _access_message(q: AccessQuery) -> pdp_pb2.AccessQuestion:
    return pdp_pb2.AccessQuestion(
        tenant_id=q.tenant_id,
        external_tenant_id=q.external_tenant_id,
        direction=int(q.direction),
        feature=int(q.feature),
        user_id=q.user_id,
        group_ids=list(q.group_ids),
        application_id=q.application_id,
    )


# --------------------------------------------------------------------------- the server's per-question cost


FRESH_SEED = 7_000_003
FRESH_UNARY_STAGE = "servicer.answer, questions never asked before (fresh ids)"
FRESH_BATCH_STAGE = "servicer.batch, per question (batches of 100), fresh ids"


def bench_edge(index: Index, requests: Sequence[pdp_pb2.CheckRequest], overhead: float) -> dict[str, Any]:
    """What the server does per question, stage by stage, in this process (no gRPC): mean ns each.

    The same questions as the load runs (every kind). ``servicer.answer`` is the whole of it; the
    stages after it are its parts, timed apart on the same questions.
    """
    from prometheus_client import CollectorRegistry

    from xtenant_pdp.metrics import Metrics
    from xtenant_pdp.service.caches import CacheLimits
    from xtenant_pdp.service.holder import SnapshotHolder
    from xtenant_pdp.service.servicer import DecisionServicer

    holder = SnapshotHolder(max_age_s=None)
    holder.activate(index, "bench")
    metrics = Metrics(CollectorRegistry())
    servicer = DecisionServicer(holder, metrics)
    cached_holder = SnapshotHolder(limits=CacheLimits(decision_bytes=1 << 30), max_age_s=None)
    cached_holder.activate(index, "bench")
    cached_servicer = DecisionServicer(cached_holder, Metrics(CollectorRegistry()))
    raw = [r.SerializeToString() for r in requests]
    for b in raw:  # fill the cache: the timed passes are all hits
        cached_servicer.answer(b)
    parsed = [pdp_pb2.CheckRequest.FromString(b) for b in raw]
    queries = [convert.query_from_proto(r) for r in parsed]
    results = [evaluate(index, q) for q in queries]
    responses = [convert.response_from_result(r, index.snapshot_id) for r in results]
    batches = [
        pdp_pb2.BatchCheckRequest(requests=requests[i : i + 100]).SerializeToString()
        for i in range(0, len(requests) - 99, 100)
    ]
    counter = metrics.decision_counters[(QuestionKind.ACCESS, Decision.ALLOW)]
    observe = metrics.observe_decision
    sid = index.snapshot_id

    def count_and_observe(_: object, __: object) -> None:
        counter.inc()
        observe(1e-6)

    def mean(fn: Callable[[Any, Any], object], first: Any, items: Sequence[Any], per: int = 1) -> float:
        return summary_ns(time_calls(fn, first, items, 2), overhead)["mean_ns"] / per

    # Questions never asked before in this process: their random ids (users, applications, unknown
    # tenants) are new to every memo, each timed once (the ids repeat in the stages above).
    fresh = questions_from_index(index, 2 * len(requests), seed=FRESH_SEED)
    fresh_raw = [r.SerializeToString() for r in fresh[: len(requests)]]
    fresh_batches = [
        pdp_pb2.BatchCheckRequest(requests=fresh[i : i + 100]).SerializeToString()
        for i in range(len(requests), 2 * len(requests) - 99, 100)
    ]

    def once(fn: Callable[[Any, Any], object], first: Any, items: Sequence[Any], per: int = 1) -> float:
        return summary_ns(time_calls(fn, first, items, 1), overhead)["mean_ns"] / per

    stages = {
        FRESH_UNARY_STAGE: once(lambda _, b: servicer.answer(b), None, fresh_raw),
        FRESH_BATCH_STAGE: once(DecisionServicer.batch, servicer, fresh_batches, 100),
        "servicer.answer (all of it)": mean(lambda _, b: servicer.answer(b), None, raw),
        "servicer.answer, decision cache on (warm: every answer a hit)": mean(
            lambda _, b: cached_servicer.answer(b), None, raw
        ),
        "servicer.batch, per question (batches of 100)": mean(DecisionServicer.batch, servicer, batches, 100),
        "CheckRequest.FromString": mean(lambda _, b: pdp_pb2.CheckRequest.FromString(b), None, raw),
        "convert.query_from_proto": mean(lambda _, r: convert.query_from_proto(r), None, parsed),
        "evaluate": mean(evaluate, index, queries),
        "convert.response_from_result": mean(lambda _, r: convert.response_from_result(r, sid), None, results),
        "CheckResponse.SerializeToString": mean(lambda _, r: r.SerializeToString(), None, responses),
        "metrics: one counter inc + one histogram observe": mean(count_and_observe, None, raw),
    }
    return {"questions": len(requests), "mean_ns": stages}




def bench_admin(overhead: float, passes: int = 2000) -> dict[str, Any] | None:
    """The adminAction question (issue 13) against access decisions, in-process, on the example
    policy (the one with role definitions and assignments): ``evaluate`` alone and with the
    conversion from request bytes, per question kind, the kinds interleaved pass by pass."""
    from xtenant_pdp.loader import load_policy_dir

    examples = REPO / "xtenant_pdp" / "examples"
    lines = [json.loads(line) for line in (examples / "questions.jsonl").read_text().splitlines() if line.strip()]
    by_kind: dict[str, list[bytes]] = {"adminAction": [], "access": []}
    for line in lines:
        kind = next(iter(line))
        if kind in by_kind:
            by_kind[kind].append(convert.request_from_json(line).SerializeToString())
    if not by_kind["adminAction"] or not by_kind["access"]:
        return None
    index = load_policy_dir(examples / "policy")
    queries = {k: [convert.question_from_bytes(b)[1] for b in raw] for k, raw in by_kind.items()}
    samples: dict[str, list[int]] = {}
    gc.collect()  # once: a full collection per round costs seconds beside a 100,000-partner index
    for _ in range(passes // 100):  # interleaved: drift lands on both kinds
        for kind, raw in by_kind.items():
            timed = time_calls(evaluate, index, queries[kind], 100, collect=False)
            samples.setdefault(f"{kind} evaluate", []).extend(timed)
            timed = time_calls(lambda idx, b: evaluate(idx, convert.question_from_bytes(b)[1]), index, raw, 100,
                               collect=False)  # fmt: skip
            samples.setdefault(f"{kind} from bytes", []).extend(timed)
    timings = {key: summary_ns(values, overhead) for key, values in samples.items()}
    return {
        "questions": {k: len(v) for k, v in by_kind.items()},
        "timings": timings,
        "ratio_evaluate": timings["adminAction evaluate"]["median_ns"] / timings["access evaluate"]["median_ns"],
        "ratio_from_bytes": timings["adminAction from bytes"]["median_ns"] / timings["access from bytes"]["median_ns"],
    }
