"""VALIDATE stages: what must hold before resolving, and findings on what Entra stored.

``check_source`` finds errors that make a policy unusable (bad targets, duplicate tenants).
``find_conflicts`` reports graph-model.md 2.3 (C1-C4) and the seed's advice (D7) as
warnings with stable codes: a PDP still evaluates what Entra stored; ``--strict`` escalates.
"""

from __future__ import annotations

from collections.abc import Iterator

from xtenant_pdp.api import snapshot_pb2 as pb
from xtenant_pdp.compiler.resolved import AppGroup, Configuration, Half, Origin, Setting, Tenant
from xtenant_pdp.decision import supported_cloud_pair
from xtenant_pdp.errors import CompileIssue, IssueCode, Severity
from xtenant_pdp.graph.model import (
    ALL_USERS,
    MICROSOFT_ACCOUNT_TENANT_ID,
    AccessType,
    ApplicationCatalog,
    License,
    Loc,
    TenantSource,
)

OME_APP_ID = "00000012-0000-0000-c000-000000000000"

_SETTING_FIELDS = (
    ("b2b_collaboration_inbound", "b2bCollaborationInbound"),
    ("b2b_collaboration_outbound", "b2bCollaborationOutbound"),
    ("b2b_direct_connect_inbound", "b2bDirectConnectInbound"),
    ("b2b_direct_connect_outbound", "b2bDirectConnectOutbound"),
    ("tenant_restrictions", "tenantRestrictions"),
)


def _issue(
    loc: Loc,
    message: str,
    code: IssueCode,
    hint: str = "",
    *,
    warning: bool = False,
    partner: str = "",
    partner_name: str = "",
) -> CompileIssue:
    return CompileIssue(
        file=loc.file,
        path=loc.path,
        message=message,
        code=code,
        severity=Severity.WARNING if warning else Severity.ERROR,
        hint=hint,
        partner=partner,
        partner_name=partner_name,
    )


# --------------------------------------------------------------------------- source checks


def check_source(tenants: tuple[TenantSource, ...]) -> list[CompileIssue]:
    """Errors that stop compilation: a tenant defined twice, a tenant as its own partner.

    (Targets are checked as they are parsed, so that a broken half still reports its targets.)
    """
    issues: list[CompileIssue] = []
    seen: dict[str, str] = {}
    for tenant in tenants:
        first = seen.setdefault(tenant.info.tenant_id, tenant.folder)
        if first != tenant.folder:
            issues.append(
                _issue(
                    tenant.info.loc.child("tenantId"),
                    f"tenant `{tenant.info.tenant_id}` is also defined in `{first}`",
                    IssueCode.DUPLICATE_TENANT,
                    hint="keep one folder per local tenant",
                )
            )
        for partner in tenant.partners:
            if partner.tenant_id == tenant.info.tenant_id:
                issues.append(
                    _issue(
                        partner.loc.child("tenantId"),
                        "a tenant cannot be its own partner",
                        IssueCode.MISMATCHED_TENANT_ID,
                        hint="remove this partner entry",
                    )
                )
    return issues


# --------------------------------------------------------------------------- findings (C1-C4, D7)


def _blocks_everyone(half: Half) -> bool:
    return half.access is AccessType.BLOCKED and half.all


def _c1(setting: Setting, loc: Loc) -> Iterator[CompileIssue]:
    users, apps = setting.users, setting.applications
    if users.fail_closed or apps.fail_closed:
        return  # D6 already warned; the fail-closed reading is not what Entra stored
    if _blocks_everyone(users) and not _blocks_everyone(apps):
        yield _issue(
            loc.child("applications"),
            "usersAndGroups blocks AllUsers, so applications must block AllApplications",
            IssueCode.C1_BLOCKED_USERS_NEED_BLOCKED_APPS,
            warning=True,
        )
    if _blocks_everyone(apps) and users.access is AccessType.ALLOWED:
        yield _issue(
            loc.child("applications"),
            "usersAndGroups allows access, so applications may not block AllApplications",
            IssueCode.C1_ALLOWED_USERS_NEED_AN_APP,
            hint="allow at least one application",
            warning=True,
        )
    elif _blocks_everyone(apps) and not _blocks_everyone(users):
        yield _issue(
            loc.child("usersAndGroups"),
            "applications blocks AllApplications, so usersAndGroups must block AllUsers",
            IssueCode.C1_BLOCKED_APPS_NEED_BLOCKED_USERS,
            warning=True,
        )


