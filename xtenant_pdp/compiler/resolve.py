"""RESOLVE stage: partner -> default -> service default inheritance, once, at compile time.

Implements graph-model.md 2.1 (R1-R4) and D2: a null partner property takes the default's
(R2); a null consent member takes the default's, which is always false (R3); a non-null
setting with a missing half takes the default's same half (R4/D2, or "no restriction" when
configured so); a null member of a non-null inboundTrust takes the default's member (D2).
Ids are normalised here too (lower-case GUIDs, deduplicated, sorted; D4), so the evaluator
never walks fallbacks or compares case.
"""

from __future__ import annotations

from xtenant_pdp.compiler.resolved import (
    AppGroup,
    Configuration,
    FailClosed,
    Half,
    IdentitySync,
    MissingHalf,
    Origin,
    Partner,
    Setting,
    Tenant,
    Trust,
)
from xtenant_pdp.decision import Cloud
from xtenant_pdp.graph.model import (
    ALL_APPLICATIONS,
    ALL_MICROSOFT_APPS,
    ALL_USERS,
    OFFICE365,
    AccessType,
    B2BSetting,
    ConfigurationBase,
    InboundTrust,
    PartnerConfiguration,
    TargetConfiguration,
    TargetType,
    TenantSource,
)

_APP_GROUPS = {OFFICE365: AppGroup.OFFICE365, ALL_MICROSOFT_APPS: AppGroup.ALL_MICROSOFT_APPS}
_KEYWORDS_ALL = frozenset({ALL_USERS, ALL_APPLICATIONS})


def _half(access: AccessType, origin: Origin, *, everyone: bool) -> Half:
    return Half(access=access, all=everyone, ids=(), app_groups=(), origin=origin)


def _uniform(access: AccessType, origin: Origin) -> Setting:
    return Setting(users=_half(access, origin, everyone=True), applications=_half(access, origin, everyone=True))


# The Entra service default (graph-model.md 2.4, 2.5 and the default GET example): B2B
# collaboration allowed for everyone both ways, B2B direct connect blocked both ways, no
# trust, no automatic redemption, tenant restrictions not configured (D8).
SERVICE_DEFAULT = Configuration(
    b2b_collaboration_inbound=_uniform(AccessType.ALLOWED, Origin.SERVICE_DEFAULT),
    b2b_collaboration_outbound=_uniform(AccessType.ALLOWED, Origin.SERVICE_DEFAULT),
    b2b_direct_connect_inbound=_uniform(AccessType.BLOCKED, Origin.SERVICE_DEFAULT),
    b2b_direct_connect_outbound=_uniform(AccessType.BLOCKED, Origin.SERVICE_DEFAULT),
    tenant_restrictions=None,
    inbound_trust=Trust(
        mfa_accepted=False,
        compliant_device_accepted=False,
        hybrid_joined_device_accepted=False,
        origin=Origin.SERVICE_DEFAULT,
    ),
    automatic_redemption_inbound=False,
    automatic_redemption_outbound=False,
)

NO_RESTRICTION_USERS = _half(AccessType.ALLOWED, Origin.PARTNER, everyone=True)
NO_RESTRICTION_APPS = _half(AccessType.ALLOWED, Origin.PARTNER, everyone=True)


def _deny_everyone(half: Half) -> Half:
    """D6: an accessType of unknownFutureValue makes its setting deny every user and application."""
    return Half(
        access=AccessType.BLOCKED,
        all=True,
        ids=(),
        app_groups=(),
        origin=half.origin,
        loc=half.loc,
        fail_closed=FailClosed.UNKNOWN_ACCESS_TYPE,
    )


def normalise_half(config: TargetConfiguration, origin: Origin) -> Half:
    """Keywords become flags, ids lower case, sorted and deduplicated (D4, D5).

    D6, the fail-closed reading of Graph's unknownFutureValue: as an accessType the half blocks
    everyone (``_setting`` then blocks the other half too); as a targetType the target matches
    nobody in an allowed list and everybody in a blocked list.
    """
    if config.access_type is AccessType.UNKNOWN_FUTURE_VALUE:
        return _deny_everyone(
            Half(access=AccessType.BLOCKED, all=True, ids=(), app_groups=(), origin=origin, loc=config.loc)
        )
    everyone = False
    fail_closed = FailClosed.NONE
    ids: set[str] = set()
    groups: set[AppGroup] = set()
    for target in config.targets:
        if target.target_type is TargetType.UNKNOWN_FUTURE_VALUE:
            fail_closed = FailClosed.UNKNOWN_TARGET_TYPE
            everyone = everyone or config.access_type is AccessType.BLOCKED
        elif target.target in _KEYWORDS_ALL:
            everyone = True
        elif target.target in _APP_GROUPS:
            groups.add(_APP_GROUPS[target.target])
        else:
            ids.add(target.target.lower())
    return Half(
        access=config.access_type,
        all=everyone,
        ids=tuple(sorted(ids)),
        app_groups=tuple(sorted(groups)),
        origin=origin,
        loc=config.loc,
        fail_closed=fail_closed,
    )


