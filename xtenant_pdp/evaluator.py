"""EVALUATE: pure functions Index x question -> Result. No I/O, logging, metrics or clock.

Each function implements one section of graph-model.md and names it. Inheritance is already
resolved in the index, so an access decision is: tenant look-up, counterpart look-up
(partner, else default: R1), setting look-up, and the 2.2 membership tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xtenant_pdp.admin.evaluate import decide_admin_action
from xtenant_pdp.decision import (
    AccessQuery,
    AdminActionQuery,
    AutomaticRedemptionQuery,
    Claim,
    Cloud,
    CollaborationQuery,
    Decision,
    Direction,
    EmailFact,
    Feature,
    IdentitySyncQuery,
    Query,
    Reason,
    RedemptionDetail,
    RedemptionScenario,
    Result,
    Source,
    SyncObjectKind,
    TenantRestrictionsQuery,
    TrustDetail,
    TrustOutcome,
    TrustQuery,
    supported_cloud_pair,
)
from xtenant_pdp.errors import QueryContradictsSnapshot
from xtenant_pdp.index import ConfigIndex, Index, SettingIndex, TenantIndex

_DENY = Decision.DENY
_ALLOW = Decision.ALLOW
_INBOUND = Direction.INBOUND
_OUTBOUND = Direction.OUTBOUND
_DIRECT_CONNECT = Feature.B2B_DIRECT_CONNECT


#: Fail closed: the answer to every question while the active snapshot is older than the
#: server's --max-snapshot-age (the server knows the clock; the evaluator does not).
STALE_SNAPSHOT = Result(_DENY, Reason.SNAPSHOT_STALE, Source.SNAPSHOT, "")


def missing_tenant(tenant_id: str) -> Result:
    """D9: a question about a tenant whose policy is not in the snapshot fails closed."""
    return Result(_DENY, Reason.TENANT_NOT_IN_SNAPSHOT, Source.SNAPSHOT, tenant_id)


def cloud_contradiction(field: str, tenant_id: str, stated: Cloud, known: Cloud) -> QueryContradictsSnapshot:
    """D12: a known tenant's cloud comes from the snapshot; a question saying otherwise is refused."""
    return QueryContradictsSnapshot(
        field,
        f"`{stated.endpoint}` contradicts the snapshot, where tenant {tenant_id} is in `{known.endpoint}` (D12); "
        "omit it for tenants in the snapshot",
    )


def evaluate_setting(setting: SettingIndex, user_id: str, group_ids: tuple[str, ...], app_id: str) -> Result:
    """2.2: one B2B setting for (user, application).

    uIn: AllUsers, the user's id or any presented group id is targeted (D3: union, no nesting).
    aIn: AllApplications, the app id, or Office365/AllMicrosoftApps through the catalogue (D5).
    Both halves blocked: deny only users in AND apps in (rows 1, 6, 9); otherwise each half
    must admit the question on its own (rows 2-5, 7, 8).
    """
    ids = setting.u_ids
    u_in = setting.u_all or user_id in ids or (bool(group_ids) and not ids.isdisjoint(group_ids))
    a_in = setting.a_all or app_id in setting.a_ids
    if setting.both_blocked:
        return setting.r_user if (u_in and a_in) else setting.r_allow
    if u_in is not setting.u_allowed:
        return setting.r_user
    if a_in is not setting.a_allowed:
        return setting.r_app
    return setting.r_allow


def _cross_cloud(tenant: TenantIndex, partner: ConfigIndex | None, cloud: Cloud, feature: Feature) -> Result | None:
    """2.10: what stops B2B across clouds before any setting is read (None: nothing does)."""
    results = tenant.results
    if feature is _DIRECT_CONNECT:
        return results.get(_DENY, Reason.CROSS_CLOUD_DIRECT_CONNECT_UNSUPPORTED, Source.CLOUD_SETTINGS)
    if not supported_cloud_pair(tenant.cloud, cloud):
        return results.get(_DENY, Reason.CLOUD_PAIR_UNSUPPORTED, Source.CLOUD_SETTINGS)
    if cloud not in tenant.allowed_clouds:
        return results.get(_DENY, Reason.CLOUD_NOT_ENABLED, Source.CLOUD_SETTINGS)
    if partner is None:
        # Enabling a cloud blocks its tenants until each is added as a partner (E-cc).
        return results.get(_DENY, Reason.CROSS_CLOUD_PARTNER_REQUIRED, Source.CLOUD_SETTINGS)
    return None