def _own_settings(config: Configuration, partner: bool) -> Iterator[tuple[str, str, Setting]]:
    """Settings the configuration defines itself (not inherited), with their Graph names."""
    own = Origin.PARTNER if partner else Origin.DEFAULT
    for attr, graph_name in _SETTING_FIELDS:
        setting = getattr(config, attr)
        if setting is not None and own in (setting.users.origin, setting.applications.origin):
            yield attr, graph_name, setting


def _reaches_ome(half: Half, catalog: ApplicationCatalog) -> bool:
    listed = half.all or OME_APP_ID in half.ids
    if AppGroup.ALL_MICROSOFT_APPS in half.app_groups and OME_APP_ID in catalog.all_microsoft_apps:
        listed = True
    if AppGroup.OFFICE365 in half.app_groups and OME_APP_ID in catalog.office365:
        listed = True
    return listed if half.access is AccessType.ALLOWED else not listed


def _uses_p1_features(config: Configuration, partner: bool) -> bool:
    trust = config.inbound_trust
    own = Origin.PARTNER if partner else Origin.DEFAULT
    if trust.origin is own and (
        trust.mfa_accepted or trust.compliant_device_accepted or trust.hybrid_joined_device_accepted
    ):
        return True
    for _, _, setting in _own_settings(config, partner):
        for half in (setting.users, setting.applications):
            if half.origin is own and (half.ids or half.app_groups):
                return True
    return False


def _direct_connect_enabled(config: Configuration) -> bool:
    return any(
        s.users.access is AccessType.ALLOWED or not s.users.all
        for s in (config.b2b_direct_connect_inbound, config.b2b_direct_connect_outbound)
    )


def _config_findings(
    tenant: Tenant, config: Configuration, loc: Loc, catalog: ApplicationCatalog, *, partner: bool
) -> Iterator[CompileIssue]:
    for attr, graph_name, setting in _own_settings(config, partner):
        at = setting.loc if setting.loc is not None else loc.child(graph_name)
        yield from _c1(setting, at)
        if attr == "b2b_collaboration_outbound" and not _reaches_ome(setting.applications, catalog):
            yield _issue(
                at.child("applications"),
                "outbound applications exclude the Rights Management Service: users cannot read "
                "encrypted mail (OME) from partners",
                IssueCode.D7_OME_APP_BLOCKED,
                hint=f"allow application `{OME_APP_ID}`",
                warning=True,
            )
    if config.inbound_trust.mfa_accepted and config.inbound_trust.origin is (
        Origin.PARTNER if partner else Origin.DEFAULT
    ):
        yield _issue(
            loc.child("inboundTrust").child("isMfaAccepted"),
            "MFA is trusted: exclude external users from the Identity Protection MFA registration policy, "
            "or they cannot satisfy both",
            IssueCode.D7_MFA_TRUST_REGISTRATION_POLICY,
            warning=True,
        )
    if tenant.license is License.FREE and (
        _uses_p1_features(config, partner) or (partner and _direct_connect_enabled(config))
    ):
        yield _issue(
            loc,
            "trust settings, specific users, groups or applications and B2B direct connect need a "
            "Microsoft Entra ID P1 licence in this tenant",
            IssueCode.D7_P1_LICENSE_REQUIRED,
            hint='set "license" in tenant.json if the tenant has one',
            warning=True,
        )


def _default_findings(tenant: Tenant, source: TenantSource) -> Iterator[CompileIssue]:
    default = source.default
    if default is None:
        return
    for attr, graph_name in (
        ("b2b_collaboration_inbound", "b2bCollaborationInbound"),
        ("b2b_direct_connect_inbound", "b2bDirectConnectInbound"),
        ("tenant_restrictions", "tenantRestrictions"),
    ):
        own = getattr(default, attr)
        if own is None or own.users_and_groups is None:
            continue
        targets = own.users_and_groups.targets
        if [t.target for t in targets] != [ALL_USERS]:
            yield _issue(
                default.loc.child(graph_name).child("usersAndGroups").child("targets"),
                "default settings apply to all users: they cannot target specific users or groups",
                IssueCode.C2_DEFAULT_INBOUND_TARGETS_ALL_USERS,
                hint="target AllUsers here and scope users in a partner configuration",
                warning=True,
            )
    consent = default.automatic_user_consent_settings
    if consent is not None and (consent.inbound_allowed or consent.outbound_allowed):
        yield _issue(
            consent.loc,
            "the default automaticUserConsentSettings are read-only false: evaluated as false",
            IssueCode.C3_DEFAULT_CONSENT_READ_ONLY,
            hint="enable automatic redemption per partner",
            warning=True,
        )


