"""BatchCheck's hand-written splitter (service/wire.py) against protobuf's own parser (issue 9 D8).

Answers are matched to questions by position, so the splitter must see exactly the items
protobuf sees, in order, on every valid BatchCheckRequest however it is encoded; and whatever
protobuf refuses as framing it refuses too.
"""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wire_kit import check_request_bytes, encode_varint, length_delimited, tag, unknown_field

from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.errors import QueryError
from xtenant_pdp.protowire import LENGTH_DELIMITED, MAX_DEPTH
from xtenant_pdp.service.wire import join_items, split_items

LIMIT = 10_000
CHECK = pdp_pb2.CheckRequest.DESCRIPTOR


def _parses(raw: bytes) -> bool:
    try:
        pdp_pb2.CheckRequest.FromString(raw)
    except DecodeError:
        return False
    return True


NUMBERS = st.one_of(st.just(1), st.integers(1, 2**29 - 1))


@st.composite
def batches(draw: st.DrawFn) -> bytes:
    """Items (field 1, any tag encoding) interleaved with unknown fields of every wire type,
    field 1 with other wire types among them."""
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 2)):
            item = check_request_bytes(draw, CHECK)
            parts.append(length_delimited(draw, 1, item if _parses(item) else b""))
        else:
            parts.append(unknown_field(draw, NUMBERS))
    return b"".join(parts)


def _agrees(data: bytes) -> None:
    try:
        expected = list(pdp_pb2.BatchCheckRequest.FromString(data).requests)
    except DecodeError:
        expected = None
    try:
        items = split_items(data, LIMIT)
    except QueryError:
        assert expected is None, "protobuf reads this batch; the splitter must too"
        return
    if expected is None:
        # Protobuf refused the whole batch: the splitter may answer item by item only when an
        # item is what is malformed (that item then gets its own error), never the framing.
        assert not all(_parses(i) for i in items), "the splitter accepted framing protobuf refuses"
        return
    assert [pdp_pb2.CheckRequest.FromString(i) for i in items] == expected


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(batches())
def test_issue9_D8_split_sees_the_items_protobuf_sees(data: bytes) -> None:
    _agrees(data)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(batches(), st.data())
def test_issue9_D8_split_refuses_what_protobuf_refuses(data: bytes, draw: st.DataObject) -> None:
    """Truncated, cut, flipped and spliced batches: either both read the same items, or the
    splitter refuses (or an item alone is malformed)."""
    how = draw.draw(st.sampled_from(["cut", "flip", "insert"]))
    if how == "cut" and data:
        data = data[: draw.draw(st.integers(0, len(data) - 1))]
    elif how == "flip" and data:
        i = draw.draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ draw.draw(st.integers(1, 255))]) + data[i + 1 :]
    else:
        i = draw.draw(st.integers(0, len(data)))
        data = data[:i] + draw.draw(st.binary(min_size=1, max_size=4)) + data[i:]
    _agrees(data)


@pytest.mark.parametrize(
    "data",
    [
        b"\x8a\x00\x00",  # item, two-byte tag
        b"\x8a\x80\x80\x80\x00\x00",  # item, five-byte tag: the longest protobuf reads
        b"\x8a\x80\x80\x80\x80\x00\x00",  # six-byte tag: malformed
        b"\x8a\x80\x80\x80\x10\x00",  # tag of 2**32 + 10: out of range
        b"\x0a\x80\x80\x80\x80\x00",  # five-byte length
        b"\x0a\x80\x80\x80\x80\x80\x00",  # six-byte length: malformed
        b"\x08\x01\x0d\x00\x00\x00\x00\x09" + b"\x00" * 8,  # field 1 with other wire types: unknown
        b"\x0b\x0a\x00\x0c\x0a\x00",  # an item inside a group is not an item
        b"\x13\x0c",  # a group ended by another field number
        b"\x0c",  # the end of a group never started
        b"\x13" * MAX_DEPTH + b"\x14" * MAX_DEPTH + b"\x0a\x00",
        b"\x13" * (MAX_DEPTH + 1) + b"\x14" * (MAX_DEPTH + 1),
        b"\x10" + b"\x80" * 9 + b"\x7f",  # ten-byte varint
        b"\x10" + b"\x80" * 10 + b"\x00",  # eleven bytes: malformed
        b"\x11\x00\x00",  # truncated fixed64
        b"\x0e",  # wire type 6
    ],
)
def test_issue9_D8_split_agrees_on_encodings_at_the_limits(data: bytes) -> None:
    _agrees(data)


@given(st.lists(st.binary(max_size=300), max_size=8), st.data())
def test_join_is_what_protobuf_reads_back(items: list[bytes], draw: st.DataObject) -> None:
    joined = join_items(items, expected=len(items))
    fields = [tag(draw.draw, 1, LENGTH_DELIMITED) + encode_varint(len(i)) + i for i in items]
    assert split_items(joined, LIMIT) == items == split_items(b"".join(fields), LIMIT)


def test_join_refuses_a_count_that_differs_from_the_questions() -> None:
    with pytest.raises(AssertionError, match="2 answers for 3 questions"):
        join_items([b"", b""], expected=3)
