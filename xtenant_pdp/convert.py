"""The one bridge between ``xtenant.pdp.v1`` messages and the evaluator's typed questions.

On the hot path of every API call: validation is a few dict look-ups for ids seen before
(a bounded memo of normalised GUIDs), enum checks are set membership, and the response is
one protobuf constructor call. A malformed question raises QueryError naming the JSON path
of the field (``access.groupIds[2]``); ``check`` turns that into an error response.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from xtenant_pdp import decode
from xtenant_pdp.admin.question import admin_action_query
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.decision import (
    CHECK_KINDS,
    CLOUD_ENDPOINTS,
    AccessQuery,
    AutomaticRedemptionQuery,
    Claim,
    Cloud,
    CollaborationQuery,
    Decision,
    IdentitySyncQuery,
    Query,
    QuestionKind,
    Reason,
    RedemptionScenario,
    Result,
    Source,
    SyncObjectKind,
    TenantRestrictionsQuery,
    TrustQuery,
)
from xtenant_pdp.errors import QueryError
from xtenant_pdp.index import Index

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_GUID_MEMO: dict[str, str] = {}
_GUID_MEMO_LIMIT = 1 << 16
_MAX_GROUP_IDS = decode.MAX_GROUP_IDS  # one limit for both paths

# Wire value -> enum member, one table per enum for both paths.
DIRECTIONS, FEATURES, CLAIMS = decode.DIRECTIONS, decode.FEATURES, decode.CLAIMS
SCENARIOS, SYNC_OBJECT_KINDS = decode.SCENARIOS, decode.SYNC_OBJECT_KINDS


def guid(value: str, field: str) -> str:
    """A lower-case GUID (D4), or QueryError naming the field. Memoised: ids repeat."""
    normalised = _GUID_MEMO.get(value)
    if normalised is not None:
        return normalised
    if not value:
        raise QueryError(field, "is required")
    if _GUID.fullmatch(value) is None:
        raise QueryError(field, f"`{value[:64]}` is not a GUID")
    if len(_GUID_MEMO) >= _GUID_MEMO_LIMIT:
        _GUID_MEMO.clear()
    normalised = _GUID_MEMO[value] = value.lower()
    return normalised


def group_ids(values: Sequence[str], field: str) -> tuple[str, ...]:
    """Normalised ids of a repeated field; pass ``message.field[:]`` (a list: iterating the
    protobuf container itself costs several times more)."""
    if not values:
        return ()
    if len(values) > _MAX_GROUP_IDS:
        raise QueryError(field, f"at most {_MAX_GROUP_IDS} group ids are accepted, got {len(values)}")
    memo = _GUID_MEMO
    try:
        return tuple([memo[v] for v in values])  # every id seen before: no per-item work
    except KeyError:
        return tuple([guid(v, f"{field}[{i}]") for i, v in enumerate(values)])


def _enum(value: int, members: dict[int, Any], field: str) -> Any:
    member = members.get(value)
    if member is None:
        raise QueryError(field, "is required" if value == 0 else f"unknown enum value {value}")
    return member


def _two_tenants(a: str, b: str, field: str) -> None:
    if a == b:
        raise QueryError(field, "must name a different tenant")


# The converters below inline the common case of every look-up (``memo(x) or guid(x, ...)``:
# an id seen before; ``table.get(v) or _enum(...)``: a valid enum) and build the NamedTuple
# with tuple.__new__: they run once per question on the hot path of every call.
_new = tuple.__new__


def _access(m: pdp_pb2.AccessQuestion) -> AccessQuery:
    cloud = None
    if m.external_cloud:
        cloud = Cloud.from_endpoint(m.external_cloud)
        if cloud is None:
            raise QueryError(
                "access.externalCloud",
                f"unknown cloud `{m.external_cloud[:64]}`; expected one of {', '.join(CLOUD_ENDPOINTS)}",
            )
    memo = _GUID_MEMO.get
    groups = m.group_ids[:]
    return _new(
        AccessQuery,
        (
            memo(m.tenant_id) or guid(m.tenant_id, "access.tenantId"),
            memo(m.external_tenant_id) or guid(m.external_tenant_id, "access.externalTenantId"),
            cloud,
            DIRECTIONS.get(m.direction) or _enum(m.direction, DIRECTIONS, "access.direction"),
            FEATURES.get(m.feature) or _enum(m.feature, FEATURES, "access.feature"),
            memo(m.user_id) or guid(m.user_id, "access.userId"),
            group_ids(groups, "access.groupIds") if groups else (),
            memo(m.application_id) or guid(m.application_id, "access.applicationId"),
        ),
    )


def _collaboration(m: pdp_pb2.CollaborationQuestion) -> CollaborationQuery:
    memo = _GUID_MEMO.get
    groups = m.group_ids[:]
    return _new(
        CollaborationQuery,
        (
            memo(m.home_tenant_id) or guid(m.home_tenant_id, "collaboration.homeTenantId"),
            memo(m.resource_tenant_id) or guid(m.resource_tenant_id, "collaboration.resourceTenantId"),
            FEATURES.get(m.feature) or _enum(m.feature, FEATURES, "collaboration.feature"),
            memo(m.user_id) or guid(m.user_id, "collaboration.userId"),
            group_ids(groups, "collaboration.groupIds") if groups else (),
            memo(m.application_id) or guid(m.application_id, "collaboration.applicationId"),
        ),
    )


def _claims(values: Sequence[int], field: str) -> frozenset[Claim]:
    claims = CLAIMS
    try:
        return frozenset([claims[v] for v in values])
    except KeyError:
        return frozenset(_enum(v, claims, f"{field}[{i}]") for i, v in enumerate(values))


def _trust(m: pdp_pb2.TrustQuestion) -> TrustQuery:
    memo = _GUID_MEMO.get
    tenant = memo(m.tenant_id) or guid(m.tenant_id, "trust.tenantId")
    external = memo(m.external_tenant_id) or guid(m.external_tenant_id, "trust.externalTenantId")
    _two_tenants(tenant, external, "trust.externalTenantId")
    return _new(
        TrustQuery,
        (
            tenant,
            external,
            FEATURES.get(m.feature) or _enum(m.feature, FEATURES, "trust.feature"),
            _claims(m.required[:], "trust.required"),
            _claims(m.presented[:], "trust.presented"),
        ),
    )


def _automatic_redemption(m: pdp_pb2.AutomaticRedemptionQuestion) -> AutomaticRedemptionQuery:
    memo = _GUID_MEMO.get
    home = memo(m.home_tenant_id) or guid(m.home_tenant_id, "automaticRedemption.homeTenantId")
    resource = memo(m.resource_tenant_id) or guid(m.resource_tenant_id, "automaticRedemption.resourceTenantId")
    _two_tenants(home, resource, "automaticRedemption.resourceTenantId")
    scenario = RedemptionScenario.B2B_COLLABORATION
    if m.scenario:
        scenario = _enum(m.scenario, SCENARIOS, "automaticRedemption.scenario")
    return _new(AutomaticRedemptionQuery, (home, resource, scenario))


def _identity_sync(m: pdp_pb2.IdentitySyncQuestion) -> IdentitySyncQuery:
    memo = _GUID_MEMO.get
    source = memo(m.source_tenant_id) or guid(m.source_tenant_id, "identitySync.sourceTenantId")
    target = memo(m.target_tenant_id) or guid(m.target_tenant_id, "identitySync.targetTenantId")
    _two_tenants(source, target, "identitySync.targetTenantId")
    kind = SyncObjectKind.USERS
    if m.object_kind:
        kind = _enum(m.object_kind, SYNC_OBJECT_KINDS, "identitySync.objectKind")
    return _new(IdentitySyncQuery, (source, target, kind))


def _tenant_restrictions(m: pdp_pb2.TenantRestrictionsQuestion) -> TenantRestrictionsQuery:
    memo = _GUID_MEMO.get
    groups = m.group_ids[:]
    return _new(
        TenantRestrictionsQuery,
        (
            memo(m.tenant_id) or guid(m.tenant_id, "tenantRestrictions.tenantId"),
            memo(m.external_tenant_id) or guid(m.external_tenant_id, "tenantRestrictions.externalTenantId"),
            memo(m.user_id) or guid(m.user_id, "tenantRestrictions.userId"),
            group_ids(groups, "tenantRestrictions.groupIds") if groups else (),
            memo(m.application_id) or guid(m.application_id, "tenantRestrictions.applicationId"),
        ),
    )


def json_name(kind: str) -> str:
    """A question field's proto3 JSON name: `automatic_redemption` -> `automaticRedemption`."""
    head, *rest = kind.split("_")
    return head + "".join(part.title() for part in rest)


