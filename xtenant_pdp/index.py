"""INDEX: the in-memory form of a snapshot, built once per load, read-only afterwards.

Everything a decision needs is a dict or frozenset look-up away: tenant id -> tenant,
counterpart tenant id -> effective configuration (partner, else default), (direction,
feature) -> setting, and per setting the user/group and application id sets with the
``Office365``/``AllMicrosoftApps`` symbols already expanded through the catalogue (D5).
Results are built here too, one per (reason, source) per tenant, so a decision allocates
nothing: the evaluator returns a prebuilt :class:`~xtenant_pdp.decision.Result`.

INVARIANT: every id in the index is a lower-case GUID; questions are normalised the same
way before they reach the evaluator.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from xtenant_pdp.admin.index import AdminIndex, build_admin
from xtenant_pdp.api import snapshot_pb2 as pb
from xtenant_pdp.decision import Cloud, Decision, Direction, Feature, Reason, Result, Source
from xtenant_pdp.errors import SnapshotLoadError
from xtenant_pdp.snapshot import SnapshotInfo

_SOURCE_OF_ORIGIN = {
    pb.ORIGIN_PARTNER: Source.PARTNER,
    pb.ORIGIN_DEFAULT: Source.DEFAULT,
    pb.ORIGIN_SERVICE_DEFAULT: Source.SERVICE_DEFAULT,
}


_FAIL_CLOSED_REASON = {
    pb.FAIL_CLOSED_UNKNOWN_ACCESS_TYPE: Reason.UNKNOWN_ACCESS_TYPE,
    pb.FAIL_CLOSED_UNKNOWN_TARGET_TYPE: Reason.UNKNOWN_TARGET_TYPE,
}


_CONFIG_SOURCES = (Source.PARTNER, Source.DEFAULT, Source.SERVICE_DEFAULT)
_A, _D = Decision.ALLOW, Decision.DENY
#: Every (decision, reason, source) the evaluator asks a tenant's Results for while answering
#: (the setting results are built with the settings): all built with the index, so answering
#: never writes to it. tests/test_index_readonly.py asks every kind of question and checks.
RUNTIME_RESULTS: tuple[tuple[Decision, Reason, Source], ...] = (
    (_A, Reason.SAME_TENANT, Source.MODEL),
    (_D, Reason.CROSS_CLOUD_DIRECT_CONNECT_UNSUPPORTED, Source.CLOUD_SETTINGS),
    (_D, Reason.CLOUD_PAIR_UNSUPPORTED, Source.CLOUD_SETTINGS),
    (_D, Reason.CLOUD_NOT_ENABLED, Source.CLOUD_SETTINGS),
    (_D, Reason.CROSS_CLOUD_PARTNER_REQUIRED, Source.CLOUD_SETTINGS),
    (_D, Reason.AUTOMATIC_REDEMPTION_CROSS_CLOUD_UNSUPPORTED, Source.CLOUD_SETTINGS),
    *((_D, Reason.AUTOMATIC_REDEMPTION_OUTBOUND_DISABLED, s) for s in _CONFIG_SOURCES),
    *((_D, Reason.AUTOMATIC_REDEMPTION_INBOUND_DISABLED, s) for s in _CONFIG_SOURCES),
    (_A, Reason.AUTOMATIC_REDEMPTION_ENABLED, Source.PARTNER),
    (_D, Reason.SYNC_CLOUD_UNSUPPORTED, Source.CLOUD_SETTINGS),
    (_D, Reason.SYNC_PARTNER_MISSING, Source.DEFAULT),
    (_D, Reason.SYNC_POLICY_MISSING, Source.PARTNER),
    (_D, Reason.SYNC_NOT_ALLOWED, Source.IDENTITY_SYNC),
    (_D, Reason.GROUP_SYNC_NOT_ALLOWED, Source.IDENTITY_SYNC),
    (_D, Reason.GROUP_SYNC_CROSS_CLOUD_UNSUPPORTED, Source.CLOUD_SETTINGS),
    (_D, Reason.SYNC_INSIDE_21VIANET_DOCS_DISAGREE, Source.CLOUD_SETTINGS),
    (_D, Reason.SYNC_INBOUND_REDEMPTION_DISABLED, Source.PARTNER),
    *((_D, Reason.SYNC_OUTBOUND_REDEMPTION_DISABLED, s) for s in _CONFIG_SOURCES),
    (_A, Reason.SYNC_ALLOWED, Source.IDENTITY_SYNC),
    (_A, Reason.TENANT_RESTRICTIONS_OWN_IDENTITY, Source.MODEL),
    *((_A, Reason.TENANT_RESTRICTIONS_NOT_CONFIGURED, s) for s in _CONFIG_SOURCES),
)


class Results:
    """One shared Result per (decision, reason, source) for one tenant, all built with the index.

    After :meth:`seal` the table is read-only: a combination it lacks (none, by the test above)
    is built for that call and not kept, so the index never changes while it answers."""

    __slots__ = ("_cache", "_sealed", "tenant_id")

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._cache: dict[tuple[Reason, Source], Result] = {}
        self._sealed = False

    def get(self, decision: Decision, reason: Reason, source: Source) -> Result:
        result = self._cache.get((reason, source))
        if result is None:
            result = Result(decision, reason, source, self.tenant_id)
            if not self._sealed:
                self._cache[(reason, source)] = result
        return result

    def seal(self) -> None:
        """Build every result answering may ask for, then keep the table as it is."""
        for decision, reason, source in RUNTIME_RESULTS:
            self.get(decision, reason, source)
        self._sealed = True

    def __len__(self) -> int:
        return len(self._cache)


class TargetRecord(NamedTuple):
    """A compiled target set before catalogue expansion, for explain and diff: every field of
    ``pb.TargetSet`` (so equal records are equal messages), kept instead of the protobuf
    message. A kept sub-message keeps the whole parsed snapshot alive: at 100,000 partners that
    cost 57 MB of RSS (490 -> 433 MB with the index loaded, measured with and without)."""

    access: int
    origin: int
    all: bool
    app_groups: tuple[int, ...]
    #: The targeted ids in their compiled order.
    ids: tuple[str, ...]
    fail_closed: int


class Half:
    """One normalised usersAndGroups or applications half."""

    __slots__ = ("allowed", "everyone", "ids", "raw", "source")

    def __init__(self, allowed: bool, everyone: bool, ids: frozenset[str], source: Source, raw: TargetRecord) -> None:
        self.allowed = allowed
        self.everyone = everyone
        self.ids = ids
        self.source = source
        #: The compiled target set before catalogue expansion, for explanations.
        self.raw = raw


class SettingIndex:
    """A B2B setting ready for 2.2: membership sets, the both-blocked flag, prebuilt results."""

    __slots__ = (
        "a_all",
        "a_allowed",
        "a_ids",
        "applications",
        "both_blocked",
        "r_allow",
        "r_app",
        "r_user",
        "u_all",
        "u_allowed",
        "u_ids",
        "users",
    )

    def __init__(self, users: Half, applications: Half, results: Results) -> None:
        self.users = users
        self.applications = applications
        self.u_allowed = users.allowed
        self.u_all = users.everyone
        self.u_ids = users.ids
        self.a_allowed = applications.allowed
        self.a_all = applications.everyone
        self.a_ids = applications.ids
        self.both_blocked = not users.allowed and not applications.allowed
        mixed = users.source if users.source is applications.source else Source.PARTNER
        self.r_allow = results.get(Decision.ALLOW, Reason.ACCESS_ALLOWED, mixed)
        if self.both_blocked:
            self.r_user = results.get(Decision.DENY, Reason.USER_AND_APPLICATION_BLOCKED, mixed)
        else:
            reason = Reason.USER_NOT_ALLOWED if users.allowed else Reason.USER_BLOCKED
            self.r_user = results.get(Decision.DENY, reason, users.source)
        reason = Reason.APPLICATION_NOT_ALLOWED if applications.allowed else Reason.APPLICATION_BLOCKED
        self.r_app = results.get(Decision.DENY, reason, applications.source)
        # D6: a half read fail-closed says so in every denial it decides (built here, not per call).
        if (why := _FAIL_CLOSED_REASON.get(users.raw.fail_closed)) is not None:
            self.r_user = results.get(Decision.DENY, why, users.source)
        if (why := _FAIL_CLOSED_REASON.get(applications.raw.fail_closed)) is not None:
            self.r_app = results.get(Decision.DENY, why, applications.source)
            if self.both_blocked:
                self.r_user = results.get(Decision.DENY, why, applications.source)


@dataclass(frozen=True, slots=True)
class TrustIndex:
    mfa_accepted: bool
    compliant_device_accepted: bool
    hybrid_joined_device_accepted: bool
    source: Source


class ConfigIndex:
    """The effective configuration one tenant applies to one counterpart (partner or default)."""

    __slots__ = (
        "automatic_redemption_inbound",
        "automatic_redemption_outbound",
        "channels",
        "group_sync",
        "identity_sync",
        "is_partner",
        "is_service_provider",
        "source",
        "tenant_restrictions",
        "trust",
    )

    channels: tuple[tuple[Any, ...], ...]
    tenant_restrictions: SettingIndex | None
    trust: TrustIndex
    #: userSyncInbound.isSyncAllowed of the partner's identity sync policy; None: no policy.
    identity_sync: bool | None
    #: groupSyncInbound.isSyncAllowed (beta); None when no identitySynchronization policy.
    group_sync: bool | None

    def setting(self, direction: Direction, feature: Feature) -> SettingIndex:
        setting: SettingIndex = self.channels[direction][feature]
        return setting


@dataclass(frozen=True, slots=True)
class TenantIndex:
    tenant_id: str
    cloud: Cloud
    display_name: str
    allowed_clouds: frozenset[Cloud]
    default_policy_id: str
    default: ConfigIndex
    partners: dict[str, ConfigIndex]
    results: Results
    #: [direction][feature] -> {partner tenant id: setting}: the access path in one dict look-up
    #: (fewer objects touched per decision than partner -> configuration -> setting).
    by_channel: tuple[tuple[dict[str, SettingIndex], ...], ...]
    #: Role assignments and protected actions (D13); None: no role file was exported.
    admin: AdminIndex | None = None

    # R1 (partner, else default) lives here alone; the evaluator and explain both ask these two.
    def configuration(self, counterpart: str) -> ConfigIndex:
        """R1: the partner configuration for the counterpart, else the default."""
        return self.partners.get(counterpart, self.default)

    def channel_setting(self, counterpart: str, direction: Direction, feature: Feature) -> SettingIndex:
        """R1 for one B2B channel in one look-up (``by_channel`` holds the partners' settings):
        ``configuration(counterpart).setting(direction, feature)`` without the partner entry."""
        setting: SettingIndex | None = self.by_channel[direction][feature].get(counterpart)
        return self.default.channels[direction][feature] if setting is None else setting


@dataclass(frozen=True, slots=True)
class Index:
    """One loaded snapshot, ready to answer."""

    tenants: dict[str, TenantIndex]
    #: Clouds of the tenants in the snapshot, for cross-cloud questions.
    clouds: dict[str, Cloud]
    info: SnapshotInfo
    automatic_redemption_across_clouds: bool
    catalog_all_microsoft_apps: frozenset[str]

    @property
    def snapshot_id(self) -> str:
        return self.info.snapshot_id

    @property
    def partner_count(self) -> int:
        return sum(len(t.partners) for t in self.tenants.values())


class _Builder:
    """Shares identical objects (id sets, halves, settings) across the whole snapshot."""

    def __init__(self, snapshot: pb.Snapshot) -> None:
        office = frozenset(snapshot.catalog.office365)
        every_ms = frozenset(snapshot.catalog.all_microsoft_apps) | office
        self.all_microsoft_apps = every_ms
        groups = {pb.APP_GROUP_OFFICE365: office, pb.APP_GROUP_ALL_MICROSOFT_APPS: every_ms}
        interned: dict[frozenset[str], frozenset[str]] = {}
        intern = interned.setdefault
        source_of = _SOURCE_OF_ORIGIN.get
        allowed = pb.ACCESS_ALLOWED
        empty: frozenset[str] = frozenset()
        self.halves: list[Half] = []
        append = self.halves.append
        # Up to hundreds of thousands of target sets: repeated fields are read as slices (a list
        # in one C call; iterating the protobuf container itself costs several times more).
        records: dict[TargetRecord, TargetRecord] = {}
        for ts in snapshot.target_sets:
            listed = ts.ids[:]
            ids = frozenset(listed)
            app_groups = ts.app_groups[:]
            for group in app_groups:
                ids |= groups.get(group, empty)
            record = TargetRecord(ts.access, ts.origin, ts.all, tuple(app_groups), tuple(listed), ts.fail_closed)
            record = records.setdefault(record, record)
            append(Half(ts.access == allowed, ts.all, intern(ids, ids), source_of(ts.origin, Source.PARTNER), record))

    def tenant(self, t: pb.Tenant) -> TenantIndex:
        results = Results(t.tenant_id)
        settings: dict[tuple[int, int], SettingIndex] = {}
        channel_cache: dict[tuple[int, ...], tuple[tuple[Any, ...], ...]] = {}
        # TrustIndex is immutable and has a handful of distinct values: one object each.
        trusts: dict[tuple[bool, bool, bool, Source], TrustIndex] = {}

        def setting(s: pb.Setting) -> SettingIndex:
            key = (s.users, s.applications)
            found = settings.get(key)
            if found is None:
                found = settings[key] = SettingIndex(self.halves[s.users], self.halves[s.applications], results)
            return found

        def config(c: pb.Configuration, *, partner: pb.Partner | None, source: Source) -> ConfigIndex:
            # Each sub-message read once: every read of a message field builds a wrapper object.
            collab_in, direct_in = c.b2b_collaboration_inbound, c.b2b_direct_connect_inbound
            collab_out, direct_out = c.b2b_collaboration_outbound, c.b2b_direct_connect_outbound
            refs = (
                collab_in.users,
                collab_in.applications,
                direct_in.users,
                direct_in.applications,
                collab_out.users,
                collab_out.applications,
                direct_out.users,
                direct_out.applications,
            )
            channels = channel_cache.get(refs)
            if channels is None:
                inbound = (None, setting(collab_in), setting(direct_in))
                outbound = (None, setting(collab_out), setting(direct_out))
                channels = channel_cache[refs] = ((), inbound, outbound)
            ci = ConfigIndex()
            ci.channels = channels
            ci.tenant_restrictions = setting(c.tenant_restrictions) if c.HasField("tenant_restrictions") else None
            trust = c.inbound_trust
            key = (
                trust.mfa_accepted,
                trust.compliant_device_accepted,
                trust.hybrid_joined_device_accepted,
                _SOURCE_OF_ORIGIN.get(trust.origin, source),
            )
            shared = trusts.get(key)
            if shared is None:
                shared = trusts[key] = TrustIndex(*key)
            ci.trust = shared
            ci.automatic_redemption_inbound = c.automatic_redemption_inbound
            ci.automatic_redemption_outbound = c.automatic_redemption_outbound
            ci.is_partner = partner is not None
            ci.is_service_provider = partner is not None and partner.is_service_provider
            has_sync = partner is not None and partner.HasField("identity_sync")
            ci.identity_sync = partner.identity_sync.user_sync_allowed if has_sync else None
            ci.group_sync = bool(partner.identity_sync.group_sync_allowed) if has_sync else None
            ci.source = source
            return ci

        default_source = Source.SERVICE_DEFAULT if t.default_is_service_default else Source.DEFAULT
        partners = {p.tenant_id: config(p.configuration, partner=p, source=Source.PARTNER) for p in t.partners}
        by_channel = tuple(
            (
                {},
                *(
                    {pid: ci.channels[direction][feature] for pid, ci in partners.items()}
                    for feature in (Feature.B2B_COLLABORATION, Feature.B2B_DIRECT_CONNECT)
                ),
            )
            if direction
            else ()
            for direction in (0, Direction.INBOUND, Direction.OUTBOUND)
        )
        default = config(t.default_configuration, partner=None, source=default_source)
        results.seal()
        return TenantIndex(
            tenant_id=t.tenant_id,
            cloud=Cloud(t.cloud),
            display_name=t.display_name,
            allowed_clouds=frozenset(Cloud(c) for c in t.allowed_cloud_endpoints),
            default_policy_id=t.default_policy_id,
            default=default,
            partners=partners,
            results=results,
            by_channel=by_channel,  # type: ignore[arg-type]
            # Always built (an absent message reads as "no assignments exported"): answering never
            # creates a result the index lacks.
            admin=build_admin(t.tenant_id, t.admin),
        )


def build(info: SnapshotInfo, snapshot: pb.Snapshot) -> Index:
    """Build the index of a verified snapshot. Pure: no I/O. Content that cannot be indexed
    (hash-consistent but broken) raises SnapshotLoadError naming the tenant."""
    builder = _Builder(snapshot)
    tenants = {}
    for t in snapshot.tenants:
        try:
            tenants[t.tenant_id] = builder.tenant(t)
        except IndexError:
            raise SnapshotLoadError(f"tenant {t.tenant_id}: refers to a target set the snapshot lacks") from None
        except ValueError as exc:  # an enum value this build does not know (a cloud, ...)
            raise SnapshotLoadError(f"tenant {t.tenant_id}: {exc}") from None
    return Index(
        tenants=tenants,
        clouds={tid: t.cloud for tid, t in tenants.items()},
        info=info,
        automatic_redemption_across_clouds=snapshot.options.automatic_redemption_across_clouds,
        catalog_all_microsoft_apps=builder.all_microsoft_apps,
    )


#: Partner entries freed per step of :func:`release_in_slices` (about 5 ms of work on the
#: benchmark machine).
RELEASE_SLICE = 2000


def release_in_slices(index: Index, size: int = RELEASE_SLICE) -> Iterator[None]:
    """Empty a retired index's partner tables ``size`` entries at a time, yielding in between.

    Only for an index nothing answers from any more (the reloader's retired one): it is the
    one exception to read-only. Freeing it whole would be one uninterrupted deallocation (0.25 s
    at 100,000 partners); in slices, the caller lets calls through between them.
    """
    for tenant in index.tenants.values():
        tables = [tenant.partners, *(table for channel in tenant.by_channel for table in channel)]
        for table in tables:
            while table:
                for _ in range(min(size, len(table))):
                    table.popitem()
                yield
