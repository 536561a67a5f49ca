"""Protobuf wire format for BatchCheck: split and join ``repeated message field 1`` as bytes.

BatchCheckRequest and BatchCheckResponse are each one repeated message field. Splitting the
request into its items' bytes lets every item be looked up in the decision cache before any
parsing, and joining cached response bytes skips building response messages altogether.
"""

from __future__ import annotations

from xtenant_pdp.errors import QueryError
from xtenant_pdp.protowire import WireError, read_field, varint

_ITEM_TAG = 0x0A  # field 1, wire type 2 (length-delimited)


def split_items(data: bytes, limit: int) -> list[bytes]:
    """The bytes of each item of repeated field 1, in order; other fields are skipped.

    Raises QueryError for malformed input or more than ``limit`` items.
    """
    items: list[bytes] = []
    pos = 0
    end = len(data)
    try:
        while pos < end:
            if data[pos] == _ITEM_TAG:  # the common case, inline
                length, start = varint(data, pos + 1)
                pos = start + length
                if pos > end:
                    raise QueryError("requests", "malformed protobuf: truncated item")
                items.append(data[start:pos])
                if len(items) > limit:
                    raise QueryError("requests", f"at most {limit} questions per batch")
                continue
            pos = read_field(data, pos).end  # any other field is skipped
    except WireError as exc:
        raise QueryError("requests", f"malformed protobuf: {exc}") from None
    return items


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL_LENGTHS = [bytes([_ITEM_TAG, n]) for n in range(128)]


def join_items(items: list[bytes]) -> bytes:
    """Encode items as repeated field 1 (the BatchCheckResponse wire format)."""
    parts: list[bytes] = []
    append = parts.append
    for item in items:
        n = len(item)
        append(_SMALL_LENGTHS[n] if n < 128 else b"\x0a" + _encode_varint(n))
        append(item)
    return b"".join(parts)
