"""Issue 9, the server's edge: regression tests named after the defects they keep fixed.

D12/D10 (the caller's cloud never overrides the snapshot's), D3 (socket directory), D6 (limits on
connections, streams and message sizes) and the lower-severity findings. Real servers (in-process
on their own loop thread, or `python -m xtenant_pdp serve`) and real generated clients.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from policy_kit import APP, GROUP, HOME, RESOURCE, USER, partner, setting, tenant, write_policy
from server_kit import (
    FABRIKAM,
    SERVING,
    WAIT,
    Channels,
    InProcessServer,
    Procs,
    check,
    compile_example,
    decision_stub,
    field_violations,
    health_status,
    rpc_error,
    settings_from_flags,
    wait_health,
    wait_until,
)

from xtenant_pdp import app, cli
from xtenant_pdp import config as cli_config
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.config import default_listen
from xtenant_pdp.engine import Engine
from xtenant_pdp.service import sockets

WOODGROVE = "b9ecdb8d-362d-4399-8f18-27c5620f7443"
MEGAN = "c8c8ec6f-76e1-4b56-85e4-d1b149451ce3"
SHAREPOINT = "00000003-0000-0ff1-ce00-000000000000"
TIMEOUT_S = 5.0


@pytest.fixture(scope="module")
def snapshot_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("snap") / "example.xtsnap"
    path.write_bytes(compile_example().data)
    return path


@contextlib.contextmanager
def _server(*flags: str) -> Iterator[InProcessServer]:
    """An in-process server on a TCP port, no metrics, plus ``flags``."""
    srv = InProcessServer(settings_from_flags("--listen", "127.0.0.1:0", "--metrics-listen", "off", *flags))
    try:
        yield srv.start()
    finally:
        srv.close()


@pytest.fixture(scope="module")
def server(snapshot_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    sock = tmp_path_factory.mktemp("sock") / "pdp.sock"
    with _server("--snapshot", str(snapshot_file), "--listen", f"unix:{sock}") as srv:
        yield srv


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


# --------------------------------------------------------------------------- D3 socket directory


@pytest.fixture
def short_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private, short directory (a socket path has at most 107 bytes)."""
    return tmp_path_factory.mktemp("d3")


def _serve(snapshot_file: Path, sock: Path, *flags: str) -> int:
    """`serve` in-process up to the first failure: its exit code (1: refused to start)."""
    settings = settings_from_flags(
        "--snapshot", str(snapshot_file), "--listen", f"unix:{sock}", "--metrics-listen", "off", *flags
    )

    async def run() -> int:
        server = await app.start(settings, serve_metrics=False)
        await server.stop(0)
        return 0

    try:
        return asyncio.run(run())
    except app.StartupError as exc:
        assert str(exc).startswith("--listen: "), exc
        raise


def test_issue9_D3_socket_directory_writable_by_others_is_refused(
    short_dir: Path, snapshot_file: Path, procs: Procs
) -> None:
    shared = short_dir / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: anyone may create the socket's name first
    sock = shared / "pdp.sock"
    proc = procs.new("--snapshot", str(snapshot_file), "--listen", f"unix:{sock}", "--metrics-listen", "off")
    assert proc.run_to_exit() == 1
    errors = [r for r in proc.records() if r["level"] == "error"]
    assert len(errors) == 1, proc.stderr
    assert "writable by group or others" in errors[0]["error"] and str(shared) in errors[0]["error"]
    assert "Traceback" not in proc.stderr
    assert not os.path.lexists(sock)
    shared.chmod(0o770)
    with pytest.raises(app.StartupError, match="writable by group or others"):
        _serve(snapshot_file, sock)


def test_issue9_D3_socket_directory_of_another_user_is_refused(short_dir: Path, snapshot_file: Path) -> None:
    theirs = short_dir / "theirs"
    theirs.mkdir(mode=0o755)
    if os.geteuid() != 0:
        pytest.skip("needs root to give the directory to another uid")
    os.chown(theirs, 4242, 4242)  # pre-created by another user, mode 755: they own what is in it
    with pytest.raises(app.StartupError, match="owned by uid 4242"):
        _serve(snapshot_file, theirs / "pdp.sock")
    # The operator may vouch for it (a pod's emptyDir): then it is used.
    assert _serve(snapshot_file, theirs / "pdp.sock", "--trust-socket-dir") == 0


def test_issue9_D3_socket_directory_symlink_is_refused(short_dir: Path, snapshot_file: Path) -> None:
    real = short_dir / "real"
    real.mkdir(mode=0o700)
    link = short_dir / "link"
    link.symlink_to(real)
    with pytest.raises(app.StartupError, match="symlink"):
        _serve(snapshot_file, link / "pdp.sock")
    assert list(real.iterdir()) == []


