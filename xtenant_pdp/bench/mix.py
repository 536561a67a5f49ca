"""A realistic question mix drawn from any loaded snapshot, for ``xtenant-pdp bench``.

:func:`xtenant_pdp.synthetic.questions` needs the :class:`~xtenant_pdp.synthetic.SyntheticPolicy`
that wrote a policy; a real snapshot has no such record. :func:`questions_from_index` draws the
same kind of mix from the index alone: the local tenants and their partners come from the
snapshot, and the ids a partner's settings target (users and groups together, since the index
does not keep them apart; applications, with the ``Office365``/``AllMicrosoftApps`` catalogue
already expanded) are the "hits". Every question kind is asked, mostly access questions as a
gateway asks them (the weights of ``synthetic``), about:

* a partner of the chosen tenant (most of the time), with a fair chance of naming one of that
  partner's own targets, an id targeted somewhere else, or a fresh GUID;
* another local tenant of the snapshot (the two-sided questions more often);
* a tenant in no policy, which the default answers (or D9 denies).

Subjects present 0-8 group ids. The same index, count and seed always give the same requests.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from xtenant_pdp import convert
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.graph.model import MICROSOFT_ACCOUNT_TENANT_ID
from xtenant_pdp.index import ConfigIndex, Index, SettingIndex
from xtenant_pdp.synthetic import KIND_WEIGHTS, QUESTION_KINDS, draw_kinds

__all__ = ["KIND_WEIGHTS", "questions_from_index"]

_GROUP_COUNTS = tuple(range(9))
_GROUP_COUNT_WEIGHTS = (20, 20, 16, 12, 10, 8, 6, 4, 4)
_CLAIMS = (pdp_pb2.CLAIM_MFA, pdp_pb2.CLAIM_COMPLIANT_DEVICE, pdp_pb2.CLAIM_HYBRID_JOINED_DEVICE)
_SCENARIOS = (
    pdp_pb2.REDEMPTION_SCENARIO_B2B_COLLABORATION,
    pdp_pb2.REDEMPTION_SCENARIO_B2B_DIRECT_CONNECT,
    pdp_pb2.REDEMPTION_SCENARIO_CROSS_TENANT_SYNC,
)
_DIRECTIONS = (pdp_pb2.DIRECTION_INBOUND, pdp_pb2.DIRECTION_OUTBOUND)
#: Partners whose targets feed the pool of "known" ids; more add nothing but time on a 100k snapshot.
_POOL_PARTNERS = 5000


def _settings(config: ConfigIndex) -> list[SettingIndex]:
    out = [config.channels[d][f] for d in (1, 2) for f in (1, 2)]
    if config.tenant_restrictions is not None:
        out.append(config.tenant_restrictions)
    return out


def _targets(config: ConfigIndex) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(user and group ids, application ids) named by a configuration's settings, sorted."""
    users: set[str] = set()
    apps: set[str] = set()
    for s in _settings(config):
        users |= s.u_ids
        apps |= s.a_ids
    return tuple(sorted(users)), tuple(sorted(apps))


