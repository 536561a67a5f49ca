"""EMIT stage: resolved tenants -> the protobuf ``Snapshot`` (deduplicated target sets).

Identical halves (every partner that inherits a default half) are stored once and referenced
by index, which keeps a 100,000-partner snapshot small and quick to load.
"""

from __future__ import annotations

from xtenant_pdp.api import snapshot_pb2 as pb
from xtenant_pdp.compiler.resolved import Configuration, Half, MissingHalf, Setting, Tenant
from xtenant_pdp.graph.model import AccessType, ApplicationCatalog, License

_ACCESS = {AccessType.ALLOWED: pb.ACCESS_ALLOWED, AccessType.BLOCKED: pb.ACCESS_BLOCKED}
_LICENSE = {License.FREE: pb.LICENSE_FREE, License.P1: pb.LICENSE_P1, License.P2: pb.LICENSE_P2}


class _TargetSets:
    def __init__(self, snapshot: pb.Snapshot) -> None:
        self._snapshot = snapshot
        self._refs: dict[tuple[object, ...], int] = {}

    def ref(self, half: Half) -> int:
        key = half.key()
        ref = self._refs.get(key)
        if ref is None:
            ref = self._refs[key] = len(self._snapshot.target_sets)
            self._snapshot.target_sets.add(
                access=_ACCESS[half.access],
                origin=int(half.origin),
                all=half.all,
                ids=half.ids,
                app_groups=[int(g) for g in half.app_groups],
                fail_closed=int(half.fail_closed),
            )
        return ref


def _fill_setting(out: pb.Setting, setting: Setting, sets: _TargetSets) -> None:
    out.users = sets.ref(setting.users)
    out.applications = sets.ref(setting.applications)


def _fill_configuration(out: pb.Configuration, config: Configuration, sets: _TargetSets) -> None:
    _fill_setting(out.b2b_collaboration_inbound, config.b2b_collaboration_inbound, sets)
    _fill_setting(out.b2b_collaboration_outbound, config.b2b_collaboration_outbound, sets)
    _fill_setting(out.b2b_direct_connect_inbound, config.b2b_direct_connect_inbound, sets)
    _fill_setting(out.b2b_direct_connect_outbound, config.b2b_direct_connect_outbound, sets)
    if config.tenant_restrictions is not None:
        out.tenant_restrictions.SetInParent()  # presence matters: absent means not configured (D8)
        _fill_setting(out.tenant_restrictions, config.tenant_restrictions, sets)
    trust = config.inbound_trust
    out.inbound_trust.mfa_accepted = trust.mfa_accepted
    out.inbound_trust.compliant_device_accepted = trust.compliant_device_accepted
    out.inbound_trust.hybrid_joined_device_accepted = trust.hybrid_joined_device_accepted
    out.inbound_trust.origin = int(trust.origin)
    out.automatic_redemption_inbound = config.automatic_redemption_inbound
    out.automatic_redemption_outbound = config.automatic_redemption_outbound


def emit(
    tenants: tuple[Tenant, ...],
    catalog: ApplicationCatalog,
    *,
    missing_half: MissingHalf,
    automatic_redemption_across_clouds: bool,
) -> pb.Snapshot:
    snapshot = pb.Snapshot()
    sets = _TargetSets(snapshot)
    for tenant in tenants:
        out = snapshot.tenants.add(
            tenant_id=tenant.tenant_id,
            cloud=int(tenant.cloud),
            display_name=tenant.display_name,
            license=_LICENSE.get(tenant.license, pb.LICENSE_UNSPECIFIED) if tenant.license else 0,
            allowed_cloud_endpoints=[int(c) for c in tenant.allowed_cloud_endpoints],
            default_policy_id=tenant.default_policy_id,
            default_is_service_default=tenant.default_is_service_default,
        )
        _fill_configuration(out.default_configuration, tenant.default, sets)
        for partner in tenant.partners:
            p = out.partners.add(
                tenant_id=partner.tenant_id,
                is_service_provider=partner.is_service_provider,
                is_in_multi_tenant_organization=partner.is_in_multi_tenant_organization,
                display_name=partner.display_name,
            )
            _fill_configuration(p.configuration, partner.configuration, sets)
            if partner.identity_sync is not None:
                p.identity_sync.SetInParent()
                p.identity_sync.user_sync_allowed = partner.identity_sync.user_sync_allowed
                if partner.identity_sync.group_sync_allowed is not None:
                    p.identity_sync.group_sync_allowed = partner.identity_sync.group_sync_allowed
    snapshot.catalog.office365.extend(sorted(catalog.office365))
    snapshot.catalog.all_microsoft_apps.extend(sorted(catalog.all_microsoft_apps))
    snapshot.options.missing_half = int(missing_half)
    snapshot.options.automatic_redemption_across_clouds = automatic_redemption_across_clouds
    return snapshot