def _cloud_findings(tenant: Tenant, source: TenantSource) -> Iterator[CompileIssue]:
    if source.policy is None:
        return
    at = source.policy.loc.child("allowedCloudEndpoints")
    for i, cloud in enumerate(tenant.allowed_cloud_endpoints):
        if cloud is tenant.cloud or not supported_cloud_pair(cloud, tenant.cloud):
            yield _issue(
                at.child(i),
                f"`{cloud.endpoint}` is not a cloud this tenant ({tenant.cloud.endpoint}) can collaborate with",
                IssueCode.CLOUD_ENDPOINT_UNSUPPORTED,
                hint="supported pairs: commercial with US Government, commercial with 21Vianet",
                warning=True,
            )


def find_conflicts(
    tenants: tuple[Tenant, ...], sources: tuple[TenantSource, ...], catalog: ApplicationCatalog
) -> list[CompileIssue]:
    by_id = {s.info.tenant_id: s for s in sources}
    issues: list[CompileIssue] = []
    for tenant in tenants:
        source = by_id[tenant.tenant_id]
        default_loc = source.default.loc if source.default else Loc(f"{source.folder}/default.json", "$")
        issues.extend(_default_findings(tenant, source))
        issues.extend(_cloud_findings(tenant, source))
        issues.extend(_config_findings(tenant, tenant.default, default_loc, catalog, partner=False))
        for partner in tenant.partners:
            issues.extend(_config_findings(tenant, partner.configuration, partner.loc, catalog, partner=True))
            tr = partner.configuration.tenant_restrictions
            if (
                partner.tenant_id == MICROSOFT_ACCOUNT_TENANT_ID
                and tr is not None
                and tr.users.origin is Origin.PARTNER
                and not tr.users.all
            ):
                issues.append(
                    _issue(
                        partner.loc.child("tenantRestrictions").child("usersAndGroups"),
                        "the Microsoft account tenant has no users or groups to target: tenant "
                        "restrictions for it are applications only",
                        IssueCode.C4_MSA_TENANT_RESTRICTIONS_APPS_ONLY,
                        hint="target AllUsers",
                        warning=True,
                    )
                )
    return issues


def find_removals(tenants: tuple[Tenant, ...], previous: pb.Snapshot) -> list[CompileIssue]:
    """C5 across versions: a service-provider partner cannot be deleted, so an export that lost one
    is incomplete (or edited); a partner with an identity sync policy needs that deleted first."""
    now = {t.tenant_id: {p.tenant_id: p for p in t.partners} for t in tenants}
    folders = {t.tenant_id: t.folder for t in tenants}
    issues: list[CompileIssue] = []
    for old_tenant in previous.tenants:
        current = now.get(old_tenant.tenant_id)
        if current is None:
            continue
        for old in old_tenant.partners:
            if old.tenant_id in current:
                continue
            folder_file = Loc(f"{folders[old_tenant.tenant_id]}/partners.json", "$.value")
            if old.is_service_provider:
                issues.append(
                    _issue(
                        folder_file,
                        f"service-provider partner `{old.tenant_id}` is gone, but Entra does not let one be deleted",
                        IssueCode.C5_PARTNER_CANNOT_BE_REMOVED,
                        hint="re-export the partners: this export looks incomplete",
                        warning=True,
                        partner=old.tenant_id,
                        partner_name=old.display_name,
                    )
                )
            elif old.HasField("identity_sync"):
                issues.append(
                    _issue(
                        folder_file,
                        f"partner `{old.tenant_id}` is gone together with its identity sync policy, which "
                        "Entra requires to be deleted first",
                        IssueCode.C5_PARTNER_CANNOT_BE_REMOVED,
                        hint="check that the identity synchronization was removed on purpose",
                        warning=True,
                        partner=old.tenant_id,
                        partner_name=old.display_name,
                    )
                )
    return issues