def _setting(
    own: B2BSetting | None, inherited: Setting | None, origin: Origin, missing_half: MissingHalf
) -> Setting | None:
    """R2 for the whole setting, R4/D2 for a missing half."""
    if own is None:
        return inherited
    users = own.users_and_groups
    apps = own.applications
    if users is None and apps is None:
        # `{}` configures nothing of its own: the same as null.
        return inherited
    if missing_half is MissingHalf.INHERIT and inherited is not None:
        fallback_users, fallback_apps = inherited.users, inherited.applications
    else:
        fallback_users, fallback_apps = NO_RESTRICTION_USERS, NO_RESTRICTION_APPS
    users_half = normalise_half(users, origin) if users is not None else fallback_users
    apps_half = normalise_half(apps, origin) if apps is not None else fallback_apps
    if FailClosed.UNKNOWN_ACCESS_TYPE in (users_half.fail_closed, apps_half.fail_closed):
        # Both halves, or the both-blocked rule (2.2) would let through what the other half does not list.
        users_half, apps_half = _deny_everyone(users_half), _deny_everyone(apps_half)
    return Setting(users=users_half, applications=apps_half, loc=own.loc)


def _trust(own: InboundTrust | None, inherited: Trust, origin: Origin) -> Trust:
    if own is None:
        return inherited

    def member(value: bool | None, fallback: bool) -> bool:
        return fallback if value is None else value

    return Trust(
        mfa_accepted=member(own.is_mfa_accepted, inherited.mfa_accepted),
        compliant_device_accepted=member(own.is_compliant_device_accepted, inherited.compliant_device_accepted),
        hybrid_joined_device_accepted=member(
            own.is_hybrid_azure_ad_joined_device_accepted, inherited.hybrid_joined_device_accepted
        ),
        origin=origin,
    )


def resolve_configuration(
    own: ConfigurationBase, inherited: Configuration, origin: Origin, missing_half: MissingHalf
) -> Configuration:
    """One configuration over the one it inherits from."""

    def setting(name: str) -> Setting:
        resolved = _setting(getattr(own, name), getattr(inherited, name), origin, missing_half)
        assert resolved is not None  # B2B settings always exist in the inherited configuration
        return resolved

    consent = own.automatic_user_consent_settings
    is_partner = origin is Origin.PARTNER
    return Configuration(
        b2b_collaboration_inbound=setting("b2b_collaboration_inbound"),
        b2b_collaboration_outbound=setting("b2b_collaboration_outbound"),
        b2b_direct_connect_inbound=setting("b2b_direct_connect_inbound"),
        b2b_direct_connect_outbound=setting("b2b_direct_connect_outbound"),
        tenant_restrictions=_setting(own.tenant_restrictions, inherited.tenant_restrictions, origin, missing_half),
        inbound_trust=_trust(own.inbound_trust, inherited.inbound_trust, origin),
        # R3 and C3: the default's members are read-only false; only a partner sets them.
        automatic_redemption_inbound=bool(is_partner and consent and consent.inbound_allowed),
        automatic_redemption_outbound=bool(is_partner and consent and consent.outbound_allowed),
    )


def _partner(source: PartnerConfiguration, default: Configuration, missing_half: MissingHalf) -> Partner:
    sync = source.identity_synchronization
    return Partner(
        tenant_id=source.tenant_id,
        display_name=source.display_name or (sync.display_name if sync and sync.display_name else ""),
        is_service_provider=bool(source.is_service_provider),
        is_in_multi_tenant_organization=bool(source.is_in_multi_tenant_organization),
        configuration=resolve_configuration(source, default, Origin.PARTNER, missing_half),
        identity_sync=None
        if sync is None
        else IdentitySync(user_sync_allowed=bool(sync.user_sync_allowed), group_sync_allowed=sync.group_sync_allowed),
        loc=source.loc,
    )


def resolve_tenant(source: TenantSource, missing_half: MissingHalf) -> Tenant:
    default_source = source.default
    untouched = default_source is None or default_source.is_service_default
    origin = Origin.SERVICE_DEFAULT if untouched else Origin.DEFAULT
    default = (
        SERVICE_DEFAULT
        if default_source is None
        else resolve_configuration(default_source, SERVICE_DEFAULT, origin, MissingHalf.INHERIT)
    )
    cloud = Cloud.from_endpoint(source.info.cloud)
    assert cloud is not None  # the parser accepts known clouds only
    endpoints = source.policy.allowed_cloud_endpoints if source.policy else ()
    allowed = tuple(sorted({c for e in endpoints if (c := Cloud.from_endpoint(e)) is not None}))
    return Tenant(
        tenant_id=source.info.tenant_id,
        folder=source.folder,
        cloud=cloud,
        display_name=source.info.display_name or "",
        license=source.info.license,
        allowed_cloud_endpoints=allowed,
        default_policy_id=(default_source.id or "") if default_source else "",
        default_is_service_default=origin is Origin.SERVICE_DEFAULT,
        default=default,
        partners=tuple(
            sorted(
                (_partner(p, default, missing_half) for p in source.partners),
                key=lambda p: p.tenant_id,
            )
        ),
    )


def resolve(tenants: tuple[TenantSource, ...], missing_half: MissingHalf) -> tuple[Tenant, ...]:
    return tuple(sorted((resolve_tenant(t, missing_half) for t in tenants), key=lambda t: t.tenant_id))
