"""SERVE: envoy.service.auth.v3.Authorization/Check, so Envoy's ext_authz filter can ask the PDP.

Envoy sends the route's ``context_extensions`` (resource tenant, application, feature, Conditional
Access requirements) and the verified JWT payload that jwt_authn put in the metadata (home tenant,
user, groups, presented claims). They become an AccessQuery (the resource tenant's INBOUND setting
about the home tenant) and a TrustQuery, the evaluator answers, and the answer becomes HTTP. No
business rule lives here: inputs are mapped to questions and answers to HTTP, nothing more.

Everything fails closed: no snapshot (503), a stale snapshot (403), no identity (401), a route
without valid context extensions (403, logged), an unexpected error (500, logged) are denials,
never an exception out of the handler. The hot path logs nothing and takes no lock on a memo
hit: a token's claims are read once (memo keyed by the payload's bytes) and each distinct answer
is built once per (snapshot, reason, trust) and then reused.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import NamedTuple

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc
from envoy.type.v3 import http_status_pb2
from google.protobuf import struct_pb2
from google.rpc import code_pb2, status_pb2

from xtenant_pdp import convert
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.config import Settings
from xtenant_pdp.decision import (
    AccessQuery,
    Claim,
    Decision,
    Direction,
    Feature,
    QuestionKind,
    Reason,
    TrustDetail,
    TrustOutcome,
)
from xtenant_pdp.errors import QueryError
from xtenant_pdp.evaluator import STALE_SNAPSHOT, deciding_result, evaluate_gateway_caller
from xtenant_pdp.metrics import Metrics
from xtenant_pdp.service.caches import ByteLRU, Caches
from xtenant_pdp.service.decision_log import DecisionLog
from xtenant_pdp.service.holder import SnapshotHolder
from xtenant_pdp.service.rpc_metrics import InstrumentedServer

log = logging.getLogger("xtenant_pdp.ext_authz")

SERVICE_NAME = external_auth_pb2.DESCRIPTOR.services_by_name["Authorization"].full_name
#: Where deploy/envoy/envoy.yaml expects the sidecar: run it with ``--listen unix:`` + this path.
SOCKET_PATH = "/var/run/xtenant-pdp/pdp.sock"

# ----------------------------------------------------------------- route: context_extensions keys
CTX_TENANT_ID = "xtenant_tenant_id"
CTX_APPLICATION_ID = "xtenant_application_id"
CTX_FEATURE = "xtenant_feature"
CTX_REQUIRED_CLAIMS = "xtenant_required_claims"
CONTEXT_EXTENSION_KEYS = (CTX_TENANT_ID, CTX_APPLICATION_ID, CTX_FEATURE, CTX_REQUIRED_CLAIMS)

DEFAULT_FEATURE = "b2b_collaboration"
FEATURES: Mapping[str, Feature] = {
    "b2b_collaboration": Feature.B2B_COLLABORATION,
    "b2b_direct_connect": Feature.B2B_DIRECT_CONNECT,
}
#: Names in ``xtenant_required_claims`` (comma separated).
CLAIMS: Mapping[str, Claim] = {
    "mfa": Claim.MFA,
    "compliant_device": Claim.COMPLIANT_DEVICE,
    "hybrid_joined_device": Claim.HYBRID_JOINED_DEVICE,
}

# ----------------------------------------------------------------- caller: JWT payload claims
_DEFAULTS = Settings()
JWT_METADATA_NAMESPACE = _DEFAULTS.jwt_metadata_namespace
JWT_PAYLOAD_KEY = _DEFAULTS.jwt_payload_key
JWT_TENANT_ID = "tid"
JWT_OBJECT_ID = "oid"
JWT_GROUPS = "groups"
JWT_AMR = "amr"
#: Boolean claims a token issuer may add when the home tenant vouches for the device.
JWT_COMPLIANT_DEVICE = "xtenant_compliant_device"
JWT_HYBRID_JOINED_DEVICE = "xtenant_hybrid_joined_device"
#: The ``amr`` value that means multifactor authentication was done (RFC 8176).
AMR_MFA = "mfa"

# ----------------------------------------------------------------- answer: headers to the upstream
HEADER_DECISION = "x-xtenant-decision"
HEADER_REASON = "x-xtenant-reason"
HEADER_SNAPSHOT_ID = "x-xtenant-snapshot-id"
HEADER_TRUST_MFA = "x-xtenant-trust-mfa"
HEADER_TRUST_COMPLIANT_DEVICE = "x-xtenant-trust-compliant-device"
HEADER_TRUST_HYBRID_JOINED_DEVICE = "x-xtenant-trust-hybrid-joined-device"
HEADER_TRUST_OUTCOME = "x-xtenant-trust-outcome"
#: Every header this adapter speaks for; a client's copy of any of them never reaches the upstream.
RESERVED_HEADERS = (
    HEADER_DECISION,
    HEADER_REASON,
    HEADER_SNAPSHOT_ID,
    HEADER_TRUST_MFA,
    HEADER_TRUST_COMPLIANT_DEVICE,
    HEADER_TRUST_HYBRID_JOINED_DEVICE,
    HEADER_TRUST_OUTCOME,
)

_REASON_NAMES = {r: pdp_pb2.Reason.Name(r) for r in Reason}
_OUTCOME_NAMES = {o: pdp_pb2.TrustOutcome.Name(o) for o in TrustOutcome}
_UNSPECIFIED = pdp_pb2.Reason.Name(0)
_INVALID_REQUEST = _REASON_NAMES[Reason.INVALID_REQUEST]
_NO_SNAPSHOT = _REASON_NAMES[Reason.NO_SNAPSHOT]
_NO_CLAIMS: frozenset[Claim] = frozenset()
_OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
_ALLOW = Decision.ALLOW
_EXT_AUTHZ = QuestionKind.EXT_AUTHZ
_DENY = Decision.DENY
_perf = time.perf_counter


class _Unauthenticated(Exception):
    """No usable caller identity: HTTP 401."""


class _IncompleteIdentity(Exception):
    """The token says its group list is incomplete (Entra group overage): deny, never guess."""


class Route(NamedTuple):
    """What a route's context_extensions ask about."""

    tenant_id: str
    application_id: str
    feature: Feature
    required: frozenset[Claim]


