"""Micro-benchmark: in-process decision time per question kind on synthetic policies.

    python -m xtenant_pdp.bench.micro [--partners 10 10000 100000] [--json results.json]

Not a test: it prints figures measured side by side in one run, because absolute times on a
shared machine drift by a third. The reference is a bare hand-indexed evaluator (one dict
look-up and the 2.2 set tests, nothing else) run on the same questions in the same process;
its decisions are checked identical to the engine's before anything is timed.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xtenant_pdp import convert
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.bench.stats import percentile
from xtenant_pdp.compiler import compile_policy_dir
from xtenant_pdp.decision import AccessQuery, Decision, Query
from xtenant_pdp.errors import QueryError
from xtenant_pdp.evaluator import evaluate, evaluate_access
from xtenant_pdp.index import Index
from xtenant_pdp.loader import load_snapshot_bytes
from xtenant_pdp.protowire import encode_varint
from xtenant_pdp.synthetic import QUESTION_KINDS, questions, write_policy_dir

_perf_ns = time.perf_counter_ns
_cpu_ns = time.thread_time_ns


@dataclass(frozen=True, slots=True)
class Timing:
    kind: str
    count: int
    median_ns: float
    p99_ns: float


def timer_overhead_ns(rounds: int = 50_000) -> float:
    """What two back-to-back clock reads cost; subtracted from every per-call sample."""
    samples = []
    for _ in range(rounds):
        t0 = _perf_ns()
        samples.append(_perf_ns() - t0)
    return float(statistics.median(samples))


def time_calls(
    fn: Callable[[Any, Any], object], first: Any, items: Sequence[Any], passes: int, *, collect: bool = True
) -> list[int]:
    """Per-call times in ns of ``fn(first, item)``, timer overhead not yet removed (GC off while
    timing; a full collection first unless ``collect`` is False, for callers that time many short
    rounds with a large heap). The one timing loop of this micro-benchmark and of
    benchmarks/run.py's in-process parts."""
    samples: list[int] = []
    append = samples.append
    if collect:
        gc.collect()
    gc.disable()
    try:
        for _ in range(passes):
            for item in items:
                t0 = _perf_ns()
                fn(first, item)
                append(_perf_ns() - t0)
    finally:
        gc.enable()
    return samples


def _summarise(kind: str, samples: Sequence[float], overhead: float) -> Timing:
    adjusted = sorted(max(0.0, s - overhead) for s in samples)
    return Timing(kind, len(adjusted), statistics.median(adjusted), percentile(adjusted, 99))


# --------------------------------------------------------------------------- the bare reference


def bare_access_table(index: Index) -> dict[tuple[str, str, int, int], tuple[Any, ...]]:
    """A hand-indexed table of the same settings: (tenant, partner, direction, feature) -> sets."""
    table: dict[tuple[str, str, int, int], tuple[Any, ...]] = {}
    for tenant_id, tenant in index.tenants.items():
        for partner_id, config in [("", tenant.default), *tenant.partners.items()]:
            for direction in (1, 2):
                for feature in (1, 2):
                    s = config.channels[direction][feature]
                    table[(tenant_id, partner_id, direction, feature)] = (
                        s.u_allowed,
                        s.u_all,
                        s.u_ids,
                        s.a_allowed,
                        s.a_all,
                        s.a_ids,
                    )
    return table


def bare_access(table: dict[tuple[str, str, int, int], tuple[Any, ...]], q: AccessQuery) -> bool:
    """2.2 with nothing else: no reasons, no clouds, no missing-tenant handling."""
    row = (
        table.get((q.tenant_id, q.external_tenant_id, q.direction, q.feature))
        or table[(q.tenant_id, "", q.direction, q.feature)]
    )
    u_allowed, u_all, u_ids, a_allowed, a_all, a_ids = row
    u_in = u_all or q.user_id in u_ids or not u_ids.isdisjoint(q.group_ids)
    a_in = a_all or q.application_id in a_ids
    if not u_allowed and not a_allowed:
        return not (u_in and a_in)
    return u_in is u_allowed and a_in is a_allowed


def bare_questions(index: Index, queries: Sequence[Query]) -> tuple[list[AccessQuery], dict[Any, Any]]:
    """The access questions the bare reference can answer (tenants in the snapshot, same cloud)
    and its table, after checking that it agrees with the evaluator on every one of them."""
    access = [
        q
        for q in queries
        if isinstance(q, AccessQuery)
        and q.tenant_id in index.tenants
        and (q.external_cloud is None or q.external_cloud is index.tenants[q.tenant_id].cloud)
    ]
    table = bare_access_table(index)
    mismatched = [
        q
        for q in access
        if q.external_tenant_id != q.tenant_id
        and index.clouds.get(q.external_tenant_id, index.tenants[q.tenant_id].cloud) is index.tenants[q.tenant_id].cloud
        and (evaluate_access(index, q).decision is Decision.ALLOW) != bare_access(table, q)
    ]
    if mismatched:
        raise SystemExit(f"engine and bare reference disagree on {len(mismatched)} questions, e.g. {mismatched[0]}")
    return access, table


