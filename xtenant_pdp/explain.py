"""Human words for one decision: which configuration, which setting, which target matched, why.

The decision itself always comes from the evaluator; this module only narrates the index
entries that the evaluator read, so an explanation can never disagree with an answer.
"""

from __future__ import annotations

from xtenant_pdp.admin.explain import ADMIN_REASON_TEXT, admin_lines
from xtenant_pdp.api import snapshot_pb2 as pb
from xtenant_pdp.decision import (
    AccessQuery,
    AdminActionQuery,
    AutomaticRedemptionQuery,
    Cloud,
    CollaborationQuery,
    Direction,
    Feature,
    IdentitySyncQuery,
    Query,
    Reason,
    Result,
    Source,
    SyncObjectKind,
    TenantRestrictionsQuery,
    TrustQuery,
)
from xtenant_pdp.evaluator import evaluate, sync_source_cloud
from xtenant_pdp.index import Half, Index, SettingIndex, TenantIndex

REASON_TEXT = {
    Reason.ACCESS_ALLOWED: "the user and the application are both admitted by the setting (2.2)",
    Reason.USER_NOT_ALLOWED: "usersAndGroups is `allowed` and targets neither the user nor any of its groups",
    Reason.USER_BLOCKED: "usersAndGroups is `blocked` and targets the user or one of its groups",
    Reason.APPLICATION_NOT_ALLOWED: "applications is `allowed` and does not target the application",
    Reason.APPLICATION_BLOCKED: "applications is `blocked` and targets the application",
    Reason.USER_AND_APPLICATION_BLOCKED: "both halves are `blocked` and both the user and the application "
    "are targeted (2.2 rows 1, 6, 9)",
    Reason.TENANT_NOT_IN_SNAPSHOT: "the tenant's policy is not in the snapshot, so the answer fails closed (D9)",
    Reason.SAME_TENANT: "both ids name the same tenant; cross-tenant settings do not govern own members",
    Reason.CLOUD_NOT_ENABLED: "the other tenant's cloud is not in allowedCloudEndpoints (2.10)",
    Reason.CROSS_CLOUD_PARTNER_REQUIRED: "a tenant in another cloud must be added as a partner first (2.10)",
    Reason.CROSS_CLOUD_DIRECT_CONNECT_UNSUPPORTED: "B2B direct connect does not work across clouds (2.5, 2.10)",
    Reason.CLOUD_PAIR_UNSUPPORTED: "only commercial with US Government or with 21Vianet can collaborate (2.10)",
    Reason.INVALID_REQUEST: "the question is malformed",
    Reason.TRUST_SATISFIED: "every required claim is trusted and presented (2.6)",
    Reason.TRUST_MFA_IN_HOME_TENANT: "MFA from the home tenant is trusted but absent: MFA happens in the home tenant",
    Reason.TRUST_MFA_IN_RESOURCE_TENANT: "MFA from the home tenant is not trusted: the guest does MFA in the "
    "resource tenant",
    Reason.TRUST_MFA_NOT_TRUSTED_DIRECT_CONNECT: "MFA is not trusted and B2B direct connect users cannot do MFA "
    "in the resource tenant: blocked (2.5, 2.6)",
    Reason.TRUST_DEVICE_CLAIM_UNSATISFIED: "a required device claim is not trusted or not presented: blocked (2.6)",
    Reason.TRUST_NOTHING_REQUIRED: "Conditional Access requires no claim",
    Reason.UNKNOWN_ACCESS_TYPE: "the setting's accessType is `unknownFutureValue`, a value newer than this PDP: "
    "read fail-closed, it blocks every user and every application (D6)",
    Reason.UNKNOWN_TARGET_TYPE: "the deciding half lists a target of targetType `unknownFutureValue`, newer than "
    "this PDP: read fail-closed, it matches nobody in an allowed list and everybody in a blocked list (D6)",
    Reason.AUTOMATIC_REDEMPTION_ENABLED: "home outbound and resource inbound both redeem automatically (2.7)",
    Reason.AUTOMATIC_REDEMPTION_OUTBOUND_DISABLED: "the home tenant does not redeem automatically outbound (2.7)",
    Reason.AUTOMATIC_REDEMPTION_INBOUND_DISABLED: "the resource tenant does not redeem automatically inbound (2.7)",
    Reason.AUTOMATIC_REDEMPTION_CROSS_CLOUD_UNSUPPORTED: "automatic redemption does not work across clouds (D1)",
    Reason.SYNC_ALLOWED: "the target allows sync from the source and both redeem automatically (2.8)",
    Reason.SYNC_PARTNER_MISSING: "the target has no partner configuration for the source (2.8)",
    Reason.SYNC_POLICY_MISSING: "the target's partner has no identitySynchronization policy (2.8)",
    Reason.SYNC_NOT_ALLOWED: "userSyncInbound.isSyncAllowed is not true (2.8)",
    Reason.SYNC_INBOUND_REDEMPTION_DISABLED: "the target does not redeem automatically inbound, which sync requires",
    Reason.SYNC_OUTBOUND_REDEMPTION_DISABLED: "the source does not redeem automatically outbound, which sync requires",
    Reason.SYNC_CLOUD_UNSUPPORTED: "sync does not work between these clouds (2.8: across clouds only commercial "
    "-> US Government, US Government -> commercial and commercial -> 21Vianet)",
    Reason.SYNC_INSIDE_21VIANET_DOCS_DISAGREE: "sync inside 21Vianet is denied because Microsoft's pages disagree "
    "on it (2.8)",
    Reason.GROUP_SYNC_NOT_ALLOWED: "groupSyncInbound.isSyncAllowed is not true (2.8, beta)",
    Reason.GROUP_SYNC_CROSS_CLOUD_UNSUPPORTED: "group sync does not work across clouds (2.10)",
    Reason.TENANT_RESTRICTIONS_NOT_CONFIGURED: "no tenant restrictions policy applies (D8)",
    Reason.TENANT_RESTRICTIONS_OWN_IDENTITY: "own member identities are never subject to tenant restrictions (2.9)",
    Reason.SNAPSHOT_STALE: "the snapshot is older than the allowed maximum age",
    Reason.NO_SNAPSHOT: "no snapshot is loaded",
    Reason.GROUPS_CLAIM_MISSING: "the token carries no `groups` claim and --require-groups-claim is set: group "
    "targets cannot be evaluated",
    **ADMIN_REASON_TEXT,
}

