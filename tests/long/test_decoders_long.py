"""The decoders' properties of tests/test_decode_props.py and tests/test_wire_split_props.py at
length (opt in with XTENANT_PDP_LONG=1; a few minutes): many thousand hypothesis-built messages.

    XTENANT_PDP_LONG=1 .venv/bin/python -m pytest -q tests/long/test_decoders_long.py
"""

from __future__ import annotations

import os

import pytest
import test_decode_props as decode_props
import test_wire_split_props as split_props
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.skipif(os.environ.get("XTENANT_PDP_LONG") != "1", reason="long run: set XTENANT_PDP_LONG=1")
EXAMPLES = int(os.environ.get("XTENANT_PDP_LONG_EXAMPLES", "5000"))
LONG = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@LONG
@given(st.one_of(decode_props.canonical_requests(), decode_props.any_requests()))
def test_decode_fast_path_is_the_protobuf_path_long(raw: bytes) -> None:
    decode_props._agrees(raw)


@LONG
@given(split_props.batches())
def test_issue9_D8_split_is_protobufs_long(data: bytes) -> None:
    split_props._agrees(data)