@pytest.mark.parametrize(("socket_mode", "dir_mode"), [("600", 0o700), ("660", 0o750)])
def test_issue9_D3_absent_socket_directory_is_created_private(
    short_dir: Path, snapshot_file: Path, procs: Procs, channels: Channels, socket_mode: str, dir_mode: int
) -> None:
    sock = short_dir / "new" / "deeper" / "pdp.sock"
    env = dict(os.environ)
    proc = procs.spawn(
        "--snapshot",
        str(snapshot_file),
        "--listen",
        f"unix:{sock}",
        "--socket-mode",
        socket_mode,
        "--metrics-listen",
        "off",
        env=env,
    )
    wait_health(channels.open(f"unix:{sock}"), SERVING)
    assert stat.S_IMODE(sock.parent.stat().st_mode) == dir_mode
    assert sock.parent.stat().st_uid == os.geteuid()
    st = sock.lstat()
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == int(socket_mode, 8)
    proc.send(__import__("signal").SIGTERM)
    assert proc.wait_exit(30) == 0


def test_issue9_D3_socket_mode_is_set_at_bind_not_by_a_chmod_that_follows_links(
    short_dir: Path,
) -> None:
    # The mode comes from the umask while binding, whatever the process umask is...
    sock = short_dir / "umask.sock"
    previous = os.umask(0o077)
    try:
        with sockets.created_with_mode(0o660):
            import socket as socket_module

            listener = socket_module.socket(socket_module.AF_UNIX)
            listener.bind(str(sock))
        assert os.umask(0o077) == 0o077, "the umask is restored"
    finally:
        os.umask(previous)
        listener.close()
    assert stat.S_IMODE(sock.lstat().st_mode) == 0o660
    sockets.verify(sock, 0o660)
    # ... and the check afterwards never follows a symlink swapped in for the socket.
    victim = short_dir / "victim"
    victim.write_text("x")
    victim.chmod(0o600)
    sock.unlink()
    sock.symlink_to(victim)
    with pytest.raises(sockets.SocketDirError, match="not the server's socket"):
        sockets.verify(sock, 0o660)
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600


def test_issue9_D3_default_socket_is_in_a_private_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert default_listen({"XDG_RUNTIME_DIR": "/run/user/1000"}) == "unix:/run/user/1000/xtenant-pdp/pdp.sock"
    monkeypatch.chdir(tmp_path)
    assert default_listen({}) == f"unix:{tmp_path / '.xtenant-pdp' / 'pdp.sock'}"
    assert default_listen({"XDG_RUNTIME_DIR": "relative"}) == default_listen({})
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    (listen,) = settings_from_flags("--snapshot", "s.xtsnap").listen
    assert not str(listen.path).startswith("/tmp/xtenant-pdp")
    assert listen.path == tmp_path / ".xtenant-pdp" / "pdp.sock"


# --------------------------------------------------------------------------- D6 limits


@pytest.fixture
def limited(snapshot_file: Path) -> Iterator[InProcessServer]:
    """A server held to 2 streams per connection, 3 calls at once and 2 KiB requests."""
    with _server(
        *("--snapshot", str(snapshot_file), "--max-concurrent-streams", "2", "--max-concurrent-rpcs", "3"),
        *("--max-receive-bytes", "2KiB", "--max-connection-age", "0"),
    ) as srv:
        yield srv


def _watch(channel: grpc.Channel) -> Any:
    """A Health/Watch stream: held open by the server until cancelled, one stream and one call."""
    return health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=WAIT)


def test_issue9_D6_one_connection_is_held_to_its_stream_limit(limited: InProcessServer) -> None:
    pool = Channels()
    try:
        channel = pool.open(limited.tcp_target)
        wait_until(lambda: health_status(channel) == SERVING, what="SERVING")
        first, second = _watch(channel), _watch(channel)
        assert next(first).status == SERVING and next(second).status == SERVING
        # A third stream on the same connection waits for the server's SETTINGS_MAX_CONCURRENT_STREAMS
        # (2): its first answer only comes once another stream ends.
        third = _watch(channel)
        done = threading.Event()
        answers: list[int] = []

        def read() -> None:
            with contextlib.suppress(grpc.RpcError):
                answers.append(next(third).status)
            done.set()

        threading.Thread(target=read, daemon=True).start()
        assert not done.wait(1.0), "a third stream was served while two were open"
        first.cancel()
        assert done.wait(WAIT) and answers == [SERVING]
        second.cancel()
        third.cancel()
    finally:
        pool.close()