SOURCE_TEXT = {
    Source.PARTNER: "the partner (organizational) configuration",
    Source.DEFAULT: "the tenant's default configuration",
    Source.SERVICE_DEFAULT: "the Entra service default",
    Source.CLOUD_SETTINGS: "Microsoft cloud settings",
    Source.IDENTITY_SYNC: "the partner's identity synchronization policy",
    Source.SNAPSHOT: "the snapshot",
    Source.REQUEST: "the request",
    Source.MODEL: "a built-in rule of the Entra model",
    Source.ROLE_MANAGEMENT: "the role definitions, role assignments and protected actions",
}

#: The places where Microsoft's pages contradict each other (graph-model.md 2.5, 2.7/D1, 2.8): the
#: explanation of every answer that depends on one names it, and the switch for the other reading.
DOCS_DISAGREE = {
    "2.5": "docs disagree (2.5): for a B2B direct connect user whose home-tenant MFA is trusted but not done yet, "
    "E-dco says the user is blocked while E-dc and E-ca step 5 say the home tenant issues an MFA challenge; this "
    "answer follows the majority (TRUST_OUTCOME_MFA_IN_HOME_TENANT); no switch picks the other reading",
    "2.7": "docs disagree (2.7 vs D1): the current cross-tenant access overview says automatic redemption works "
    "across clouds, its older revisions and the seed say it does not; this snapshot follows {reading}; compile "
    "{switch} for the other reading",
    "2.8": 'docs disagree (2.8): the cross-tenant sync FAQ says sync "isn\'t supported within ... 21Vianet", the '
    "newer configure page lists 21Vianet -> 21Vianet; this PDP denies until they agree; no switch",
}


