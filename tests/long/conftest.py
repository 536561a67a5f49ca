"""tests/long: opt-in runs (XTENANT_PDP_LONG=1) that take minutes; they reuse the kits in tests/."""

from __future__ import annotations

import os

import pytest

LONG = os.environ.get("XTENANT_PDP_LONG") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if LONG:
        return
    skip = pytest.mark.skip(reason="long run: set XTENANT_PDP_LONG=1")
    for item in items:
        if item.path.is_relative_to(os.path.dirname(__file__)):
            item.add_marker(skip)
