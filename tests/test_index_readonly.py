"""The index is read-only after load (issue 11 item 4): every result a decision returns was built
with the index, and answering never adds to it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from conftest import EXAMPLE_POLICY
from server_kit import questions

from xtenant_pdp import convert
from xtenant_pdp.bench.mix import questions_from_index
from xtenant_pdp.compiler import compile_policy_dir
from xtenant_pdp.decision import (
    AccessQuery,
    AutomaticRedemptionQuery,
    Cloud,
    CollaborationQuery,
    Direction,
    Feature,
    IdentitySyncQuery,
    Query,
    Reason,
    RedemptionScenario,
    Source,
    SyncObjectKind,
    TenantRestrictionsQuery,
    TrustQuery,
)
from xtenant_pdp.errors import QueryContradictsSnapshot
from xtenant_pdp.evaluator import evaluate
from xtenant_pdp.index import RUNTIME_RESULTS, Index
from xtenant_pdp.loader import load_policy_dir, load_snapshot_bytes
from xtenant_pdp.synthetic import write_policy_dir

#: Results that carry a question's own values, so they cannot be prebuilt.
_PER_QUESTION = {Reason.TENANT_NOT_IN_SNAPSHOT}


def _prebuilt(index: Index) -> tuple[set[int], dict[str, int]]:
    ids: set[int] = set()
    sizes = {}
    for tid, tenant in index.tenants.items():
        ids.update(id(r) for r in tenant.results._cache.values())
        sizes[tid] = len(tenant.results)
        for config in (tenant.default, *tenant.partners.values()):
            for setting in (*config.channels[1][1:], *config.channels[2][1:], config.tenant_restrictions):
                if setting is not None:
                    ids.update((id(setting.r_allow), id(setting.r_user), id(setting.r_app)))
    return ids, sizes


def _check_read_only(index: Index, requests: list) -> int:
    return _check_queries(index, [convert.query_from_proto(r) for r in requests])


def _every_pair(index: Index) -> list[Query]:
    """Every kind of question between every pair of the index's tenants and some partners, in
    every direction, feature, cloud and scenario: each path of the evaluator."""
    user, app = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    tenants = list(index.tenants)
    others = tenants + [p for t in index.tenants.values() for p in list(t.partners)[:3]]
    others.append("00000000-0000-4000-8000-00000000000f")  # in no policy
    out: list[Query] = []
    for tenant in tenants:
        for other in others:
            for feature in Feature:
                out.append(CollaborationQuery(other, tenant, feature, user, (), app))
                out.append(TrustQuery(tenant, other, feature, frozenset(), frozenset()))
                for direction in Direction:
                    for cloud in (None, *Cloud):
                        out.append(AccessQuery(tenant, other, cloud, direction, feature, user, (), app))
            for scenario in RedemptionScenario:
                out.append(AutomaticRedemptionQuery(other, tenant, scenario))
            for kind in SyncObjectKind:  # users and groups decide by different rules (2.8)
                out.append(IdentitySyncQuery(other, tenant, kind))
            out.append(TenantRestrictionsQuery(tenant, other, user, (), app))
    return out


def _check_queries(index: Index, queries: list[Query]) -> int:
    prebuilt, before = _prebuilt(index)
    checked = 0
    for query in queries:
        try:
            result = evaluate(index, query)
        except QueryContradictsSnapshot:  # a cloud the snapshot knows otherwise (D12)
            continue
        if result.trust is not None or result.redemption is not None or result.reason in _PER_QUESTION:
            continue
        if result.source is Source.ROLE_MANAGEMENT:  # adminAction results carry the roles that decided
            continue
        assert id(result) in prebuilt, f"{result} was built while answering"
        checked += 1
    assert _prebuilt(index)[1] == before  # nothing added
    return checked


def test_every_answer_to_the_example_questions_was_built_with_the_index() -> None:
    index = load_policy_dir(EXAMPLE_POLICY)
    assert _check_read_only(index, questions()) > 10


def test_every_answer_to_a_synthetic_mix_was_built_with_the_index() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        policy = write_policy_dir(Path(tmp) / "p", partners=60, tenants=3, seed=5)
        index = load_snapshot_bytes(compile_policy_dir(policy.root).data)
    assert _check_read_only(index, questions_from_index(index, 3000, seed=3)) > 1000


def test_every_answer_between_every_pair_of_tenants_was_built_with_the_index() -> None:
    index = load_policy_dir(EXAMPLE_POLICY)
    assert _check_queries(index, _every_pair(index)) > 500


def test_runtime_results_name_each_combination_once() -> None:
    keys = [(reason, source) for _, reason, source in RUNTIME_RESULTS]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("source_cloud", "target_cloud", "groups", "reason"),
    [
        ("partner.microsoftonline.cn", "partner.microsoftonline.cn", None, Reason.SYNC_INSIDE_21VIANET_DOCS_DISAGREE),
        ("microsoftonline.com", "microsoftonline.us", None, Reason.GROUP_SYNC_CROSS_CLOUD_UNSUPPORTED),
        ("microsoftonline.com", "microsoftonline.com", False, Reason.GROUP_SYNC_NOT_ALLOWED),
    ],
)
def test_2_8_sync_answers_the_example_policy_lacks_are_built_with_the_index_too(
    tmp_path: Path, source_cloud: str, target_cloud: str, groups: bool | None, reason: Reason
) -> None:
    """Group synchronization and 21Vianet (issue 14) answered from Results built per call: the
    example policy has neither, so every pair of a policy that has them is asked here."""
    from policy_kit import engine
    from test_rules_sync import _pair

    _source, _target, spec = _pair(source_cloud, target_cloud, groups=groups)
    index = engine(tmp_path, spec).index
    assert _check_queries(index, _every_pair(index)) > 50
    syncs = [q for q in _every_pair(index) if isinstance(q, IdentitySyncQuery)]
    assert any(evaluate(index, q).reason is reason for q in syncs)
