"""convert.question_from_bytes, the servicer's way in: kind and question in one parse, typed errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xtenant_pdp import convert
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.decision import KIND_OF_QUERY, QuestionKind
from xtenant_pdp.errors import QueryError

QUESTIONS = Path(__file__).parent.parent / "xtenant_pdp" / "examples" / "questions.jsonl"


@pytest.mark.parametrize("line", QUESTIONS.read_text().splitlines(), ids=lambda line: next(iter(json.loads(line))))
def test_kind_and_question_match_the_message_path(line: str) -> None:
    request = convert.request_from_json(line)
    kind, query = convert.question_from_bytes(request.SerializeToString())
    assert kind.label == request.WhichOneof("question")
    assert kind is QuestionKind(request.ListFields()[0][0].number)  # numbered as the oneof field
    assert KIND_OF_QUERY[type(query)] is kind
    assert query == convert.query_from_proto(request)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xff\xff", "malformed protobuf"),
        (b"", "is required"),
        (pdp_pb2.CheckRequest(access=pdp_pb2.AccessQuestion(tenant_id="x")).SerializeToString(), "not a GUID"),
    ],
    ids=["garbage", "no-question", "bad-field"],
)
def test_bad_bytes_raise_a_query_error(raw: bytes, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        convert.question_from_bytes(raw)
