"""Synthetic policy directories and questions, for benchmarks and scale tests.

Real Graph exports can't be shared, and hand-written ones are tiny. Benchmarks need a policy
directory in the on-disk format (``examples/policy/README.md``) with up to 100,000 partners and a
realistic mix of settings, plus questions that both hit and miss its targets. Everything comes from
one seeded :class:`random.Random`, so the same arguments always write the same bytes.
``partners.json`` is written one partner per line, so it can be read as a stream.
"""

from __future__ import annotations

import bisect
import json
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from xtenant_pdp.graph.model import (
    ALL_APPLICATIONS,
    ALL_MICROSOFT_APPS,
    ALL_USERS,
    MICROSOFT_ACCOUNT_TENANT_ID,
    OFFICE365,
)

__all__ = ["QUESTION_KINDS", "SyntheticPolicy", "questions", "write_policy_dir"]

Json = dict[str, Any]

#: The ``CheckRequest`` oneof members, by their proto3 JSON names.
QUESTION_KINDS: tuple[str, ...] = (
    "access",
    "collaboration",
    "trust",
    "automaticRedemption",
    "identitySync",
    "tenantRestrictions",
)
#: Share of each question kind in a mix (percent): mostly access questions, as a gateway asks
#: them. The snapshot-based bench mix (bench/mix.py) uses the same table.
KIND_WEIGHTS: dict[str, int] = {
    "access": 62,
    "collaboration": 14,
    "trust": 8,
    "automaticRedemption": 5,
    "identitySync": 4,
    "tenantRestrictions": 7,
}

_B2B_KEYS = (
    "b2bCollaborationInbound",
    "b2bCollaborationOutbound",
    "b2bDirectConnectInbound",
    "b2bDirectConnectOutbound",
)
_GRAPH = "https://graph.microsoft.com/v1.0/$metadata#policies/crossTenantAccessPolicy"
_COMMERCIAL = "microsoftonline.com"

# Version-4 GUID: clear the version nibble and variant bits, then set 4 and 0b10.
_GUID_CLEAR = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_GUID_SET = (0x4 << 76) | (0x2 << 62)

# Target-list sizes run 1-20 and most lists are short (weight ~ 1/n).
_SIZES = tuple(range(1, 21))
_SIZE_CUM_WEIGHTS = tuple(sum(1 / n for n in range(1, k + 1)) for k in _SIZES)


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticPolicy:
    """What :func:`write_policy_dir` wrote: ids to draw questions from."""

    root: Path
    seed: int
    #: Local tenants, one folder each. ``tenant_ids[0]`` holds the ``partners`` configurations.
    tenant_ids: tuple[str, ...]
    #: The partners of ``tenant_ids[0]`` in file order. The other local tenants come first.
    partner_ids: tuple[str, ...]
    #: Sorted ids that occur as user, group or application targets anywhere in the directory.
    user_ids: tuple[str, ...]
    group_ids: tuple[str, ...]
    app_ids: tuple[str, ...]
    #: For each partner of ``tenant_ids[0]`` (aligned with ``partner_ids``), the ids its targets name.
    partner_targets: tuple[tuple[str, ...], ...]

    @property
    def tenant_id(self) -> str:
        return self.tenant_ids[0]


