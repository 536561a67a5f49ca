"""ANSWER: what deciding one question gives the servicer, typed, and the optional recorder.

``Answer`` is the one value that flows from "evaluate -> convert" to "record": the response
bytes, the question kind, the decision (None: the question was malformed) and whether the
decision cache answered. A ``Recorder`` (the decision log) receives each answer with its
typed question; it must only enqueue (bounded), never block or raise into the call.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from xtenant_pdp.decision import Decision, Query, QuestionKind


class Answer(NamedTuple):
    #: The serialized CheckResponse.
    payload: bytes
    kind: QuestionKind
    #: ALLOW or DENY; None when the question could not be answered (INVALID_ARGUMENT).
    decision: Decision | None
    #: True: the decision cache answered; False: a miss; None: no cache consulted.
    cache_hit: bool | None


class Recorder(Protocol):
    """Where answered questions go besides the metrics (the decision log's bounded queue).

    ``query`` is None on a cache hit (the question was not decoded) and for a malformed one."""

    def record(self, answer: Answer, query: Query | None) -> None: ...
