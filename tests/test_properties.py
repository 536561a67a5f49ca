"""Property tests (hypothesis): the compiler and the engine hold their contracts on any input.

(a) any JSON in the four source files: CompileErrors or a snapshot, never another exception (D6);
(b) valid Graph-shaped policies compile, deterministically, to an id that ignores formatting,
    partner order, folder names and GUID case (D4);
(c) any question: never an exception, never ALLOW with an error, a malformed id names its field;
(d) the same question always gets the same answer.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE_POLICY
from google.protobuf import json_format
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from xtenant_pdp import loader
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.compiler import DEFAULT_OPTIONS, CompileOptions, compile_policy_dir
from xtenant_pdp.engine import Engine
from xtenant_pdp.errors import CompileErrors, Severity, sort_issues

GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
SOURCE_FILES = ("tenant.json", "partners.json", "default.json", "crossTenantAccessPolicy.json")
CLOUDS = ("microsoftonline.com", "microsoftonline.us", "partner.microsoftonline.cn")

QUESTIONS = (EXAMPLE_POLICY.parent / "questions.jsonl").read_text(encoding="utf-8")
# Every id the example questions use: tenants, users, groups, apps of the example policy.
EXAMPLE_IDS = sorted(set(GUID_RE.findall(QUESTIONS)))
EXAMPLE_TENANTS = [
    "5de41ce2-ca22-4b65-866a-e46ae037737e",
    "6f086a4d-9c20-4b2e-a39f-5dcccb0b955a",
    "b9ecdb8d-362d-4399-8f18-27c5620f7443",
    "8ac5a643-8600-41b1-a87e-06ff6534c993",
    "9188040d-6c67-4c5b-b112-36a304b66dad",
]

PROPS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _scratch(tmp_path: Path) -> Path:
    """A fresh directory per hypothesis example (tmp_path is shared by all examples of a test)."""
    return Path(tempfile.mkdtemp(dir=tmp_path))


def _write_tree(root: Path, folders: dict[str, dict[str, Any]], *, indent: int | None = None) -> Path:
    for folder, files in folders.items():
        (root / folder).mkdir(parents=True)
        for name, document in files.items():
            (root / folder / name).write_text(json.dumps(document, indent=indent), encoding="utf-8")
    return root


# --------------------------------------------------------------------------- (a) any JSON compiles or fails cleanly

GRAPH_KEYS = [
    "accessType",
    "targets",
    "target",
    "targetType",
    "usersAndGroups",
    "applications",
    "devices",
    "tenantId",
    "value",
    "id",
    "isServiceDefault",
    "b2bCollaborationInbound",
    "b2bCollaborationOutbound",
    "b2bDirectConnectInbound",
    "b2bDirectConnectOutbound",
    "tenantRestrictions",
    "inboundTrust",
    "isMfaAccepted",
    "isCompliantDeviceAccepted",
    "automaticUserConsentSettings",
    "inboundAllowed",
    "outboundAllowed",
    "identitySynchronization",
    "userSyncInbound",
    "isSyncAllowed",
    "isServiceProvider",
    "displayName",
    "cloud",
    "license",
    "allowedCloudEndpoints",
    "@odata.nextLink",
    "@odata.type",
]
GRAPH_STRINGS = [
    "allowed",
    "blocked",
    " blocked",
    "Blocked",
    "unknownFutureValue",
    "AllUsers",
    "allusers",
    "AllApplications",
    "Office365",
    "AllMicrosoftApps",
    "user",
    "group",
    "application",
    "",
    *CLOUDS,
    "free",
    "p1",
    "p2",
    *EXAMPLE_TENANTS,
    EXAMPLE_TENANTS[1].upper(),
    "00000012-0000-0000-c000-000000000000",
]
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.sampled_from(GRAPH_STRINGS)
    | st.text(max_size=10)
)
json_any = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(GRAPH_KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)


def _maybe_wrong(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the valid shape, sometimes anything at all."""
    return st.one_of(valid, valid, valid, json_any)