class Caller(NamedTuple):
    """Who is calling, as jwt_authn (or a trusted gateway's headers) vouches."""

    tenant_id: str
    user_id: str
    group_ids: tuple[str, ...]
    presented: frozenset[Claim]
    #: The token (or the trusted headers) states the groups, possibly none. Without the claim a
    #: group target cannot match, which passes a blocked group: --require-groups-claim denies.
    groups_claimed: bool = True


def parse_route(extensions: Mapping[str, str]) -> Route:
    """The route's context_extensions; QueryError names the key (a misconfigured route)."""
    tenant = convert.guid(extensions.get(CTX_TENANT_ID, ""), CTX_TENANT_ID)
    application = convert.guid(extensions.get(CTX_APPLICATION_ID, ""), CTX_APPLICATION_ID)
    feature_name = extensions.get(CTX_FEATURE, "") or DEFAULT_FEATURE
    feature = FEATURES.get(feature_name)
    if feature is None:
        raise QueryError(CTX_FEATURE, f"`{feature_name[:64]}` is not one of {', '.join(FEATURES)}")
    text = extensions.get(CTX_REQUIRED_CLAIMS, "")
    required = _NO_CLAIMS
    if text:
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in CLAIMS]
        if unknown:
            raise QueryError(CTX_REQUIRED_CLAIMS, f"`{unknown[0][:64]}` is not one of {', '.join(CLAIMS)}")
        required = frozenset(CLAIMS[name] for name in names)
    return Route(tenant, application, feature, required)


def _string(claims: Mapping[str, struct_pb2.Value], name: str) -> str:
    if name not in claims:
        return ""
    value = claims[name]
    if value.WhichOneof("kind") != "string_value":
        raise _Unauthenticated(f"{name} is not a string")
    return value.string_value


