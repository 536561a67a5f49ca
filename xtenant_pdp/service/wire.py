"""Protobuf wire format for BatchCheck: split and join ``repeated message field 1`` as bytes.

BatchCheckRequest and BatchCheckResponse are each one repeated message field. Splitting the
request into its items' bytes lets every item be looked up in the decision cache before any
parsing, and joining cached response bytes skips building response messages altogether.
"""

from __future__ import annotations

from xtenant_pdp.errors import QueryError
from xtenant_pdp.protowire import LENGTH_DELIMITED, WireError, encode_varint, length, skip, tag

_ITEM_TAG = 0x0A  # field 1, wire type 2 (length-delimited), in its minimal one-byte encoding


def split_items(data: bytes, limit: int) -> list[bytes]:
    """The bytes of each item of repeated field 1, in order; other fields are skipped.

    Field boundaries are read by protowire's rules, which are protobuf's: every encoding of
    field 1's tag (``0a`` or a non-minimal ``8a 00``...) is an item, field 1 with another wire
    type and any other field (groups included) are unknown fields and skipped, and whatever
    protobuf rejects as a BatchCheckRequest's framing is rejected here too. Items' contents are
    not read: each is parsed (and fails) on its own.

    Raises QueryError for malformed input or more than ``limit`` items.
    """
    items: list[bytes] = []
    pos = 0
    end = len(data)
    try:
        while pos < end:
            if data[pos] == _ITEM_TAG:  # the common case
                number, wire_type, pos = 1, LENGTH_DELIMITED, pos + 1
            else:
                number, wire_type, pos = tag(data, pos)
            if number == 1 and wire_type == LENGTH_DELIMITED:
                start, pos = length(data, pos)
                items.append(data[start:pos])
                if len(items) > limit:
                    raise QueryError("requests", f"at most {limit} questions per batch")
            else:
                pos = skip(data, pos, wire_type, number)
    except WireError as exc:
        raise QueryError("requests", f"malformed protobuf: {exc}") from None
    return items



_SMALL_LENGTHS = [bytes([_ITEM_TAG, n]) for n in range(128)]


def join_items(items: list[bytes], expected: int | None = None) -> bytes:
    """Encode items as repeated field 1 (the BatchCheckResponse wire format).

    ``expected`` is the number of questions answered: answers are matched to questions by
    position, so a count that differs is refused (the call fails) rather than sent.
    """
    if expected is not None and len(items) != expected:
        raise AssertionError(f"{len(items)} answers for {expected} questions")
    parts: list[bytes] = []
    append = parts.append
    for item in items:
        n = len(item)
        append(_SMALL_LENGTHS[n] if n < 128 else b"\x0a" + encode_varint(n))
        append(item)
    return b"".join(parts)
