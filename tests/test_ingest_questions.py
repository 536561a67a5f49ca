"""Issue 10 item 4: JSON questions that say what is wrong, and check answers that pair with lines."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from xtenant_pdp import cli
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.engine import Engine

QUESTIONS = (REPO / "xtenant_pdp" / "examples" / "questions.jsonl").read_text("utf-8").splitlines()
ACCESS = json.loads(next(line for line in QUESTIONS if line.startswith('{"access"')))


def _error(engine: Engine, question: dict[str, Any]) -> tuple[str, str]:
    answer = engine.check(question)
    assert answer["decision"] == "DECISION_DENY"
    assert answer["reason"] == "REASON_INVALID_REQUEST"
    return answer["error"]["field"], answer["error"]["message"]


@pytest.mark.parametrize(
    ("wrong", "right"),
    [("externalTenantID", "externalTenantId"), ("external_tenant_id", None), ("applicationID", "applicationId")],
)
def test_unknown_question_field_gets_did_you_mean(example_engine: Engine, wrong: str, right: str | None) -> None:
    body = dict(ACCESS["access"])
    value = body.pop("externalTenantId" if "enant" in wrong else "applicationId")
    body[wrong] = value
    if right is None:  # the proto field name itself is accepted by the JSON mapping
        assert "error" not in example_engine.check({"access": body})
        return
    field, message = _error(example_engine, {"access": body})
    assert field == f"access.{wrong}"
    assert message == f'has no field named "{wrong}" (did you mean "{right}"?)'


def test_unknown_question_kind_gets_did_you_mean(example_engine: Engine) -> None:
    field, message = _error(example_engine, {"Access": ACCESS["access"]})
    assert (field, message) == ("Access", 'has no field named "Access" (did you mean "access"?)')
    field, message = _error(example_engine, {"zzz": {}})
    assert field == "zzz" and "fields: access, collaboration" in message


@pytest.mark.parametrize(
    ("key", "value", "path", "expected"),
    [
        ("direction", "DIRECTION_INBOUN", "access.direction", 'did you mean "DIRECTION_INBOUND"?'),
        ("direction", "INBOUND", "access.direction", 'did you mean "DIRECTION_INBOUND"?'),
        ("direction", "sideways", "access.direction", ""),
        ("feature", "b2b", "access.feature", ""),
    ],
)
def test_bad_enum_value_lists_the_valid_ones(
    example_engine: Engine, key: str, value: str, path: str, expected: str
) -> None:
    body = dict(ACCESS["access"], **{key: value})
    field, message = _error(example_engine, {"access": body})
    assert field == path
    enum = pdp_pb2.DESCRIPTOR.message_types_by_name["AccessQuestion"].fields_by_name[key].enum_type
    valid = ", ".join(v.name for v in enum.values if v.number)
    assert message.startswith(f'unknown value "{value}" ({expected}')
    assert message.endswith(f"expected one of {valid})")


def test_bad_enum_in_a_list_names_its_position(example_engine: Engine) -> None:
    trust = json.loads(next(line for line in QUESTIONS if line.startswith('{"trust"')))
    trust["trust"]["required"] = ["CLAIM_MFA", "mfa"]
    field, message = _error(example_engine, trust)
    assert field == "trust.required[1]"
    assert 'did you mean "CLAIM_MFA"?' in message
    assert "CLAIM_COMPLIANT_DEVICE, CLAIM_HYBRID_JOINED_DEVICE" in message


def test_readme_lists_every_enum_value_of_every_question_field() -> None:
    readme = (REPO / "README.md").read_text("utf-8")
    request = pdp_pb2.CheckRequest.DESCRIPTOR
    for question in request.fields:
        for field in question.message_type.fields:
            if field.enum_type is not None:
                for value in field.enum_type.values:
                    if value.number:
                        assert f"`{value.name}`" in readme, (question.name, field.name, value.name)


def test_check_echo_pairs_each_answer_with_its_line(
    example_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [QUESTIONS[0], "", "not json", QUESTIONS[1]]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(("\n".join(lines) + "\n").encode())))
    policy = REPO / "xtenant_pdp" / "examples" / "policy"
    assert cli.main(["check", "--policy", str(policy), "--echo"]) == cli.ExitCode.FAILURE
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [a["question"] for a in answers] == [json.loads(QUESTIONS[0]), None, "not json", json.loads(QUESTIONS[1])]
    assert {k: v for k, v in answers[0].items() if k != "question"} == example_engine.check(QUESTIONS[0])
    assert "error" in answers[1] and "error" in answers[2] and "error" not in answers[3]
