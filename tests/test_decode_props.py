"""decode.py, the fast way from CheckRequest bytes to a typed question, against the protobuf
path (CheckRequest.FromString + convert's converters), which is correct by construction.

For any message hypothesis builds from the descriptors (canonical or not, with unknown fields,
bad ids and enums, several questions), the fast path either declines (None) or gives exactly
the protobuf path's kind and question; and convert.question_from_bytes, which tries it first,
always gives the protobuf path's answer or the same error (field and message). Questions and
fields added to pdp.proto later are generated too, and must decline.
"""

from __future__ import annotations

import uuid

import pytest
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_kit import question_lines
from wire_kit import GUIDISH, check_request_bytes

from xtenant_pdp import convert, decode
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.decision import Cloud, QuestionKind, SyncObjectKind
from xtenant_pdp.errors import QueryError

CHECK = pdp_pb2.CheckRequest.DESCRIPTOR
QUESTION_FIELDS = [f for f in CHECK.fields if f.type == FieldDescriptor.TYPE_MESSAGE]
ENUM_VALUES = st.one_of(st.integers(0, 4), st.integers(-(2**31), 2**31 - 1))


@st.composite
def canonical_requests(draw: st.DrawFn) -> bytes:
    """A CheckRequest set field by field from its descriptor and serialized by protobuf: the
    encoding every client sends, so mostly the fast path's."""
    question = draw(st.sampled_from(QUESTION_FIELDS))
    request = pdp_pb2.CheckRequest()
    message = getattr(request, question.name)
    message.SetInParent()
    valid = st.uuids().map(str)
    for field in question.message_type.fields:
        if draw(st.integers(0, 9)) == 0:
            continue  # left unset
        ids = valid if draw(st.integers(0, 4)) else GUIDISH
        if field.type == FieldDescriptor.TYPE_STRING and field.is_repeated:
            getattr(message, field.name).extend(draw(st.lists(ids, max_size=6)))
        elif field.type == FieldDescriptor.TYPE_STRING:
            setattr(message, field.name, draw(ids))
        elif field.type == FieldDescriptor.TYPE_ENUM and field.is_repeated:
            getattr(message, field.name).extend(draw(st.lists(ENUM_VALUES, max_size=5)))
        elif field.type == FieldDescriptor.TYPE_ENUM:
            setattr(message, field.name, draw(ENUM_VALUES))
        elif field.type == FieldDescriptor.TYPE_BOOL:
            setattr(message, field.name, draw(st.booleans()))
        elif field.cpp_type in (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64):
            setattr(message, field.name, draw(st.integers(-(2**31), 2**31 - 1)))
    return request.SerializeToString()


@st.composite
def any_requests(draw: st.DrawFn) -> bytes:
    return check_request_bytes(draw, CHECK)


def _protobuf_path(raw: bytes) -> tuple[str, object] | QueryError:
    try:
        return convert.question_via_protobuf(raw)
    except QueryError as exc:
        return exc


def _same(fast: object, slow: object) -> None:
    if isinstance(slow, QueryError):
        assert isinstance(fast, QueryError), f"fast path answered {fast!r}, protobuf path: {slow}"
        assert (fast.field, fast.message) == (slow.field, slow.message)
        return
    assert not isinstance(fast, QueryError), f"fast path refused ({fast}), protobuf path answered {slow!r}"
    assert fast == slow
    _kind, query = fast  # type: ignore[misc]
    assert type(query) is type(slow[1])  # type: ignore[index]
    assert all(type(a) is type(b) for a, b in zip(query, slow[1], strict=True))  # type: ignore[index]


def _agrees(raw: bytes) -> bool:
    """Checks both entries; True when the fast path answered."""
    slow = _protobuf_path(raw)
    fast = decode.question(raw)
    if fast is not None:
        _same(fast, slow)
    try:
        public: object = convert.question_from_bytes(raw)
    except QueryError as exc:
        public = exc
    _same(public, slow)
    return fast is not None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(canonical_requests())
def test_fast_path_gives_the_protobuf_answer_on_canonical_requests(raw: bytes) -> None:
    _agrees(raw)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_requests())
def test_fast_path_gives_the_protobuf_answer_on_any_encoding(raw: bytes) -> None:
    _agrees(raw)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(canonical_requests(), st.data())
def test_fast_path_gives_the_protobuf_answer_on_damaged_requests(raw: bytes, data: st.DataObject) -> None:
    if raw:
        i = data.draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([raw[i] ^ data.draw(st.integers(1, 255))]) + raw[i + 1 :]
    _agrees(raw)


@pytest.mark.parametrize("line", question_lines(), ids=lambda line: next(iter(line.split('"')[1:2])))
def test_every_example_question_of_a_known_kind_takes_the_fast_path(line: str) -> None:
    request = convert.request_from_json(line)
    number = CHECK.fields_by_name[request.WhichOneof("question")].number
    assert _agrees(request.SerializeToString()) == (number in decode.DECODERS), "a valid question fell back"


