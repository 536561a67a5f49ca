"""The loader's memory contract: an index holds no reference cycles (so the server may freeze it
out of the collector's sight and still free it by reference counting when a reload replaces
it), and the collector pause around the build always restores the collector's state."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from xtenant_pdp.compiler import compile_policy_dir
from xtenant_pdp.index import release_in_slices
from xtenant_pdp.loader import collector_paused, load_policy_dir, load_snapshot_bytes
from xtenant_pdp.synthetic import write_policy_dir

EXAMPLE_POLICY = Path(__file__).parent.parent / "xtenant_pdp" / "examples" / "policy"


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def test_example_index_is_freed_by_reference_counting(collector_off: None) -> None:
    index = load_policy_dir(EXAMPLE_POLICY)
    assert index.partner_count > 0
    del index
    # Anything in a cycle would be left for the collector; it finds nothing.
    assert gc.collect() == 0


def test_synthetic_index_is_freed_by_reference_counting(tmp_path: Path, collector_off: None) -> None:
    policy = write_policy_dir(tmp_path / "policy", partners=300, tenants=2)
    data = compile_policy_dir(policy.root).data
    gc.collect()
    index = load_snapshot_bytes(data)
    assert index.partner_count >= 300
    del index
    assert gc.collect() == 0


def test_a_frozen_index_is_still_freed(tmp_path: Path) -> None:
    """What the server relies on when a reload replaces a frozen index."""
    policy = write_policy_dir(tmp_path / "policy", partners=300, tenants=2)
    data = compile_policy_dir(policy.root).data
    try:
        index = load_snapshot_bytes(data, freeze=True)
        frozen = gc.get_freeze_count()
        assert index.partner_count >= 300
        del index
        # Thousands of index objects left the permanent generation by reference counting alone.
        assert frozen - gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()


def test_a_retired_index_is_emptied_slice_by_slice(tmp_path: Path) -> None:
    policy = write_policy_dir(tmp_path / "policy", partners=300, tenants=2)
    index = load_snapshot_bytes(compile_policy_dir(policy.root).data)
    entries = sum(
        len(t.partners) + sum(len(table) for channel in t.by_channel for table in channel)
        for t in index.tenants.values()
    )
    steps = sum(1 for _ in release_in_slices(index, size=50))
    assert steps >= entries // 50  # never more than one slice between two yields
    for tenant in index.tenants.values():
        assert not tenant.partners
        assert not any(table for channel in tenant.by_channel for table in channel)


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_paused_restores_the_collector_state(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(RuntimeError), collector_paused():
            raise RuntimeError("a failed build")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_build_switch_interval_is_restored_by_the_last_build_out() -> None:
    """Two reloads in one process (two servers in a test) overlap: the first in lowers the GIL
    switch interval, only the last out restores it."""
    from xtenant_pdp.service.reloader import BUILD_SWITCH_INTERVAL_S, _serving_thread_favoured

    before = sys.getswitchinterval()
    first, second = _serving_thread_favoured(), _serving_thread_favoured()
    first.__enter__()
    second.__enter__()
    assert sys.getswitchinterval() == min(before, BUILD_SWITCH_INTERVAL_S)
    first.__exit__(None, None, None)
    assert sys.getswitchinterval() == min(before, BUILD_SWITCH_INTERVAL_S)  # one build still running
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == before


def test_admin_roles_and_assignments_keep_no_part_of_the_parsed_snapshot() -> None:
    """Any sub-message of the parsed snapshot keeps the whole parsed snapshot alive (tens of MB
    for a large one): the admin index (D13, section 5) keeps plain values for explain instead."""
    from google.protobuf.message import Message

    index = load_policy_dir(EXAMPLE_POLICY)
    admins = [t.admin for t in index.tenants.values() if t.admin is not None]
    records = [r for a in admins for r in (*a.roles, *a.assignments)]
    assert records, "the example policy exports roles and assignments"
    for record in records:
        assert not isinstance(record, Message)
        assert all(isinstance(v, (str, bool, int, tuple)) for v in record), record