def _redemption_conflict(index: Index) -> str:
    if index.automatic_redemption_across_clouds:
        return DOCS_DISAGREE["2.7"].format(
            reading="the current overview (--cross-cloud-automatic-redemption)",
            switch="without --cross-cloud-automatic-redemption",
        )
    return DOCS_DISAGREE["2.7"].format(
        reading="the seed (D1: not across clouds)", switch="with --cross-cloud-automatic-redemption"
    )


_SETTING_NAMES = {
    (Direction.INBOUND, Feature.B2B_COLLABORATION): "b2bCollaborationInbound",
    (Direction.OUTBOUND, Feature.B2B_COLLABORATION): "b2bCollaborationOutbound",
    (Direction.INBOUND, Feature.B2B_DIRECT_CONNECT): "b2bDirectConnectInbound",
    (Direction.OUTBOUND, Feature.B2B_DIRECT_CONNECT): "b2bDirectConnectOutbound",
}
_APP_GROUP_NAMES = {pb.APP_GROUP_OFFICE365: "Office365", pb.APP_GROUP_ALL_MICROSOFT_APPS: "AllMicrosoftApps"}


_FAIL_CLOSED_TEXT = {
    pb.FAIL_CLOSED_UNKNOWN_ACCESS_TYPE: " (read fail-closed: the exported accessType was `unknownFutureValue`, D6)",
    pb.FAIL_CLOSED_UNKNOWN_TARGET_TYPE: " (read fail-closed: a target's targetType was `unknownFutureValue`, D6)",
}


def _tenant_name(index: Index, tenant_id: str) -> str:
    tenant = index.tenants.get(tenant_id)
    return f"{tenant.display_name} ({tenant_id})" if tenant and tenant.display_name else tenant_id


def _targets(half: Half, keyword: str) -> str:
    raw = half.raw
    parts = [keyword] if raw.all else []
    parts += [_APP_GROUP_NAMES.get(g, str(g)) for g in raw.app_groups]
    ids = list(raw.ids)
    parts += ids[:5] + ([f"... {len(ids) - 5} more"] if len(ids) > 5 else [])
    return ", ".join(parts) or "(no targets)"


def _match(half: Half, subject: str, groups: tuple[str, ...], keyword: str, what: str) -> str:
    if half.everyone:
        return f"the {what} matches `{keyword}`"
    if subject in half.raw.ids:
        return f"the {what} id is targeted"
    hits = [g for g in groups if g in half.ids]
    if hits:
        return f"group {hits[0]} is targeted"
    if subject in half.ids:
        names = ", ".join(_APP_GROUP_NAMES.get(g, str(g)) for g in half.raw.app_groups)
        return f"the {what} belongs to {names} in the application catalogue (D5)"
    return f"the {what} matches no target"


def _setting_lines(name: str, setting: SettingIndex, user: str, groups: tuple[str, ...], app: str) -> list[str]:
    lines = [f"  setting {name}:"]
    for half, label, keyword, subject, sub_groups, what in (
        (setting.users, "usersAndGroups", "AllUsers", user, groups, "user"),
        (setting.applications, "applications", "AllApplications", app, (), "application"),
    ):
        access = "allowed" if half.allowed else "blocked"
        lines.append(
            f"    {label}: {access} [{_targets(half, keyword)}] from {SOURCE_TEXT[half.source]}; "
            f"{_match(half, subject, sub_groups, keyword, what)}{_FAIL_CLOSED_TEXT.get(half.raw.fail_closed, '')}"
        )
    return lines


