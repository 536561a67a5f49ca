"""The evaluator's vocabulary: typed questions, decisions, reasons and results.

Enum numbers equal the ``xtenant.pdp.v1`` proto enum numbers, so conversion is a cast.
Questions and results are ``NamedTuple``: immutable and typed like a frozen dataclass, but
built several times faster, and they are built once per decision on the hot path. A question
is valid by construction: :mod:`xtenant_pdp.convert` validates ids (lower-case GUIDs) and
enums before it builds one.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class Decision(enum.IntEnum):
    ALLOW = 1
    DENY = 2


class Direction(enum.IntEnum):
    INBOUND = 1
    OUTBOUND = 2


class Feature(enum.IntEnum):
    B2B_COLLABORATION = 1
    B2B_DIRECT_CONNECT = 2


class Claim(enum.IntEnum):
    MFA = 1
    COMPLIANT_DEVICE = 2
    HYBRID_JOINED_DEVICE = 3


class Cloud(enum.IntEnum):
    """A Microsoft cloud, named on the wire by its login endpoint as in allowedCloudEndpoints."""

    COMMERCIAL = 1
    US_GOVERNMENT = 2
    CHINA = 3

    @property
    def endpoint(self) -> str:
        return _CLOUD_ENDPOINTS[self]

    @classmethod
    def from_endpoint(cls, endpoint: str) -> Cloud | None:
        return _CLOUDS_BY_ENDPOINT.get(endpoint)


_CLOUD_ENDPOINTS = {
    Cloud.COMMERCIAL: "microsoftonline.com",
    Cloud.US_GOVERNMENT: "microsoftonline.us",
    Cloud.CHINA: "partner.microsoftonline.cn",
}
_CLOUDS_BY_ENDPOINT = {v: k for k, v in _CLOUD_ENDPOINTS.items()}
CLOUD_ENDPOINTS = tuple(_CLOUD_ENDPOINTS.values())
_SUPPORTED_CLOUD_PAIRS = frozenset(
    {frozenset({Cloud.COMMERCIAL, Cloud.US_GOVERNMENT}), frozenset({Cloud.COMMERCIAL, Cloud.CHINA})}
)


def supported_cloud_pair(a: Cloud, b: Cloud) -> bool:
    """2.10: B2B collaboration crosses clouds only commercial with US Government or with 21Vianet."""
    return frozenset({a, b}) in _SUPPORTED_CLOUD_PAIRS


class SyncObjectKind(enum.IntEnum):
    USERS = 1
    GROUPS = 2


class RedemptionScenario(enum.IntEnum):
    B2B_COLLABORATION = 1
    B2B_DIRECT_CONNECT = 2
    CROSS_TENANT_SYNC = 3


class Reason(enum.IntEnum):
    """Stable reason codes; see the ``Reason`` enum in pdp.proto for each meaning."""

    ACCESS_ALLOWED = 1
    USER_NOT_ALLOWED = 2
    USER_BLOCKED = 3
    APPLICATION_NOT_ALLOWED = 4
    APPLICATION_BLOCKED = 5
    USER_AND_APPLICATION_BLOCKED = 6
    TENANT_NOT_IN_SNAPSHOT = 7
    SAME_TENANT = 8
    CLOUD_NOT_ENABLED = 9
    CROSS_CLOUD_PARTNER_REQUIRED = 10
    CROSS_CLOUD_DIRECT_CONNECT_UNSUPPORTED = 11
    CLOUD_PAIR_UNSUPPORTED = 12
    INVALID_REQUEST = 13
    TRUST_SATISFIED = 14
    TRUST_MFA_IN_HOME_TENANT = 15
    TRUST_MFA_IN_RESOURCE_TENANT = 16
    TRUST_MFA_NOT_TRUSTED_DIRECT_CONNECT = 17
    TRUST_DEVICE_CLAIM_UNSATISFIED = 18
    AUTOMATIC_REDEMPTION_ENABLED = 19
    AUTOMATIC_REDEMPTION_OUTBOUND_DISABLED = 20
    AUTOMATIC_REDEMPTION_INBOUND_DISABLED = 21
    AUTOMATIC_REDEMPTION_CROSS_CLOUD_UNSUPPORTED = 22
    SYNC_ALLOWED = 23
    SYNC_PARTNER_MISSING = 24
    SYNC_POLICY_MISSING = 25
    SYNC_NOT_ALLOWED = 26
    SYNC_INBOUND_REDEMPTION_DISABLED = 27
    SYNC_OUTBOUND_REDEMPTION_DISABLED = 28
    SYNC_CLOUD_UNSUPPORTED = 29
    TENANT_RESTRICTIONS_NOT_CONFIGURED = 30
    TENANT_RESTRICTIONS_OWN_IDENTITY = 31
    SNAPSHOT_STALE = 32
    NO_SNAPSHOT = 33
    TRUST_NOTHING_REQUIRED = 34
    UNKNOWN_ACCESS_TYPE = 35
    UNKNOWN_TARGET_TYPE = 36
    GROUPS_CLAIM_MISSING = 40
    SYNC_INSIDE_21VIANET_DOCS_DISAGREE = 41
    GROUP_SYNC_NOT_ALLOWED = 42
    GROUP_SYNC_CROSS_CLOUD_UNSUPPORTED = 43
    ADMIN_ACTION_ALLOWED = 60
    ADMIN_NO_ROLE_GRANTS = 61
    ADMIN_ACTION_EXCLUDED = 62
    ADMIN_ROLE_DISABLED = 63
    ADMIN_ASSIGNMENT_SCOPED_BELOW_TENANT = 64
    ADMIN_AUTHENTICATION_CONTEXT_REQUIRED = 65
    ADMIN_CONDITION_NOT_EVALUATED = 66
    ADMIN_ROLES_NOT_IN_SNAPSHOT = 67


class Source(enum.IntEnum):
    PARTNER = 1
    DEFAULT = 2
    SERVICE_DEFAULT = 3
    CLOUD_SETTINGS = 4
    IDENTITY_SYNC = 5
    SNAPSHOT = 6
    REQUEST = 7
    MODEL = 8
    ROLE_MANAGEMENT = 60


class TrustOutcome(enum.IntEnum):
    SATISFIED = 1
    MFA_IN_HOME_TENANT = 2
    MFA_IN_RESOURCE_TENANT = 3
    BLOCKED = 4


class EmailFact(enum.IntEnum):
    SENT = 1
    NOT_SENT = 2
    NOT_APPLICABLE = 3


# --------------------------------------------------------------------------- questions


class QuestionKind(enum.IntEnum):
    """What a question asks, defined once: the servicers, converters, metrics and explain use it.

    The question kinds are numbered as their ``CheckRequest.question`` oneof field (so a
    decoder maps a field tag straight to its kind); the service-level kinds are numbered from
    100. ``label`` is the ``question`` label of ``xtenant_pdp_decisions_total``.
    """

    ACCESS = 1
    COLLABORATION = 2
    TRUST = 3
    AUTOMATIC_REDEMPTION = 4
    IDENTITY_SYNC = 5
    TENANT_RESTRICTIONS = 6
    #: Who may change the settings (D13).
    ADMIN_ACTION = 7
    #: Envoy's ext_authz Check (an access question built from a route and a token).
    EXT_AUTHZ = 100
    #: A question that could not be read (INVALID_ARGUMENT).
    INVALID = 101

    @property
    def label(self) -> str:
        """The metrics label and, for the question kinds, the oneof field's name."""
        return _KIND_LABELS[self]