def _strings(claims: Mapping[str, struct_pb2.Value], name: str) -> list[str]:
    if name not in claims:
        return []
    value = claims[name]
    if value.WhichOneof("kind") != "list_value":
        raise _Unauthenticated(f"{name} is not a list")
    strings = []
    for item in value.list_value.values:
        if item.WhichOneof("kind") != "string_value":
            raise _Unauthenticated(f"{name} holds a non-string")
        strings.append(item.string_value)
    return strings


def _true(claims: Mapping[str, struct_pb2.Value], name: str) -> bool:
    """Only a JSON ``true`` counts: a string "true" is not a device claim."""
    if name not in claims:
        return False
    value = claims[name]
    return value.WhichOneof("kind") == "bool_value" and value.bool_value


def caller_from_jwt(payload: struct_pb2.Value) -> Caller:
    """tid, oid, groups, amr and the device claims of a verified token payload."""
    if payload.WhichOneof("kind") != "struct_value":
        raise _Unauthenticated("the JWT payload is not an object")
    claims = payload.struct_value.fields
    if _true(claims, "hasgroups") or ("_claim_names" in claims and _has_groups_source(claims["_claim_names"])):
        raise _IncompleteIdentity
    presented = set()
    if AMR_MFA in _strings(claims, JWT_AMR):
        presented.add(Claim.MFA)
    if _true(claims, JWT_COMPLIANT_DEVICE):
        presented.add(Claim.COMPLIANT_DEVICE)
    if _true(claims, JWT_HYBRID_JOINED_DEVICE):
        presented.add(Claim.HYBRID_JOINED_DEVICE)
    return Caller(
        _string(claims, JWT_TENANT_ID),
        _string(claims, JWT_OBJECT_ID),
        tuple(_strings(claims, JWT_GROUPS)),
        frozenset(presented) if presented else _NO_CLAIMS,
        JWT_GROUPS in claims,
    )


def _has_groups_source(names: struct_pb2.Value) -> bool:
    return names.WhichOneof("kind") == "struct_value" and JWT_GROUPS in names.struct_value.fields


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()] if text else []