# --------------------------------------------------------------------------- running


def _typed(index: Index, raw: list[dict[str, Any]]) -> dict[str, list[Query]]:
    by_kind: dict[str, list[Query]] = {}
    for item in raw:
        kind = next(iter(item))
        try:
            query = convert.query_from_proto(convert.request_from_json(item))
        except QueryError:
            continue
        by_kind.setdefault(kind, []).append(query)
    return by_kind


def bench_size(partners: int, *, workdir: Path, count: int, passes: int, overhead: float) -> dict[str, Any]:
    policy = write_policy_dir(workdir / f"policy-{partners}", partners=partners, tenants=3)
    t0 = time.perf_counter()
    compiled = compile_policy_dir(policy.root)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = load_snapshot_bytes(compiled.data)
    load_s = time.perf_counter() - t0
    raw = questions(policy, count, seed=partners)
    by_kind = _typed(index, raw)
    access, table = bare_questions(index, by_kind.get("access", []))
    timings = [_summarise("access (bare reference)", time_calls(bare_access, table, access, passes), overhead)]
    timings.append(_summarise("access", time_calls(evaluate_access, index, access, passes), overhead))
    # Each of 50 questions asked 200 times in a row: the look-up cost without CPU-cache misses,
    # which grow with the working set for any evaluator (see the bare reference's cold figure).
    warm = [q for q in access[:50] for _ in range(200)]
    timings.append(_summarise("access, cache-warm", time_calls(evaluate_access, index, warm, 1), overhead))
    for kind in QUESTION_KINDS:
        if kind != "access" and by_kind.get(kind):
            timings.append(_summarise(kind, time_calls(evaluate, index, by_kind[kind], passes), overhead))
    requests = [convert.request_from_json(item) for item in raw[:2000]]

    def edge(idx: Index, request: Any) -> object:
        try:
            return convert.response_from_result(evaluate(idx, convert.query_from_proto(request)), idx.snapshot_id)
        except QueryError as exc:
            return convert.error_response(exc, idx.snapshot_id)

    timings.append(_summarise("any, with protobuf conversion", time_calls(edge, index, requests, passes), overhead))
    timings.extend(bench_bytes_edge(index, requests, passes=passes, seed=partners))
    return {
        "partners": partners,
        "compile_s": round(compile_s, 3),
        "load_s": round(load_s, 3),
        "snapshot_bytes": len(compiled.data),
        "timings": [asdict(t) for t in timings],
    }


def fresh_ids(requests: Sequence[Any], copies: int, seed: int) -> list[bytes]:
    """``copies`` serialized copies of each request, every copy with never-seen user and group ids
    (tenants and applications repeat, as they do in traffic): no id memo can hide their cost."""
    rng = random.Random(seed)
    out = []
    for _ in range(copies):
        for request in requests:
            copy = pdp_pb2.CheckRequest()
            copy.CopyFrom(request)
            kind = copy.WhichOneof("question")
            question = getattr(copy, kind) if kind else None
            if question is not None and hasattr(question, "user_id"):
                question.user_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                fresh = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in question.group_ids]
                del question.group_ids[:]
                question.group_ids.extend(fresh)
            out.append(copy.SerializeToString())
    return out


def _cpu_per_question(fn: Callable[[Any], object], chunks: Sequence[Sequence[Any]], per: int) -> list[float]:
    """CPU time (this thread's, so a busy shared machine's other work is not counted) per
    question, one sample per chunk of ``per`` questions. GC off while timing."""
    samples = []
    gc.disable()
    try:
        for chunk in chunks:
            t0 = _cpu_ns()
            for item in chunk:
                fn(item)
            samples.append((_cpu_ns() - t0) / per)
    finally:
        gc.enable()
    return samples


