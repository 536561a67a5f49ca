"""Two policies (snapshot or policy folder, loaded as indexes) -> audit records, one per change.

Both sides are flattened to ``{(tenant, target): {Graph JSON path: value}}`` from the index,
so a folder and a snapshot compare alike and the server can diff what it enforces (item 7)
without keeping the snapshot message. A partner lists only the properties it sets itself
(origin partner); inherited ones are the default's and show up there. Target lists are
compared as sorted lists of target strings (lower-case ids, keywords as Graph writes them):
the snapshot keeps no ``targetType``, and a decision never depends on it (D3).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from xtenant_pdp.api import snapshot_pb2 as pb
from xtenant_pdp.changes.actions import Change, Scope, rule_for
from xtenant_pdp.decision import Direction, Feature, Source
from xtenant_pdp.index import ConfigIndex, Half, Index, SettingIndex, TenantIndex

CATEGORY = "CrossTenantAccessSettings"
IDENTITY_SYNC = "identitySynchronization"

Value = Any  # JSON: None, bool, str, or a tuple of str (a list on output)

_SETTINGS = (
    ("b2bCollaborationInbound", Direction.INBOUND, Feature.B2B_COLLABORATION),
    ("b2bCollaborationOutbound", Direction.OUTBOUND, Feature.B2B_COLLABORATION),
    ("b2bDirectConnectInbound", Direction.INBOUND, Feature.B2B_DIRECT_CONNECT),
    ("b2bDirectConnectOutbound", Direction.OUTBOUND, Feature.B2B_DIRECT_CONNECT),
)
_APP_GROUPS = {pb.APP_GROUP_OFFICE365: "Office365", pb.APP_GROUP_ALL_MICROSOFT_APPS: "AllMicrosoftApps"}


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One change, shaped like an Entra audit entry of category CrossTenantAccessSettings."""

    activity: str
    tenant_id: str
    target: str
    property: str | None
    old_value: Value
    new_value: Value
    required_action: str | None
    category: str = CATEGORY

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "activity": self.activity,
            "tenantId": self.tenant_id,
            "target": self.target,
            "property": self.property,
            "oldValue": _json(self.old_value),
            "newValue": _json(self.new_value),
            "requiredAction": self.required_action,
        }


def _json(value: Value) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- flatten


def _targets(half: Half, everyone: str) -> tuple[str, ...]:
    raw = half.raw
    named = [everyone] if raw.all else []
    named += [_APP_GROUPS[g] for g in raw.app_groups if g in _APP_GROUPS]
    return tuple(sorted(named) + sorted(raw.ids))


def _half_props(out: dict[str, Value], path: str, half: Half, everyone: str, *, own_only: bool) -> None:
    if own_only and half.source is not Source.PARTNER:
        return
    out[f"{path}.accessType"] = "allowed" if half.allowed else "blocked"
    out[f"{path}.targets"] = _targets(half, everyone)


def _setting_props(out: dict[str, Value], name: str, setting: SettingIndex, *, own_only: bool) -> None:
    _half_props(out, f"{name}.usersAndGroups", setting.users, "AllUsers", own_only=own_only)
    _half_props(out, f"{name}.applications", setting.applications, "AllApplications", own_only=own_only)


def _config_props(config: ConfigIndex, *, partner: bool) -> dict[str, Value]:
    out: dict[str, Value] = {}
    for name, direction, feature in _SETTINGS:
        _setting_props(out, name, config.setting(direction, feature), own_only=partner)
    if config.tenant_restrictions is not None:
        _setting_props(out, "tenantRestrictions", config.tenant_restrictions, own_only=partner)
    elif not partner:
        out["tenantRestrictions"] = None  # D8: not configured
    trust = config.trust
    if not partner or trust.source is Source.PARTNER:
        out["inboundTrust.isMfaAccepted"] = trust.mfa_accepted
        out["inboundTrust.isCompliantDeviceAccepted"] = trust.compliant_device_accepted
        out["inboundTrust.isHybridAzureADJoinedDeviceAccepted"] = trust.hybrid_joined_device_accepted
    out["automaticUserConsentSettings.inboundAllowed"] = config.automatic_redemption_inbound
    out["automaticUserConsentSettings.outboundAllowed"] = config.automatic_redemption_outbound
    if partner:
        out["isServiceProvider"] = config.is_service_provider
        if config.identity_sync is not None:
            out[f"{IDENTITY_SYNC}.userSyncInbound.isSyncAllowed"] = config.identity_sync
    return out


def _tenant_props(tenant: TenantIndex, *, partners: bool = True) -> dict[str, dict[str, Value]]:
    """target -> {property: value} for one local tenant (without its partners: policy and default)."""
    flat: dict[str, dict[str, Value]] = {
        Scope.POLICY.value: {"allowedCloudEndpoints": tuple(sorted(c.endpoint for c in tenant.allowed_clouds))},
    }
    default = _config_props(tenant.default, partner=False)
    default["id"] = tenant.default_policy_id or None
    default["isServiceDefault"] = tenant.default.source is Source.SERVICE_DEFAULT
    flat[Scope.DEFAULT.value] = default
    if partners:
        for partner_id, config in tenant.partners.items():
            flat[partner_id] = _config_props(config, partner=True)
    return flat


# --------------------------------------------------------------------------- compare


