"""Shared fixtures. `--update-golden` rewrites golden files instead of comparing against them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server_kit import Channels, Procs

from xtenant_pdp.engine import Engine

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_POLICY = REPO / "xtenant_pdp" / "examples" / "policy"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from current output")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def example_engine() -> Engine:
    return Engine.from_policy_dir(EXAMPLE_POLICY)


@pytest.fixture
def procs() -> Iterator[Procs]:
    """Server subprocesses, killed at the end of the test whatever happens."""
    pool = Procs()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def channels() -> Iterator[Channels]:
    """gRPC channels, closed at the end of the test."""
    pool = Channels()
    try:
        yield pool
    finally:
        pool.close()