def _configuration_line(tenant: TenantIndex, counterpart: str) -> str:
    if counterpart in tenant.partners:
        return f"  configuration: partner configuration for {counterpart} (R1; null properties inherit, R2)"
    return f"  configuration: no partner configuration for {counterpart}, so {SOURCE_TEXT[tenant.default.source]} (R1)"


def _side(
    index: Index,
    tenant_id: str,
    counterpart: str,
    direction: Direction,
    feature: Feature,
    user: str,
    groups: tuple[str, ...],
    app: str,
) -> list[str]:
    tenant = index.tenants.get(tenant_id)
    if tenant is None:
        return [f"  {tenant_id}: policy not in the snapshot (D9)"]
    setting = tenant.channel_setting(counterpart, direction, feature)
    return [
        f"{_SETTING_NAMES[(direction, feature)]} of {_tenant_name(index, tenant_id)}:",
        _configuration_line(tenant, counterpart),
        *_setting_lines(_SETTING_NAMES[(direction, feature)], setting, user, groups, app),
    ]


def _flag(value: bool) -> str:
    return "on" if value else "off"


def _redemption_lines(index: Index, home_id: str, resource_id: str) -> list[str]:
    lines = []
    home, resource = index.tenants.get(home_id), index.tenants.get(resource_id)
    if home is not None:
        out = home.configuration(resource_id)
        lines.append(
            f"automaticUserConsentSettings.outboundAllowed of {_tenant_name(index, home_id)} for {resource_id}: "
            f"{_flag(out.automatic_redemption_outbound)} ({SOURCE_TEXT[out.source]})"
        )
    if resource is not None:
        inbound = resource.configuration(home_id)
        lines.append(
            f"automaticUserConsentSettings.inboundAllowed of {_tenant_name(index, resource_id)} for {home_id}: "
            f"{_flag(inbound.automatic_redemption_inbound)} ({SOURCE_TEXT[inbound.source]})"
        )
    if home is not None and resource is not None and home.cloud is not resource.cloud:
        lines.append(f"  clouds differ: {home.cloud.endpoint} and {resource.cloud.endpoint} (D1)")
        lines.append(f"  {_redemption_conflict(index)}")
    return lines


def _sync_lines(index: Index, query: IdentitySyncQuery) -> list[str]:
    source_id, target_id = query.source_tenant_id, query.target_tenant_id
    target = index.tenants.get(target_id)
    if target is None:
        return [f"  {target_id}: policy not in the snapshot (D9)"]
    source = index.tenants.get(source_id)
    source_cloud = sync_source_cloud(target, source)
    what = query.object_kind.name.lower()
    lines = [f"{what} from {source_cloud.endpoint} into {target.cloud.endpoint} (2.8 cloud pairs)"]
    if source_cloud is target.cloud is Cloud.CHINA:
        lines.append(f"  {DOCS_DISAGREE['2.8']}")
    partner = target.partners.get(source_id)
    if partner is None:
        return [
            *lines,
            f"identity sync into {_tenant_name(index, target_id)}: no partner configuration for {source_id}",
        ]
    if partner.identity_sync is None:
        policy = "none"
    elif query.object_kind is SyncObjectKind.GROUPS:
        policy = f"groupSyncInbound.isSyncAllowed {str(partner.group_sync).lower()} (beta)"
    else:
        policy = f"userSyncInbound.isSyncAllowed {str(partner.identity_sync).lower()}"
    lines.append(
        f"identity sync into {_tenant_name(index, target_id)} from {source_id}: {policy}; automatic redemption "
        f"inbound {_flag(partner.automatic_redemption_inbound)}"
    )
    if source is None:
        lines.append(f"  {source_id} is not in the snapshot: its outbound setting is not checked (D9)")
    else:
        outbound = source.configuration(target_id)
        lines.append(
            f"  {_tenant_name(index, source_id)} redeems automatically outbound: "
            f"{_flag(outbound.automatic_redemption_outbound)}"
        )
    return lines


