import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Access(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCESS_UNSPECIFIED: _ClassVar[Access]
    ACCESS_ALLOWED: _ClassVar[Access]
    ACCESS_BLOCKED: _ClassVar[Access]

class Origin(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORIGIN_UNSPECIFIED: _ClassVar[Origin]
    ORIGIN_PARTNER: _ClassVar[Origin]
    ORIGIN_DEFAULT: _ClassVar[Origin]
    ORIGIN_SERVICE_DEFAULT: _ClassVar[Origin]

class Cloud(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CLOUD_UNSPECIFIED: _ClassVar[Cloud]
    CLOUD_COMMERCIAL: _ClassVar[Cloud]
    CLOUD_US_GOVERNMENT: _ClassVar[Cloud]
    CLOUD_CHINA: _ClassVar[Cloud]

class License(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LICENSE_UNSPECIFIED: _ClassVar[License]
    LICENSE_FREE: _ClassVar[License]
    LICENSE_P1: _ClassVar[License]
    LICENSE_P2: _ClassVar[License]

class AppGroup(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APP_GROUP_UNSPECIFIED: _ClassVar[AppGroup]
    APP_GROUP_OFFICE365: _ClassVar[AppGroup]
    APP_GROUP_ALL_MICROSOFT_APPS: _ClassVar[AppGroup]

class FailClosed(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FAIL_CLOSED_UNSPECIFIED: _ClassVar[FailClosed]
    FAIL_CLOSED_UNKNOWN_ACCESS_TYPE: _ClassVar[FailClosed]
    FAIL_CLOSED_UNKNOWN_TARGET_TYPE: _ClassVar[FailClosed]

class MissingHalf(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MISSING_HALF_UNSPECIFIED: _ClassVar[MissingHalf]
    MISSING_HALF_INHERIT: _ClassVar[MissingHalf]
    MISSING_HALF_NO_RESTRICTION: _ClassVar[MissingHalf]
ACCESS_UNSPECIFIED: Access
ACCESS_ALLOWED: Access
ACCESS_BLOCKED: Access
ORIGIN_UNSPECIFIED: Origin
ORIGIN_PARTNER: Origin
ORIGIN_DEFAULT: Origin
ORIGIN_SERVICE_DEFAULT: Origin
CLOUD_UNSPECIFIED: Cloud
CLOUD_COMMERCIAL: Cloud
CLOUD_US_GOVERNMENT: Cloud
CLOUD_CHINA: Cloud
LICENSE_UNSPECIFIED: License
LICENSE_FREE: License
LICENSE_P1: License
LICENSE_P2: License
APP_GROUP_UNSPECIFIED: AppGroup
APP_GROUP_OFFICE365: AppGroup
APP_GROUP_ALL_MICROSOFT_APPS: AppGroup
FAIL_CLOSED_UNSPECIFIED: FailClosed
FAIL_CLOSED_UNKNOWN_ACCESS_TYPE: FailClosed
FAIL_CLOSED_UNKNOWN_TARGET_TYPE: FailClosed
MISSING_HALF_UNSPECIFIED: MissingHalf
MISSING_HALF_INHERIT: MissingHalf
MISSING_HALF_NO_RESTRICTION: MissingHalf

class SnapshotFile(_message.Message):
    __slots__ = ("header", "body")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    header: Header
    body: bytes
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., body: _Optional[bytes] = ...) -> None: ...

class Header(_message.Message):
    __slots__ = ("format_version", "snapshot_id", "compiler_version", "compiler_release", "created_at", "source_digest", "tenant_count", "partner_count", "integrity")
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    COMPILER_VERSION_FIELD_NUMBER: _ClassVar[int]
    COMPILER_RELEASE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    TENANT_COUNT_FIELD_NUMBER: _ClassVar[int]
    PARTNER_COUNT_FIELD_NUMBER: _ClassVar[int]
    INTEGRITY_FIELD_NUMBER: _ClassVar[int]
    format_version: int
    snapshot_id: str
    compiler_version: int
    compiler_release: str
    created_at: _timestamp_pb2.Timestamp
    source_digest: str
    tenant_count: int
    partner_count: int
    integrity: str
    def __init__(self, format_version: _Optional[int] = ..., snapshot_id: _Optional[str] = ..., compiler_version: _Optional[int] = ..., compiler_release: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source_digest: _Optional[str] = ..., tenant_count: _Optional[int] = ..., partner_count: _Optional[int] = ..., integrity: _Optional[str] = ...) -> None: ...

class TargetSet(_message.Message):
    __slots__ = ("access", "origin", "all", "ids", "app_groups", "fail_closed")
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    APP_GROUPS_FIELD_NUMBER: _ClassVar[int]
    FAIL_CLOSED_FIELD_NUMBER: _ClassVar[int]
    access: Access
    origin: Origin
    all: bool
    ids: _containers.RepeatedScalarFieldContainer[str]
    app_groups: _containers.RepeatedScalarFieldContainer[AppGroup]
    fail_closed: FailClosed
    def __init__(self, access: _Optional[_Union[Access, str]] = ..., origin: _Optional[_Union[Origin, str]] = ..., all: _Optional[bool] = ..., ids: _Optional[_Iterable[str]] = ..., app_groups: _Optional[_Iterable[_Union[AppGroup, str]]] = ..., fail_closed: _Optional[_Union[FailClosed, str]] = ...) -> None: ...

class Setting(_message.Message):
    __slots__ = ("users", "applications")
    USERS_FIELD_NUMBER: _ClassVar[int]
    APPLICATIONS_FIELD_NUMBER: _ClassVar[int]
    users: int
    applications: int
    def __init__(self, users: _Optional[int] = ..., applications: _Optional[int] = ...) -> None: ...

class Trust(_message.Message):
    __slots__ = ("mfa_accepted", "compliant_device_accepted", "hybrid_joined_device_accepted", "origin")
    MFA_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    COMPLIANT_DEVICE_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    HYBRID_JOINED_DEVICE_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    mfa_accepted: bool
    compliant_device_accepted: bool
    hybrid_joined_device_accepted: bool
    origin: Origin
    def __init__(self, mfa_accepted: _Optional[bool] = ..., compliant_device_accepted: _Optional[bool] = ..., hybrid_joined_device_accepted: _Optional[bool] = ..., origin: _Optional[_Union[Origin, str]] = ...) -> None: ...

class Configuration(_message.Message):
    __slots__ = ("b2b_collaboration_inbound", "b2b_collaboration_outbound", "b2b_direct_connect_inbound", "b2b_direct_connect_outbound", "tenant_restrictions", "inbound_trust", "automatic_redemption_inbound", "automatic_redemption_outbound")
    B2B_COLLABORATION_INBOUND_FIELD_NUMBER: _ClassVar[int]
    B2B_COLLABORATION_OUTBOUND_FIELD_NUMBER: _ClassVar[int]
    B2B_DIRECT_CONNECT_INBOUND_FIELD_NUMBER: _ClassVar[int]
    B2B_DIRECT_CONNECT_OUTBOUND_FIELD_NUMBER: _ClassVar[int]
    TENANT_RESTRICTIONS_FIELD_NUMBER: _ClassVar[int]
    INBOUND_TRUST_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_REDEMPTION_INBOUND_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_REDEMPTION_OUTBOUND_FIELD_NUMBER: _ClassVar[int]
    b2b_collaboration_inbound: Setting
    b2b_collaboration_outbound: Setting
    b2b_direct_connect_inbound: Setting
    b2b_direct_connect_outbound: Setting
    tenant_restrictions: Setting
    inbound_trust: Trust
    automatic_redemption_inbound: bool
    automatic_redemption_outbound: bool
    def __init__(self, b2b_collaboration_inbound: _Optional[_Union[Setting, _Mapping]] = ..., b2b_collaboration_outbound: _Optional[_Union[Setting, _Mapping]] = ..., b2b_direct_connect_inbound: _Optional[_Union[Setting, _Mapping]] = ..., b2b_direct_connect_outbound: _Optional[_Union[Setting, _Mapping]] = ..., tenant_restrictions: _Optional[_Union[Setting, _Mapping]] = ..., inbound_trust: _Optional[_Union[Trust, _Mapping]] = ..., automatic_redemption_inbound: _Optional[bool] = ..., automatic_redemption_outbound: _Optional[bool] = ...) -> None: ...

class IdentitySync(_message.Message):
    __slots__ = ("user_sync_allowed", "group_sync_allowed")
    USER_SYNC_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    GROUP_SYNC_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    user_sync_allowed: bool
    group_sync_allowed: bool
    def __init__(self, user_sync_allowed: _Optional[bool] = ..., group_sync_allowed: _Optional[bool] = ...) -> None: ...

class Partner(_message.Message):
    __slots__ = ("tenant_id", "is_service_provider", "is_in_multi_tenant_organization", "configuration", "identity_sync", "display_name")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    IS_SERVICE_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    IS_IN_MULTI_TENANT_ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_SYNC_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    is_service_provider: bool
    is_in_multi_tenant_organization: bool
    configuration: Configuration
    identity_sync: IdentitySync
    display_name: str
    def __init__(self, tenant_id: _Optional[str] = ..., is_service_provider: _Optional[bool] = ..., is_in_multi_tenant_organization: _Optional[bool] = ..., configuration: _Optional[_Union[Configuration, _Mapping]] = ..., identity_sync: _Optional[_Union[IdentitySync, _Mapping]] = ..., display_name: _Optional[str] = ...) -> None: ...

class Tenant(_message.Message):
    __slots__ = ("tenant_id", "cloud", "display_name", "license", "allowed_cloud_endpoints", "default_policy_id", "default_is_service_default", "default_configuration", "partners", "admin")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CLOUD_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    LICENSE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_CLOUD_ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_IS_SERVICE_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    PARTNERS_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    cloud: Cloud
    display_name: str
    license: License
    allowed_cloud_endpoints: _containers.RepeatedScalarFieldContainer[Cloud]
    default_policy_id: str
    default_is_service_default: bool
    default_configuration: Configuration
    partners: _containers.RepeatedCompositeFieldContainer[Partner]
    admin: AdminSettings
    def __init__(self, tenant_id: _Optional[str] = ..., cloud: _Optional[_Union[Cloud, str]] = ..., display_name: _Optional[str] = ..., license: _Optional[_Union[License, str]] = ..., allowed_cloud_endpoints: _Optional[_Iterable[_Union[Cloud, str]]] = ..., default_policy_id: _Optional[str] = ..., default_is_service_default: _Optional[bool] = ..., default_configuration: _Optional[_Union[Configuration, _Mapping]] = ..., partners: _Optional[_Iterable[_Union[Partner, _Mapping]]] = ..., admin: _Optional[_Union[AdminSettings, _Mapping]] = ...) -> None: ...

class AdminRole(_message.Message):
    __slots__ = ("id", "display_name", "template_id", "enabled", "built_in", "from_catalogue", "allowed_actions", "excluded_actions", "conditional_actions")
    ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    BUILT_IN_FIELD_NUMBER: _ClassVar[int]
    FROM_CATALOGUE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    CONDITIONAL_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    id: str
    display_name: str
    template_id: str
    enabled: bool
    built_in: bool
    from_catalogue: bool
    allowed_actions: _containers.RepeatedScalarFieldContainer[str]
    excluded_actions: _containers.RepeatedScalarFieldContainer[str]
    conditional_actions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ..., template_id: _Optional[str] = ..., enabled: _Optional[bool] = ..., built_in: _Optional[bool] = ..., from_catalogue: _Optional[bool] = ..., allowed_actions: _Optional[_Iterable[str]] = ..., excluded_actions: _Optional[_Iterable[str]] = ..., conditional_actions: _Optional[_Iterable[str]] = ...) -> None: ...

class AdminAssignment(_message.Message):
    __slots__ = ("principal_id", "role", "scope", "tenant_wide", "conditional")
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    TENANT_WIDE_FIELD_NUMBER: _ClassVar[int]
    CONDITIONAL_FIELD_NUMBER: _ClassVar[int]
    principal_id: str
    role: int
    scope: str
    tenant_wide: bool
    conditional: bool
    def __init__(self, principal_id: _Optional[str] = ..., role: _Optional[int] = ..., scope: _Optional[str] = ..., tenant_wide: _Optional[bool] = ..., conditional: _Optional[bool] = ...) -> None: ...

class ProtectedAction(_message.Message):
    __slots__ = ("action", "authentication_context_id")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATION_CONTEXT_ID_FIELD_NUMBER: _ClassVar[int]
    action: str
    authentication_context_id: str
    def __init__(self, action: _Optional[str] = ..., authentication_context_id: _Optional[str] = ...) -> None: ...

class AdminSettings(_message.Message):
    __slots__ = ("roles", "assignments", "protected_actions", "assignments_exported")
    ROLES_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_EXPORTED_FIELD_NUMBER: _ClassVar[int]
    roles: _containers.RepeatedCompositeFieldContainer[AdminRole]
    assignments: _containers.RepeatedCompositeFieldContainer[AdminAssignment]
    protected_actions: _containers.RepeatedCompositeFieldContainer[ProtectedAction]
    assignments_exported: bool
    def __init__(self, roles: _Optional[_Iterable[_Union[AdminRole, _Mapping]]] = ..., assignments: _Optional[_Iterable[_Union[AdminAssignment, _Mapping]]] = ..., protected_actions: _Optional[_Iterable[_Union[ProtectedAction, _Mapping]]] = ..., assignments_exported: _Optional[bool] = ...) -> None: ...

class AppCatalog(_message.Message):
    __slots__ = ("office365", "all_microsoft_apps")
    OFFICE365_FIELD_NUMBER: _ClassVar[int]
    ALL_MICROSOFT_APPS_FIELD_NUMBER: _ClassVar[int]
    office365: _containers.RepeatedScalarFieldContainer[str]
    all_microsoft_apps: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, office365: _Optional[_Iterable[str]] = ..., all_microsoft_apps: _Optional[_Iterable[str]] = ...) -> None: ...

class Options(_message.Message):
    __slots__ = ("missing_half", "automatic_redemption_across_clouds")
    MISSING_HALF_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_REDEMPTION_ACROSS_CLOUDS_FIELD_NUMBER: _ClassVar[int]
    missing_half: MissingHalf
    automatic_redemption_across_clouds: bool
    def __init__(self, missing_half: _Optional[_Union[MissingHalf, str]] = ..., automatic_redemption_across_clouds: _Optional[bool] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("target_sets", "tenants", "catalog", "options")
    TARGET_SETS_FIELD_NUMBER: _ClassVar[int]
    TENANTS_FIELD_NUMBER: _ClassVar[int]
    CATALOG_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    target_sets: _containers.RepeatedCompositeFieldContainer[TargetSet]
    tenants: _containers.RepeatedCompositeFieldContainer[Tenant]
    catalog: AppCatalog
    options: Options
    def __init__(self, target_sets: _Optional[_Iterable[_Union[TargetSet, _Mapping]]] = ..., tenants: _Optional[_Iterable[_Union[Tenant, _Mapping]]] = ..., catalog: _Optional[_Union[AppCatalog, _Mapping]] = ..., options: _Optional[_Union[Options, _Mapping]] = ...) -> None: ...