_target = st.fixed_dictionaries(
    {
        "target": _maybe_wrong(st.sampled_from(GRAPH_STRINGS)),
        "targetType": _maybe_wrong(st.sampled_from(["user", "group", "application", "unknownFutureValue"])),
    }
)
_half = _maybe_wrong(
    st.fixed_dictionaries(
        {"accessType": _maybe_wrong(st.sampled_from(["allowed", "blocked", " blocked", "unknownFutureValue"]))},
        optional={"targets": _maybe_wrong(st.lists(_target, max_size=3))},
    )
)
_setting = _maybe_wrong(st.fixed_dictionaries({}, optional={"usersAndGroups": _half, "applications": _half}))
_flags = _maybe_wrong(
    st.fixed_dictionaries(
        {},
        optional={
            k: _maybe_wrong(st.booleans())
            for k in ("isMfaAccepted", "isCompliantDeviceAccepted", "inboundAllowed", "outboundAllowed")
        },
    )
)
_config = {
    "b2bCollaborationInbound": _setting,
    "b2bCollaborationOutbound": _setting,
    "b2bDirectConnectInbound": _setting,
    "b2bDirectConnectOutbound": _setting,
    "tenantRestrictions": _setting,
    "inboundTrust": _flags,
    "automaticUserConsentSettings": _flags,
    "someFutureProperty": json_any,
}
_sync = _maybe_wrong(
    st.fixed_dictionaries(
        {},
        optional={
            "tenantId": _maybe_wrong(st.sampled_from(EXAMPLE_TENANTS)),
            "userSyncInbound": _maybe_wrong(st.fixed_dictionaries({"isSyncAllowed": _maybe_wrong(st.booleans())})),
        },
    )
)
_partner = _maybe_wrong(
    st.fixed_dictionaries(
        {"tenantId": _maybe_wrong(st.sampled_from([*EXAMPLE_TENANTS, EXAMPLE_TENANTS[1].upper()]))},
        optional={**_config, "identitySynchronization": _sync, "isServiceProvider": _maybe_wrong(st.booleans())},
    )
)
graphish_documents: dict[str, st.SearchStrategy[Any]] = {
    "tenant.json": _maybe_wrong(
        st.fixed_dictionaries(
            {"tenantId": _maybe_wrong(st.sampled_from(EXAMPLE_TENANTS))},
            optional={"cloud": _maybe_wrong(st.sampled_from(CLOUDS)), "license": json_any},
        )
    ),
    "partners.json": _maybe_wrong(
        st.fixed_dictionaries(
            {"value": _maybe_wrong(st.lists(_partner, max_size=4))}, optional={"@odata.nextLink": json_any}
        )
    ),
    "default.json": _maybe_wrong(
        st.fixed_dictionaries({}, optional={**_config, "id": json_any, "isServiceDefault": json_any})
    ),
    "crossTenantAccessPolicy.json": _maybe_wrong(
        st.fixed_dictionaries(
            {},
            optional={
                "allowedCloudEndpoints": _maybe_wrong(st.lists(_maybe_wrong(st.sampled_from(CLOUDS)), max_size=3))
            },
        )
    ),
}


any_folder = st.fixed_dictionaries({}, optional={name: json_any for name in SOURCE_FILES})
graphish_folder = st.fixed_dictionaries({}, optional=graphish_documents)


def _compile_or_errors(root: Path, options: CompileOptions = DEFAULT_OPTIONS) -> None:
    """The contract of compile_policy_dir on any input, checked in full."""
    try:
        result = compile_policy_dir(root, options, created_at=0)
    except CompileErrors as exc:
        assert exc.issues, "CompileErrors without an issue"
        assert exc.issues == sort_issues(exc.issues)
        for issue in exc.issues:
            assert issue.path.startswith("$"), issue
            assert issue.severity in (Severity.ERROR, Severity.WARNING), issue
            assert issue.file.split("/")[-1] in SOURCE_FILES, issue
        return
    index = loader.load_snapshot_bytes(result.data)
    assert len(index.tenants) == result.info.tenant_count >= 1
    assert not [f for f in result.findings if f.severity is Severity.ERROR]