_QUESTIONS: dict[str, tuple[QuestionKind, Callable[[Any], Query]]] = {
    QuestionKind.ACCESS.label: (QuestionKind.ACCESS, _access),
    QuestionKind.COLLABORATION.label: (QuestionKind.COLLABORATION, _collaboration),
    QuestionKind.TRUST.label: (QuestionKind.TRUST, _trust),
    QuestionKind.AUTOMATIC_REDEMPTION.label: (QuestionKind.AUTOMATIC_REDEMPTION, _automatic_redemption),
    QuestionKind.IDENTITY_SYNC.label: (QuestionKind.IDENTITY_SYNC, _identity_sync),
    QuestionKind.TENANT_RESTRICTIONS.label: (QuestionKind.TENANT_RESTRICTIONS, _tenant_restrictions),
    QuestionKind.ADMIN_ACTION.label: (QuestionKind.ADMIN_ACTION, lambda m: admin_action_query(m, guid, group_ids)),
}
_NO_QUESTION = "is required: set one of " + ", ".join(json_name(k.label) for k in CHECK_KINDS)


def query_from_proto(request: pdp_pb2.CheckRequest) -> Query:
    """A typed, validated question. Raises QueryError naming the offending field."""
    return _question(request)[1]


def _question(request: pdp_pb2.CheckRequest) -> tuple[QuestionKind, Query]:
    name = request.WhichOneof("question")
    if name is None:
        raise QueryError("question", _NO_QUESTION)
    kind, convert = _QUESTIONS[name]
    return kind, convert(getattr(request, name))