def explain(index: Index, query: Query) -> tuple[Result, list[str]]:
    """The evaluator's result and the lines that narrate it."""
    result = evaluate(index, query)
    lines: list[str] = []
    if isinstance(query, AccessQuery):
        lines += _side(
            index,
            query.tenant_id,
            query.external_tenant_id,
            query.direction,
            query.feature,
            query.user_id,
            query.group_ids,
            query.application_id,
        )
    elif isinstance(query, CollaborationQuery):
        lines += _side(
            index,
            query.home_tenant_id,
            query.resource_tenant_id,
            Direction.OUTBOUND,
            query.feature,
            query.user_id,
            query.group_ids,
            query.application_id,
        )
        lines += _side(
            index,
            query.resource_tenant_id,
            query.home_tenant_id,
            Direction.INBOUND,
            query.feature,
            query.user_id,
            query.group_ids,
            query.application_id,
        )
        lines.append("  both sides must allow (2.4, 2.5)")
    elif isinstance(query, TenantRestrictionsQuery):
        tenant = index.tenants.get(query.tenant_id)
        if tenant is not None:
            lines.append(f"tenantRestrictions of {_tenant_name(index, query.tenant_id)}:")
            lines.append(_configuration_line(tenant, query.external_tenant_id))
            setting = tenant.configuration(query.external_tenant_id).tenant_restrictions
            if setting is not None:
                lines += _setting_lines(
                    "tenantRestrictions", setting, query.user_id, query.group_ids, query.application_id
                )
    elif isinstance(query, TrustQuery):
        tenant = index.tenants.get(query.tenant_id)
        if tenant is not None:
            lines.append(f"inboundTrust of {_tenant_name(index, query.tenant_id)}:")
            lines.append(_configuration_line(tenant, query.external_tenant_id))
            required = ", ".join(sorted(c.name for c in query.required)) or "nothing"
            presented = ", ".join(sorted(c.name for c in query.presented)) or "nothing"
            lines.append(f"  Conditional Access requires {required}; the session presents {presented}")
            if query.feature is Feature.B2B_DIRECT_CONNECT and result.reason is Reason.TRUST_MFA_IN_HOME_TENANT:
                lines.append(f"  {DOCS_DISAGREE['2.5']}")
    elif isinstance(query, AutomaticRedemptionQuery):
        lines += _redemption_lines(index, query.home_tenant_id, query.resource_tenant_id)
    elif isinstance(query, IdentitySyncQuery):
        lines += _sync_lines(index, query)
    elif isinstance(query, AdminActionQuery):
        tenant = index.tenants.get(query.tenant_id)
        if tenant is not None:
            lines += admin_lines(tenant.display_name or tenant.tenant_id, tenant.admin, query, result)
    verdict = "ALLOW" if result.allowed else "DENY"
    lines.append(f"decision: {verdict} ({result.reason.name}): {REASON_TEXT[result.reason]}")
    lines.append(f"decided by: {SOURCE_TEXT[result.source]} of {_tenant_name(index, result.policy_tenant_id)}")
    if result.trust is not None:
        t = result.trust
        lines.append(
            f"trust: mfa {'trusted' if t.mfa_accepted else 'not trusted'}, compliant device "
            f"{'trusted' if t.compliant_device_accepted else 'not trusted'}, hybrid joined device "
            f"{'trusted' if t.hybrid_joined_device_accepted else 'not trusted'}; outcome {t.outcome.name}"
        )
    if result.redemption is not None:
        r = result.redemption
        lines.append(
            f"redemption ({r.scenario.name}): consent prompt "
            f"{'suppressed' if r.consent_prompt_suppressed else 'shown'}; invitation email "
            f"{r.invitation_email.name}; notification email {r.notification_email.name}"
        )
    return result, lines
