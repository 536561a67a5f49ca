"""The peers (cedarpy, pycasbin) timed against our evaluator on the same access questions."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from benchmarks.common import Plan, log
from benchmarks.timing import SizedPolicy, summary_ns
from xtenant_pdp.bench.micro import time_calls
from xtenant_pdp.evaluator import evaluate_access

# --------------------------------------------------------------------------- peers


def bench_peers(sized: SizedPolicy, plan: Plan, overhead: float) -> dict[str, Any]:
    from benchmarks import peers

    index = sized.index
    assert index is not None
    # pycasbin scans every rule per call: fewer questions on the larger policy keep the run short.
    count = plan.peer_questions if sized.partners <= 100 else plan.peer_questions // 4
    questions = peers.peer_questions(index, sized.access[:count])
    dropped = count - len(questions)
    our_queries = [q.query for q in questions]
    # Ours takes microseconds: many passes for a steady median.
    our_passes = max(plan.passes, 10)
    ours = summary_ns(time_calls(evaluate_access, index, our_queries, our_passes), overhead)
    out: dict[str, Any] = {
        "partners": sized.partners,
        "questions": len(questions),
        "questions_not_expressible": dropped,
        "ours": ours,
        "peers": {},
    }
    available = peers.available_peers()
    for cls in (peers.CedarPeer, peers.CasbinPeer):
        why = available[cls.name]
        if why is not None:
            log(f"  {cls.name} skipped: {why}")
            out["peers"][cls.name] = {"skipped": why}
            continue
        t0 = time.perf_counter()
        peer = cls(index)
        build_s = time.perf_counter() - t0
        wrong = peers.disagreements(index, peer, questions)
        if wrong:
            q, mine, theirs = wrong[0]
            raise SystemExit(
                f"{cls.name} disagrees with the evaluator on {len(wrong)} of {len(questions)} questions, "
                f"e.g. {q} (ours {'allow' if mine else 'deny'}, theirs {'allow' if theirs else 'deny'})"
            )
        prepared = peer.prepare(questions)
        passes = 1 if sized.partners > 100 else min(plan.passes, 3)
        # Ours timed right before and right after the peer, so a drift of the machine during
        # the peer's (much longer) run lands on both sides of the ratio.
        ours_samples = time_calls(evaluate_access, index, our_queries, our_passes)
        timing = summary_ns(time_calls(type(peer).decide, peer, prepared, passes), overhead)
        ours_samples += time_calls(evaluate_access, index, our_queries, our_passes)
        ours_here = summary_ns(ours_samples, overhead)
        out["peers"][cls.name] = {
            "rules": peer.policy_count,
            "build_s": build_s,
            "identical_decisions": len(questions),
            "timing": timing,
            "ours": ours_here,
            "ratio_median": timing["median_ns"] / ours_here["median_ns"],
            "ratio_p99": timing["p99_ns"] / ours_here["p99_ns"],
        }
        if cls is peers.CedarPeer:
            out["peers"][cls.name]["call_floor"] = cedar_call_floor(prepared, overhead)
    return out


def cedar_call_floor(requests: Sequence[dict[str, Any]], overhead: float) -> dict[str, float]:
    """cedarpy.is_authorized with one unconditional permit: the wrapper's own cost per call."""
    import cedarpy

    policies = cedarpy.PolicySet.from_str("permit(principal, action, resource);")
    entities = cedarpy.Entities.from_json_str("[]")

    def call(_: object, request: dict[str, Any]) -> object:
        return cedarpy.is_authorized(request, policies, entities)

    return summary_ns(time_calls(call, None, requests, 1), overhead)


