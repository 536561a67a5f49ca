"""The loader's memory contract: an index holds no reference cycles (so the server may freeze it
out of the collector's sight and still free it by reference counting when a reload replaces
it), and the collector pause around the build always restores the collector's state."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from xtenant_pdp.compiler import compile_policy_dir
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