def decide_access(
    tenant: TenantIndex,
    counterpart: str,
    cloud: Cloud | None,
    direction: Direction,
    feature: Feature,
    user_id: str,
    group_ids: tuple[str, ...],
    app_id: str,
) -> Result:
    """One tenant's setting about a counterpart tenant (R1, 2.2, 2.10)."""
    if counterpart == tenant.tenant_id:
        return tenant.results.get(_ALLOW, Reason.SAME_TENANT, Source.MODEL)
    if cloud is not None and cloud is not tenant.cloud:
        blocked = _cross_cloud(tenant, tenant.partners.get(counterpart), cloud, feature)
        if blocked is not None:
            return blocked
    return evaluate_setting(tenant.channel_setting(counterpart, direction, feature), user_id, group_ids, app_id)


def evaluate_access(index: Index, q: AccessQuery) -> Result:
    """2.2 and 2.10 for one tenant's inbound or outbound setting."""
    tenant = index.tenants.get(q.tenant_id)
    if tenant is None:
        return missing_tenant(q.tenant_id)
    counterpart = q.external_tenant_id
    cloud = index.clouds.get(counterpart)
    if q.external_cloud is not cloud and q.external_cloud is not None:
        if cloud is not None:
            raise cloud_contradiction("access.externalCloud", counterpart, q.external_cloud, cloud)
        cloud = q.external_cloud  # D12: the caller's word only for a tenant the snapshot does not know
    if counterpart != tenant.tenant_id and (cloud is None or cloud is tenant.cloud):
        # The common case (another tenant in the same cloud) without decide_access's extra calls.
        setting = tenant.channel_setting(counterpart, q.direction, q.feature)
        return evaluate_setting(setting, q.user_id, q.group_ids, q.application_id)
    return decide_access(tenant, counterpart, cloud, q.direction, q.feature, q.user_id, q.group_ids, q.application_id)


def evaluate_collaboration(index: Index, q: CollaborationQuery) -> Result:
    """2.4 (B2B collaboration) and 2.5 (B2B direct connect): home outbound AND resource inbound.

    D9: both tenants' policies must be in the snapshot, otherwise deny naming the missing one.
    """
    home = index.tenants.get(q.home_tenant_id)
    if home is None:
        return missing_tenant(q.home_tenant_id)
    resource = index.tenants.get(q.resource_tenant_id)
    if resource is None:
        return missing_tenant(q.resource_tenant_id)
    outbound = decide_access(
        home, resource.tenant_id, resource.cloud, _OUTBOUND, q.feature, q.user_id, q.group_ids, q.application_id
    )
    if outbound.decision is _DENY:
        return outbound
    return decide_access(
        resource, home.tenant_id, home.cloud, _INBOUND, q.feature, q.user_id, q.group_ids, q.application_id
    )