_KIND_LABELS = {k: k.name.lower() for k in QuestionKind}
#: The kinds a CheckRequest can ask (its oneof members), in field order.
CHECK_KINDS = tuple(k for k in QuestionKind if k < QuestionKind.EXT_AUTHZ)


class AccessQuery(NamedTuple):
    """One tenant's B2B setting about another tenant (2.2, 2.10)."""

    tenant_id: str
    external_tenant_id: str
    external_cloud: Cloud | None
    direction: Direction
    feature: Feature
    user_id: str
    group_ids: tuple[str, ...]
    application_id: str


class CollaborationQuery(NamedTuple):
    """Home outbound and resource inbound together (2.4, 2.5)."""

    home_tenant_id: str
    resource_tenant_id: str
    feature: Feature
    user_id: str
    group_ids: tuple[str, ...]
    application_id: str


class TrustQuery(NamedTuple):
    """Resource tenant's inbound trust of the home tenant's claims (2.6)."""

    tenant_id: str
    external_tenant_id: str
    feature: Feature
    required: frozenset[Claim]
    presented: frozenset[Claim]


class AutomaticRedemptionQuery(NamedTuple):
    """Consent-prompt suppression (2.7)."""

    home_tenant_id: str
    resource_tenant_id: str
    scenario: RedemptionScenario


