"""The compiler's middle form: inheritance resolved, ids normalised, every value concrete.

Between the Graph model (``None`` = inherit) and the protobuf snapshot. The validate stage
checks these, the emit stage serialises them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from xtenant_pdp.decision import Cloud
from xtenant_pdp.graph.model import AccessType, License, Loc


class Origin(enum.IntEnum):
    """Where a resolved value came from; numbers equal snapshot.proto's Origin."""

    PARTNER = 1
    DEFAULT = 2
    SERVICE_DEFAULT = 3


class AppGroup(enum.IntEnum):
    """Reserved application symbols (D5); numbers equal snapshot.proto's AppGroup."""

    OFFICE365 = 1
    ALL_MICROSOFT_APPS = 2


class MissingHalf(enum.IntEnum):
    """What a B2B setting's missing half means (R4); numbers equal snapshot.proto's MissingHalf."""

    INHERIT = 1
    NO_RESTRICTION = 2


class FailClosed(enum.IntEnum):
    """Why a half was read fail-closed (D6); numbers equal snapshot.proto's FailClosed."""

    NONE = 0
    UNKNOWN_ACCESS_TYPE = 1
    UNKNOWN_TARGET_TYPE = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class Half:
    """usersAndGroups or applications of one setting, normalised."""

    access: AccessType
    all: bool
    ids: tuple[str, ...]
    app_groups: tuple[AppGroup, ...]
    origin: Origin
    loc: Loc | None = None
    fail_closed: FailClosed = FailClosed.NONE

    def key(self) -> tuple[object, ...]:
        return (self.access, self.all, self.ids, self.app_groups, self.origin, self.fail_closed)


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    users: Half
    applications: Half
    loc: Loc | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Trust:
    mfa_accepted: bool
    compliant_device_accepted: bool
    hybrid_joined_device_accepted: bool
    origin: Origin


@dataclass(frozen=True, slots=True, kw_only=True)
class Configuration:
    b2b_collaboration_inbound: Setting
    b2b_collaboration_outbound: Setting
    b2b_direct_connect_inbound: Setting
    b2b_direct_connect_outbound: Setting
    tenant_restrictions: Setting | None
    inbound_trust: Trust
    automatic_redemption_inbound: bool
    automatic_redemption_outbound: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentitySync:
    user_sync_allowed: bool
    group_sync_allowed: bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Partner:
    tenant_id: str
    display_name: str
    is_service_provider: bool
    is_in_multi_tenant_organization: bool
    configuration: Configuration
    identity_sync: IdentitySync | None
    loc: Loc


@dataclass(frozen=True, slots=True, kw_only=True)
class Tenant:
    tenant_id: str
    folder: str
    cloud: Cloud
    display_name: str
    license: License | None
    allowed_cloud_endpoints: tuple[Cloud, ...]
    default_policy_id: str
    default_is_service_default: bool
    default: Configuration
    partners: tuple[Partner, ...]
