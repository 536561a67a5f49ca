"""The public surface is exactly __all__, and every name in it resolves."""

from __future__ import annotations

import xtenant_pdp
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.decision import Decision, Reason, Source


def test_all_names_resolve_and_are_sorted() -> None:
    for name in xtenant_pdp.__all__:
        assert getattr(xtenant_pdp, name) is not None, name
    assert xtenant_pdp.__all__ == sorted(xtenant_pdp.__all__)


def test_public_names_are_in_all() -> None:
    public = {n for n in vars(xtenant_pdp) if not n.startswith("_")}
    # Submodules become attributes on import; they are not part of the curated surface.
    modules = {n for n in public if type(getattr(xtenant_pdp, n)).__name__ == "module"}
    assert public - modules <= set(xtenant_pdp.__all__)


def test_python_enums_match_proto_numbers() -> None:
    """Conversion is a cast, so the numbers must agree (stable codes)."""
    for enum_type, proto_enum, prefix in (
        (Decision, pdp_pb2.Decision, "DECISION_"),
        (Reason, pdp_pb2.Reason, "REASON_"),
        (Source, pdp_pb2.Source, "SOURCE_"),
    ):
        proto = {name.removeprefix(prefix): number for name, number in proto_enum.items() if number}
        assert {m.name: m.value for m in enum_type} == proto