def question_from_bytes(raw: bytes) -> tuple[QuestionKind, Query]:
    """(question kind, typed question) of a serialized CheckRequest. Raises QueryError naming
    the offending field.

    The common encoding is decoded straight into the question (decode.py); anything else,
    errors included, takes the protobuf path below."""
    found = decode.question(raw)
    if found is not None:
        return found
    return question_via_protobuf(raw)


def question_via_protobuf(raw: bytes) -> tuple[QuestionKind, Query]:
    """question_from_bytes by protobuf's parser and the converters above: every encoding and
    question kind, every error worded."""
    try:
        request = pdp_pb2.CheckRequest.FromString(raw)
    except DecodeError:
        raise QueryError("question", "malformed protobuf") from None
    return _question(request)


def response_from_result(result: Result, snapshot_id: str) -> pdp_pb2.CheckResponse:
    response = pdp_pb2.CheckResponse(
        decision=result.decision,
        reason=result.reason,
        source=result.source,
        snapshot_id=snapshot_id,
        policy_tenant_id=result.policy_tenant_id,
    )
    if result.trust is not None:
        t = result.trust
        response.trust.mfa_accepted = t.mfa_accepted
        response.trust.compliant_device_accepted = t.compliant_device_accepted
        response.trust.hybrid_joined_device_accepted = t.hybrid_joined_device_accepted
        response.trust.outcome = t.outcome
    if result.admin is not None:
        admin = response.admin_action
        admin.required_authentication_context_id = result.admin.required_authentication_context_id
        for role in result.admin.roles:
            admin.roles.add(id=role.id, display_name=role.display_name)
    if result.redemption is not None:
        r = result.redemption
        response.redemption.consent_prompt_suppressed = r.consent_prompt_suppressed
        response.redemption.invitation_email = r.invitation_email
        response.redemption.notification_email = r.notification_email
        response.redemption.scenario = r.scenario
    return response


def snapshot_info_response(index: Index, loaded_at: float) -> pdp_pb2.GetSnapshotInfoResponse:
    """GetSnapshotInfo of the active index, activated at ``loaded_at`` (seconds since the epoch)."""
    info = index.info
    created = Timestamp()
    created.FromDatetime(info.created_at)
    loaded = Timestamp()
    loaded.FromNanoseconds(int(loaded_at * 1e9))
    return pdp_pb2.GetSnapshotInfoResponse(
        snapshot_id=info.snapshot_id,
        format_version=info.format_version,
        compiler_version=info.compiler_version,
        compiler_release=info.compiler_release,
        created_at=created,
        loaded_at=loaded,
        source_digest=info.source_digest,
        tenant_count=len(index.tenants),
        partner_count=index.partner_count,
    )


def error_response(
    error: QueryError,
    snapshot_id: str,
    code: int = pdp_pb2.ERROR_CODE_INVALID_ARGUMENT,
    reason: Reason = Reason.INVALID_REQUEST,
) -> pdp_pb2.CheckResponse:
    """Fail closed: an unanswerable question is a DENY with the error attached."""
    return pdp_pb2.CheckResponse(
        decision=Decision.DENY,
        reason=reason,
        source=Source.REQUEST,
        snapshot_id=snapshot_id,
        error=pdp_pb2.Error(code=code, field=error.field, message=error.message),
    )