def test_issue9_D6_calls_beyond_the_cap_are_shed_with_resource_exhausted(
    limited: InProcessServer,
) -> None:
    pool = Channels()
    own: list[grpc.Channel] = []
    try:
        streams = []
        for _ in range(3):  # three connections, one long call each: the cap (3) is reached
            ch = grpc.insecure_channel(limited.tcp_target, options=[("grpc.use_local_subchannel_pool", 1)])
            own.append(ch)
            stream = _watch(ch)
            assert next(stream).status == SERVING
            streams.append(stream)
        other = pool.open(limited.tcp_target)
        request = _woodgrove_into_fabrikam()
        error = rpc_error(lambda: check(other, request))
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        streams.pop().cancel()
        wait_until(lambda: _answers(other, request), what="a slot freed by a cancelled call")
        for stream in streams:
            stream.cancel()
    finally:
        for ch in own:
            ch.close()
        pool.close()


def _answers(channel: grpc.Channel, request: pdp_pb2.CheckRequest) -> bool:
    try:
        check(channel, request)
    except grpc.RpcError as exc:
        assert exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        return False
    return True


def test_issue9_D6_an_oversized_message_is_refused(limited: InProcessServer, channels: Channels) -> None:
    channel = channels.open(limited.tcp_target)
    small = _woodgrove_into_fabrikam()
    assert check(channel, small).reason == pdp_pb2.REASON_CLOUD_NOT_ENABLED
    big = _woodgrove_into_fabrikam()
    big.access.group_ids.extend([WOODGROVE] * 60)  # about 2.3 KiB
    assert big.ByteSize() > 2048
    error = rpc_error(lambda: check(channel, big))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert check(channel, small).reason == pdp_pb2.REASON_CLOUD_NOT_ENABLED


def test_issue9_D6_an_idle_connection_is_closed(snapshot_file: Path) -> None:
    with _server("--snapshot", str(snapshot_file), "--max-connection-idle", "300ms") as srv:
        _assert_idle_connection_closed(srv)


def _assert_idle_connection_closed(srv: InProcessServer) -> None:
    channel = grpc.insecure_channel(srv.tcp_target)
    try:
        states: list[grpc.ChannelConnectivity] = []
        channel.subscribe(states.append, try_to_connect=True)
        assert check(channel, _woodgrove_into_fabrikam()).decision == pdp_pb2.DECISION_DENY
        # --max-connection-idle 300ms: the server sends GOAWAY, the channel goes back to IDLE.
        wait_until(
            lambda: bool(states)
            and states[-1] is grpc.ChannelConnectivity.IDLE
            and grpc.ChannelConnectivity.READY in states,
            what="the idle connection closed by the server",
        )
    finally:
        channel.close()


def test_issue9_D6_limits_are_flags_and_environment_with_safe_defaults() -> None:
    from xtenant_pdp.config import ConfigError, settings_from
    from xtenant_pdp.service.limits import server_options

    defaults = dict(server_options(settings_from_flags("--snapshot", "s")))
    assert defaults["grpc.max_receive_message_length"] == 4 * 1024 * 1024
    assert defaults["grpc.max_concurrent_streams"] == 100
    assert defaults["grpc.max_allowed_incoming_connections"] == 1000
    assert defaults["grpc.keepalive_time_ms"] == 60_000 and defaults["grpc.keepalive_timeout_ms"] == 20_000
    assert defaults["grpc.max_connection_idle_ms"] == 300_000
    assert defaults["grpc.max_connection_age_ms"] == 3_600_000
    assert settings_from_flags("--snapshot", "s").max_concurrent_rpcs == 1000
    parser = argparse.ArgumentParser()
    cli_config.add_serve_arguments(parser)
    env = {
        "XTENANT_PDP_SNAPSHOT": "s",
        "XTENANT_PDP_MAX_RECEIVE_BYTES": "64KiB",
        "XTENANT_PDP_MAX_CONCURRENT_STREAMS": "8",
        "XTENANT_PDP_MAX_CONCURRENT_RPCS": "16",
        "XTENANT_PDP_MAX_CONNECTIONS": "4",
        "XTENANT_PDP_MAX_CONNECTION_IDLE": "0",
        "XTENANT_PDP_KEEPALIVE_TIME": "30s",
    }
    settings = settings_from(parser.parse_args([]), env)
    options = dict(server_options(settings))
    assert options["grpc.max_receive_message_length"] == 65536
    assert (options["grpc.max_concurrent_streams"], settings.max_concurrent_rpcs) == (8, 16)
    assert options["grpc.max_allowed_incoming_connections"] == 4
    assert "grpc.max_connection_idle_ms" not in options
    assert options["grpc.keepalive_time_ms"] == 30_000
    for flag, bad in (("--max-receive-bytes", "1"), ("--max-concurrent-streams", "0"), ("--keepalive-time", "0")):
        with pytest.raises(ConfigError, match=flag):
            settings_from(parser.parse_args(["--snapshot", "s", flag, bad]), {})


# --------------------------------------------------------------------------- ext_authz groups claim

