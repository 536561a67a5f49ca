"""Issue 13: gRPC Check and BatchCheck answer adminAction exactly as the CLI does (D13).

A real server on the example snapshot (contoso's role exports); the CLI answers the same lines
from the snapshot file, and `check --server` asks the same server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from server_kit import (
    CONTOSO,
    SERVING,
    Channels,
    InProcessServer,
    check,
    compile_example,
    decision_stub,
    health_status,
    question_lines,
    rpc_error,
    settings_from_flags,
    wait_until,
)

from xtenant_pdp import cli
from xtenant_pdp.api import pdp_pb2

RPC_TIMEOUT = 5.0
ADMIN_LINES = [line for line in question_lines() if line.startswith('{"adminAction"')]
BAD_LINE = json.dumps(
    {
        "adminAction": {
            "tenantId": CONTOSO,
            "principalId": "e1a1c0de-0001-4a00-8a00-000000000001",
            "action": "microsoft.directory/crossTenantAccessPolicy/partner/create",
        }
    }
)


@pytest.fixture(scope="module")
def snapshot_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("snap") / "example.xtsnap"
    path.write_bytes(compile_example().data)
    return path


@pytest.fixture(scope="module")
def server(snapshot_file: Path) -> Iterator[InProcessServer]:
    srv = InProcessServer(
        settings_from_flags("--snapshot", str(snapshot_file), "--listen", "127.0.0.1:0", "--metrics-listen", "off")
    )
    try:
        srv.start()
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def channel(server: InProcessServer) -> Iterator[grpc.Channel]:
    pool = Channels()
    try:
        opened = pool.open(server.tcp_target)
        wait_until(lambda: health_status(opened) == SERVING, what="SERVING")
        yield opened
    finally:
        pool.close()


def _cli_answers(
    args: list[str], lines: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> list[dict[str, object]]:
    questions = tmp_path / "admin.jsonl"
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cli.main(["check", *args, "--input", str(questions)])
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_example_holds_admin_questions_of_every_outcome() -> None:
    verbs = {json.loads(line)["adminAction"]["action"].rsplit("/", 1)[-1] for line in ADMIN_LINES}
    assert len(ADMIN_LINES) >= 10
    assert {"create", "update", "read"} <= verbs


def test_issue13_grpc_check_answers_admin_action_like_the_cli(
    snapshot_file: Path, channel: grpc.Channel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = _cli_answers(["--snapshot", str(snapshot_file)], ADMIN_LINES, tmp_path, capsys)
    assert len(local) == len(ADMIN_LINES)
    assert {a["reason"] for a in local} >= {
        "REASON_ADMIN_ACTION_ALLOWED",
        "REASON_ADMIN_AUTHENTICATION_CONTEXT_REQUIRED",
        "REASON_ADMIN_NO_ROLE_GRANTS",
        "REASON_ADMIN_ASSIGNMENT_SCOPED_BELOW_TENANT",
        "REASON_ADMIN_ACTION_EXCLUDED",
        "REASON_ADMIN_ROLE_DISABLED",
        "REASON_ADMIN_ROLES_NOT_IN_SNAPSHOT",
    }
    for line, want in zip(ADMIN_LINES, local, strict=True):
        answer = check(channel, json_format.Parse(line, pdp_pb2.CheckRequest()))
        assert json_format.MessageToDict(answer) == want, line


def test_issue13_grpc_batch_check_answers_admin_action_like_the_cli(
    snapshot_file: Path,
    server: InProcessServer,
    channel: grpc.Channel,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = [*ADMIN_LINES, BAD_LINE]
    local = _cli_answers(["--snapshot", str(snapshot_file)], lines, tmp_path, capsys)
    requests = [json_format.Parse(line, pdp_pb2.CheckRequest()) for line in lines]
    response = decision_stub(channel).BatchCheck(pdp_pb2.BatchCheckRequest(requests=requests), timeout=RPC_TIMEOUT)
    answers = [json_format.MessageToDict(r) for r in response.responses]
    assert answers[:-1] == local[:-1]
    # A bad item gets its own error; the batch names it by position, the CLI by the line's field.
    assert answers[-1]["error"]["field"] == f"requests[{len(lines) - 1}].adminAction.action"
    assert local[-1]["error"]["field"] == "adminAction.action"
    assert answers[-1]["error"]["message"] == local[-1]["error"]["message"]
    assert "did you mean" in local[-1]["error"]["message"]
    # `check --server` goes through BatchCheck and prints what the local CLI prints.
    remote = _cli_answers(["--server", server.tcp_target], lines, tmp_path, capsys)
    assert [{k: v for k, v in a.items() if k != "snapshotId"} for a in remote] == [
        {k: v for k, v in a.items() if k != "snapshotId"} for a in local
    ]


def test_issue13_grpc_check_rejects_a_wildcard_question(channel: grpc.Channel) -> None:
    question = json.loads(ADMIN_LINES[0])
    question["adminAction"]["action"] = "microsoft.directory/crossTenantAccessPolicy/allProperties/allTasks"
    request = json_format.ParseDict(question, pdp_pb2.CheckRequest())
    error = rpc_error(lambda: check(channel, request))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "wildcard" in (error.details() or "")