def bench_bytes_edge(index: Index, requests: Sequence[Any], *, passes: int, seed: int) -> list[Timing]:
    """Bytes in, bytes out, as the server does, on never-seen ids: the question read by decode.py
    (with the protobuf path for what it declines) against the protobuf path alone, alternated
    in one run; then BatchCheck's whole per-question cost (servicer.batch over batches of 100),
    decision cache off and on (default size: every question a miss), each way. CPU time per
    question, in chunks of 100."""
    from prometheus_client import CollectorRegistry

    from xtenant_pdp.config import Settings
    from xtenant_pdp.metrics import Metrics
    from xtenant_pdp.service import servicer as servicer_module
    from xtenant_pdp.service.caches import CacheLimits
    from xtenant_pdp.service.holder import SnapshotHolder

    ways = {"decode.py": convert.question_from_bytes, "protobuf path": convert.question_via_protobuf}
    sid = index.snapshot_id

    def edge_with(read: Callable[[bytes], Any]) -> Callable[[bytes], object]:
        def edge(raw: bytes) -> object:
            try:
                result = evaluate(index, read(raw)[1])
            except QueryError as exc:
                return convert.error_response(exc, sid).SerializeToString()
            return convert.response_from_result(result, sid).SerializeToString()

        return edge

    def chunks(round_: int, name: str) -> list[list[bytes]]:
        items = fresh_ids(requests, 1, seed * 1000 + round_ * 7 + len(name))
        return [items[k : k + 100] for k in range(0, len(items) - 99, 100)]

    samples: dict[str, list[float]] = {}
    for round_ in range(passes):
        for name in ways if round_ % 2 == 0 else reversed(list(ways)):
            label = f"any, bytes to bytes, {name}"
            samples.setdefault(label, []).extend(_cpu_per_question(edge_with(ways[name]), chunks(round_, name), 100))
    for cache in (0, Settings().cache_size):
        holder = SnapshotHolder(limits=CacheLimits(decision_bytes=cache))
        holder.activate(index, "bench")
        servicer = servicer_module.DecisionServicer(holder, Metrics(CollectorRegistry()))
        for round_ in range(passes):
            for name in ways if round_ % 2 == 0 else reversed(list(ways)):
                batches = [b"".join(b"\x0a" + encode_varint(len(i)) + i for i in c) for c in chunks(round_ + 50, name)]
                saved = servicer_module.question_from_bytes
                servicer_module.question_from_bytes = ways[name]  # what the servicer called before decode.py
                try:
                    label = f"BatchCheck per question, cache {'on' if cache else 'off'}, {name}"
                    per_batch = _cpu_per_question(servicer.batch, [[b] for b in batches], 100)
                    samples.setdefault(label, []).extend(per_batch)
                finally:
                    servicer_module.question_from_bytes = saved
    return [_summarise(label, values, 0.0) for label, values in samples.items()]



def _row(t: dict[str, Any]) -> str:
    return f"  {t['kind']:<34} {t['count']:>9} {t['median_ns'] / 1000:>10.3f} {t['p99_ns'] / 1000:>10.3f}"


def report(results: list[dict[str, Any]], out: Any = sys.stdout) -> None:
    for r in results:
        out.write(
            f"\n{r['partners']} partners: compile {r['compile_s']} s, load {r['load_s']} s, "
            f"snapshot {r['snapshot_bytes'] / 1e6:.1f} MB\n"
            f"  {'question':<34} {'samples':>9} {'median us':>10} {'p99 us':>10}\n"
        )
        for t in r["timings"]:
            out.write(_row(t) + "\n")
    medians = [{t["kind"]: t["median_ns"] for t in r["timings"]} for r in results]
    out.write("\nratios (same run):\n")
    for r, m in zip(results, medians, strict=True):
        out.write(
            f"  {r['partners']:>7} partners: access / bare reference = "
            f"{m['access'] / m['access (bare reference)']:.2f}x\n"
        )
        for edge in ("any, bytes to bytes", "BatchCheck per question, cache off", "BatchCheck per question, cache on"):
            fast, slow = m.get(f"{edge}, decode.py"), m.get(f"{edge}, protobuf path")
            if fast and slow:
                out.write(f"  {r['partners']:>7} partners: {edge}: protobuf path / decode.py = {slow / fast:.2f}x\n")
    if len(results) > 1:
        first = results[0]["partners"]
        for kind in ("access", "access, cache-warm", "access (bare reference)"):
            base = medians[0][kind]
            for r, m in zip(results[1:], medians[1:], strict=True):
                out.write(f"  {kind} at {r['partners']} / at {first} partners = {m[kind] / base:.2f}x\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xtenant_pdp.bench.micro", description=__doc__.split("\n")[0])
    parser.add_argument("--partners", type=int, nargs="+", default=[10, 10000])
    parser.add_argument("--questions", type=int, default=20000, help="questions drawn per policy size")
    parser.add_argument("--passes", type=int, default=5, help="times each question is asked")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    overhead = timer_overhead_ns()
    with tempfile.TemporaryDirectory(prefix="xtenant-micro-") as tmp:
        results = [
            bench_size(n, workdir=Path(tmp), count=args.questions, passes=args.passes, overhead=overhead)
            for n in args.partners
        ]
    sys.stdout.write(f"timer overhead subtracted: {overhead:.0f} ns per sample; python {sys.version.split()[0]}\n")
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps({"timer_overhead_ns": overhead, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
