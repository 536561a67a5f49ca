"""serve limits glibc's malloc arenas before its call pool starts (service/malloc.py)."""

from __future__ import annotations

import ctypes.util
import platform

import pytest

from xtenant_pdp.service import malloc


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or ctypes.util.find_library("c") is None,
    reason="mallopt(M_ARENA_MAX) is glibc's",
)
def test_glibc_takes_the_arena_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert malloc.limit_arenas() is True


def test_an_explicit_environment_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert malloc.limit_arenas() is False
