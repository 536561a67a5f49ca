"""The access question (graph-model.md 2.1 R1 and 2.2) expressed in Cedar (cedarpy) and in pycasbin.

Both peers are generated from the same compiled snapshot the evaluator answers from, and are
asked the same access questions. What each encodes, at decision time:

* **Partner/default inheritance (R1, R2).** A partner that configures a B2B setting gets its own
  rule for that channel (direction x feature); the tenant's default rule for the channel applies
  to every counterpart that has no rule of its own for it, a partner that left the setting null
  included. Cedar: the default policies say ``unless { principal in Overrides::"T/channel" }`` and
  each partner entity has the channels it configures as parents. Casbin: a ``g`` link
  ``T/partner -> T/channel`` per configured channel, and the default rule matches only when
  ``!g(...)``. (R4, a setting with one half missing, is resolved as the compiler resolves it, so
  the partner's rule carries the default's half; which halves a partner set is read from the
  snapshot's origin of each half.)
* **Targets.** users and groups by union (D3: the user id or any presented group id is
  targeted, or AllUsers); applications by id or AllApplications, with ``Office365`` and
  ``AllMicrosoftApps`` expanded through the same catalogue (D5).
* **2.2.** Both halves blocked: allow unless user in AND app in (a permit plus a forbid);
  otherwise each half must admit on its own (one permit whose condition has each half's polarity).

Not expressed, so not asked of the peers (:func:`peer_questions` drops them): a question about
the tenant itself (SAME_TENANT) and cross-cloud questions (2.10), which the synthetic policy does
not produce anyway. Questions about a tenant in no policy are kept: every engine denies them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from xtenant_pdp.decision import AccessQuery, Decision, Source
from xtenant_pdp.evaluator import evaluate_access
from xtenant_pdp.index import ConfigIndex, Index, SettingIndex

__all__ = [
    "CHANNELS",
    "CasbinPeer",
    "CedarPeer",
    "PeerQuestion",
    "available_peers",
    "disagreements",
    "peer_questions",
]

#: (direction, feature) -> the channel name both peers use.
CHANNELS: dict[tuple[int, int], str] = {
    (1, 1): "inbound_b2bCollaboration",
    (1, 2): "inbound_b2bDirectConnect",
    (2, 1): "outbound_b2bCollaboration",
    (2, 2): "outbound_b2bDirectConnect",
}
_INHERITED = (Source.DEFAULT, Source.SERVICE_DEFAULT)


@dataclass(frozen=True, slots=True)
class PeerQuestion:
    """One access question in the peers' terms, with the typed query it came from."""

    query: AccessQuery
    tenant: str
    partner: str
    channel: str
    user: str
    groups: tuple[str, ...]
    app: str


