"""Issue 9, the server's edge: regression tests named after the defects they keep fixed.

D12/D10 (the caller's cloud never overrides the snapshot's), D3 (socket directory), D6 (limits on
connections, streams and message sizes) and the lower-severity findings. Real servers (in-process
on their own loop thread, or `python -m xtenant_pdp serve`) and real generated clients.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from server_kit import (
    FABRIKAM,
    SERVING,
    Channels,
    InProcessServer,
    check,
    compile_example,
    decision_stub,
    field_violations,
    health_status,
    rpc_error,
    settings_from_flags,
    wait_until,
)

from xtenant_pdp import cli
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.engine import Engine

WOODGROVE = "b9ecdb8d-362d-4399-8f18-27c5620f7443"
MEGAN = "c8c8ec6f-76e1-4b56-85e4-d1b149451ce3"
SHAREPOINT = "00000003-0000-0ff1-ce00-000000000000"
TIMEOUT_S = 5.0


@pytest.fixture(scope="module")
def snapshot_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("snap") / "example.xtsnap"
    path.write_bytes(compile_example().data)
    return path


@pytest.fixture(scope="module")
def server(snapshot_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    sock = tmp_path_factory.mktemp("sock") / "pdp.sock"
    srv = InProcessServer(
        settings_from_flags(
            "--snapshot",
            str(snapshot_file),
            "--listen",
            "127.0.0.1:0",
            "--listen",
            f"unix:{sock}",
            "--metrics-listen",
            "off",
        )
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
        ch = pool.open(server.tcp_target)
        wait_until(lambda: health_status(ch) == SERVING, what="SERVING")
        yield ch
    finally:
        pool.close()


# --------------------------------------------------------------------------- D10 / D12


def _woodgrove_into_fabrikam(cloud: str = "") -> pdp_pb2.CheckRequest:
    """The issue's reproduction: fabrikam (commercial, no other cloud enabled) inbound from
    woodgrove (US Government in the snapshot)."""
    return pdp_pb2.CheckRequest(
        access=pdp_pb2.AccessQuestion(
            tenant_id=FABRIKAM,
            external_tenant_id=WOODGROVE,
            external_cloud=cloud,
            direction=pdp_pb2.DIRECTION_INBOUND,
            feature=pdp_pb2.FEATURE_B2B_COLLABORATION,
            user_id=MEGAN,
            application_id=SHAREPOINT,
        )
    )


def test_issue9_D10_D12_caller_cloud_never_overrides_snapshot_over_grpc(
    channel: grpc.Channel, snapshot_file: Path
) -> None:
    engine = Engine.from_snapshot(snapshot_file)
    honest = check(channel, _woodgrove_into_fabrikam())
    assert (honest.decision, honest.reason) == (pdp_pb2.DECISION_DENY, pdp_pb2.REASON_CLOUD_NOT_ENABLED)
    agreeing = check(channel, _woodgrove_into_fabrikam("microsoftonline.us"))
    assert agreeing == honest
    # Before the fix: ALLOW. Now INVALID_ARGUMENT naming the field, from Check, BatchCheck and the Engine.
    lying = _woodgrove_into_fabrikam("microsoftonline.com")
    error = rpc_error(lambda: check(channel, lying))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations(error)] == ["access.externalCloud"]
    assert "microsoftonline.us" in error.details()
    batch = decision_stub(channel).BatchCheck(
        pdp_pb2.BatchCheckRequest(requests=[_woodgrove_into_fabrikam(), lying]), timeout=TIMEOUT_S
    )
    first, second = batch.responses
    assert first == honest
    assert second.decision == pdp_pb2.DECISION_DENY
    assert (second.error.code, second.error.field) == (
        pdp_pb2.ERROR_CODE_INVALID_ARGUMENT,
        "requests[1].access.externalCloud",
    )
    local = engine.check_proto(lying)
    assert (local.decision, local.error.field) == (pdp_pb2.DECISION_DENY, "access.externalCloud")
    assert local.error.message == second.error.message
    # Still serving the honest question after the refusals (nothing cached from the lie).
    assert check(channel, _woodgrove_into_fabrikam()) == honest


def test_issue9_D10_D12_cli_local_and_remote_agree(
    server: InProcessServer, snapshot_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        json_format.MessageToJson(q, indent=None)
        for q in (_woodgrove_into_fabrikam(), _woodgrove_into_fabrikam("microsoftonline.com"))
    ]
    answers = {}
    for where in (["--snapshot", str(snapshot_file)], ["--server", server.tcp_target]):
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO("\n".join(lines).encode()), encoding="utf-8"))
        assert cli.main(["check", *where]) == cli.ExitCode.FAILURE  # one line is an error
        out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        answers[where[0]] = out
        assert out[0]["reason"] == "REASON_CLOUD_NOT_ENABLED"
        assert out[1]["decision"] == "DECISION_DENY"
        assert out[1]["error"]["field"] == "access.externalCloud"
    assert answers["--snapshot"][1]["error"] == answers["--server"][1]["error"]
    assert cli.main(["explain", "--snapshot", str(snapshot_file), lines[1]]) == cli.ExitCode.FAILURE
    assert "access.externalCloud" in capsys.readouterr().err


def test_issue9_D10_D12_ext_authz_takes_the_cloud_from_the_snapshot(
    server: InProcessServer, channel: grpc.Channel
) -> None:
    from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc

    from xtenant_pdp.service import ext_authz

    request = external_auth_pb2.CheckRequest()
    request.attributes.context_extensions.update(
        {ext_authz.CTX_TENANT_ID: FABRIKAM, ext_authz.CTX_APPLICATION_ID: SHAREPOINT}
    )
    metadata = struct_pb2.Struct()
    metadata.update({ext_authz.JWT_PAYLOAD_KEY: {"tid": WOODGROVE, "oid": MEGAN, "groups": []}})
    request.attributes.metadata_context.filter_metadata[ext_authz.JWT_METADATA_NAMESPACE].CopyFrom(metadata)
    response = external_auth_pb2_grpc.AuthorizationStub(channel).Check(request, timeout=TIMEOUT_S)
    assert response.WhichOneof("http_response") == "denied_response"
    assert json.loads(response.denied_response.body)["reason"] == "REASON_CLOUD_NOT_ENABLED"