class ExtAuthzServicer(external_auth_pb2_grpc.AuthorizationServicer):
    """Answers Envoy from ``holder.current``, read once per call like DecisionServicer."""

    def __init__(
        self, holder: SnapshotHolder, metrics: Metrics, settings: Settings, decision_log: DecisionLog | None = None
    ) -> None:
        self._holder = holder
        self._decision_log = decision_log
        self._count = metrics.count_decision
        self._observe = metrics.observe_decision
        self._namespace = settings.jwt_metadata_namespace
        self._payload_key = settings.jwt_payload_key
        self._trust_headers = settings.trust_headers
        self._require_groups = settings.require_groups_claim
        # Envoy hands header names over in lower case.
        self._header_tenant = settings.header_tenant.lower()
        self._header_object_id = settings.header_object_id.lower()
        self._header_groups = settings.header_groups.lower()
        self._header_claims = settings.header_claims.lower()

    def Check(  # noqa: N802 - gRPC names
        self, request: external_auth_pb2.CheckRequest, context: grpc.ServicerContext
    ) -> external_auth_pb2.CheckResponse:
        start = _perf()
        try:
            response, decision = self.check(request)
        except Exception:
            log.exception("ext_authz: internal error while answering; denying")
            response, decision = _INTERNAL_ERROR, None
        self._count(_EXT_AUTHZ, decision)
        self._observe(_perf() - start)
        return response

    def check(self, request: external_auth_pb2.CheckRequest) -> tuple[external_auth_pb2.CheckResponse, Decision | None]:
        """The answer and its metrics label (None: the route or the PDP is broken, not the caller)."""
        start = _perf()
        active = self._holder.current
        if active is None:
            return _NO_SNAPSHOT_RESPONSE, _DENY
        snapshot_id = active.snapshot_id
        memo = active.caches.responses
        if active.stale:  # the generation read above, never a second read of the holder
            reason = _REASON_NAMES[STALE_SNAPSHOT.reason]
            return _denied(memo, code_pb2.PERMISSION_DENIED, http_status_pb2.Forbidden, reason, snapshot_id), _DENY
        attributes = request.attributes
        try:
            route = parse_route(attributes.context_extensions)
        except QueryError as exc:
            return _bad_route(memo, exc.field, exc.message, snapshot_id), None
        try:
            caller = self._caller(attributes, active.caches)
        except _Unauthenticated:
            return _unauthenticated(memo, snapshot_id), _DENY
        except _IncompleteIdentity:
            return _forbidden(memo, Reason.INVALID_REQUEST, snapshot_id), _DENY
        if self._require_groups and not caller.groups_claimed:
            return _forbidden(memo, Reason.GROUPS_CLAIM_MISSING, snapshot_id), _DENY
        # Ids are validated exactly as for DecisionService (lower-case GUIDs, group limit).
        try:
            access = AccessQuery(
                route.tenant_id,
                convert.guid(caller.tenant_id, "tid"),
                None,
                Direction.INBOUND,
                route.feature,
                convert.guid(caller.user_id, "oid"),
                convert.group_ids(caller.group_ids, "groups"),
                route.application_id,
            )
        except QueryError:
            return _unauthenticated(memo, snapshot_id), _DENY
        result, trusted = evaluate_gateway_caller(active.index, access, route.required, caller.presented)
        deciding = deciding_result(result, trusted)
        if self._decision_log is not None:
            self._decision_log.record_decision("extAuthz", access, deciding, snapshot_id, _perf() - start)
        if deciding.decision is _DENY:
            return _forbidden(memo, deciding.reason, snapshot_id), _DENY
        trust = trusted.trust if trusted is not None else None
        return _allowed(memo, snapshot_id, result.reason, trust, bool(route.required)), _ALLOW

    def _caller(self, attributes: attribute_context_pb2.AttributeContext, caches: Caches) -> Caller:
        """The verified JWT payload; identity headers only as the documented, opt-in fallback."""
        filter_metadata = attributes.metadata_context.filter_metadata
        if self._namespace in filter_metadata:
            fields = filter_metadata[self._namespace].fields
            if self._payload_key in fields:
                payload = fields[self._payload_key]
                # A token is presented many times: its bytes are the key, so an equal key is an
                # equal payload. A token above the memo's size limit is read every time.
                key = payload.SerializeToString()
                callers = caches.callers
                caller = callers.peek(key)
                if caller is None:
                    caller = caller_from_jwt(payload)
                    if len(key) <= caches.max_token_bytes:
                        callers[key] = caller
                return caller
        if not self._trust_headers:
            raise _Unauthenticated("no verified JWT payload")
        headers = attributes.request.http.headers
        tenant = headers.get(self._header_tenant, "")
        if not tenant:
            raise _Unauthenticated("no identity headers")
        amr = _split(headers.get(self._header_claims, ""))
        return Caller(
            tenant.strip(),
            headers.get(self._header_object_id, "").strip(),
            tuple(_split(headers.get(self._header_groups, ""))),
            frozenset({Claim.MFA}) if AMR_MFA in amr else _NO_CLAIMS,
            self._header_groups in headers,
        )


# ---------------------------------------------------------------------- responses
# A route asks the same few things over and over: each distinct answer is built once per
# snapshot generation and kept in its responses memo (service/caches.py, bounded in bytes).


def _bad_route(memo: ByteLRU, key: str, message: str, snapshot_id: str) -> external_auth_pb2.CheckResponse:
    log.warning(
        "ext_authz: route context_extensions are missing or malformed; denying",
        extra={"context_extension": key, "error": message},
    )
    return _denied(memo, code_pb2.PERMISSION_DENIED, http_status_pb2.Forbidden, _INVALID_REQUEST, snapshot_id)


def _unauthenticated(memo: ByteLRU, snapshot_id: str) -> external_auth_pb2.CheckResponse:
    return _denied(memo, code_pb2.UNAUTHENTICATED, http_status_pb2.Unauthorized, _INVALID_REQUEST, snapshot_id)


