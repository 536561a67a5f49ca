import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    DIRECTION_INBOUND: _ClassVar[Direction]
    DIRECTION_OUTBOUND: _ClassVar[Direction]

class Feature(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEATURE_UNSPECIFIED: _ClassVar[Feature]
    FEATURE_B2B_COLLABORATION: _ClassVar[Feature]
    FEATURE_B2B_DIRECT_CONNECT: _ClassVar[Feature]

class Claim(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CLAIM_UNSPECIFIED: _ClassVar[Claim]
    CLAIM_MFA: _ClassVar[Claim]
    CLAIM_COMPLIANT_DEVICE: _ClassVar[Claim]
    CLAIM_HYBRID_JOINED_DEVICE: _ClassVar[Claim]

class RedemptionScenario(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REDEMPTION_SCENARIO_UNSPECIFIED: _ClassVar[RedemptionScenario]
    REDEMPTION_SCENARIO_B2B_COLLABORATION: _ClassVar[RedemptionScenario]
    REDEMPTION_SCENARIO_B2B_DIRECT_CONNECT: _ClassVar[RedemptionScenario]
    REDEMPTION_SCENARIO_CROSS_TENANT_SYNC: _ClassVar[RedemptionScenario]

class SyncObjectKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SYNC_OBJECT_KIND_UNSPECIFIED: _ClassVar[SyncObjectKind]
    SYNC_OBJECT_KIND_USERS: _ClassVar[SyncObjectKind]
    SYNC_OBJECT_KIND_GROUPS: _ClassVar[SyncObjectKind]

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_ALLOW: _ClassVar[Decision]
    DECISION_DENY: _ClassVar[Decision]

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_UNSPECIFIED: _ClassVar[Reason]
    REASON_ACCESS_ALLOWED: _ClassVar[Reason]
    REASON_USER_NOT_ALLOWED: _ClassVar[Reason]
    REASON_USER_BLOCKED: _ClassVar[Reason]
    REASON_APPLICATION_NOT_ALLOWED: _ClassVar[Reason]
    REASON_APPLICATION_BLOCKED: _ClassVar[Reason]
    REASON_USER_AND_APPLICATION_BLOCKED: _ClassVar[Reason]
    REASON_TENANT_NOT_IN_SNAPSHOT: _ClassVar[Reason]
    REASON_SAME_TENANT: _ClassVar[Reason]
    REASON_CLOUD_NOT_ENABLED: _ClassVar[Reason]
    REASON_CROSS_CLOUD_PARTNER_REQUIRED: _ClassVar[Reason]
    REASON_CROSS_CLOUD_DIRECT_CONNECT_UNSUPPORTED: _ClassVar[Reason]
    REASON_CLOUD_PAIR_UNSUPPORTED: _ClassVar[Reason]
    REASON_INVALID_REQUEST: _ClassVar[Reason]
    REASON_TRUST_SATISFIED: _ClassVar[Reason]
    REASON_TRUST_MFA_IN_HOME_TENANT: _ClassVar[Reason]
    REASON_TRUST_MFA_IN_RESOURCE_TENANT: _ClassVar[Reason]
    REASON_TRUST_MFA_NOT_TRUSTED_DIRECT_CONNECT: _ClassVar[Reason]
    REASON_TRUST_DEVICE_CLAIM_UNSATISFIED: _ClassVar[Reason]
    REASON_AUTOMATIC_REDEMPTION_ENABLED: _ClassVar[Reason]
    REASON_AUTOMATIC_REDEMPTION_OUTBOUND_DISABLED: _ClassVar[Reason]
    REASON_AUTOMATIC_REDEMPTION_INBOUND_DISABLED: _ClassVar[Reason]
    REASON_AUTOMATIC_REDEMPTION_CROSS_CLOUD_UNSUPPORTED: _ClassVar[Reason]
    REASON_SYNC_ALLOWED: _ClassVar[Reason]
    REASON_SYNC_PARTNER_MISSING: _ClassVar[Reason]
    REASON_SYNC_POLICY_MISSING: _ClassVar[Reason]
    REASON_SYNC_NOT_ALLOWED: _ClassVar[Reason]
    REASON_SYNC_INBOUND_REDEMPTION_DISABLED: _ClassVar[Reason]
    REASON_SYNC_OUTBOUND_REDEMPTION_DISABLED: _ClassVar[Reason]
    REASON_SYNC_CLOUD_UNSUPPORTED: _ClassVar[Reason]
    REASON_TENANT_RESTRICTIONS_NOT_CONFIGURED: _ClassVar[Reason]
    REASON_TENANT_RESTRICTIONS_OWN_IDENTITY: _ClassVar[Reason]
    REASON_SNAPSHOT_STALE: _ClassVar[Reason]
    REASON_NO_SNAPSHOT: _ClassVar[Reason]
    REASON_TRUST_NOTHING_REQUIRED: _ClassVar[Reason]
    REASON_UNKNOWN_ACCESS_TYPE: _ClassVar[Reason]
    REASON_UNKNOWN_TARGET_TYPE: _ClassVar[Reason]
    REASON_GROUPS_CLAIM_MISSING: _ClassVar[Reason]
    REASON_SYNC_INSIDE_21VIANET_DOCS_DISAGREE: _ClassVar[Reason]
    REASON_GROUP_SYNC_NOT_ALLOWED: _ClassVar[Reason]
    REASON_GROUP_SYNC_CROSS_CLOUD_UNSUPPORTED: _ClassVar[Reason]
    REASON_ADMIN_ACTION_ALLOWED: _ClassVar[Reason]
    REASON_ADMIN_NO_ROLE_GRANTS: _ClassVar[Reason]
    REASON_ADMIN_ACTION_EXCLUDED: _ClassVar[Reason]
    REASON_ADMIN_ROLE_DISABLED: _ClassVar[Reason]
    REASON_ADMIN_ASSIGNMENT_SCOPED_BELOW_TENANT: _ClassVar[Reason]
    REASON_ADMIN_AUTHENTICATION_CONTEXT_REQUIRED: _ClassVar[Reason]
    REASON_ADMIN_CONDITION_NOT_EVALUATED: _ClassVar[Reason]
    REASON_ADMIN_ROLES_NOT_IN_SNAPSHOT: _ClassVar[Reason]

class Source(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_UNSPECIFIED: _ClassVar[Source]
    SOURCE_PARTNER: _ClassVar[Source]
    SOURCE_DEFAULT: _ClassVar[Source]
    SOURCE_SERVICE_DEFAULT: _ClassVar[Source]
    SOURCE_CLOUD_SETTINGS: _ClassVar[Source]
    SOURCE_IDENTITY_SYNC: _ClassVar[Source]
    SOURCE_SNAPSHOT: _ClassVar[Source]
    SOURCE_REQUEST: _ClassVar[Source]
    SOURCE_MODEL: _ClassVar[Source]
    SOURCE_ROLE_MANAGEMENT: _ClassVar[Source]

class TrustOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRUST_OUTCOME_UNSPECIFIED: _ClassVar[TrustOutcome]
    TRUST_OUTCOME_SATISFIED: _ClassVar[TrustOutcome]
    TRUST_OUTCOME_MFA_IN_HOME_TENANT: _ClassVar[TrustOutcome]
    TRUST_OUTCOME_MFA_IN_RESOURCE_TENANT: _ClassVar[TrustOutcome]
    TRUST_OUTCOME_BLOCKED: _ClassVar[TrustOutcome]

class EmailFact(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMAIL_FACT_UNSPECIFIED: _ClassVar[EmailFact]
    EMAIL_FACT_SENT: _ClassVar[EmailFact]
    EMAIL_FACT_NOT_SENT: _ClassVar[EmailFact]
    EMAIL_FACT_NOT_APPLICABLE: _ClassVar[EmailFact]

class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_CODE_UNSPECIFIED: _ClassVar[ErrorCode]
    ERROR_CODE_INVALID_ARGUMENT: _ClassVar[ErrorCode]
    ERROR_CODE_FAILED_PRECONDITION: _ClassVar[ErrorCode]
    ERROR_CODE_INTERNAL: _ClassVar[ErrorCode]
    ERROR_CODE_UNAVAILABLE: _ClassVar[ErrorCode]
DIRECTION_UNSPECIFIED: Direction
DIRECTION_INBOUND: Direction
DIRECTION_OUTBOUND: Direction
FEATURE_UNSPECIFIED: Feature
FEATURE_B2B_COLLABORATION: Feature
FEATURE_B2B_DIRECT_CONNECT: Feature
CLAIM_UNSPECIFIED: Claim
CLAIM_MFA: Claim
CLAIM_COMPLIANT_DEVICE: Claim
CLAIM_HYBRID_JOINED_DEVICE: Claim
REDEMPTION_SCENARIO_UNSPECIFIED: RedemptionScenario
REDEMPTION_SCENARIO_B2B_COLLABORATION: RedemptionScenario
REDEMPTION_SCENARIO_B2B_DIRECT_CONNECT: RedemptionScenario
REDEMPTION_SCENARIO_CROSS_TENANT_SYNC: RedemptionScenario
SYNC_OBJECT_KIND_UNSPECIFIED: SyncObjectKind
SYNC_OBJECT_KIND_USERS: SyncObjectKind
SYNC_OBJECT_KIND_GROUPS: SyncObjectKind
DECISION_UNSPECIFIED: Decision
DECISION_ALLOW: Decision
DECISION_DENY: Decision
REASON_UNSPECIFIED: Reason
REASON_ACCESS_ALLOWED: Reason
REASON_USER_NOT_ALLOWED: Reason
REASON_USER_BLOCKED: Reason
REASON_APPLICATION_NOT_ALLOWED: Reason
REASON_APPLICATION_BLOCKED: Reason
REASON_USER_AND_APPLICATION_BLOCKED: Reason
REASON_TENANT_NOT_IN_SNAPSHOT: Reason
REASON_SAME_TENANT: Reason
REASON_CLOUD_NOT_ENABLED: Reason
REASON_CROSS_CLOUD_PARTNER_REQUIRED: Reason
REASON_CROSS_CLOUD_DIRECT_CONNECT_UNSUPPORTED: Reason
REASON_CLOUD_PAIR_UNSUPPORTED: Reason
REASON_INVALID_REQUEST: Reason
REASON_TRUST_SATISFIED: Reason
REASON_TRUST_MFA_IN_HOME_TENANT: Reason
REASON_TRUST_MFA_IN_RESOURCE_TENANT: Reason
REASON_TRUST_MFA_NOT_TRUSTED_DIRECT_CONNECT: Reason
REASON_TRUST_DEVICE_CLAIM_UNSATISFIED: Reason
REASON_AUTOMATIC_REDEMPTION_ENABLED: Reason
REASON_AUTOMATIC_REDEMPTION_OUTBOUND_DISABLED: Reason
REASON_AUTOMATIC_REDEMPTION_INBOUND_DISABLED: Reason
REASON_AUTOMATIC_REDEMPTION_CROSS_CLOUD_UNSUPPORTED: Reason
REASON_SYNC_ALLOWED: Reason
REASON_SYNC_PARTNER_MISSING: Reason
REASON_SYNC_POLICY_MISSING: Reason
REASON_SYNC_NOT_ALLOWED: Reason
REASON_SYNC_INBOUND_REDEMPTION_DISABLED: Reason
REASON_SYNC_OUTBOUND_REDEMPTION_DISABLED: Reason
REASON_SYNC_CLOUD_UNSUPPORTED: Reason
REASON_TENANT_RESTRICTIONS_NOT_CONFIGURED: Reason
REASON_TENANT_RESTRICTIONS_OWN_IDENTITY: Reason
REASON_SNAPSHOT_STALE: Reason
REASON_NO_SNAPSHOT: Reason
REASON_TRUST_NOTHING_REQUIRED: Reason
REASON_UNKNOWN_ACCESS_TYPE: Reason
REASON_UNKNOWN_TARGET_TYPE: Reason
REASON_GROUPS_CLAIM_MISSING: Reason
REASON_SYNC_INSIDE_21VIANET_DOCS_DISAGREE: Reason
REASON_GROUP_SYNC_NOT_ALLOWED: Reason
REASON_GROUP_SYNC_CROSS_CLOUD_UNSUPPORTED: Reason
REASON_ADMIN_ACTION_ALLOWED: Reason
REASON_ADMIN_NO_ROLE_GRANTS: Reason
REASON_ADMIN_ACTION_EXCLUDED: Reason
REASON_ADMIN_ROLE_DISABLED: Reason
REASON_ADMIN_ASSIGNMENT_SCOPED_BELOW_TENANT: Reason
REASON_ADMIN_AUTHENTICATION_CONTEXT_REQUIRED: Reason
REASON_ADMIN_CONDITION_NOT_EVALUATED: Reason
REASON_ADMIN_ROLES_NOT_IN_SNAPSHOT: Reason
SOURCE_UNSPECIFIED: Source
SOURCE_PARTNER: Source
SOURCE_DEFAULT: Source
SOURCE_SERVICE_DEFAULT: Source
SOURCE_CLOUD_SETTINGS: Source
SOURCE_IDENTITY_SYNC: Source
SOURCE_SNAPSHOT: Source
SOURCE_REQUEST: Source
SOURCE_MODEL: Source
SOURCE_ROLE_MANAGEMENT: Source
TRUST_OUTCOME_UNSPECIFIED: TrustOutcome
TRUST_OUTCOME_SATISFIED: TrustOutcome
TRUST_OUTCOME_MFA_IN_HOME_TENANT: TrustOutcome
TRUST_OUTCOME_MFA_IN_RESOURCE_TENANT: TrustOutcome
TRUST_OUTCOME_BLOCKED: TrustOutcome
EMAIL_FACT_UNSPECIFIED: EmailFact
EMAIL_FACT_SENT: EmailFact
EMAIL_FACT_NOT_SENT: EmailFact
EMAIL_FACT_NOT_APPLICABLE: EmailFact
ERROR_CODE_UNSPECIFIED: ErrorCode
ERROR_CODE_INVALID_ARGUMENT: ErrorCode
ERROR_CODE_FAILED_PRECONDITION: ErrorCode
ERROR_CODE_INTERNAL: ErrorCode
ERROR_CODE_UNAVAILABLE: ErrorCode

class AccessQuestion(_message.Message):
    __slots__ = ("tenant_id", "external_tenant_id", "external_cloud", "direction", "feature", "user_id", "group_ids", "application_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_CLOUD_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    external_tenant_id: str
    external_cloud: str
    direction: Direction
    feature: Feature
    user_id: str
    group_ids: _containers.RepeatedScalarFieldContainer[str]
    application_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., external_tenant_id: _Optional[str] = ..., external_cloud: _Optional[str] = ..., direction: _Optional[_Union[Direction, str]] = ..., feature: _Optional[_Union[Feature, str]] = ..., user_id: _Optional[str] = ..., group_ids: _Optional[_Iterable[str]] = ..., application_id: _Optional[str] = ...) -> None: ...

class CollaborationQuestion(_message.Message):
    __slots__ = ("home_tenant_id", "resource_tenant_id", "feature", "user_id", "group_ids", "application_id")
    HOME_TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    home_tenant_id: str
    resource_tenant_id: str
    feature: Feature
    user_id: str
    group_ids: _containers.RepeatedScalarFieldContainer[str]
    application_id: str
    def __init__(self, home_tenant_id: _Optional[str] = ..., resource_tenant_id: _Optional[str] = ..., feature: _Optional[_Union[Feature, str]] = ..., user_id: _Optional[str] = ..., group_ids: _Optional[_Iterable[str]] = ..., application_id: _Optional[str] = ...) -> None: ...

class TrustQuestion(_message.Message):
    __slots__ = ("tenant_id", "external_tenant_id", "feature", "required", "presented")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    PRESENTED_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    external_tenant_id: str
    feature: Feature
    required: _containers.RepeatedScalarFieldContainer[Claim]
    presented: _containers.RepeatedScalarFieldContainer[Claim]
    def __init__(self, tenant_id: _Optional[str] = ..., external_tenant_id: _Optional[str] = ..., feature: _Optional[_Union[Feature, str]] = ..., required: _Optional[_Iterable[_Union[Claim, str]]] = ..., presented: _Optional[_Iterable[_Union[Claim, str]]] = ...) -> None: ...

class AutomaticRedemptionQuestion(_message.Message):
    __slots__ = ("home_tenant_id", "resource_tenant_id", "scenario")
    HOME_TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    home_tenant_id: str
    resource_tenant_id: str
    scenario: RedemptionScenario
    def __init__(self, home_tenant_id: _Optional[str] = ..., resource_tenant_id: _Optional[str] = ..., scenario: _Optional[_Union[RedemptionScenario, str]] = ...) -> None: ...

class IdentitySyncQuestion(_message.Message):
    __slots__ = ("source_tenant_id", "target_tenant_id", "object_kind")
    SOURCE_TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    OBJECT_KIND_FIELD_NUMBER: _ClassVar[int]
    source_tenant_id: str
    target_tenant_id: str
    object_kind: SyncObjectKind
    def __init__(self, source_tenant_id: _Optional[str] = ..., target_tenant_id: _Optional[str] = ..., object_kind: _Optional[_Union[SyncObjectKind, str]] = ...) -> None: ...

class TenantRestrictionsQuestion(_message.Message):
    __slots__ = ("tenant_id", "external_tenant_id", "user_id", "group_ids", "application_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    external_tenant_id: str
    user_id: str
    group_ids: _containers.RepeatedScalarFieldContainer[str]
    application_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., external_tenant_id: _Optional[str] = ..., user_id: _Optional[str] = ..., group_ids: _Optional[_Iterable[str]] = ..., application_id: _Optional[str] = ...) -> None: ...

class AdminActionQuestion(_message.Message):
    __slots__ = ("tenant_id", "principal_id", "group_ids", "action", "authentication_contexts")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATION_CONTEXTS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    principal_id: str
    group_ids: _containers.RepeatedScalarFieldContainer[str]
    action: str
    authentication_contexts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant_id: _Optional[str] = ..., principal_id: _Optional[str] = ..., group_ids: _Optional[_Iterable[str]] = ..., action: _Optional[str] = ..., authentication_contexts: _Optional[_Iterable[str]] = ...) -> None: ...

class CheckRequest(_message.Message):
    __slots__ = ("access", "collaboration", "trust", "automatic_redemption", "identity_sync", "tenant_restrictions", "admin_action")
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    COLLABORATION_FIELD_NUMBER: _ClassVar[int]
    TRUST_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_SYNC_FIELD_NUMBER: _ClassVar[int]
    TENANT_RESTRICTIONS_FIELD_NUMBER: _ClassVar[int]
    ADMIN_ACTION_FIELD_NUMBER: _ClassVar[int]
    access: AccessQuestion
    collaboration: CollaborationQuestion
    trust: TrustQuestion
    automatic_redemption: AutomaticRedemptionQuestion
    identity_sync: IdentitySyncQuestion
    tenant_restrictions: TenantRestrictionsQuestion
    admin_action: AdminActionQuestion
    def __init__(self, access: _Optional[_Union[AccessQuestion, _Mapping]] = ..., collaboration: _Optional[_Union[CollaborationQuestion, _Mapping]] = ..., trust: _Optional[_Union[TrustQuestion, _Mapping]] = ..., automatic_redemption: _Optional[_Union[AutomaticRedemptionQuestion, _Mapping]] = ..., identity_sync: _Optional[_Union[IdentitySyncQuestion, _Mapping]] = ..., tenant_restrictions: _Optional[_Union[TenantRestrictionsQuestion, _Mapping]] = ..., admin_action: _Optional[_Union[AdminActionQuestion, _Mapping]] = ...) -> None: ...

class TrustResult(_message.Message):
    __slots__ = ("mfa_accepted", "compliant_device_accepted", "hybrid_joined_device_accepted", "outcome")
    MFA_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    COMPLIANT_DEVICE_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    HYBRID_JOINED_DEVICE_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    mfa_accepted: bool
    compliant_device_accepted: bool
    hybrid_joined_device_accepted: bool
    outcome: TrustOutcome
    def __init__(self, mfa_accepted: _Optional[bool] = ..., compliant_device_accepted: _Optional[bool] = ..., hybrid_joined_device_accepted: _Optional[bool] = ..., outcome: _Optional[_Union[TrustOutcome, str]] = ...) -> None: ...

class RedemptionResult(_message.Message):
    __slots__ = ("consent_prompt_suppressed", "invitation_email", "notification_email", "scenario")
    CONSENT_PROMPT_SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    INVITATION_EMAIL_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_EMAIL_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    consent_prompt_suppressed: bool
    invitation_email: EmailFact
    notification_email: EmailFact
    scenario: RedemptionScenario
    def __init__(self, consent_prompt_suppressed: _Optional[bool] = ..., invitation_email: _Optional[_Union[EmailFact, str]] = ..., notification_email: _Optional[_Union[EmailFact, str]] = ..., scenario: _Optional[_Union[RedemptionScenario, str]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "field", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    field: str
    message: str
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ("decision", "reason", "source", "snapshot_id", "trust", "error", "policy_tenant_id", "redemption", "admin_action")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    TRUST_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    POLICY_TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    ADMIN_ACTION_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    reason: Reason
    source: Source
    snapshot_id: str
    trust: TrustResult
    error: Error
    policy_tenant_id: str
    redemption: RedemptionResult
    admin_action: AdminActionResult
    def __init__(self, decision: _Optional[_Union[Decision, str]] = ..., reason: _Optional[_Union[Reason, str]] = ..., source: _Optional[_Union[Source, str]] = ..., snapshot_id: _Optional[str] = ..., trust: _Optional[_Union[TrustResult, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., policy_tenant_id: _Optional[str] = ..., redemption: _Optional[_Union[RedemptionResult, _Mapping]] = ..., admin_action: _Optional[_Union[AdminActionResult, _Mapping]] = ...) -> None: ...

class AdminRoleRef(_message.Message):
    __slots__ = ("id", "display_name")
    ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    display_name: str
    def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class AdminActionResult(_message.Message):
    __slots__ = ("roles", "required_authentication_context_id")
    ROLES_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_AUTHENTICATION_CONTEXT_ID_FIELD_NUMBER: _ClassVar[int]
    roles: _containers.RepeatedCompositeFieldContainer[AdminRoleRef]
    required_authentication_context_id: str
    def __init__(self, roles: _Optional[_Iterable[_Union[AdminRoleRef, _Mapping]]] = ..., required_authentication_context_id: _Optional[str] = ...) -> None: ...

class BatchCheckRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[CheckRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[CheckRequest, _Mapping]]] = ...) -> None: ...

class BatchCheckResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[CheckResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[CheckResponse, _Mapping]]] = ...) -> None: ...

class GetSnapshotInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSnapshotInfoResponse(_message.Message):
    __slots__ = ("snapshot_id", "format_version", "compiler_version", "created_at", "loaded_at", "source_digest", "tenant_count", "partner_count", "compiler_release")
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    COMPILER_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LOADED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    TENANT_COUNT_FIELD_NUMBER: _ClassVar[int]
    PARTNER_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMPILER_RELEASE_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    format_version: int
    compiler_version: int
    created_at: _timestamp_pb2.Timestamp
    loaded_at: _timestamp_pb2.Timestamp
    source_digest: str
    tenant_count: int
    partner_count: int
    compiler_release: str
    def __init__(self, snapshot_id: _Optional[str] = ..., format_version: _Optional[int] = ..., compiler_version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., loaded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source_digest: _Optional[str] = ..., tenant_count: _Optional[int] = ..., partner_count: _Optional[int] = ..., compiler_release: _Optional[str] = ...) -> None: ...