@PROPS
@given(folders=st.lists(any_folder | graphish_folder, min_size=1, max_size=3))
def test_a_any_json_in_source_files_compiles_or_raises_compile_errors(tmp_path: Path, folders: list[Any]) -> None:
    root = _scratch(tmp_path)
    try:
        _write_tree(root, {f"tenant{i}": files for i, files in enumerate(folders)})
        _compile_or_errors(root)
    finally:
        shutil.rmtree(root)


@PROPS
@given(files=graphish_folder, strict=st.booleans())
def test_a_D6_graph_shaped_mutations_compile_or_raise_compile_errors(
    tmp_path: Path, files: dict[str, Any], strict: bool
) -> None:
    """Valid tenant.json, so the mutations in the other files reach every parser and check."""
    root = _scratch(tmp_path)
    try:
        files = {**files, "tenant.json": {"tenantId": EXAMPLE_TENANTS[0]}}
        _write_tree(root, {"contoso": files})
        _compile_or_errors(root, CompileOptions(strict=strict))
    finally:
        shutil.rmtree(root)


# --------------------------------------------------------------------------- (b) valid policies: deterministic

guids = st.uuids().map(str)
user_target = st.one_of(
    st.just({"target": "AllUsers", "targetType": "user"}),
    st.builds(lambda g, t: {"target": g, "targetType": t}, guids, st.sampled_from(["user", "group"])),
)
app_target = st.one_of(
    st.sampled_from(["AllApplications", "Office365", "AllMicrosoftApps"]).map(
        lambda k: {"target": k, "targetType": "application"}
    ),
    guids.map(lambda g: {"target": g, "targetType": "application"}),
)
access = st.sampled_from(["allowed", "blocked"])


