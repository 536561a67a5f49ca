"""The in-process API: the same questions and answers as the gRPC service, for embedding.

    engine = Engine.from_policy_dir("policy/")       # or Engine.from_snapshot("policy.xtsnap")
    answer = engine.check({"access": {...}})         # dict in, dict out (the JSON mapping)
    answer = engine.check_proto(CheckRequest(...))   # protobuf in, protobuf out
    result = engine.evaluate(AccessQuery(...))       # typed, fastest

`check` and `check_proto` never raise for a bad question: they answer DENY with an INVALID_ARGUMENT
error. `evaluate` takes a valid typed question and raises QueryContradictsSnapshot (a QueryError)
when it contradicts the snapshot (D12: an externalCloud other than a known tenant's cloud).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xtenant_pdp import convert
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.compiler import DEFAULT_OPTIONS, CompileOptions
from xtenant_pdp.decision import Query, Result
from xtenant_pdp.errors import QueryError
from xtenant_pdp.evaluator import evaluate
from xtenant_pdp.index import Index
from xtenant_pdp.loader import load_policy_dir, load_snapshot_file
from xtenant_pdp.snapshot import SnapshotInfo


class Engine:
    """Answers questions from one loaded snapshot. Immutable and thread-safe."""

    __slots__ = ("index",)

    def __init__(self, index: Index) -> None:
        self.index = index

    @classmethod
    def from_snapshot(cls, path: Path | str) -> Engine:
        """Raises SnapshotLoadError."""
        return cls(load_snapshot_file(path))

    @classmethod
    def from_policy_dir(cls, path: Path | str, options: CompileOptions = DEFAULT_OPTIONS) -> Engine:
        """Raises CompileErrors."""
        return cls(load_policy_dir(path, options))

    @property
    def info(self) -> SnapshotInfo:
        return self.index.info

    @property
    def snapshot_id(self) -> str:
        return self.index.info.snapshot_id

    def evaluate(self, query: Query) -> Result:
        return evaluate(self.index, query)

    def check_proto(self, request: pdp_pb2.CheckRequest) -> pdp_pb2.CheckResponse:
        index = self.index
        try:
            result = evaluate(index, convert.query_from_proto(request))
        except QueryError as exc:  # malformed, or contradicting the snapshot (D12)
            return convert.error_response(exc, index.info.snapshot_id)
        return convert.response_from_result(result, index.info.snapshot_id)

    def check(self, request: dict[str, Any] | str) -> dict[str, Any]:
        """A CheckRequest in its JSON mapping (dict or text) -> CheckResponse as a dict."""
        try:
            message = convert.request_from_json(request)
        except QueryError as exc:
            return convert.response_to_dict(convert.error_response(exc, self.snapshot_id))
        return convert.response_to_dict(self.check_proto(message))
