"""Hypothesis strategies for protobuf wire bytes, valid or not, the way any encoder may write them.

Every valid encoding a parser must accept: tags, lengths and varints in non-minimal forms (up to
upb's limits: 5, 5 and 10 bytes), unknown fields of every wire type, groups nested in groups,
repeated fields interleaved with others. Messages are built from their descriptors, so fields
added to the .proto later are covered without touching this file.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import strategies as st

from xtenant_pdp.decision import CLOUD_ENDPOINTS
from xtenant_pdp.protowire import END_GROUP, FIXED32, FIXED64, LENGTH_DELIMITED, START_GROUP, VARINT

#: Strings the decoders see: valid GUIDs in both cases, near misses, clouds and arbitrary text.
GUIDS = st.uuids().map(str)
GUIDISH = st.one_of(
    GUIDS,
    GUIDS.map(str.upper),
    GUIDS.map(lambda g: g[:1].upper() + g[1:]),
    GUIDS.map(lambda g: g.replace("-", "", 1) + "0"),
    GUIDS.map(lambda g: "{" + g + "}"),
    GUIDS.map(lambda g: g[:-1] + "g"),
    GUIDS.map(lambda g: g + "\n"),
    GUIDS.map(lambda g: " " + g[1:]),
    GUIDS.map(lambda g: g[:8] + "\u0660" + g[9:]),  # a non-ASCII digit
    st.just(""),
    st.sampled_from(CLOUD_ENDPOINTS),
    st.text(max_size=40),
)


def encode_varint(value: int, size: int | None = None) -> bytes:
    """``value`` as a varint of ``size`` bytes (at least the minimal size; more is non-minimal)."""
    out = bytearray()
    while True:
        out.append(value & 0x7F)
        value >>= 7
        if value == 0:
            break
    while size is not None and len(out) < size:
        out.append(0)
    for i in range(len(out) - 1):
        out[i] |= 0x80
    return bytes(out)


def minimal_size(value: int) -> int:
    return len(encode_varint(value))


_PAD = st.integers(0, 3)
_SIZES = [st.integers(n, 10) for n in range(11)]
_SIZES5 = [st.integers(n, 5) for n in range(6)]
_U64 = st.integers(0, 2**64 - 1)
_WIRE_TYPES = st.sampled_from([VARINT, FIXED64, LENGTH_DELIMITED, START_GROUP, FIXED32])
_SHORT = st.binary(max_size=12)
_B8 = st.binary(min_size=8, max_size=8)
_B4 = st.binary(min_size=4, max_size=4)
_COUNT3 = st.integers(0, 3)


def varint(draw: st.DrawFn, value: int, max_size: int = 10) -> bytes:
    """``value`` encoded minimally most of the time, else padded up to ``max_size`` bytes.
    (Plain functions taking ``draw``, not composite strategies: building a strategy per draw
    costs hypothesis more than the test itself.)"""
    least = minimal_size(value)
    if least >= max_size or draw(_PAD):
        return encode_varint(value)
    return encode_varint(value, draw((_SIZES if max_size == 10 else _SIZES5)[least]))


def tag(draw: st.DrawFn, number: int, wire_type: int) -> bytes:
    return varint(draw, (number << 3) | wire_type, 5)


def length_delimited(draw: st.DrawFn, number: int, value: bytes) -> bytes:
    return tag(draw, number, LENGTH_DELIMITED) + varint(draw, len(value), 5) + value


FIELD_NUMBERS = st.one_of(st.integers(1, 20), st.integers(1, 2**29 - 1))


def unknown_field(draw: st.DrawFn, numbers: st.SearchStrategy[int] = FIELD_NUMBERS, depth: int = 0) -> bytes:
    """One field of any wire type with any number (a group holds more of them)."""
    number = draw(numbers)
    wire_type = draw(_WIRE_TYPES)
    if wire_type == START_GROUP and depth >= 3:
        wire_type = VARINT
    head = tag(draw, number, wire_type)
    if wire_type == VARINT:
        return head + varint(draw, draw(_U64))
    if wire_type == FIXED64:
        return head + draw(_B8)
    if wire_type == FIXED32:
        return head + draw(_B4)
    if wire_type == LENGTH_DELIMITED:
        value = draw(_SHORT)
        return head + varint(draw, len(value), 5) + value
    inner = b"".join(unknown_field(draw, numbers, depth + 1) for _ in range(draw(_COUNT3)))
    return head + inner + tag(draw, number, END_GROUP)


_ENUM_VALUES: dict[Any, st.SearchStrategy[int]] = {}


def _enum_values(field: FieldDescriptor) -> st.SearchStrategy[int]:
    found = _ENUM_VALUES.get(field.enum_type.full_name)
    if found is None:
        known = st.sampled_from([v.number for v in field.enum_type.values])
        found = _ENUM_VALUES[field.enum_type.full_name] = st.one_of(
            known, known, st.integers(-(2**31), 2**31 - 1), _U64
        )
    return found


def _scalar(draw: st.DrawFn, field: FieldDescriptor, text: st.SearchStrategy[str]) -> bytes:
    number = field.number
    if field.type == FieldDescriptor.TYPE_STRING:
        return length_delimited(draw, number, draw(text).encode("utf-8", "surrogatepass"))
    if field.type == FieldDescriptor.TYPE_ENUM:
        return tag(draw, number, VARINT) + varint(draw, draw(_enum_values(field)) & (2**64 - 1))
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return length_delimited(draw, number, message(draw, field.message_type, text=text))
    if field.cpp_type in (FieldDescriptor.CPPTYPE_BOOL, FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64):
        return tag(draw, number, VARINT) + varint(draw, draw(_U64))
    return length_delimited(draw, number, draw(_SHORT))


_PACKED = st.lists(st.integers(0, 2**32 - 1), max_size=5)
_TENTH = st.integers(0, 9)


def message(
    draw: st.DrawFn, descriptor: Descriptor, *, text: st.SearchStrategy[str] = GUIDISH, unknown: bool = True
) -> bytes:
    """Wire bytes of ``descriptor``'s message: its fields in any order, repeated, interleaved,
    packed or not, with unknown fields (of every wire type) among them when ``unknown``."""
    fields = list(descriptor.fields)
    parts: list[bytes] = []
    for _ in range(draw(st.integers(0, 2 * len(fields) + 2))):
        if unknown and (not fields or draw(_TENTH) == 0):
            parts.append(unknown_field(draw))
            continue
        field = fields[draw(st.integers(0, len(fields) - 1))]
        if field.is_repeated and field.type == FieldDescriptor.TYPE_ENUM and draw(st.booleans()):
            packed = b"".join(encode_varint(v) for v in draw(_PACKED))
            parts.append(length_delimited(draw, field.number, packed))
            continue
        parts.append(_scalar(draw, field, text))
    return b"".join(parts)


def check_request_bytes(draw: st.DrawFn, descriptor: Descriptor, *, unknown: bool = True) -> bytes:
    """A CheckRequest as the decoders meet it: mostly one question, sometimes several (the last
    oneof member wins, a repeated one merges), with unknown fields around."""
    questions = [f for f in descriptor.fields if f.type == FieldDescriptor.TYPE_MESSAGE]
    parts = []
    count = draw(_COUNT3) if draw(st.integers(0, 4)) == 0 else 1
    for _ in range(count):
        field = questions[draw(st.integers(0, len(questions) - 1))]
        parts.append(length_delimited(draw, field.number, message(draw, field.message_type, unknown=unknown)))
    if unknown and draw(st.integers(0, 5)) == 0:
        parts.insert(draw(st.integers(0, len(parts))), unknown_field(draw))
    return b"".join(parts)


def canonical(message: Any) -> bytes:
    return message.SerializeToString(deterministic=True)