def peer_questions(index: Index, queries: Iterable[AccessQuery]) -> list[PeerQuestion]:
    """The questions the peers can express (see the module docstring), in order."""
    out = []
    for q in queries:
        tenant = index.tenants.get(q.tenant_id)
        if q.external_tenant_id == q.tenant_id:
            continue
        if tenant is not None:
            cloud = q.external_cloud or index.clouds.get(q.external_tenant_id)
            if cloud is not None and cloud is not tenant.cloud:
                continue
        out.append(
            PeerQuestion(
                q,
                q.tenant_id,
                q.external_tenant_id,
                CHANNELS[(int(q.direction), int(q.feature))],
                q.user_id,
                q.group_ids,
                q.application_id,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class _Rule:
    """One setting as a peer rule: whose (tenant, partner or None for the default) and which channel."""

    tenant: str
    partner: str | None
    channel: str
    setting: SettingIndex


def _overrides(config: ConfigIndex, direction: int, feature: int) -> bool:
    """Whether a partner configured this channel itself (at least one half is not inherited)."""
    s: SettingIndex = config.channels[direction][feature]
    return s.users.source not in _INHERITED or s.applications.source not in _INHERITED


def _rules(index: Index) -> tuple[list[_Rule], dict[tuple[str, str], list[str]]]:
    """Every default and partner rule, and for each (tenant, partner) the channels it configures."""
    rules: list[_Rule] = []
    configured: dict[tuple[str, str], list[str]] = {}
    for tenant_id in sorted(index.tenants):
        tenant = index.tenants[tenant_id]
        for (d, f), channel in CHANNELS.items():
            rules.append(_Rule(tenant_id, None, channel, tenant.default.channels[d][f]))
        for partner_id, config in tenant.partners.items():
            for (d, f), channel in CHANNELS.items():
                if _overrides(config, d, f):
                    rules.append(_Rule(tenant_id, partner_id, channel, config.channels[d][f]))
                    configured.setdefault((tenant_id, partner_id), []).append(channel)
    return rules, configured


# --------------------------------------------------------------------------- Cedar


def _cedar_set(ids: Iterable[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in sorted(ids)) + "]"


def _cedar_in(everyone: bool, ids: frozenset[str], *, user: bool) -> str:
    if everyone:
        return "true"
    if not ids:
        return "false"
    literal = _cedar_set(ids)
    if user:
        return f"({literal}.contains(context.user) || {literal}.containsAny(context.groups))"
    return f"{literal}.contains(context.app)"


def cedar_policies(index: Index) -> tuple[str, list[dict[str, Any]]]:
    """(Cedar policy text, entities as Cedar JSON) for every access rule of the snapshot."""
    rules, configured = _rules(index)
    policies: list[str] = []
    for rule in rules:
        s = rule.setting
        resource = f"resource == Tenant::{json.dumps(rule.tenant)}"
        action = f'action == Action::"{rule.channel}"'
        if rule.partner is None:
            scope = f"principal, {action}, {resource}"
            inherit = f" unless {{ principal in Overrides::{json.dumps(rule.tenant + '/' + rule.channel)} }}"
        else:
            scope = f"principal == Partner::{json.dumps(rule.tenant + '/' + rule.partner)}, {action}, {resource}"
            inherit = ""
        u_in = _cedar_in(s.u_all, s.u_ids, user=True)
        a_in = _cedar_in(s.a_all, s.a_ids, user=False)
        if s.both_blocked:
            policies.append(f"permit({scope}){inherit};")
            policies.append(f"forbid({scope}) when {{ {u_in} && {a_in} }}{inherit};")
        else:
            u = u_in if s.u_allowed else f"!{u_in}"
            a = a_in if s.a_allowed else f"!{a_in}"
            policies.append(f"permit({scope}) when {{ {u} && {a} }}{inherit};")
    entities: list[dict[str, Any]] = []
    overrides: set[str] = set()
    for (tenant_id, partner_id), channels in sorted(configured.items()):
        parents = [{"type": "Overrides", "id": f"{tenant_id}/{c}"} for c in channels]
        overrides.update(f"{tenant_id}/{c}" for c in channels)
        entities.append(
            {"uid": {"type": "Partner", "id": f"{tenant_id}/{partner_id}"}, "attrs": {}, "parents": parents}
        )
    entities.extend({"uid": {"type": "Overrides", "id": o}, "attrs": {}, "parents": []} for o in sorted(overrides))
    entities.extend({"uid": {"type": "Tenant", "id": t}, "attrs": {}, "parents": []} for t in sorted(index.tenants))
    return "\n".join(policies) + "\n", entities


class CedarPeer:
    """The rules as Cedar policies, parsed once; :meth:`decide` is one ``cedarpy.is_authorized``."""

    name = "cedarpy"

    def __init__(self, index: Index) -> None:
        import cedarpy

        text, entities = cedar_policies(index)
        self.policy_text = text
        self.policy_count = text.count(";")
        self._policies = cedarpy.PolicySet.from_str(text)
        self._entities = cedarpy.Entities.from_json_str(json.dumps(entities))
        self._is_authorized = cedarpy.is_authorized
        self._allow = cedarpy.Decision.Allow

    def request(self, q: PeerQuestion) -> dict[str, Any]:
        return {
            "principal": f'Partner::"{q.tenant}/{q.partner}"',
            "action": f'Action::"{q.channel}"',
            "resource": f'Tenant::"{q.tenant}"',
            "context": {"user": q.user, "groups": list(q.groups), "app": q.app},
        }

    def prepare(self, questions: Sequence[PeerQuestion]) -> list[dict[str, Any]]:
        """The requests, built before timing (the timed part is the authorization call)."""
        return [self.request(q) for q in questions]

    def decide(self, request: dict[str, Any]) -> bool:
        result = self._is_authorized(request, self._policies, self._entities)
        if result.diagnostics.errors:
            raise RuntimeError(f"cedar evaluation errors: {result.diagnostics.errors}")
        return bool(result.decision == self._allow)


# --------------------------------------------------------------------------- casbin

CASBIN_MODEL = """
[request_definition]
r = tenant, partner, channel, user, groups, app

[policy_definition]
p = tenant, partner, channel, u, uall, uids, a, aall, aids, eft

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = r.tenant == p.tenant && r.channel == p.channel \
  && (r.partner == p.partner || (p.partner == "*" && !g(r.tenant + "/" + r.partner, r.tenant + "/" + r.channel))) \
  && (p.u == "any" || (p.u == "in") == (p.uall == "1" || inSet(r.user, p.uids) || anyInSet(r.groups, p.uids))) \
  && (p.a == "any" || (p.a == "in") == (p.aall == "1" || inSet(r.app, p.aids)))
"""


@cache
def _id_set(joined: str) -> frozenset[str]:
    return frozenset(joined.split())


def _in_set(value: str, joined: str) -> bool:
    return value in _id_set(joined)


def _any_in_set(values: Sequence[str], joined: str) -> bool:
    return not _id_set(joined).isdisjoint(values)


def casbin_rules(index: Index) -> tuple[list[list[str]], list[list[str]]]:
    """(p rules, g links). Polarity ``u``/``a``: ``in`` (must be targeted), ``out`` (must not be), ``any``."""
    rules, configured = _rules(index)
    p: list[list[str]] = []
    for rule in rules:
        s = rule.setting
        head = [rule.tenant, rule.partner if rule.partner is not None else "*", rule.channel]
        users = ["1" if s.u_all else "0", " ".join(sorted(s.u_ids))]
        apps = ["1" if s.a_all else "0", " ".join(sorted(s.a_ids))]
        if s.both_blocked:
            p.append([*head, "any", *users, "any", *apps, "allow"])
            p.append([*head, "in", *users, "in", *apps, "deny"])
        else:
            u = "in" if s.u_allowed else "out"
            a = "in" if s.a_allowed else "out"
            p.append([*head, u, *users, a, *apps, "allow"])
    g = [
        [f"{tenant_id}/{partner_id}", f"{tenant_id}/{channel}"]
        for (tenant_id, partner_id), channels in sorted(configured.items())
        for channel in channels
    ]
    return p, g


class CasbinPeer:
    """The rules as a pycasbin model and policy; :meth:`decide` is one ``Enforcer.enforce``."""

    name = "pycasbin"

    def __init__(self, index: Index) -> None:
        import casbin

        # Casbin logs every denial at WARNING; with no handler that lands on stderr.
        logging.getLogger("casbin").setLevel(logging.ERROR)
        model = casbin.model.Model()
        model.load_model_from_text(CASBIN_MODEL)
        enforcer = casbin.Enforcer(model)
        enforcer.add_function("inSet", _in_set)
        enforcer.add_function("anyInSet", _any_in_set)
        p, g = casbin_rules(index)
        enforcer.add_named_policies("p", p)
        if g:
            enforcer.add_named_grouping_policies("g", g)
        self.policy_count = len(p)
        self.link_count = len(g)
        self._enforce: Callable[..., bool] = enforcer.enforce

    def prepare(self, questions: Sequence[PeerQuestion]) -> list[tuple[str, ...] | tuple[Any, ...]]:
        return [(q.tenant, q.partner, q.channel, q.user, q.groups, q.app) for q in questions]

    def decide(self, request: tuple[Any, ...]) -> bool:
        return bool(self._enforce(*request))


# --------------------------------------------------------------------------- checks


def available_peers() -> dict[str, str | None]:
    """Peer name -> None when importable, else why not (the ``bench`` extra is optional)."""
    out: dict[str, str | None] = {}
    for name, module in (("cedarpy", "cedarpy"), ("pycasbin", "casbin")):
        try:
            __import__(module)
        except ImportError as exc:
            out[name] = f"{module} is not installed ({exc}); pip install 'xtenant-pdp[bench]'"
        else:
            out[name] = None
    return out


def disagreements(
    index: Index, peer: CedarPeer | CasbinPeer, questions: Sequence[PeerQuestion]
) -> list[tuple[PeerQuestion, bool, bool]]:
    """(question, ours, theirs) for every question where the peer's decision differs from ours."""
    out = []
    for q, request in zip(questions, peer.prepare(questions), strict=True):
        ours = evaluate_access(index, q.query).decision is Decision.ALLOW
        theirs = peer.decide(request)
        if ours != theirs:
            out.append((q, ours, theirs))
    return out