def evaluate_trust(index: Index, q: TrustQuery) -> Result:
    """2.6: the resource tenant's effective inbound trust for the home tenant, against CA's needs.

    Device claims count only when trusted and presented, else access is blocked. MFA: trusted
    and presented satisfies; trusted but absent means MFA in the home tenant; untrusted means
    MFA in the resource tenant for B2B collaboration and a block for B2B direct connect.
    Service-provider (GDAP) partners: MFA is always trusted and done in the home tenant.
    """
    tenant = index.tenants.get(q.tenant_id)
    if tenant is None:
        return missing_tenant(q.tenant_id)
    config = tenant.configuration(q.external_tenant_id)
    trust = config.trust
    source = trust.source
    mfa_trusted = trust.mfa_accepted
    if config.is_service_provider and not mfa_trusted:
        mfa_trusted, source = True, Source.MODEL
    required, presented = q.required, q.presented
    compliant_ok = trust.compliant_device_accepted and Claim.COMPLIANT_DEVICE in presented
    hybrid_ok = trust.hybrid_joined_device_accepted and Claim.HYBRID_JOINED_DEVICE in presented
    if (Claim.COMPLIANT_DEVICE in required and not compliant_ok) or (
        Claim.HYBRID_JOINED_DEVICE in required and not hybrid_ok
    ):
        outcome, reason = TrustOutcome.BLOCKED, Reason.TRUST_DEVICE_CLAIM_UNSATISFIED
    elif Claim.MFA in required:
        if mfa_trusted:
            if Claim.MFA in presented:
                outcome, reason = TrustOutcome.SATISFIED, Reason.TRUST_SATISFIED
            else:
                outcome, reason = TrustOutcome.MFA_IN_HOME_TENANT, Reason.TRUST_MFA_IN_HOME_TENANT
        elif q.feature is _DIRECT_CONNECT:
            outcome, reason = TrustOutcome.BLOCKED, Reason.TRUST_MFA_NOT_TRUSTED_DIRECT_CONNECT
        else:
            outcome, reason = TrustOutcome.MFA_IN_RESOURCE_TENANT, Reason.TRUST_MFA_IN_RESOURCE_TENANT
    elif required:
        outcome, reason = TrustOutcome.SATISFIED, Reason.TRUST_SATISFIED
    else:
        outcome, reason = TrustOutcome.SATISFIED, Reason.TRUST_NOTHING_REQUIRED
    detail = TrustDetail(mfa_trusted, trust.compliant_device_accepted, trust.hybrid_joined_device_accepted, outcome)
    decision = _DENY if outcome is TrustOutcome.BLOCKED else _ALLOW
    return Result(decision, reason, source, tenant.tenant_id, trust=detail)


_NA = EmailFact.NOT_APPLICABLE
# The seed's comparison table: (suppressed?, scenario) -> (invitation email, notification email).
_REDEMPTION_EMAILS = {
    (True, RedemptionScenario.B2B_COLLABORATION): (EmailFact.NOT_SENT, EmailFact.SENT),
    (False, RedemptionScenario.B2B_COLLABORATION): (EmailFact.SENT, EmailFact.NOT_SENT),
    (True, RedemptionScenario.CROSS_TENANT_SYNC): (EmailFact.NOT_SENT, EmailFact.NOT_SENT),
    (False, RedemptionScenario.CROSS_TENANT_SYNC): (_NA, _NA),
    (True, RedemptionScenario.B2B_DIRECT_CONNECT): (_NA, _NA),
    (False, RedemptionScenario.B2B_DIRECT_CONNECT): (_NA, _NA),
}


def _redemption(result: Result, scenario: RedemptionScenario) -> Result:
    suppressed = result.decision is _ALLOW
    invitation, notification = _REDEMPTION_EMAILS[(suppressed, scenario)]
    return result._replace(redemption=RedemptionDetail(suppressed, invitation, notification, scenario))


def evaluate_automatic_redemption(index: Index, q: AutomaticRedemptionQuery) -> Result:
    """2.7: suppressed only when home outbound AND resource inbound are enabled for each other.

    D1: not across clouds (unless compiled with automatic_redemption_across_clouds).
    D9: a tenant missing from the snapshot means not suppressed, naming that tenant.
    """
    home = index.tenants.get(q.home_tenant_id)
    resource = index.tenants.get(q.resource_tenant_id)
    if home is None:
        result = missing_tenant(q.home_tenant_id)
    elif resource is None:
        result = missing_tenant(q.resource_tenant_id)
    elif home.cloud is not resource.cloud and not index.automatic_redemption_across_clouds:
        result = resource.results.get(_DENY, Reason.AUTOMATIC_REDEMPTION_CROSS_CLOUD_UNSUPPORTED, Source.CLOUD_SETTINGS)
    else:
        outbound = home.configuration(resource.tenant_id)
        inbound = resource.configuration(home.tenant_id)
        if not outbound.automatic_redemption_outbound:
            result = home.results.get(_DENY, Reason.AUTOMATIC_REDEMPTION_OUTBOUND_DISABLED, outbound.source)
        elif not inbound.automatic_redemption_inbound:
            result = resource.results.get(_DENY, Reason.AUTOMATIC_REDEMPTION_INBOUND_DISABLED, inbound.source)
        else:
            result = resource.results.get(_ALLOW, Reason.AUTOMATIC_REDEMPTION_ENABLED, Source.PARTNER)
    return _redemption(result, q.scenario)


