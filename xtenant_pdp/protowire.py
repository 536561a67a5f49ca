"""The protobuf wire format by hand, where parsing a message whole does not fit.

BatchCheck splits its request into items' bytes so that each can be looked up in the decision
cache before any parsing (service/wire.py). Only what that needs, kept generic: varints,
skipping a value, and reading one field.
"""

from __future__ import annotations

from typing import NamedTuple

LENGTH_DELIMITED = 2


class WireError(ValueError):
    """Malformed protobuf encoding; the message says what, not where (callers know where)."""


def varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = 0
    shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def skip(data: bytes, pos: int, wire_type: int) -> int:
    """The position after a field's value of ``wire_type`` starting at ``pos``."""
    if wire_type == 0:
        return varint(data, pos)[1]
    if wire_type == 1:
        return pos + 8
    if wire_type == LENGTH_DELIMITED:
        length, pos = varint(data, pos)
        return pos + length
    if wire_type == 5:
        return pos + 4
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
    key, pos = varint(data, pos)
    number, wire_type = key >> 3, key & 7
    if number == 0:
        raise WireError("field number 0")
    if wire_type == LENGTH_DELIMITED:
        length, pos = varint(data, pos)
        value, pos = pos, pos + length
    else:
        value, pos = pos, skip(data, pos, wire_type)
    if pos > len(data):
        raise WireError("truncated field")
    return Field(number, wire_type, start, value, pos)