class _Drawer:
    def __init__(self, index: Index, rng: random.Random) -> None:
        self.rng = rng
        self.tenant_ids = tuple(sorted(index.tenants))
        if not self.tenant_ids:
            raise ValueError("the snapshot has no tenants to ask about")
        self.tenants = index.tenants
        self.partners = {tid: tuple(t.partners) for tid, t in index.tenants.items()}
        # Tenants with many partners are asked about more, as their gateways are busier.
        self.tenant_weights = [1 + len(self.partners[tid]) for tid in self.tenant_ids]
        self._targets: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        users: set[str] = set()
        apps: set[str] = set()
        for tid in self.tenant_ids:
            tenant = index.tenants[tid]
            configs = [tenant.default, *(tenant.partners[p] for p in self.partners[tid][:_POOL_PARTNERS])]
            for config in configs:
                u, a = _targets(config)
                users.update(u)
                apps.update(a)
        self.known_users = tuple(sorted(users))
        self.known_apps = tuple(sorted(apps))
        self.microsoft_apps = tuple(sorted(index.catalog_all_microsoft_apps))

    def fresh(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def targets(self, tenant_id: str, counterpart: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        key = (tenant_id, counterpart)
        found = self._targets.get(key)
        if found is None:
            config = self.tenants[tenant_id].partners.get(counterpart)
            found = self._targets[key] = _targets(config) if config is not None else ((), ())
        return found

    def pair(self, local_share: float) -> tuple[str, str]:
        """(a local tenant, a counterpart): a partner, another local tenant or a tenant in no policy."""
        rng = self.rng
        tenant = rng.choices(self.tenant_ids, weights=self.tenant_weights)[0]
        others = [t for t in self.tenant_ids if t != tenant]
        r = rng.random()
        if others and r < local_share:
            return tenant, rng.choice(others)
        partners = self.partners[tenant]
        if partners and r < local_share + (1 - local_share) * 0.85:
            return tenant, partners[int(rng.random() * len(partners))]
        return tenant, self.fresh()

    def choose(self, named: Sequence[str], pool: Sequence[str], hit: float, known: float) -> str:
        r = self.rng.random()
        if named and r < hit:
            return named[int(self.rng.random() * len(named))]
        if pool and r < hit + known:
            return pool[int(self.rng.random() * len(pool))]
        return self.fresh()

    def subject(self, user_targets: Sequence[str]) -> tuple[str, list[str]]:
        user = self.choose(user_targets, self.known_users, 0.4, 0.2)
        count = self.rng.choices(_GROUP_COUNTS, weights=_GROUP_COUNT_WEIGHTS)[0]
        groups = list(dict.fromkeys(self.choose(user_targets, self.known_users, 0.3, 0.3) for _ in range(count)))
        return user, groups

    def application(self, app_targets: Sequence[str]) -> str:
        if self.microsoft_apps and self.rng.random() < 0.2:
            return self.rng.choice(self.microsoft_apps)
        return self.choose(app_targets, self.known_apps, 0.45, 0.2)

    def claims(self, minimum: int) -> list[int]:
        count = self.rng.randint(minimum, len(_CLAIMS))
        return sorted(self.rng.sample(_CLAIMS, count))

    def ask(self, kind: str) -> pdp_pb2.CheckRequest:
        rng = self.rng
        two_sided = kind in {"collaboration", "automaticRedemption", "identitySync"}
        tenant, other = self.pair(0.6 if two_sided else 0.1)
        user_targets, app_targets = self.targets(tenant, other)
        feature = pdp_pb2.FEATURE_B2B_COLLABORATION if rng.random() < 0.75 else pdp_pb2.FEATURE_B2B_DIRECT_CONNECT
        if kind == "access":
            user, groups = self.subject(user_targets)
            return pdp_pb2.CheckRequest(
                access=pdp_pb2.AccessQuestion(
                    tenant_id=tenant,
                    external_tenant_id=other,
                    direction=rng.choice(_DIRECTIONS),
                    feature=feature,
                    user_id=user,
                    group_ids=groups,
                    application_id=self.application(app_targets),
                )
            )
        if kind == "collaboration":
            home, resource = (other, tenant) if rng.random() < 0.5 else (tenant, other)
            user, groups = self.subject(user_targets)
            return pdp_pb2.CheckRequest(
                collaboration=pdp_pb2.CollaborationQuestion(
                    home_tenant_id=home,
                    resource_tenant_id=resource,
                    feature=feature,
                    user_id=user,
                    group_ids=groups,
                    application_id=self.application(app_targets),
                )
            )
        if kind == "trust":
            required = [pdp_pb2.CLAIM_MFA] if rng.random() < 0.6 else self.claims(1)
            presented = required if rng.random() < 0.5 else self.claims(0)
            return pdp_pb2.CheckRequest(
                trust=pdp_pb2.TrustQuestion(
                    tenant_id=tenant, external_tenant_id=other, feature=feature, required=required, presented=presented
                )
            )
        if kind == "automaticRedemption":
            home, resource = (other, tenant) if rng.random() < 0.5 else (tenant, other)
            return pdp_pb2.CheckRequest(
                automatic_redemption=pdp_pb2.AutomaticRedemptionQuestion(
                    home_tenant_id=home, resource_tenant_id=resource, scenario=rng.choice(_SCENARIOS)
                )
            )
        if kind == "identitySync":
            source, target = (other, tenant) if rng.random() < 0.9 else (tenant, other)
            return pdp_pb2.CheckRequest(
                identity_sync=pdp_pb2.IdentitySyncQuestion(source_tenant_id=source, target_tenant_id=target)
            )
        if rng.random() < 0.05:
            other, user_targets, app_targets = MICROSOFT_ACCOUNT_TENANT_ID, (), ()
        user, groups = self.subject(user_targets)
        return pdp_pb2.CheckRequest(
            tenant_restrictions=pdp_pb2.TenantRestrictionsQuestion(
                tenant_id=tenant,
                external_tenant_id=other,
                user_id=user,
                group_ids=groups,
                application_id=self.application(app_targets),
            )
        )


def questions_from_index(
    index: Index, count: int, seed: int = 0, *, kinds: Sequence[str] = QUESTION_KINDS
) -> list[pdp_pb2.CheckRequest]:
    """``count`` valid CheckRequests about the tenants of ``index``, deterministic for ``seed``.

    ``kinds`` restricts the mix to some of :data:`~xtenant_pdp.synthetic.QUESTION_KINDS`
    (their relative weights are kept).
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    rng = random.Random(seed)
    drawer = _Drawer(index, rng)
    return [drawer.ask(kind) for kind in draw_kinds(rng, kinds, count)]


def kind_of(request: pdp_pb2.CheckRequest) -> str:
    """The question's kind by its proto3 JSON name (``automaticRedemption``), or ``""`` when unset."""
    return convert.json_name(request.WhichOneof("question") or "")


def describe(requests: Sequence[pdp_pb2.CheckRequest]) -> dict[str, Any]:
    """Counts of each kind in a mix, for reports."""
    counts: dict[str, int] = {}
    for r in requests:
        kind = kind_of(r)
        counts[kind] = counts.get(kind, 0) + 1
    return counts
