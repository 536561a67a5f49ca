"""The hand-read protobuf wire format (protowire.py) against messages protobuf itself encoded."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from xtenant_pdp.api import snapshot_pb2
from xtenant_pdp.protowire import LENGTH_DELIMITED, Field, WireError, read_field, varint


@pytest.mark.parametrize("value", [1, 127, 128, 300, 2**32, 2**63 - 1])
def test_varint_reads_what_protobuf_writes(value: int) -> None:
    encoded = Timestamp(seconds=value).SerializeToString()[1:]  # field 1, int64 varint; the tag is 1 byte
    assert varint(encoded, 0) == (value, len(encoded))


def fields(data: bytes) -> list[Field]:
    """Every top-level field, read one after another."""
    found = []
    pos = 0
    while pos < len(data):
        found.append(read_field(data, pos))
        pos = found[-1].end
    return found


def test_fields_walks_every_top_level_field_in_order() -> None:
    tenant = snapshot_pb2.Tenant(tenant_id="t", cloud=2, partners=[snapshot_pb2.Partner(tenant_id="p" * 200)])
    data = tenant.SerializeToString()
    found = list(fields(data))
    assert [(f.number, f.wire_type) for f in found] == [(1, LENGTH_DELIMITED), (2, 0), (9, LENGTH_DELIMITED)]
    assert data[found[0].value : found[0].end] == b"t"
    assert snapshot_pb2.Partner.FromString(data[found[2].value : found[2].end]) == tenant.partners[0]
    assert found[-1].end == len(data)
    # Fields cover the message without gaps: each starts where the one before ends.
    assert [f.start for f in found] == [0, found[0].end, found[1].end]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x08\xff", "truncated varint"),  # field 1, varint, continuation bit with nothing after
        (b"\x00\x01", "field number 0"),
        (b"\x0f", "unsupported wire type 7"),
        (b"\x0a\x05abc", "truncated field"),  # length 5, 3 bytes
    ],
)
def test_malformed_encodings_say_what_is_wrong(data: bytes, why: str) -> None:
    with pytest.raises(WireError, match=why):
        list(fields(data))