#: 2.8: the cross-cloud (source, target) pairs the sync pages list; every other pair is denied.
_SYNC_CLOUD_PAIRS = frozenset(
    {
        (Cloud.COMMERCIAL, Cloud.US_GOVERNMENT),
        (Cloud.US_GOVERNMENT, Cloud.COMMERCIAL),
        (Cloud.COMMERCIAL, Cloud.CHINA),
    }
)


def sync_source_cloud(target: TenantIndex, source: TenantIndex | None) -> Cloud:
    """2.8: a source the snapshot does not know is taken to be in the target's cloud, as for
    access questions (the evaluator and explain both read it here)."""
    return target.cloud if source is None else source.cloud


def _sync_clouds(target: TenantIndex, source: TenantIndex | None, kind: SyncObjectKind) -> Result | None:
    """2.8 cloud pairs; each side must enable the other's cloud (2.10)."""
    results = target.results
    source_cloud = sync_source_cloud(target, source)
    if source_cloud is target.cloud:
        if target.cloud is Cloud.CHINA:
            # The FAQ says no, the newer configure page lists 21Vianet -> 21Vianet: deny, saying so.
            return results.get(_DENY, Reason.SYNC_INSIDE_21VIANET_DOCS_DISAGREE, Source.CLOUD_SETTINGS)
        return None
    assert source is not None
    if (source_cloud, target.cloud) not in _SYNC_CLOUD_PAIRS:
        return results.get(_DENY, Reason.SYNC_CLOUD_UNSUPPORTED, Source.CLOUD_SETTINGS)
    if kind is SyncObjectKind.GROUPS:
        return results.get(_DENY, Reason.GROUP_SYNC_CROSS_CLOUD_UNSUPPORTED, Source.CLOUD_SETTINGS)
    if source_cloud not in target.allowed_clouds:
        return results.get(_DENY, Reason.CLOUD_NOT_ENABLED, Source.CLOUD_SETTINGS)
    if target.cloud not in source.allowed_clouds:
        return source.results.get(_DENY, Reason.CLOUD_NOT_ENABLED, Source.CLOUD_SETTINGS)
    return None


def evaluate_identity_sync(index: Index, q: IdentitySyncQuery) -> Result:
    """2.8: target partner(source) with isSyncAllowed (userSyncInbound for users, the beta
    groupSyncInbound for groups) and inbound automatic redemption; source partner(target) with
    outbound automatic redemption, checked only when the source is in the snapshot (D9).

    NOTE: D1 (no automatic redemption across clouds) is about the consent prompt; E-cts
    supports cross-cloud sync, so the redemption flags are read here as stored.
    """
    target = index.tenants.get(q.target_tenant_id)
    if target is None:
        return missing_tenant(q.target_tenant_id)
    source = index.tenants.get(q.source_tenant_id)
    kind = q.object_kind
    blocked = _sync_clouds(target, source, kind)
    if blocked is not None:
        return blocked
    results = target.results
    partner = target.partners.get(q.source_tenant_id)
    if partner is None:
        return results.get(_DENY, Reason.SYNC_PARTNER_MISSING, Source.DEFAULT)
    if partner.identity_sync is None:
        return results.get(_DENY, Reason.SYNC_POLICY_MISSING, Source.PARTNER)
    if kind is SyncObjectKind.GROUPS:
        if not partner.group_sync:
            return results.get(_DENY, Reason.GROUP_SYNC_NOT_ALLOWED, Source.IDENTITY_SYNC)
    elif not partner.identity_sync:
        return results.get(_DENY, Reason.SYNC_NOT_ALLOWED, Source.IDENTITY_SYNC)
    if not partner.automatic_redemption_inbound:
        return results.get(_DENY, Reason.SYNC_INBOUND_REDEMPTION_DISABLED, Source.PARTNER)
    if source is not None:
        outbound = source.configuration(target.tenant_id)
        if not outbound.automatic_redemption_outbound:
            return source.results.get(_DENY, Reason.SYNC_OUTBOUND_REDEMPTION_DISABLED, outbound.source)
    return results.get(_ALLOW, Reason.SYNC_ALLOWED, Source.IDENTITY_SYNC)


