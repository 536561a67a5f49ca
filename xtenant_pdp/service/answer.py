"""ANSWER: what deciding one question gives the servicer, typed, and the optional recorder.

``Answer`` is the one value that flows from "evaluate -> convert" to "record": the response
bytes, the question kind, the decision (None: the question was malformed) and whether the
decision cache answered. A ``Recorder`` (the decision log) receives each answered call.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from xtenant_pdp.decision import Decision, QuestionKind


class Answer(NamedTuple):
    #: The serialized CheckResponse.
    payload: bytes
    kind: QuestionKind
    #: ALLOW or DENY; None when the question could not be answered (INVALID_ARGUMENT).
    decision: Decision | None
    #: True: the decision cache answered; False: a miss; None: no cache consulted.
    cache_hit: bool | None


class Recorder(Protocol):
    """Where answered calls go besides the metrics (the decision log's bounded queue).

    It gets the request and answer bytes the call already holds, not typed values: a cache hit
    decodes no question, and decoding both messages on the writer thread keeps the hot path at
    one append. It must only enqueue (bounded), never block or raise into the call."""

    def record(self, raw: bytes, payload: bytes, latency_s: float) -> None: ...

    def record_batch(self, raw: bytes, payload: bytes, mean_latency_s: float) -> None: ...