def _record(scope: Scope, change: Change, tenant_id: str, target: str, prop: str | None, old: Value, new: Value):
    rule = rule_for(scope, prop or "", change)
    return AuditRecord(
        activity=rule.activity,
        tenant_id=tenant_id,
        target=target,
        property=prop,
        old_value=old,
        new_value=new,
        required_action=rule.required_action,
    )


def _sync_props(props: dict[str, Value]) -> dict[str, Value]:
    return {k: v for k, v in props.items() if k.startswith(IDENTITY_SYNC + ".")}


def _compare_target(tenant_id: str, target: str, old: dict[str, Value], new: dict[str, Value]) -> Iterator[AuditRecord]:
    scope = Scope(target) if target in (Scope.POLICY.value, Scope.DEFAULT.value) else Scope.PARTNER
    old_sync, new_sync = _sync_props(old), _sync_props(new)
    if scope is Scope.PARTNER and bool(old_sync) != bool(new_sync):
        # The identity sync policy is its own object: created (PUT) or deleted as a whole.
        change = Change.CREATE if new_sync else Change.DELETE
        yield _record(scope, change, tenant_id, target, IDENTITY_SYNC, old_sync or None, new_sync or None)
        old = {k: v for k, v in old.items() if k not in old_sync}
        new = {k: v for k, v in new.items() if k not in new_sync}
    for prop in sorted(old.keys() | new.keys()):
        before, after = old.get(prop), new.get(prop)
        if before == after:
            continue
        change = Change.RESET if prop == "isServiceDefault" and after is True else Change.UPDATE
        yield _record(scope, change, tenant_id, target, prop, before, after)


def _partner_summary(props: dict[str, Value]) -> dict[str, Value]:
    return dict(sorted(props.items()))


def diff_tenant(
    tenant_id: str, old: dict[str, dict[str, Value]], new: dict[str, dict[str, Value]]
) -> Iterator[AuditRecord]:
    for fixed in (Scope.POLICY.value, Scope.DEFAULT.value):
        yield from _compare_target(tenant_id, fixed, old.get(fixed, {}), new.get(fixed, {}))
    fixed_targets = {Scope.POLICY.value, Scope.DEFAULT.value}
    partners = sorted((old.keys() | new.keys()) - fixed_targets)
    for partner in partners:
        if partner not in old:
            props = new[partner]
            created = {k: v for k, v in props.items() if not k.startswith(IDENTITY_SYNC + ".")}
            yield _record(Scope.PARTNER, Change.CREATE, tenant_id, partner, None, None, _partner_summary(created))
            if sync := _sync_props(props):
                yield _record(Scope.PARTNER, Change.CREATE, tenant_id, partner, IDENTITY_SYNC, None, sync)
        elif partner not in new:
            yield _record(Scope.PARTNER, Change.DELETE, tenant_id, partner, None, _partner_summary(old[partner]), None)
        else:
            yield from _compare_target(tenant_id, partner, old[partner], new[partner])


def flatten(index: Index | None) -> dict[str, dict[str, dict[str, Value]]]:
    """tenant id -> target -> property -> value."""
    if index is None:
        return {}
    return {tenant_id: _tenant_props(tenant) for tenant_id, tenant in index.tenants.items()}


def _signature(config: ConfigIndex) -> tuple[Any, ...]:
    """Everything _config_props reads of a partner, compared in C (target records, bools):
    equal signatures flatten alike, so an unchanged partner is never flattened."""
    settings = [config.setting(d, f) for _, d, f in _SETTINGS]
    if config.tenant_restrictions is not None:
        settings.append(config.tenant_restrictions)
    trust = config.trust
    return (
        [h.raw for s in settings for h in (s.users, s.applications)],
        config.tenant_restrictions is None,
        (trust.mfa_accepted, trust.compliant_device_accepted, trust.hybrid_joined_device_accepted, trust.source),
        config.automatic_redemption_inbound,
        config.automatic_redemption_outbound,
        config.is_service_provider,
        config.identity_sync,
    )


def _changed_props(
    old: TenantIndex | None, new: TenantIndex | None
) -> tuple[dict[str, dict[str, Value]], dict[str, dict[str, Value]]]:
    """Both tenants flattened, leaving out the partners whose signatures are equal."""
    before = _tenant_props(old, partners=False) if old is not None else {}
    after = _tenant_props(new, partners=False) if new is not None else {}
    old_partners = old.partners if old is not None else {}
    new_partners = new.partners if new is not None else {}
    for partner_id in old_partners.keys() | new_partners.keys():
        was, now = old_partners.get(partner_id), new_partners.get(partner_id)
        if was is not None and now is not None and _signature(was) == _signature(now):
            continue
        if was is not None:
            before[partner_id] = _config_props(was, partner=True)
        if now is not None:
            after[partner_id] = _config_props(now, partner=True)
    return before, after


def diff(old: Index | None, new: Index | None) -> list[AuditRecord]:
    """Every changed property, per local tenant (sorted by tenant id), nothing else."""
    old_tenants = old.tenants if old is not None else {}
    new_tenants = new.tenants if new is not None else {}
    records: list[AuditRecord] = []
    for tenant_id in sorted(old_tenants.keys() | new_tenants.keys()):
        before, after = _changed_props(old_tenants.get(tenant_id), new_tenants.get(tenant_id))
        records.extend(diff_tenant(tenant_id, before, after))
    return records