def test_upper_case_ids_are_lower_cased_once() -> None:
    ids = [str(uuid.uuid4()) for _ in range(4)]
    question = pdp_pb2.IdentitySyncQuestion(source_tenant_id=ids[0].upper(), target_tenant_id=ids[1])
    kind, query = decode.question(pdp_pb2.CheckRequest(identity_sync=question).SerializeToString())  # type: ignore[misc]
    assert (kind, tuple(query)) == (QuestionKind.IDENTITY_SYNC, (ids[0], ids[1], SyncObjectKind.USERS))


def _with_field_4(source: str, target: str) -> bytes:
    """identitySync with a field 4 (its object_kind, field 3, is known since issue 14)."""
    inner = pdp_pb2.IdentitySyncQuestion(source_tenant_id=source, target_tenant_id=target).SerializeToString()
    inner += b"\x20\x01"
    return b"\x2a" + bytes([len(inner)]) + inner


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x0a",
        b"\x0a\x80",
        b"\x0a\x05abc",
        b"\x3a\x00",  # a question kind added later (CheckRequest field 7): the protobuf path's
        _with_field_4(str(uuid.uuid4()), str(uuid.uuid4())),  # a field added later to a question
    ],
)
def test_fast_path_declines_what_it_does_not_know(raw: bytes) -> None:
    assert decode.question(raw) is None
    _agrees(raw)


@pytest.mark.parametrize("kind", [0, 1, 2])
def test_identity_sync_object_kind_on_the_fast_path(kind: int) -> None:
    """Issue 14: identitySync's object_kind (field 3) is decoded, users when unset, like protobuf."""
    question = pdp_pb2.IdentitySyncQuestion(
        source_tenant_id=str(uuid.uuid4()), target_tenant_id=str(uuid.uuid4()), object_kind=kind
    )
    raw = pdp_pb2.CheckRequest(identity_sync=question).SerializeToString()
    found = decode.question(raw)
    assert found is not None and found[1].object_kind is SyncObjectKind(kind or 1)
    assert _agrees(raw)


@pytest.mark.parametrize("count", [400, decode.MAX_GROUP_IDS, decode.MAX_GROUP_IDS + 1])
def test_group_id_limit_is_the_same_both_ways(count: int) -> None:
    ids = [str(uuid.UUID(int=i)) for i in range(count + 3)]
    question = pdp_pb2.AccessQuestion(
        tenant_id=ids[-1], external_tenant_id=ids[-2], direction=1, feature=1, user_id=ids[-3], application_id=ids[0]
    )
    question.group_ids.extend(ids[:count])
    raw = pdp_pb2.CheckRequest(access=question).SerializeToString()
    assert _agrees(raw) == (len(raw) < 1 << 14)  # the fast path reads questions up to 16 KiB
    if count > decode.MAX_GROUP_IDS:
        with pytest.raises(QueryError, match="at most 2048 group ids"):
            convert.question_from_bytes(raw)


@pytest.mark.parametrize("groups", [0, 1, 3])
@pytest.mark.parametrize("cloud", ["", *(c.endpoint for c in Cloud)])
def test_access_fields_after_the_optional_cloud_are_found_where_protobuf_finds_them(cloud: str, groups: int) -> None:
    """decode.py reads the fields after access.externalCloud at offsets that depend on its length
    (hypothesis draws ids for that string, which never name a cloud, so it is covered here)."""
    ids = [str(uuid.uuid4()).upper() for _ in range(groups + 4)]
    question = pdp_pb2.AccessQuestion(
        tenant_id=ids[0], external_tenant_id=ids[1], external_cloud=cloud, direction=2, feature=2,
        user_id=ids[2], group_ids=ids[4:], application_id=ids[3],
    )  # fmt: skip
    raw = pdp_pb2.CheckRequest(access=question).SerializeToString()
    assert _agrees(raw), "a valid access question fell back"
    _kind, query = decode.question(raw)  # type: ignore[misc]
    assert query.external_cloud == (Cloud.from_endpoint(cloud) if cloud else None)
    assert query.group_ids == tuple(i.lower() for i in ids[4:]) and query.application_id == ids[3].lower()


def test_an_enum_value_past_one_byte_cannot_enter_the_fast_path_unnoticed() -> None:
    """From 128 on a value is a multi-byte varint: a pattern written for one byte would match
    where protobuf reads something else, so building one is refused at import."""
    import enum

    class Wide(enum.IntEnum):
        SMALL = 1
        WIDE = 200

    with pytest.raises(ValueError, match="outside 1-127"):
        decode._one_byte_values(Wide)
    assert decode._one_byte_values(SyncObjectKind) == b"[\x01\x02]"