GROUP_BLOCKED_SPEC = {
    # Row 6 of the overview table: the group is blocked from every application, everyone else allowed.
    "r": tenant(
        RESOURCE,
        partners=[partner(HOME, b2bCollaborationInbound=setting(("blocked", [GROUP]), ("blocked", "AllApplications")))],
    ),
}


def _envoy_check(channel: grpc.Channel, token: dict[str, Any]) -> tuple[str, str]:
    from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc

    from xtenant_pdp.service import ext_authz

    request = external_auth_pb2.CheckRequest()
    request.attributes.context_extensions.update({ext_authz.CTX_TENANT_ID: RESOURCE, ext_authz.CTX_APPLICATION_ID: APP})
    metadata = struct_pb2.Struct()
    metadata.update({ext_authz.JWT_PAYLOAD_KEY: token})
    request.attributes.metadata_context.filter_metadata[ext_authz.JWT_METADATA_NAMESPACE].CopyFrom(metadata)
    response = external_auth_pb2_grpc.AuthorizationStub(channel).Check(request, timeout=TIMEOUT_S)
    if response.WhichOneof("http_response") == "denied_response":
        return "deny", json.loads(response.denied_response.body)["reason"]
    headers = {o.header.key: o.header.value for o in response.ok_response.headers}
    return "allow", headers[ext_authz.HEADER_REASON]


@pytest.mark.parametrize("require", [False, True], ids=["default", "require-groups-claim"])
def test_issue9_ext_authz_token_without_groups_claim(tmp_path: Path, channels: Channels, require: bool) -> None:
    policy = write_policy(tmp_path / "policy", GROUP_BLOCKED_SPEC)
    with _server("--policy", str(policy), *(["--require-groups-claim"] if require else [])) as srv:
        channel = channels.open(srv.tcp_target)
        wait_until(lambda: health_status(channel) == SERVING, what="SERVING")
        member = {"tid": HOME, "oid": USER, "groups": [GROUP]}
        assert _envoy_check(channel, member) == ("deny", "REASON_USER_AND_APPLICATION_BLOCKED")
        # A present but empty claim says "member of no group": evaluated either way.
        assert _envoy_check(channel, {"tid": HOME, "oid": USER, "groups": []}) == ("allow", "REASON_ACCESS_ALLOWED")
        no_claim = _envoy_check(channel, {"tid": HOME, "oid": USER})
        if require:
            assert no_claim == ("deny", "REASON_GROUPS_CLAIM_MISSING")
        else:  # documented: evaluated with no groups, which passes the group block
            assert no_claim == ("allow", "REASON_ACCESS_ALLOWED")
        # Entra's overage markers are denied whatever the switch.
        for overage in ({"hasgroups": True}, {"_claim_names": {"groups": "src1"}}):
            assert _envoy_check(channel, {"tid": HOME, "oid": USER, **overage}) == ("deny", "REASON_INVALID_REQUEST")


# --------------------------------------------------------------------------- repeated log lines


def test_issue9_repeated_error_lines_are_rate_limited() -> None:
    from xtenant_pdp.logs import JsonFormatter, RepeatFilter

    now = [100.0]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RepeatFilter(window_s=10.0, clock=lambda: now[0]))
    logger = logging.getLogger("xtenant_pdp.test_repeat")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        for _ in range(50):
            logger.error("garbage body from %s", "envoy")
        logger.error("another error")  # a different line is never hidden behind the first
        logger.error("garbage body from %s", "envoy", extra={"peer": "b"})  # nor one with other fields
        logger.info("info lines are never limited")
        logger.info("info lines are never limited")
        now[0] += 10.5
        logger.error("garbage body from %s", "envoy")
    finally:
        logger.removeHandler(handler)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["msg"] for r in records] == [
        "garbage body from envoy",
        "another error",
        "garbage body from envoy",
        "info lines are never limited",
        "info lines are never limited",
        "garbage body from envoy",
    ]
    assert "suppressed" not in records[0]
    assert records[-1]["suppressed"] == 49 and records[-1]["suppressed_window_s"] == 10.0


# --------------------------------------------------------------------------- metrics bind


def test_issue9_metrics_bind_localhost_by_default_and_deploy_passes_its_address() -> None:
    from server_kit import REPO

    assert settings_from_flags("--snapshot", "s").metrics_listen == "127.0.0.1:9464"
    assert settings_from_flags("--snapshot", "s", "--metrics-listen", "0.0.0.0:9464").metrics_listen == "0.0.0.0:9464"
    # Every manifest that runs the server says where its metrics listen (the pod must be scraped).
    for manifest in sorted((REPO / "deploy").rglob("*.yaml")):
        text = manifest.read_text(encoding="utf-8")
        if "- serve" in text:
            assert "--metrics-listen=0.0.0.0:9464" in text, manifest