def _guid(rng: random.Random) -> str:
    h = f"{(rng.getrandbits(128) & _GUID_CLEAR) | _GUID_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Ids:
    """Hands out GUIDs from the seeded generator, never the same one twice."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._seen: set[str] = {MICROSOFT_ACCOUNT_TENANT_ID}

    def new(self) -> str:
        while True:
            guid = _guid(self._rng)
            if guid not in self._seen:
                self._seen.add(guid)
                return guid

    def many(self, count: int) -> tuple[str, ...]:
        return tuple(self.new() for _ in range(count))


class _Builder:
    """Builds Graph bodies and records which pool ids the targets use."""

    def __init__(self, rng: random.Random, ids: _Ids, partners: int) -> None:
        self.rng = rng
        self.users = ids.many(min(max(partners * 2, 200), 50_000))
        self.groups = ids.many(min(max(partners // 2, 50), 10_000))
        self.apps = ids.many(min(max(partners // 20, 30), 2_000))
        self.used_users: set[str] = set()
        self.used_groups: set[str] = set()
        self.used_apps: set[str] = set()
        self.named: list[str] = []  # ids named by the partner being built

    def _size(self) -> int:
        return _SIZES[bisect.bisect(_SIZE_CUM_WEIGHTS, self.rng.random() * _SIZE_CUM_WEIGHTS[-1])]

    def _pick(self, pool: tuple[str, ...], used: set[str]) -> str:
        # random() * len is several times faster than randrange and uniform enough here.
        value = pool[int(self.rng.random() * len(pool))]
        used.add(value)
        self.named.append(value)
        return value

    def users_and_groups(self, access: str, *, keyword_share: float) -> Json:
        if access == "allowed" and self.rng.random() < keyword_share:
            return _half(access, [_target(ALL_USERS, "user")])
        targets = []
        for _ in range(self._size()):
            if self.rng.random() < 0.6:
                targets.append(_target(self._pick(self.users, self.used_users), "user"))
            else:
                targets.append(_target(self._pick(self.groups, self.used_groups), "group"))
        return _half(access, _dedupe(targets))

    def applications(self, access: str, *, keyword_share: float) -> Json:
        if access == "allowed" and self.rng.random() < keyword_share:
            keyword = self.rng.choice((ALL_APPLICATIONS, ALL_APPLICATIONS, OFFICE365, ALL_MICROSOFT_APPS))
            return _half(access, [_target(keyword, "application")])
        targets = [_target(self._pick(self.apps, self.used_apps), "application") for _ in range(self._size())]
        return _half(access, _dedupe(targets))

    def b2b_setting(self) -> Json:
        rng = self.rng
        if rng.random() < 0.05:
            return _block_all()
        halves: tuple[str, ...] = ("usersAndGroups", "applications")
        if rng.random() < 0.03:  # one half left out, as the Graph create example does (R4)
            halves = (rng.choice(halves),)
        # INVARIANT: no half is `blocked` with a keyword (except _block_all), so the halves never
        # conflict (graph-model.md 2.3 C1) and Entra would have stored them.
        out: Json = {}
        if "usersAndGroups" in halves:
            access = "blocked" if rng.random() < 0.2 else "allowed"
            out["usersAndGroups"] = self.users_and_groups(access, keyword_share=0.3)
        if "applications" in halves:
            access = "blocked" if rng.random() < 0.2 else "allowed"
            out["applications"] = self.applications(access, keyword_share=0.3)
        return out

    def tenant_restrictions(self) -> Json:
        users = self.users_and_groups("allowed", keyword_share=0.5)
        apps = self.applications("allowed", keyword_share=0.3)
        return {"devices": None, "usersAndGroups": users, "applications": apps}

    def partner(self, tenant_id: str, index: int) -> Json:
        rng = self.rng
        self.named = []
        body = _partner_body(tenant_id)
        body["isServiceProvider"] = rng.random() < 0.02
        if rng.random() < 0.40:  # inherits everything from the default
            return body
        for key in rng.sample(_B2B_KEYS, rng.randint(1, 3)):
            body[key] = self.b2b_setting()
        mto = rng.random() < 0.03
        body["isInMultiTenantOrganization"] = mto
        if mto or rng.random() < 0.25:
            body["inboundTrust"] = {
                "isMfaAccepted": rng.random() < 0.8,
                "isCompliantDeviceAccepted": rng.random() < 0.4,
                "isHybridAzureADJoinedDeviceAccepted": rng.random() < 0.3,
            }
        if mto or rng.random() < 0.15:
            body["automaticUserConsentSettings"] = {
                "inboundAllowed": True if mto or rng.random() < 0.7 else None,
                "outboundAllowed": True if mto or rng.random() < 0.7 else None,
            }
        if rng.random() < 0.12:
            body["tenantRestrictions"] = self.tenant_restrictions()
        if body["automaticUserConsentSettings"]["inboundAllowed"] and (mto or rng.random() < 0.5):
            body["identitySynchronization"] = {
                "tenantId": tenant_id,
                "displayName": f"Partner {index:06d}",
                "userSyncInbound": {"isSyncAllowed": rng.random() < 0.85},
            }
        return body


def _target(target: str, target_type: str) -> Json:
    return {"target": target, "targetType": target_type}


def _half(access: str, targets: list[Json]) -> Json:
    return {"accessType": access, "targets": targets}


def _dedupe(targets: list[Json]) -> list[Json]:
    seen: set[str] = set()
    out = []
    for t in targets:
        if t["target"] not in seen:
            seen.add(t["target"])
            out.append(t)
    return out


def _allow_all() -> Json:
    return {
        "usersAndGroups": _half("allowed", [_target(ALL_USERS, "user")]),
        "applications": _half("allowed", [_target(ALL_APPLICATIONS, "application")]),
    }


def _block_all() -> Json:
    return {
        "usersAndGroups": _half("blocked", [_target(ALL_USERS, "user")]),
        "applications": _half("blocked", [_target(ALL_APPLICATIONS, "application")]),
    }


def _partner_body(tenant_id: str) -> Json:
    """A partner that inherits everything, with the key order of a Graph export."""
    return {
        "tenantId": tenant_id,
        "isServiceProvider": False,
        "isInMultiTenantOrganization": False,
        "inboundTrust": None,
        "automaticUserConsentSettings": {"inboundAllowed": None, "outboundAllowed": None},
        "b2bCollaborationInbound": None,
        "b2bCollaborationOutbound": None,
        "b2bDirectConnectOutbound": None,
        "b2bDirectConnectInbound": None,
        "tenantRestrictions": None,
        "m365CollaborationInbound": None,
        "m365CollaborationOutbound": None,
        "appServiceConnectInbound": None,
        "identitySynchronization": None,
    }


def _sister_partner(tenant_id: str, index: int) -> Json:
    """Another tenant of the same multi-tenant organization, as the MTO template stamps it."""
    body = _partner_body(tenant_id)
    body["isInMultiTenantOrganization"] = True
    body["automaticUserConsentSettings"] = {"inboundAllowed": True, "outboundAllowed": True}
    body["b2bDirectConnectOutbound"] = _allow_all()
    body["b2bDirectConnectInbound"] = _allow_all()
    body["identitySynchronization"] = {
        "tenantId": tenant_id,
        "displayName": f"Synthetic tenant {index:03d}",
        "userSyncInbound": {"isSyncAllowed": True},
    }
    return body


def _default_body(policy_id: str | None, blocked_app: str | None) -> Json:
    """A customized default (``blocked_app`` set) or the service default."""
    customized = blocked_app is not None
    body: Json = {"@odata.context": f"{_GRAPH}/default/$entity"}
    if policy_id is not None:
        body["id"] = policy_id
    body["isServiceDefault"] = not customized
    body["inboundTrust"] = {
        "isMfaAccepted": False,
        "isCompliantDeviceAccepted": False,
        "isHybridAzureADJoinedDeviceAccepted": False,
    }
    body["automaticUserConsentSettings"] = {"inboundAllowed": False, "outboundAllowed": False}
    body["b2bCollaborationOutbound"] = _allow_all()
    body["b2bCollaborationInbound"] = _allow_all()
    if blocked_app is not None:
        body["b2bCollaborationInbound"]["applications"] = _half("blocked", [_target(blocked_app, "application")])
    body["b2bDirectConnectOutbound"] = _block_all()
    body["b2bDirectConnectInbound"] = _block_all()
    if customized:
        body["tenantRestrictions"] = {"devices": None, **_block_all()}
    body["invitationRedemptionIdentityProviderConfiguration"] = {
        "primaryIdentityProviderPrecedenceOrder": [
            "azureActiveDirectory",
            "externalFederation",
            "socialIdentityProviders",
        ],
        "fallbackIdentityProvider": "defaultConfiguredIdp",
    }
    return body


def _dump(path: Path, body: Json) -> None:
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def _write_partners(path: Path, bodies: Iterator[Json]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write('{"@odata.context": ' + json.dumps(f"{_GRAPH}/partners(identitySynchronization())"))
        f.write(',\n"value": [')
        separator = "\n"
        for body in bodies:
            f.write(separator)
            f.write(json.dumps(body))
            separator = ",\n"
        f.write("\n]}\n")


def _write_tenant(
    folder: Path, tenant_id: str, index: int, license_: str, default: Json, partners: Iterator[Json]
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    info = {
        "tenantId": tenant_id,
        "cloud": _COMMERCIAL,
        "displayName": f"Synthetic tenant {index:03d}",
        "license": license_,
    }
    _dump(folder / "tenant.json", info)
    _dump(
        folder / "crossTenantAccessPolicy.json",
        {
            "@odata.context": f"{_GRAPH}/$entity",
            "displayName": "CrossTenantAccessPolicy",
            "allowedCloudEndpoints": [],
        },
    )
    _dump(folder / "default.json", default)
    _write_partners(folder / "partners.json", partners)


def write_policy_dir(root: Path, *, partners: int, tenants: int = 1, seed: int = 0) -> SyntheticPolicy:
    """Write a policy directory under ``root``. The first local tenant gets ``partners`` partners.

    About 40% of the partners inherit everything. The rest override one to three B2B settings,
    with 1-20 specific user, group or application targets or a keyword, and some also get inbound
    trust, automatic redemption, identity sync, tenant restrictions or the service-provider or
    multi-tenant-organization flag. The other local tenants (``tenants - 1``) are the first
    partners of the first one, in one multi-tenant organization with it. Both sides configure
    automatic redemption, identity sync and direct connect for each other.
    """
    if partners < 0 or tenants < 1:
        raise ValueError(f"need partners >= 0 and tenants >= 1, got `{partners}` and `{tenants}`")
    rng = random.Random(seed)
    ids = _Ids(rng)
    tenant_ids = ids.many(tenants)
    builder = _Builder(rng, ids, partners)
    partner_ids = tenant_ids[1 : 1 + partners] + ids.many(max(0, partners - (tenants - 1)))
    partner_targets: list[tuple[str, ...]] = []

    def first_tenant_partners() -> Iterator[Json]:
        for index, partner_id in enumerate(partner_ids):
            if index < tenants - 1:
                partner_targets.append(())
                yield _sister_partner(partner_id, index + 1)
            else:
                body = builder.partner(partner_id, index)
                partner_targets.append(tuple(dict.fromkeys(builder.named)))
                yield body

    root.mkdir(parents=True, exist_ok=True)
    first_default = _default_body(ids.new(), builder.apps[0])
    builder.used_apps.add(builder.apps[0])
    _write_tenant(root / "tenant-000", tenant_ids[0], 0, "p2", first_default, first_tenant_partners())

    for index, tenant_id in enumerate(tenant_ids[1:], start=1):
        back = _sister_partner(tenant_ids[0], 0)
        customized = index % 2 == 0
        default = _default_body(ids.new() if customized else None, builder.apps[-1] if customized else None)
        if customized:
            builder.used_apps.add(builder.apps[-1])
        _write_tenant(root / f"tenant-{index:03d}", tenant_id, index, "p1", default, iter((back,)))

    return SyntheticPolicy(
        root=root,
        seed=seed,
        tenant_ids=tenant_ids,
        partner_ids=partner_ids,
        user_ids=tuple(sorted(builder.used_users)),
        group_ids=tuple(sorted(builder.used_groups)),
        app_ids=tuple(sorted(builder.used_apps)),
        partner_targets=tuple(partner_targets),
    )


# ------------------------------------------------------------------------------------ questions

_CLAIMS = ("CLAIM_MFA", "CLAIM_COMPLIANT_DEVICE", "CLAIM_HYBRID_JOINED_DEVICE")
_SCENARIOS = (
    "REDEMPTION_SCENARIO_B2B_COLLABORATION",
    "REDEMPTION_SCENARIO_B2B_DIRECT_CONNECT",
    "REDEMPTION_SCENARIO_CROSS_TENANT_SYNC",
)
_GROUP_COUNTS = tuple(range(9))
_GROUP_COUNT_WEIGHTS = (20, 20, 16, 12, 10, 8, 6, 4, 4)


def _microsoft_apps() -> tuple[str, ...]:
    text = resources.files("xtenant_pdp").joinpath("data", "applications.json").read_text("utf-8")
    return tuple(json.loads(text)["AllMicrosoftApps"])


class _Asker:
    """Draws question fields: hits on a partner's own targets, other known ids, or fresh ids."""

    def __init__(self, policy: SyntheticPolicy, rng: random.Random) -> None:
        self.policy = policy
        self.rng = rng
        self.users = frozenset(policy.user_ids)
        self.groups = frozenset(policy.group_ids)
        self.apps = frozenset(policy.app_ids)
        self.microsoft_apps = _microsoft_apps()

    def fresh(self) -> str:
        return _guid(self.rng)

    def external(self) -> tuple[str, tuple[str, ...]]:
        """A partner of the first tenant (85%) with its target ids, or a tenant in no policy."""
        if self.policy.partner_ids and self.rng.random() < 0.85:
            i = self.rng.randrange(len(self.policy.partner_ids))
            return self.policy.partner_ids[i], self.policy.partner_targets[i]
        return self.fresh(), ()

    def _choose(self, named: Sequence[str], pool: Sequence[str], hit: float, known: float) -> str:
        r = self.rng.random()
        if named and r < hit:
            return self.rng.choice(named)
        if pool and r < hit + known:
            return self.rng.choice(pool)
        return self.fresh()

    def subject(self, targets: tuple[str, ...]) -> Json:
        named_users = [t for t in targets if t in self.users]
        named_groups = [t for t in targets if t in self.groups]
        user = self._choose(named_users, self.policy.user_ids, 0.4, 0.2)
        count = self.rng.choices(_GROUP_COUNTS, weights=_GROUP_COUNT_WEIGHTS)[0]
        groups = list(dict.fromkeys(self._choose(named_groups, self.policy.group_ids, 0.3, 0.3) for _ in range(count)))
        out: Json = {"userId": user}
        if groups:
            out["groupIds"] = groups
        return out

    def application(self, targets: tuple[str, ...]) -> str:
        if self.rng.random() < 0.25:
            return self.rng.choice(self.microsoft_apps)
        return self._choose([t for t in targets if t in self.apps], self.policy.app_ids, 0.45, 0.2)

    def local_pair(self, local_share: float) -> tuple[str, str, tuple[str, ...]]:
        """(first tenant, the other tenant, that tenant's targets); the other is local ``local_share`` of the time."""
        local = self.policy.tenant_ids
        if len(local) > 1 and self.rng.random() < local_share:
            return local[0], local[self.rng.randrange(1, len(local))], ()
        other, targets = self.external()
        return local[0], other, targets

    def claims(self, minimum: int) -> list[str]:
        count = self.rng.randint(minimum, len(_CLAIMS))
        return sorted(self.rng.sample(_CLAIMS, count), key=_CLAIMS.index)

    def required_and_presented(self) -> tuple[list[str], list[str]]:
        """Most Conditional Access policies ask for MFA only, and most sessions carry what is asked."""
        required = ["CLAIM_MFA"] if self.rng.random() < 0.6 else self.claims(1)
        presented = required if self.rng.random() < 0.5 else self.claims(0)
        return required, presented

    def ask(self, kind: str) -> Json:
        rng = self.rng
        # Two-sided questions about a tenant in no policy only fail closed (D9): ask them of local tenants more.
        two_sided = kind in {"collaboration", "automaticRedemption", "identitySync"}
        tenant, other, targets = self.local_pair(0.6 if two_sided else 0.2)
        feature = "FEATURE_B2B_COLLABORATION" if rng.random() < 0.75 else "FEATURE_B2B_DIRECT_CONNECT"
        if kind == "access":
            direction = rng.choice(("DIRECTION_INBOUND", "DIRECTION_OUTBOUND"))
            q: Json = {"tenantId": tenant, "externalTenantId": other, "direction": direction, "feature": feature}
            q.update(self.subject(targets))
            q["applicationId"] = self.application(targets)
        elif kind == "collaboration":
            home, resource = (other, tenant) if rng.random() < 0.5 else (tenant, other)
            q = {"homeTenantId": home, "resourceTenantId": resource, "feature": feature}
            q.update(self.subject(targets))
            q["applicationId"] = self.application(targets)
        elif kind == "trust":
            required, presented = self.required_and_presented()
            q = {"tenantId": tenant, "externalTenantId": other, "feature": feature, "required": required}
            if presented:
                q["presented"] = presented
        elif kind == "automaticRedemption":
            home, resource = (other, tenant) if rng.random() < 0.5 else (tenant, other)
            q = {"homeTenantId": home, "resourceTenantId": resource, "scenario": rng.choice(_SCENARIOS)}
        elif kind == "identitySync":
            source, target = (other, tenant) if rng.random() < 0.9 else (tenant, other)
            q = {"sourceTenantId": source, "targetTenantId": target}
        else:  # tenantRestrictions
            if rng.random() < 0.05:
                other, targets = MICROSOFT_ACCOUNT_TENANT_ID, ()
            q = {"tenantId": tenant, "externalTenantId": other}
            q.update(self.subject(targets))
            q["applicationId"] = self.application(targets)
        return {kind: q}


def questions(
    policy: SyntheticPolicy, count: int, *, seed: int = 0, kinds: Sequence[str] = QUESTION_KINDS
) -> list[Json]:
    """``count`` CheckRequest dicts in proto3 JSON form about ``policy``, mostly access questions.

    Each question names a partner of the first tenant (with a fair chance of hitting that
    partner's own user, group and application targets), another local tenant, or a tenant in no
    policy, with 0-8 group ids.
    """
    rng = random.Random(seed)
    asker = _Asker(policy, rng)
    return [asker.ask(kind) for kind in draw_kinds(rng, kinds, count)]


def draw_kinds(
    rng: random.Random, kinds: Sequence[str], count: int, weights_by_kind: Mapping[str, float] | None = None
) -> list[str]:
    """``count`` question kinds drawn from ``kinds`` with their relative weights (mostly access)."""
    unknown = sorted(set(kinds) - set(QUESTION_KINDS))
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {QUESTION_KINDS}, got `{list(kinds)}`")
    chosen = list(dict.fromkeys(kinds))
    table = KIND_WEIGHTS if weights_by_kind is None else weights_by_kind
    weights = [table[k] for k in chosen]
    return [rng.choices(chosen, weights=weights)[0] for _ in range(count)]
