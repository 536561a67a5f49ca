"""The protobuf wire format by hand, where parsing a message whole does not fit.

BatchCheck splits its request into items' bytes so that each can be looked up in the decision
cache before any parsing (service/wire.py). The rules are upb's (the protobuf runtime the
service runs on), so that a hand-read field boundary is always the one protobuf reads: a tag
is a varint of at most 5 bytes below 2**32 (non-minimal encodings are valid; field number 0
only inside a group), a length at most 5 bytes, a varint value at most 10, groups nest at most
``MAX_DEPTH`` deep and end with their own field number. tests/test_wire_split_props.py checks
these against protobuf's parser."""

from __future__ import annotations

from typing import NamedTuple

VARINT = 0
FIXED64 = 1
LENGTH_DELIMITED = 2
START_GROUP = 3
END_GROUP = 4
FIXED32 = 5
#: upb's default recursion limit: groups (and sub-messages) nested deeper are malformed.
MAX_DEPTH = 100


class WireError(ValueError):
    """Malformed protobuf encoding; the message says what, not where (callers know where)."""


def _varint(data: bytes, pos: int, max_bytes: int) -> tuple[int, int]:
    result = 0
    shift = 0
    limit = pos + max_bytes
    end = len(data)
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        if pos >= limit:
            raise WireError("varint too long")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` (at most 10 bytes) and the position after it."""
    return _varint(data, pos, 10)


def tag(data: bytes, pos: int, *, in_group: bool = False) -> tuple[int, int, int]:
    """(field number, wire type, position after the tag) of the tag at ``pos``.

    Field number 0 is malformed, except inside a group, where upb skips it like any other."""
    if pos < len(data) and data[pos] < 0x80:  # the common one-byte tag
        key, pos = data[pos], pos + 1
    else:
        key, pos = _varint(data, pos, 5)
        if key >> 32:
            raise WireError("tag out of range")
    number = key >> 3
    if number == 0 and not in_group:
        raise WireError("field number 0")
    return number, key & 7, pos


def length(data: bytes, pos: int) -> tuple[int, int]:
    """(start, end) of the length-delimited value whose length prefix is at ``pos``."""
    size, pos = _varint(data, pos, 5)
    end = pos + size
    if end > len(data):
        raise WireError("truncated field")
    return pos, end


def skip(data: bytes, pos: int, wire_type: int, number: int = 0, depth: int = 0) -> int:
    """The position after the value of field ``number`` of ``wire_type`` starting at ``pos``;
    ``depth`` counts the groups this field is nested in."""
    if wire_type == VARINT:
        return varint(data, pos)[1]
    if wire_type == LENGTH_DELIMITED:
        return length(data, pos)[1]
    if wire_type in (FIXED64, FIXED32):
        pos += 8 if wire_type == FIXED64 else 4
        if pos > len(data):
            raise WireError("truncated field")
        return pos
    if wire_type == START_GROUP:
        if depth >= MAX_DEPTH:
            raise WireError("groups nested too deeply")
        while True:
            inner, inner_type, pos = tag(data, pos, in_group=True)
            if inner_type == END_GROUP:
                if inner != number:
                    raise WireError("group ends with another field's number")
                return pos
            pos = skip(data, pos, inner_type, inner, depth + 1)
    if wire_type == END_GROUP:
        raise WireError("end of a group that was not started")
    raise WireError(f"unsupported wire type {wire_type}")


class Field(NamedTuple):
    number: int
    wire_type: int
    #: Where the field starts (its tag), where its value starts (after a length prefix, if
    #: any), and where it ends: data[start:end] is the field, data[value:end] its value.
    start: int
    value: int
    end: int


def read_field(data: bytes, pos: int) -> Field:
    """The field whose tag starts at ``pos``."""
    start = pos
    number, wire_type, pos = tag(data, pos)
    if wire_type == LENGTH_DELIMITED:
        value, end = length(data, pos)
    else:
        value, end = pos, skip(data, pos, wire_type, number)
    return Field(number, wire_type, start, value, end)


def encode_varint(value: int) -> bytes:
    """The minimal varint encoding of a non-negative int (what protobuf writes)."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