def _forbidden(memo: ByteLRU, reason: Reason, snapshot_id: str) -> external_auth_pb2.CheckResponse:
    return _denied(memo, code_pb2.PERMISSION_DENIED, http_status_pb2.Forbidden, _REASON_NAMES[reason], snapshot_id)


def _denied(
    memo: ByteLRU, grpc_code: int, http_code: int, reason: str, snapshot_id: str
) -> external_auth_pb2.CheckResponse:
    key = (grpc_code, http_code, reason, snapshot_id)
    response = memo.peek(key)
    if response is None:
        response = memo[key] = denied_response(grpc_code, http_code, reason, snapshot_id)
    return response


def _allowed(
    memo: ByteLRU, snapshot_id: str, reason: Reason, trust: TrustDetail | None, claims_required: bool
) -> external_auth_pb2.CheckResponse:
    key = (snapshot_id, reason, trust, claims_required)
    cached = memo.peek(key)
    if cached is not None:
        return cached
    values = {HEADER_DECISION: "allow", HEADER_REASON: _REASON_NAMES[reason], HEADER_SNAPSHOT_ID: snapshot_id}
    if trust is not None:
        values[HEADER_TRUST_MFA] = _flag(trust.mfa_accepted)
        values[HEADER_TRUST_COMPLIANT_DEVICE] = _flag(trust.compliant_device_accepted)
        values[HEADER_TRUST_HYBRID_JOINED_DEVICE] = _flag(trust.hybrid_joined_device_accepted)
        if claims_required:
            values[HEADER_TRUST_OUTCOME] = _OUTCOME_NAMES[trust.outcome]
    # Envoy applies headers_to_remove AFTER headers: the headers set here overwrite a client's copy
    # (OVERWRITE_IF_EXISTS_OR_ADD), and every reserved header not set here is removed.
    response = memo[key] = external_auth_pb2.CheckResponse(
        status=status_pb2.Status(code=code_pb2.OK),
        ok_response=external_auth_pb2.OkHttpResponse(
            headers=[_header(name, value) for name, value in values.items()],
            headers_to_remove=[name for name in RESERVED_HEADERS if name not in values],
        ),
    )
    return response


def denied_response(grpc_code: int, http_code: int, reason: str, snapshot_id: str) -> external_auth_pb2.CheckResponse:
    """Envoy answers the client itself with this status, ``x-xtenant-reason`` and a JSON body."""
    body = json.dumps({"decision": "deny", "reason": reason, "snapshotId": snapshot_id}, separators=(",", ":"))
    headers = [_header(HEADER_REASON, reason), _header("content-type", "application/json")]
    if http_code == http_status_pb2.Unauthorized:
        headers.append(_header("www-authenticate", "Bearer"))
    return external_auth_pb2.CheckResponse(
        status=status_pb2.Status(code=grpc_code, message=reason),
        denied_response=external_auth_pb2.DeniedHttpResponse(
            status=http_status_pb2.HttpStatus(code=http_code), headers=headers, body=body
        ),
    )


def _header(name: str, value: str) -> base_pb2.HeaderValueOption:
    return base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=name, value=value), append_action=_OVERWRITE)


def _flag(value: bool) -> str:
    return "true" if value else "false"


#: Built at import, so that answering an unexpected error cannot fail in turn.
_INTERNAL_ERROR = denied_response(code_pb2.INTERNAL, http_status_pb2.InternalServerError, _UNSPECIFIED, "")
_NO_SNAPSHOT_RESPONSE = denied_response(code_pb2.UNAVAILABLE, http_status_pb2.ServiceUnavailable, _NO_SNAPSHOT, "")


def register(
    server: grpc.Server | InstrumentedServer,
    holder: SnapshotHolder,
    metrics: Metrics,
    settings: Settings,
    decision_log: DecisionLog | None = None,
) -> list[str]:
    """Serve Check on ``server``; returns the service names for reflection and health."""
    servicer = ExtAuthzServicer(holder, metrics, settings, decision_log)
    external_auth_pb2_grpc.add_AuthorizationServicer_to_server(servicer, server)
    return [SERVICE_NAME]
