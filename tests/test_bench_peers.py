"""The benchmark's peers (cedarpy, pycasbin) decide the access question as the evaluator does.

They are only timed against the evaluator after this equivalence holds; here it is checked on a
small synthetic policy and on hand-made 2.2 shapes. Skipped when the optional ``bench`` extra is
not installed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from xtenant_pdp import convert
from xtenant_pdp.compiler import compile_policy_dir
from xtenant_pdp.decision import AccessQuery, Direction, Feature
from xtenant_pdp.index import Index
from xtenant_pdp.loader import load_snapshot_bytes
from xtenant_pdp.synthetic import questions, write_policy_dir

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `benchmarks` is a folder of the repository, not an installed package
    sys.path.insert(0, str(REPO))

from benchmarks import peers  # noqa: E402

PEERS = [
    pytest.param(
        peers.CedarPeer,
        marks=pytest.mark.skipif(
            importlib.util.find_spec("cedarpy") is None, reason="cedarpy is not installed (extra `bench`)"
        ),
        id="cedarpy",
    ),
    pytest.param(
        peers.CasbinPeer,
        marks=pytest.mark.skipif(
            importlib.util.find_spec("casbin") is None, reason="casbin is not installed (extra `bench`)"
        ),
        id="pycasbin",
    ),
]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Index, list[AccessQuery]]:
    policy = write_policy_dir(tmp_path_factory.mktemp("peers") / "policy", partners=60, tenants=3, seed=5)
    index = load_snapshot_bytes(compile_policy_dir(policy.root).data)
    raw = questions(policy, 1500, seed=5, kinds=["access"])
    queries = [convert.query_from_proto(convert.request_from_json(item)) for item in raw]
    return index, [q for q in queries if isinstance(q, AccessQuery)]


def test_peer_questions_drop_only_what_peers_cannot_express(synthetic: tuple[Index, list[AccessQuery]]) -> None:
    index, queries = synthetic
    tenant = next(iter(index.tenants))
    other = next(iter(index.tenants[tenant].partners))
    same = queries[0]._replace(tenant_id=tenant, external_tenant_id=tenant)
    kept = queries[0]._replace(tenant_id=tenant, external_tenant_id=other)
    asked = peers.peer_questions(index, [same, kept])
    assert [q.query for q in asked] == [kept]
    assert asked[0].channel == peers.CHANNELS[(int(kept.direction), int(kept.feature))]


@pytest.mark.parametrize("peer_class", PEERS)
def test_peer_agrees_with_the_evaluator(
    peer_class: type[peers.CedarPeer | peers.CasbinPeer], synthetic: tuple[Index, list[AccessQuery]]
) -> None:
    index, queries = synthetic
    asked = peers.peer_questions(index, queries)
    assert len(asked) == len(queries)
    peer = peer_class(index)
    assert peers.disagreements(index, peer, asked) == []
    # Both answers occur, so agreement is not "deny everything".
    decisions = {peer.decide(r) for r in peer.prepare(asked)}
    assert decisions == {True, False}


@pytest.mark.parametrize("peer_class", PEERS)
def test_peer_on_the_2_2_table_and_inheritance(peer_class: type[peers.CedarPeer | peers.CasbinPeer]) -> None:
    """Hand-made shapes: the both-blocked asymmetry, blocked/allowed mixes, inherited channels,
    and a counterpart with no partner configuration (the default applies)."""
    from xtenant_pdp.engine import Engine

    engine = Engine.from_policy_dir(REPO / "xtenant_pdp" / "examples" / "policy")
    index = engine.index
    ids: set[str] = set()
    apps: set[str] = set()
    for tenant in index.tenants.values():
        for config in (tenant.default, *tenant.partners.values()):
            for d in (1, 2):
                for f in (1, 2):
                    s = config.channels[d][f]
                    ids |= s.u_ids
                    apps |= s.a_ids
    subjects = [*sorted(ids)[:6], "00000000-0000-4000-8000-000000000001"]
    applications = [*sorted(apps)[:6], "00000000-0000-4000-8000-000000000002"]
    tenants = sorted(index.tenants)
    counterparts = sorted({p for t in index.tenants.values() for p in t.partners} | set(tenants))
    counterparts.append("00000000-0000-4000-8000-000000000003")
    queries = [
        AccessQuery(t, c, None, direction, feature, user, (group,) if group else (), app)
        for t in tenants
        for c in counterparts
        for direction in Direction
        for feature in Feature
        for user, group in zip(subjects, [None, *subjects[:-1]], strict=True)
        for app in applications[::2]
    ]
    asked = peers.peer_questions(index, queries)
    assert len(asked) > 1000
    peer = peer_class(index)
    assert peers.disagreements(index, peer, asked) == []