def evaluate_tenant_restrictions(index: Index, q: TenantRestrictionsQuery) -> Result:
    """2.9: the issuing tenant's partner tenantRestrictions, else the default's, per 2.2.

    Own member identities are never subject to TRv2; absent everywhere means not configured
    and allowed (D8).
    """
    tenant = index.tenants.get(q.tenant_id)
    if tenant is None:
        return missing_tenant(q.tenant_id)
    if q.external_tenant_id == tenant.tenant_id:
        return tenant.results.get(_ALLOW, Reason.TENANT_RESTRICTIONS_OWN_IDENTITY, Source.MODEL)
    config = tenant.configuration(q.external_tenant_id)
    setting = config.tenant_restrictions
    if setting is None:
        return tenant.results.get(_ALLOW, Reason.TENANT_RESTRICTIONS_NOT_CONFIGURED, tenant.default.source)
    return evaluate_setting(setting, q.user_id, q.group_ids, q.application_id)


def evaluate_gateway_caller(
    index: Index, q: AccessQuery, required: frozenset[Claim], presented: frozenset[Claim]
) -> tuple[Result, Result | None]:
    """A gateway's question about a signed-in caller (the ext_authz adapter): 2.2 for the resource
    tenant's inbound setting, then 2.6 for the claims the route requires. The first deny is the
    answer. A tenant's own member (Reason.SAME_TENANT) is governed by no cross-tenant setting,
    trust included, so no trust question is asked: (access result, trust result or None)."""
    result = evaluate_access(index, q)
    if result.decision is _DENY or result.reason is Reason.SAME_TENANT:
        return result, None
    trust = TrustQuery(q.tenant_id, q.external_tenant_id, q.feature, required, presented)
    return result, evaluate_trust(index, trust)


def deciding_result(access: Result, trust: Result | None) -> Result:
    """The answer of evaluate_gateway_caller's pair: the first deny, else the access allow."""
    if access.decision is _DENY or trust is None or trust.decision is not _DENY:
        return access
    return trust


def evaluate_admin_action(index: Index, q: AdminActionQuery) -> Result:
    """D13 (section 5): may the principal perform the action on the tenant's settings now."""
    tenant = index.tenants.get(q.tenant_id)
    if tenant is None:
        return missing_tenant(q.tenant_id)
    admin = tenant.admin
    if admin is None:  # only for an index built by hand: the loader always builds one
        return Result(_DENY, Reason.ADMIN_ROLES_NOT_IN_SNAPSHOT, Source.ROLE_MANAGEMENT, tenant.tenant_id)
    return decide_admin_action(admin, q)


_EVALUATORS: dict[type, Callable[[Index, Any], Result]] = {
    AccessQuery: evaluate_access,
    CollaborationQuery: evaluate_collaboration,
    TrustQuery: evaluate_trust,
    AutomaticRedemptionQuery: evaluate_automatic_redemption,
    IdentitySyncQuery: evaluate_identity_sync,
    TenantRestrictionsQuery: evaluate_tenant_restrictions,
    AdminActionQuery: evaluate_admin_action,
}


def evaluate(index: Index, query: Query) -> Result:
    """Answer any question. Queries are valid by construction (see convert); one that contradicts
    the snapshot raises QueryContradictsSnapshot (D12), INVALID_ARGUMENT for every front end."""
    return _EVALUATORS[type(query)](index, query)
