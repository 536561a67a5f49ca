"""SOURCE side: Microsoft Graph cross-tenant access resources as exported, nothing resolved.

``None`` always means "not set in the export" (for partner properties: inherit the default,
graph-model.md R2-R4). Every node keeps its :class:`Loc` so that the compiler can name the
file and JSON path of anything it complains about.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from xtenant_pdp.graph.roles import RoleExport


class Loc(NamedTuple):
    """Where a node sits: source file and JSON path. A tuple: parsing makes one per node."""

    file: str
    path: str

    def child(self, name: str | int) -> Loc:
        if isinstance(name, int):
            return Loc(self.file, f"{self.path}[{name}]")
        if not name.isidentifier():
            return Loc(self.file, f"{self.path}['{name}']")  # e.g. $['@odata.nextLink']
        return Loc(self.file, f"{self.path}.{name}")


class AccessType(enum.Enum):
    ALLOWED = "allowed"
    BLOCKED = "blocked"
    #: Graph's evolvable-enum sentinel: read fail-closed by the compiler (D6), never past resolve.
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


class TargetType(enum.Enum):
    USER = "user"
    GROUP = "group"
    APPLICATION = "application"
    #: Read fail-closed (D6): matches nobody in an allowed list, everybody in a blocked list.
    UNKNOWN_FUTURE_VALUE = "unknownFutureValue"


# Keywords match exactly as Graph writes them (D4).
ALL_USERS = "AllUsers"
ALL_APPLICATIONS = "AllApplications"
OFFICE365 = "Office365"
ALL_MICROSOFT_APPS = "AllMicrosoftApps"
USER_KEYWORDS = frozenset({ALL_USERS})
APPLICATION_KEYWORDS = frozenset({ALL_APPLICATIONS, OFFICE365, ALL_MICROSOFT_APPS})

MICROSOFT_ACCOUNT_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    target: str
    target_type: TargetType
    #: The `targets` array holding this target, and the position in it (paths are built on demand).
    list_loc: Loc
    index: int

    def loc(self, field: str = "target") -> Loc:
        return Loc(self.list_loc.file, f"{self.list_loc.path}[{self.index}].{field}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetConfiguration:
    """crossTenantAccessPolicyTargetConfiguration: one half of a B2B setting."""

    access_type: AccessType
    targets: tuple[Target, ...]
    loc: Loc


@dataclass(frozen=True, slots=True, kw_only=True)
class B2BSetting:
    """crossTenantAccessPolicyB2BSetting (also tenantRestrictions, whose `devices` is not enforced)."""

    users_and_groups: TargetConfiguration | None
    applications: TargetConfiguration | None
    loc: Loc


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundTrust:
    is_mfa_accepted: bool | None
    is_compliant_device_accepted: bool | None
    is_hybrid_azure_ad_joined_device_accepted: bool | None
    loc: Loc


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentSettings:
    """inboundOutboundPolicyConfiguration (automaticUserConsentSettings)."""

    inbound_allowed: bool | None
    outbound_allowed: bool | None
    loc: Loc


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentitySyncPolicy:
    """crossTenantIdentitySyncPolicyPartner."""

    tenant_id: str | None
    display_name: str | None
    user_sync_allowed: bool | None
    group_sync_allowed: bool | None
    loc: Loc


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigurationBase:
    """The properties default and partner configurations share."""

    b2b_collaboration_inbound: B2BSetting | None = None
    b2b_collaboration_outbound: B2BSetting | None = None
    b2b_direct_connect_inbound: B2BSetting | None = None
    b2b_direct_connect_outbound: B2BSetting | None = None
    tenant_restrictions: B2BSetting | None = None
    inbound_trust: InboundTrust | None = None
    automatic_user_consent_settings: ConsentSettings | None = None
    loc: Loc


@dataclass(frozen=True, slots=True, kw_only=True)
class DefaultConfiguration(ConfigurationBase):
    """crossTenantAccessPolicyConfigurationDefault."""

    id: str | None = None
    is_service_default: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerConfiguration(ConfigurationBase):
    """crossTenantAccessPolicyConfigurationPartner (key: tenantId)."""

    tenant_id: str
    display_name: str | None = None
    is_service_provider: bool | None = None
    is_in_multi_tenant_organization: bool | None = None
    identity_synchronization: IdentitySyncPolicy | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CrossTenantAccessPolicy:
    """The /policies/crossTenantAccessPolicy singleton (only what decisions use)."""

    display_name: str | None = None
    allowed_cloud_endpoints: tuple[str, ...] = ()
    loc: Loc


class License(enum.Enum):
    FREE = "free"
    P1 = "p1"
    P2 = "p2"


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantInfo:
    """tenant.json: who the local tenant is (not a Graph resource)."""

    tenant_id: str
    cloud: str
    display_name: str | None
    license: License | None
    loc: Loc


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiver:
    """One entry of waivers.json: a finding code accepted for a partner (or `*`), and why."""

    code: str
    partner: str
    reason: str
    loc: Loc


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantSource:
    """One local tenant's folder in a policy directory."""

    folder: str
    info: TenantInfo
    policy: CrossTenantAccessPolicy | None
    default: DefaultConfiguration | None
    partners: tuple[PartnerConfiguration, ...]
    #: Role definitions, assignments and protected actions (D13); None: no role file exported.
    roles: RoleExport | None = None
    waivers: tuple[Waiver, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationCatalog:
    """Keyword to application ids for `Office365` and `AllMicrosoftApps` (D5)."""

    office365: frozenset[str]
    all_microsoft_apps: frozenset[str]
    loc: Loc


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicySource:
    """A whole policy directory, parsed."""

    tenants: tuple[TenantSource, ...]
    catalog: ApplicationCatalog
    digest: str
    #: (file, `$.value[i]`) -> (partner tenant id, display name), for naming partners in findings.
    partners_at: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
