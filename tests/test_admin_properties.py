"""Property tests for the adminAction question (D13): never crashes, never ALLOW with an error,
deterministic, case-insensitive, and group order does not matter."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_kit import CONTOSO

from xtenant_pdp.admin.actions import KNOWN_ACTIONS
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.engine import Engine

PROPS = settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

PRINCIPALS = [f"e1a1c0de-000{n}-4a00-8a00-00000000000{n}" for n in range(1, 10)]
GROUPS = ["e1a1c0de-0100-4a00-8a00-000000000100", "e1a1c0de-0200-4a00-8a00-000000000200", *PRINCIPALS[:3]]
guids = st.sampled_from([*PRINCIPALS, *GROUPS, CONTOSO])
actions = st.sampled_from(KNOWN_ACTIONS) | st.text(max_size=60)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def admin_questions(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenantId": draw(
            st.sampled_from([CONTOSO, CONTOSO.upper(), "6f086a4d-9c20-4b2e-a39f-5dcccb0b955a"]) | st.text(max_size=8)
        ),
        "principalId": draw(guids | st.text(max_size=8)),
        "groupIds": draw(st.lists(guids, max_size=5) | st.lists(st.text(max_size=4), max_size=2)),
        "action": draw(actions),
        "authenticationContexts": draw(st.lists(st.sampled_from(["c1", "C2", "c3", ""]), max_size=3)),
    }
    for key in draw(st.lists(st.sampled_from(list(body)), max_size=2)):
        body[key] = draw(json_value)
    return {"adminAction": body}


@PROPS
@given(question=admin_questions())
def test_D13_random_admin_questions_never_raise_nor_allow_with_an_error(
    example_engine: Engine, question: dict[str, Any]
) -> None:
    answer = example_engine.check(question)
    assert answer["decision"] in ("DECISION_ALLOW", "DECISION_DENY")
    if "error" in answer:
        assert answer["decision"] == "DECISION_DENY"
        assert answer["error"]["field"].startswith(("adminAction", "$"))
    assert example_engine.check(json.dumps(question)) == answer


@PROPS
@given(
    principal=st.sampled_from(PRINCIPALS),
    groups=st.lists(st.sampled_from(GROUPS), max_size=4, unique=True),
    action=st.sampled_from(KNOWN_ACTIONS),
    contexts=st.lists(st.sampled_from(["c1", "c2", "c3"]), max_size=3),
    data=st.data(),
)
def test_D13_answer_ignores_case_and_group_order(
    example_engine: Engine, principal: str, groups: list[str], action: str, contexts: list[str], data: st.DataObject
) -> None:
    def ask(p: str, g: list[str], a: str, c: list[str]) -> dict[str, Any]:
        return example_engine.check(
            {
                "adminAction": {
                    "tenantId": CONTOSO,
                    "principalId": p,
                    "groupIds": g,
                    "action": a,
                    "authenticationContexts": c,
                }
            }
        )

    answer = ask(principal, groups, action, contexts)
    assert "error" not in answer
    shuffled = data.draw(st.permutations(groups))
    assert (
        ask(principal.upper(), [g.upper() for g in shuffled], action.upper(), [c.upper() for c in contexts]) == answer
    )
    if answer["decision"] == "DECISION_ALLOW":
        assert answer["adminAction"]["roles"]
        required = answer["adminAction"].get("requiredAuthenticationContextId")
        assert required is None or required in contexts


@PROPS
@given(raw=st.binary(max_size=64))
def test_D13_random_admin_action_bytes_never_raise(example_engine: Engine, raw: bytes) -> None:
    request = pdp_pb2.CheckRequest()
    try:
        request.admin_action.ParseFromString(raw)
    except DecodeError:  # not a message: nothing to ask
        return
    response = example_engine.check_proto(request)
    assert not (response.decision == pdp_pb2.DECISION_ALLOW and response.HasField("error"))