def _valid_half(target: st.SearchStrategy[dict[str, str]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda a, t: {"accessType": a, "targets": t}, access, st.lists(target, max_size=3))


valid_setting = st.none() | st.fixed_dictionaries(
    {}, optional={"usersAndGroups": _valid_half(user_target), "applications": _valid_half(app_target)}
)
maybe_bool = st.none() | st.booleans()
valid_trust = st.none() | st.fixed_dictionaries(
    {},
    optional={
        k: maybe_bool for k in ("isMfaAccepted", "isCompliantDeviceAccepted", "isHybridAzureADJoinedDeviceAccepted")
    },
)
valid_consent = st.none() | st.fixed_dictionaries(
    {}, optional={"inboundAllowed": maybe_bool, "outboundAllowed": maybe_bool}
)
valid_config = {
    "b2bCollaborationInbound": valid_setting,
    "b2bCollaborationOutbound": valid_setting,
    "b2bDirectConnectInbound": valid_setting,
    "b2bDirectConnectOutbound": valid_setting,
    "tenantRestrictions": valid_setting,
    "inboundTrust": valid_trust,
}
valid_default = st.fixed_dictionaries(
    {},
    optional={
        **valid_config,
        "id": guids,
        "isServiceDefault": st.booleans(),
        "automaticUserConsentSettings": valid_consent,
    },
)


@st.composite
def valid_policies(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    """1-3 local tenants, each with any subset of valid Graph bodies and 0-4 distinct partners."""
    tenant_ids = draw(st.lists(guids, min_size=1, max_size=3, unique=True))
    folders: dict[str, dict[str, Any]] = {}
    for i, tenant_id in enumerate(tenant_ids):
        files: dict[str, Any] = {
            "tenant.json": {
                "tenantId": tenant_id,
                **draw(
                    st.fixed_dictionaries(
                        {},
                        optional={"cloud": st.sampled_from(CLOUDS), "license": st.sampled_from(["free", "p1", "p2"])},
                    )
                ),
            }
        }
        if draw(st.booleans()):
            endpoints = draw(st.lists(st.sampled_from(CLOUDS), unique=True, max_size=3))
            body = {"displayName": "CrossTenantAccessPolicy", "allowedCloudEndpoints": endpoints}
            files["crossTenantAccessPolicy.json"] = {"value": body} if draw(st.booleans()) else body
        if draw(st.booleans()):
            files["default.json"] = draw(valid_default)
        if draw(st.booleans()):
            others = [t for t in tenant_ids if t != tenant_id]
            partner_ids = draw(
                st.lists(st.sampled_from(others) | guids if others else guids, max_size=4, unique=True).filter(
                    lambda ids, own=tenant_id: own not in ids
                )
            )
            partners = []
            for partner_id in partner_ids:
                partner = {"tenantId": partner_id, **draw(st.fixed_dictionaries({}, optional=valid_config))}
                partner["automaticUserConsentSettings"] = draw(valid_consent)
                if draw(st.booleans()):
                    sync: dict[str, Any] = {"userSyncInbound": {"isSyncAllowed": draw(st.booleans())}}
                    if draw(st.booleans()):
                        sync["tenantId"] = partner_id
                    partner["identitySynchronization"] = sync
                partners.append(partner)
            files["partners.json"] = {"value": partners}
        folders[f"tenant{i}"] = files
    return folders


def _flip_guid_case(document: Any) -> Any:
    return json.loads(GUID_RE.sub(lambda m: m.group(0).upper(), json.dumps(document)))


@PROPS
@given(policy=valid_policies(), seed=st.randoms(use_true_random=False))
def test_b_D4_valid_policies_compile_deterministically(tmp_path: Path, policy: dict[str, Any], seed: Any) -> None:
    base = _scratch(tmp_path)
    try:
        root = _write_tree(base / "a", policy)
        first = compile_policy_dir(root, created_at=1_700_000_000)
        second = compile_policy_dir(root, created_at=1_700_000_000)
        assert first.data == second.data
        later = compile_policy_dir(root, created_at=1_800_000_000)
        assert later.info.snapshot_id == first.info.snapshot_id
        assert later.data != first.data

        # Same meaning, other bytes: shuffled partners, renamed folders, upper-case GUIDs (D4), indentation.
        variant: dict[str, Any] = {}
        for i, files in enumerate(policy.values()):
            flipped = _flip_guid_case(files)
            if "partners.json" in flipped:
                seed.shuffle(flipped["partners.json"]["value"])
            variant[f"other{len(policy) - i}"] = flipped
        other = compile_policy_dir(_write_tree(base / "b", variant, indent=2), created_at=1_700_000_000)
        assert other.info.snapshot_id == first.info.snapshot_id
        assert other.snapshot == first.snapshot

        index = loader.load_snapshot_bytes(first.data)
        assert set(index.tenants) == {files["tenant.json"]["tenantId"] for files in policy.values()}
    finally:
        shutil.rmtree(base)


# --------------------------------------------------------------------------- (c) any question is answered

QUESTION_FIELDS: dict[str, dict[str, str]] = {
    # kind (JSON name) -> field (JSON name) -> "id" | "ids" | "direction" | "feature" | "claims" | "scenario" | "cloud"
    "access": {
        "tenantId": "id",
        "externalTenantId": "id",
        "direction": "direction",
        "feature": "feature",
        "userId": "id",
        "groupIds": "ids",
        "applicationId": "id",
    },
    "collaboration": {
        "homeTenantId": "id",
        "resourceTenantId": "id",
        "feature": "feature",
        "userId": "id",
        "groupIds": "ids",
        "applicationId": "id",
    },
    "trust": {
        "tenantId": "id",
        "externalTenantId": "id",
        "feature": "feature",
        "required": "claims",
        "presented": "claims",
    },
    "automaticRedemption": {"homeTenantId": "id", "resourceTenantId": "id", "scenario": "scenario"},
    "identitySync": {"sourceTenantId": "id", "targetTenantId": "id"},
    "tenantRestrictions": {
        "tenantId": "id",
        "externalTenantId": "id",
        "userId": "id",
        "groupIds": "ids",
        "applicationId": "id",
    },
}
ENUM_NAMES = {
    "direction": ["DIRECTION_INBOUND", "DIRECTION_OUTBOUND"],
    "feature": ["FEATURE_B2B_COLLABORATION", "FEATURE_B2B_DIRECT_CONNECT"],
    "claims": ["CLAIM_MFA", "CLAIM_COMPLIANT_DEVICE", "CLAIM_HYBRID_JOINED_DEVICE"],
    "scenario": [
        "REDEMPTION_SCENARIO_B2B_COLLABORATION",
        "REDEMPTION_SCENARIO_B2B_DIRECT_CONNECT",
        "REDEMPTION_SCENARIO_CROSS_TENANT_SYNC",
    ],
}

example_guid = st.sampled_from(EXAMPLE_IDS) | guids | st.sampled_from(EXAMPLE_IDS).map(str.upper)
garbage_id = st.one_of(
    st.just(""),
    st.text(max_size=40),
    st.sampled_from(EXAMPLE_IDS).map(lambda g: g[:-1]),
    st.sampled_from(EXAMPLE_IDS).map(lambda g: "{" + g + "}"),
    st.sampled_from(EXAMPLE_IDS).map(lambda g: " " + g),
    st.sampled_from(EXAMPLE_IDS).map(lambda g: g.replace("-", "")),
    st.sampled_from(EXAMPLE_IDS).map(lambda g: g + "\n"),
).filter(lambda s: GUID_RE.fullmatch(s) is None)
id_value = st.one_of(example_guid, example_guid, example_guid, garbage_id)
enum_value = st.one_of(
    st.sampled_from([name for names in ENUM_NAMES.values() for name in names]), st.integers(min_value=-3, max_value=9)
)
json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
    | id_value,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=12,
)


@st.composite
def question_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """CheckRequest-like dicts: known kinds and fields mostly, anything at all sometimes."""
    kinds = draw(st.lists(st.sampled_from([*QUESTION_FIELDS, "bogus"]), max_size=2, unique=True))
    request: dict[str, Any] = {}
    for kind in kinds:
        fields = QUESTION_FIELDS.get(kind, {})
        body: dict[str, Any] = {}
        for name, kind_of in fields.items():
            if not draw(st.integers(0, 5)):
                continue
            if kind_of == "id":
                body[name] = draw(id_value | json_value)
            elif kind_of == "ids":
                body[name] = draw(st.lists(id_value, max_size=5) | json_value)
            elif kind_of == "claims":
                body[name] = draw(st.lists(enum_value, max_size=4) | json_value)
            else:
                body[name] = draw(enum_value | json_value)
        if draw(st.integers(0, 4)) == 0:
            body[draw(st.text(max_size=6))] = draw(json_value)
        request[kind] = body if draw(st.integers(0, 9)) else draw(json_value)
    return request


def _set_field(message: Any, field: str, value: Any) -> None:
    descriptor = message.DESCRIPTOR.fields_by_camelcase_name[field]
    if isinstance(value, list):
        getattr(message, descriptor.name).extend(value)
    else:
        setattr(message, descriptor.name, value)


@st.composite
def question_protos(draw: st.DrawFn) -> pdp_pb2.CheckRequest:
    """CheckRequest messages with garbage ids, empty strings, unknown enum numbers and huge group lists."""
    request = pdp_pb2.CheckRequest()
    kind = draw(st.sampled_from([*QUESTION_FIELDS, None]))
    if kind is None:
        return request
    snake = re.sub(r"([A-Z])", r"_\1", kind).lower()
    message = getattr(request, snake)
    message.SetInParent()
    for name, kind_of in QUESTION_FIELDS[kind].items():
        if kind_of == "id":
            _set_field(message, name, draw(id_value))
        elif kind_of == "ids":
            size = draw(st.sampled_from([0, 1, 3, 2048, 2049, 5000]))
            if size > 3:
                _set_field(message, name, [draw(example_guid)] * size)
            else:
                _set_field(message, name, draw(st.lists(id_value, min_size=size, max_size=size)))
        elif kind_of == "claims":
            _set_field(message, name, draw(st.lists(st.integers(0, 6), max_size=4)))
        else:
            _set_field(message, name, draw(st.integers(min_value=-(2**31), max_value=2**31 - 1) | st.integers(0, 4)))
    return request


def _check_answer(answer: dict[str, Any]) -> None:
    assert answer["decision"] in ("DECISION_ALLOW", "DECISION_DENY"), answer
    assert answer["snapshotId"].startswith("sha256:")
    if "error" in answer:
        assert answer["decision"] == "DECISION_DENY", answer
        assert answer["reason"] == "REASON_INVALID_REQUEST", answer
        assert answer["source"] == "SOURCE_REQUEST", answer
        assert isinstance(answer["error"]["field"], str) and answer["error"]["field"], answer
        assert answer["error"]["code"] == "ERROR_CODE_INVALID_ARGUMENT", answer
    else:
        assert answer["reason"] != "REASON_INVALID_REQUEST", answer


@PROPS
@given(request=question_dicts())
def test_c_random_question_dicts_never_raise_nor_allow_with_an_error(
    example_engine: Engine, request: dict[str, Any]
) -> None:
    answer = example_engine.check(request)
    _check_answer(answer)
    # The JSON text of the same dict is the same question (the CLI's line format).
    assert example_engine.check(json.dumps(request)) == answer


@PROPS
@given(text=st.text(max_size=200) | json_value.map(json.dumps))
def test_c_random_question_text_never_raises(example_engine: Engine, text: str) -> None:
    _check_answer(example_engine.check(text))


@PROPS
@given(request=question_protos())
def test_c_random_question_protos_never_raise_nor_allow_with_an_error(
    example_engine: Engine, request: pdp_pb2.CheckRequest
) -> None:
    response = example_engine.check_proto(request)
    assert not (response.decision == pdp_pb2.DECISION_ALLOW and response.HasField("error"))
    _check_answer(json_format.MessageToDict(response))
    kind = request.WhichOneof("question")
    if kind is not None and len(getattr(getattr(request, kind), "group_ids", [])) > 2048:
        assert response.reason == pdp_pb2.REASON_INVALID_REQUEST


@st.composite
def valid_questions(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """(kind, body) with every field valid; the two tenants of a question differ."""
    kind = draw(st.sampled_from(list(QUESTION_FIELDS)))
    tenants = draw(st.lists(st.sampled_from(EXAMPLE_TENANTS) | guids, min_size=2, max_size=2, unique=True))
    body: dict[str, Any] = {}
    tenant_fields = [f for f, k in QUESTION_FIELDS[kind].items() if k == "id" and "enant" in f]
    for name, kind_of in QUESTION_FIELDS[kind].items():
        if name in tenant_fields:
            body[name] = tenants[tenant_fields.index(name)]
        elif kind_of == "id":
            body[name] = draw(example_guid)
        elif kind_of == "ids":
            body[name] = draw(st.lists(example_guid, max_size=4))
        elif kind_of == "claims":
            body[name] = draw(st.lists(st.sampled_from(ENUM_NAMES["claims"]), max_size=3))
        else:
            body[name] = draw(st.sampled_from(ENUM_NAMES[kind_of]))
    return kind, body


@PROPS
@given(question=valid_questions())
def test_c_valid_questions_are_answered_without_error(example_engine: Engine, question: tuple[str, Any]) -> None:
    kind, body = question
    answer = example_engine.check({kind: body})
    _check_answer(answer)
    assert "error" not in answer, (kind, body, answer)


@PROPS
@given(question=valid_questions(), garbage=garbage_id, data=st.data())
def test_c_malformed_id_answers_invalid_request_naming_the_field(
    example_engine: Engine, question: tuple[str, Any], garbage: str, data: st.DataObject
) -> None:
    kind, body = question
    id_fields = [f for f, k in QUESTION_FIELDS[kind].items() if k == "id"]
    group_fields = [f for f, k in QUESTION_FIELDS[kind].items() if k == "ids" and body[f]]
    field = data.draw(st.sampled_from(id_fields + group_fields))
    if field in group_fields:
        position = data.draw(st.integers(0, len(body[field]) - 1))
        body[field][position] = garbage
        expected_field = f"{kind}.{field}[{position}]"
    else:
        body[field] = garbage
        expected_field = f"{kind}.{field}"

    for answer in (
        example_engine.check({kind: body}),
        json_format.MessageToDict(
            example_engine.check_proto(json_format.ParseDict({kind: body}, pdp_pb2.CheckRequest()))
        ),
    ):
        assert answer["decision"] == "DECISION_DENY"
        assert answer["reason"] == "REASON_INVALID_REQUEST"
        assert answer["error"]["field"] == expected_field, (body, answer)
        if garbage == "":
            assert answer["error"]["message"] == "is required"
        else:
            assert answer["error"]["message"].endswith("is not a GUID")


@PROPS
@given(question=valid_questions(), size=st.sampled_from([2047, 2048, 2049, 4096]), group=example_guid)
def test_c_huge_group_lists_answer_invalid_request_naming_the_field(
    example_engine: Engine, question: tuple[str, Any], size: int, group: str
) -> None:
    kind, body = question
    assume("groupIds" in body)
    body["groupIds"] = [group] * size
    for answer in (
        example_engine.check({kind: body}),
        json_format.MessageToDict(
            example_engine.check_proto(json_format.ParseDict({kind: body}, pdp_pb2.CheckRequest()))
        ),
    ):
        _check_answer(answer)
        if size <= 2048:
            assert "error" not in answer
        else:
            assert answer["reason"] == "REASON_INVALID_REQUEST"
            assert answer["error"]["field"] == f"{kind}.groupIds"
            assert answer["error"]["message"] == f"at most 2048 group ids are accepted, got {size}"


@PROPS
@given(question=valid_questions(), data=st.data())
def test_c_unknown_enum_numbers_answer_invalid_request_naming_the_field(
    example_engine: Engine, question: tuple[str, Any], data: st.DataObject
) -> None:
    kind, body = question
    enum_fields = [f for f, k in QUESTION_FIELDS[kind].items() if k in ("direction", "feature", "scenario")]
    assume(enum_fields)
    field = data.draw(st.sampled_from(enum_fields))
    body[field] = data.draw(
        st.integers(min_value=4, max_value=2**31 - 1) | st.integers(min_value=-(2**31), max_value=-1)
    )
    answer = example_engine.check({kind: body})
    assert answer["reason"] == "REASON_INVALID_REQUEST"
    assert answer["error"]["field"] == f"{kind}.{field}"
    assert answer["error"]["message"] == f"unknown enum value {body[field]}"


@pytest.mark.parametrize("number", [float("inf"), float("-inf"), float("nan"), 1e300, 2**64])
def test_c_non_integral_or_huge_enum_number_in_a_dict_is_an_invalid_request(
    example_engine: Engine, number: float
) -> None:
    """Regression: Engine.check(dict) raised OverflowError for an infinite enum number."""
    answer = example_engine.check({"access": {"direction": number}})
    _check_answer(answer)
    assert answer["reason"] == "REASON_INVALID_REQUEST"


# --------------------------------------------------------------------------- (d) determinism


@PROPS
@given(question=valid_questions() | question_dicts().map(lambda d: ("", d)))
def test_d_the_same_question_gets_the_same_answer(example_engine: Engine, question: tuple[str, Any]) -> None:
    kind, body = question
    request = {kind: body} if kind else body
    first = example_engine.check(request)
    assert example_engine.check(request) == first
    assert example_engine.check(json.loads(json.dumps(request))) == first


@pytest.fixture(scope="module")
def second_engine() -> Engine:
    return Engine.from_policy_dir(EXAMPLE_POLICY)


@PROPS
@given(question=valid_questions())
def test_d_engines_from_the_same_policy_agree(
    example_engine: Engine, second_engine: Engine, question: tuple[str, Any]
) -> None:
    kind, body = question
    request = json_format.ParseDict({kind: body}, pdp_pb2.CheckRequest())
    expected = example_engine.check_proto(request)
    assert second_engine.check_proto(request) == expected
    assert example_engine.check_proto(request) == expected
    assert json_format.MessageToDict(expected) == example_engine.check({kind: body})