class IdentitySyncQuery(NamedTuple):
    """Cross-tenant synchronization of users (or groups) from source to target (2.8)."""

    source_tenant_id: str
    target_tenant_id: str
    object_kind: SyncObjectKind = SyncObjectKind.USERS


class TenantRestrictionsQuery(NamedTuple):
    """Tenant restrictions v2 of a tenant for an external account and app (2.9)."""

    tenant_id: str
    external_tenant_id: str
    user_id: str
    group_ids: tuple[str, ...]
    application_id: str


class AdminActionQuery(NamedTuple):
    """May a principal perform a resource action on the tenant's settings now (D13)."""

    tenant_id: str
    principal_id: str
    group_ids: tuple[str, ...]
    #: Lower-case resource action.
    action: str
    #: Lower-case authentication context ids the caller presents (its `acrs` claim).
    authentication_contexts: frozenset[str]


Query = (
    AccessQuery
    | CollaborationQuery
    | TrustQuery
    | AutomaticRedemptionQuery
    | IdentitySyncQuery
    | TenantRestrictionsQuery
    | AdminActionQuery
)


#: The kind of each typed question (explain and the decision log name a question by it).
KIND_OF_QUERY: dict[type, QuestionKind] = {
    AccessQuery: QuestionKind.ACCESS,
    CollaborationQuery: QuestionKind.COLLABORATION,
    TrustQuery: QuestionKind.TRUST,
    AutomaticRedemptionQuery: QuestionKind.AUTOMATIC_REDEMPTION,
    IdentitySyncQuery: QuestionKind.IDENTITY_SYNC,
    TenantRestrictionsQuery: QuestionKind.TENANT_RESTRICTIONS,
    AdminActionQuery: QuestionKind.ADMIN_ACTION,
}


# --------------------------------------------------------------------------- results


class TrustDetail(NamedTuple):
    mfa_accepted: bool
    compliant_device_accepted: bool
    hybrid_joined_device_accepted: bool
    outcome: TrustOutcome


class RedemptionDetail(NamedTuple):
    consent_prompt_suppressed: bool
    invitation_email: EmailFact
    notification_email: EmailFact
    scenario: RedemptionScenario


class RoleRef(NamedTuple):
    id: str
    display_name: str


class AdminDetail(NamedTuple):
    #: The roles that grant the action (ALLOW, context required) or would have (other denials).
    roles: tuple[RoleRef, ...]
    #: The authentication context a protected action requires; "" when not protected.
    required_authentication_context_id: str


class Result(NamedTuple):
    """A decision with its reason, the configuration that decided and whose it is."""

    decision: Decision
    reason: Reason
    source: Source
    policy_tenant_id: str
    trust: TrustDetail | None = None
    redemption: RedemptionDetail | None = None
    admin: AdminDetail | None = None

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW
