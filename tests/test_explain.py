"""explain narrates exactly what the evaluator decided, for every kind of question."""

from __future__ import annotations

import json

import pytest
from conftest import EXAMPLE_POLICY

from xtenant_pdp import convert
from xtenant_pdp.decision import Reason
from xtenant_pdp.engine import Engine
from xtenant_pdp.explain import REASON_TEXT, explain

LINES = (EXAMPLE_POLICY.parent / "questions.jsonl").read_text().splitlines()


@pytest.mark.parametrize("line", LINES, ids=[f"{i + 1}-{next(iter(json.loads(q)))}" for i, q in enumerate(LINES)])
def test_explanation_agrees_with_the_answer(example_engine: Engine, line: str) -> None:
    query = convert.query_from_proto(convert.request_from_json(line))
    result, lines = explain(example_engine.index, query)
    answer = example_engine.check(line)
    verdict = answer["decision"].removeprefix("DECISION_")
    assert lines[-2 if result.trust is None and result.redemption is None else -3].startswith(
        f"decision: {verdict} ({answer['reason'].removeprefix('REASON_')})"
    )
    assert len(lines) >= 3, "an explanation says more than the verdict"


def test_every_reason_has_words() -> None:
    assert set(REASON_TEXT) == set(Reason)