_UNKNOWN_FIELD_RE = re.compile(r'has no field named "([^"]+)"')
_JSON_PATH_RE = re.compile(r' at "?CheckRequest\.([\w\[\]]+(?:\.[\w\[\]]+)*)"?\.?$')


_STRING = FieldDescriptor.TYPE_STRING
_ENUM = FieldDescriptor.TYPE_ENUM


def _closest(name: str, choices: Sequence[str]) -> str | None:
    folded = name.casefold()
    for choice in choices:
        if choice.casefold() == folded:
            return choice
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def _unknown_field(name: str, message: Descriptor, path: str) -> QueryError:
    """An unknown JSON field name, with the closest real one (`externalTenantID` -> `externalTenantId`)."""
    names = [f.json_name for f in message.fields]
    best = _closest(name, names)
    hint = f'did you mean "{best}"?' if best else "fields: " + ", ".join(names)
    return QueryError(path, f'has no field named "{name}" ({hint})')


def _check_value(field: FieldDescriptor, value: object, path: str) -> None:
    if value is None:
        return
    if field.type == _STRING and not isinstance(value, str):
        raise QueryError(path, f"must be a string, got {type(value).__name__}")
    if field.type == _ENUM and (isinstance(value, bool) or not isinstance(value, str | int)):
        raise QueryError(path, f"must be an enum name such as `{field.enum_type.values[1].name}`")
    if field.type == _ENUM and isinstance(value, str) and value not in field.enum_type.values_by_name:
        names = [v.name for v in field.enum_type.values if v.number != 0]
        best = _closest(value, names) or next((n for n in names if n.endswith(f"_{value.upper()}")), None)
        hint = f'did you mean "{best}"? ' if best else ""
        raise QueryError(path, f'unknown value "{value}" ({hint}expected one of {", ".join(names)})')


def _check_shape(data: object) -> None:
    """JSON types of the question's fields, so that a wrong type names its exact path
    (json_format only says which field name failed, not where)."""
    if not isinstance(data, dict):
        raise QueryError("$", 'a question is a JSON object such as {"access": {...}}')
    top = pdp_pb2.CheckRequest.DESCRIPTOR
    for key, question in data.items():
        field = top.fields_by_camelcase_name.get(key) or top.fields_by_name.get(key)
        if field is None:
            raise _unknown_field(key, top, key or "$")
        if question is None or field.message_type is None:
            continue
        if not isinstance(question, dict):
            raise QueryError(field.json_name, "must be an object")
        for name, value in question.items():
            inner = field.message_type.fields_by_camelcase_name.get(name) or field.message_type.fields_by_name.get(name)
            if inner is None:
                raise _unknown_field(name, field.message_type, f"{field.json_name}.{name}")
            path = f"{field.json_name}.{inner.json_name}"
            if inner.is_repeated:
                if value is None:
                    continue
                if not isinstance(value, list):
                    raise QueryError(path, "must be an array")
                for i, item in enumerate(value):
                    _check_value(inner, item, f"{path}[{i}]")
            else:
                _check_value(inner, value, path)


def request_from_json(text: str | bytes | dict[str, Any]) -> pdp_pb2.CheckRequest:
    """The CLI line format: proto3 JSON of CheckRequest. Raises QueryError."""
    request = pdp_pb2.CheckRequest()
    try:
        data = text if isinstance(text, dict) else json.loads(text)
        _check_shape(data)
        json_format.ParseDict(data, request)
    except QueryError:
        raise
    except json_format.ParseError as exc:
        message = str(exc).splitlines()[0] if str(exc) else "cannot parse"
        match = _JSON_PATH_RE.search(message)
        field = match.group(1) if match else "$"
        unknown = _UNKNOWN_FIELD_RE.search(message)
        if unknown and match:
            field = f"{field}.{unknown.group(1)}"
        elif unknown:
            field = unknown.group(1)
        raise QueryError(field, message[:300].rstrip(".")) from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, TypeError, OverflowError) as exc:
        raise QueryError("$", f"not a JSON object: {str(exc)[:200]}") from None
    except RecursionError:
        raise QueryError("$", "JSON nested too deeply") from None
    return request


def response_to_dict(response: pdp_pb2.CheckResponse) -> dict[str, Any]:
    return json_format.MessageToDict(response)
