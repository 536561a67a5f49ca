"""Lifecycle of a real `python -m xtenant_pdp serve` process: NOT_SERVING until a snapshot loads,
fail-closed staleness, graceful SIGTERM under load, configuration by environment, refused
configurations (exit 64), the Unix socket's mode and removal, and JSON log lines on stderr.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from server_kit import (
    EXAMPLE_POLICY,
    NOT_SERVING,
    RPC_TIMEOUT,
    SERVICE,
    SERVING,
    WAIT,
    Channels,
    Procs,
    ServerProcess,
    check,
    compile_example,
    copy_example_policy,
    decision_stub,
    flip_policy,
    flip_question,
    free_port,
    health_status,
    make_pki,
    questions,
    rpc_error,
    sample_value,
    scrape,
    snapshot_id,
    wait_health,
    wait_until,
)

from xtenant_pdp import cli
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.compiler import CompileResult, compile_policy_dir
from xtenant_pdp.engine import Engine
from xtenant_pdp.loader import load_snapshot_bytes

GRACE_S = 5.0
USAGE = 64


@pytest.fixture(scope="module")
def good_snapshot() -> bytes:
    return compile_example().data


@pytest.fixture
def snapshot_file(tmp_path: Path, good_snapshot: bytes) -> Path:
    """The example policy's snapshot, written where a server can load it."""
    path = tmp_path / "policy.xtsnap"
    path.write_bytes(good_snapshot)
    return path


@pytest.fixture
def sock_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # tmp_path can exceed the 107-byte limit of a Unix socket path; this stays short.
    return tmp_path_factory.mktemp("s")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _assert_json_logs(proc: ServerProcess) -> None:
    lines = [line for line in proc.lines if line.strip()]
    assert lines, "the server logged nothing"
    records = proc.records()
    not_json = [line for line in lines if not line.startswith("{")]
    assert not_json == [], "stderr lines that are not JSON objects"
    assert len(records) == len(lines)
    for record in records:
        assert {"ts", "level", "logger", "msg"} <= record.keys(), record


def _env_without(*prefixes: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


# --------------------------------------------------------------------------- no snapshot yet; JSON logs


@pytest.mark.parametrize("start_with", ["missing", "corrupt"])
def test_not_serving_until_a_valid_snapshot_exists(
    start_with: str, tmp_path: Path, good_snapshot: bytes, procs: Procs, channels: Channels
) -> None:
    path = tmp_path / "policy.xtsnap"
    if start_with == "corrupt":
        path.write_bytes(good_snapshot[: len(good_snapshot) // 3])
    proc = procs.spawn(
        *("--snapshot", str(path), "--listen", "127.0.0.1:0", "--reload-interval", "0.2s", "--metrics-listen", "off"),
        *("--log-level", "debug"),
    )
    channel = channels.open(proc.tcp_target)
    wait_until(lambda: any(r.get("level") == "error" for r in proc.records()), what="the load error to be logged")
    first = next(r for r in proc.records() if r.get("level") == "error")
    if start_with == "missing":  # issue 10 item 5: it says it waits, not that a previous snapshot serves
        assert first["msg"] == "snapshot rejected: the file does not exist (yet); NOT_SERVING, waiting for it to appear"
        assert first["error"] == f"{path}: does not exist"
    else:
        assert first["msg"] == "snapshot rejected; NOT_SERVING until a valid snapshot loads"

    assert health_status(channel, "") == NOT_SERVING
    assert health_status(channel, SERVICE) == NOT_SERVING
    stub = decision_stub(channel)
    for call in (
        lambda: stub.Check(flip_question(), timeout=RPC_TIMEOUT),
        lambda: stub.BatchCheck(pdp_pb2.BatchCheckRequest(requests=[flip_question()]), timeout=RPC_TIMEOUT),
        lambda: stub.GetSnapshotInfo(pdp_pb2.GetSnapshotInfoRequest(), timeout=RPC_TIMEOUT),
    ):
        assert rpc_error(call).code() is grpc.StatusCode.UNAVAILABLE

    _write_atomically(path, good_snapshot)
    wait_health(channel, SERVING)
    assert health_status(channel, SERVICE) == SERVING
    engine = Engine(load_snapshot_bytes(good_snapshot))
    assert check(channel, flip_question()) == engine.check_proto(flip_question())
    assert snapshot_id(channel) == engine.snapshot_id

    # Log lines on stderr, from start to exit, are JSON objects.
    proc.send(signal.SIGTERM)
    assert proc.wait_exit(GRACE_S + 10) == 0
    _assert_json_logs(proc)
    records = proc.records()
    assert {"debug", "info", "error"} <= {r["level"] for r in records}
    listening = next(r for r in records if r["msg"] == "listening")
    assert listening["addresses"] == [proc.tcp_target]
    assert listening["pid"] == proc.pid
    assert any(r["msg"] == "snapshot activated" and r["snapshot_id"] == engine.snapshot_id for r in records)


# --------------------------------------------------------------------------- stale snapshot


def _compile_in(year_2000: bool, policy: Path, monkeypatch: pytest.MonkeyPatch) -> CompileResult:
    with monkeypatch.context() as m:
        if year_2000:
            m.setenv("SOURCE_DATE_EPOCH", "946684800")  # 2000-01-01T00:00:00Z
        else:
            m.delenv("SOURCE_DATE_EPOCH", raising=False)
        return compile_policy_dir(policy)


def _start_stale(
    tmp_path: Path, procs: Procs, channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, grpc.Channel, int, CompileResult]:
    old = _compile_in(True, EXAMPLE_POLICY, monkeypatch)
    assert old.info.created_at.year == 2000
    path = tmp_path / "policy.xtsnap"
    path.write_bytes(old.data)
    metrics_port = free_port()
    proc = procs.spawn(
        *("--snapshot", str(path), "--listen", "127.0.0.1:0", "--reload-interval", "0.2s"),
        *("--max-snapshot-age", "1s", "--metrics-listen", f"127.0.0.1:{metrics_port}"),
    )
    channel = channels.open(proc.tcp_target)
    # Loaded (GetSnapshotInfo answers) but stale.
    wait_until(lambda: snapshot_id(channel) == old.info.snapshot_id, what="the old snapshot to load")
    wait_until(lambda: sample_value(scrape(metrics_port), "xtenant_pdp_snapshot_stale") == 1, what="the stale gauge")
    return path, channel, metrics_port, old


def test_stale_snapshot_fails_closed_until_a_fresh_snapshot_arrives(
    tmp_path: Path, procs: Procs, channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, channel, metrics_port, old = _start_stale(tmp_path, procs, channels, monkeypatch)
    assert health_status(channel, "") == NOT_SERVING
    assert health_status(channel, SERVICE) == NOT_SERVING
    for request in questions():
        answer = check(channel, request)
        assert answer.decision == pdp_pb2.DECISION_DENY
        assert answer.reason == pdp_pb2.REASON_SNAPSHOT_STALE
        assert answer.source == pdp_pb2.SOURCE_SNAPSHOT
        assert answer.snapshot_id == old.info.snapshot_id
    batch = decision_stub(channel).BatchCheck(pdp_pb2.BatchCheckRequest(requests=questions()), timeout=RPC_TIMEOUT)
    assert {(r.decision, r.reason, r.snapshot_id) for r in batch.responses} == {
        (pdp_pb2.DECISION_DENY, pdp_pb2.REASON_SNAPSHOT_STALE, old.info.snapshot_id)
    }
    # Malformed questions are still INVALID_ARGUMENT, never ALLOW.
    error = rpc_error(lambda: check(channel, pdp_pb2.CheckRequest()))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT

    # A fresh snapshot of a changed policy brings it back.
    policy = copy_example_policy(tmp_path / "policy")
    flip_policy(policy)
    fresh = _compile_in(False, policy, monkeypatch)
    _write_atomically(path, fresh.data)
    wait_health(channel, SERVING)
    assert health_status(channel, SERVICE) == SERVING
    answer = check(channel, flip_question())
    assert (answer.snapshot_id, answer.decision, answer.reason) == (
        fresh.info.snapshot_id,
        pdp_pb2.DECISION_DENY,
        pdp_pb2.REASON_USER_BLOCKED,
    )
    assert sample_value(scrape(metrics_port), "xtenant_pdp_snapshot_stale") == 0


def test_stale_snapshot_recovers_when_the_same_policy_is_recompiled(
    tmp_path: Path, procs: Procs, channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, channel, _, old = _start_stale(tmp_path, procs, channels, monkeypatch)
    fresh = _compile_in(False, EXAMPLE_POLICY, monkeypatch)
    assert fresh.info.snapshot_id == old.info.snapshot_id
    assert fresh.info.created_at.year > 2000
    _write_atomically(path, fresh.data)
    wait_health(channel, SERVING)
    answer = check(channel, flip_question())
    assert (answer.decision, answer.reason) == (pdp_pb2.DECISION_ALLOW, pdp_pb2.REASON_ACCESS_ALLOWED)


# --------------------------------------------------------------------------- SIGTERM under load


class _Client(threading.Thread):
    """Calls until the server goes away: records the status code of every call."""

    def __init__(self, target: str, channels: Channels, engine: Engine, batch: bool) -> None:
        super().__init__(name=f"client-{target}-{batch}", daemon=True)
        self.channel = channels.open(target)
        self.engine = engine
        self.batch = batch
        self.codes: Counter[str] = Counter()
        self.wrong: list[str] = []
        self.give_up = threading.Event()

    def run(self) -> None:
        stub = decision_stub(self.channel)
        requests = questions() * 25  # 500 questions: calls that take a while to answer
        expected = [self.engine.check_proto(r) for r in requests]
        deadline = time.monotonic() + WAIT
        for i in range(100_000):
            if self.give_up.is_set() or time.monotonic() > deadline:
                return
            try:
                if self.batch:
                    response = stub.BatchCheck(pdp_pb2.BatchCheckRequest(requests=requests), timeout=RPC_TIMEOUT)
                    if list(response.responses) != expected:
                        self.wrong.append(f"batch {i}")
                else:
                    request = requests[i % len(requests)]
                    if stub.Check(request, timeout=RPC_TIMEOUT) != expected[i % len(requests)]:
                        self.wrong.append(f"check {i}")
            except grpc.RpcError as exc:
                self.codes[exc.code().name] += 1
                return  # the server is going away: this client is done
            except ValueError:  # the channel was closed by a failing test's finalizer
                return
            self.codes["OK"] += 1


def test_sigterm_under_load_finishes_calls_and_exits_cleanly(
    sock_dir: Path, good_snapshot: bytes, snapshot_file: Path, procs: Procs, channels: Channels
) -> None:
    path = snapshot_file
    sock = sock_dir / "pdp.sock"
    proc = procs.spawn(
        *("--snapshot", str(path), "--listen", f"unix:{sock}", "--listen", "127.0.0.1:0"),
        *("--grace-period", f"{GRACE_S:g}s", "--metrics-listen", "off"),
    )
    probe = channels.open(f"unix:{sock}")
    wait_health(probe, SERVING)
    engine = Engine(load_snapshot_bytes(good_snapshot))
    clients = [
        _Client(target, channels, engine, batch)
        for target in (f"unix:{sock}", proc.tcp_target)
        for batch in (True, False)
    ]
    try:
        for client in clients:
            client.start()
        wait_until(
            lambda: all(c.codes["OK"] >= 3 for c in clients) or not all(c.is_alive() for c in clients),
            what="every client to be answered",
        )
        assert all(c.is_alive() for c in clients), [dict(c.codes) for c in clients]

        proc.send(signal.SIGTERM)
        code = proc.wait_exit(GRACE_S + 10)
        for client in clients:
            client.join(RPC_TIMEOUT * 2 + 1)
    finally:
        for client in clients:
            client.give_up.set()
        for client in clients:
            client.join(RPC_TIMEOUT * 2 + 1)
    assert [c.name for c in clients if c.is_alive()] == [], "a client hung"

    assert code == 0
    totals: Counter[str] = Counter()
    for client in clients:
        totals.update(client.codes)
        assert client.wrong == []
        assert client.codes["OK"] >= 3
    assert set(totals) <= {"OK", "UNAVAILABLE", "CANCELLED"}, totals
    assert not sock.exists() and not sock.is_symlink(), "the Unix socket must be removed on exit"
    messages = [r["msg"] for r in proc.records()]
    assert "stopping: draining, then finishing in-flight calls" in messages
    assert messages[-1] == "stopped"
    _assert_json_logs(proc)


# --------------------------------------------------------------------------- configuration


def test_configuration_by_environment_variables(
    sock_dir: Path, good_snapshot: bytes, snapshot_file: Path, procs: Procs, channels: Channels
) -> None:
    path = snapshot_file
    sock = sock_dir / "env.sock"
    env = _env_without("XTENANT_PDP_") | {
        "XTENANT_PDP_SNAPSHOT": str(path),
        "XTENANT_PDP_LISTEN": f"unix:{sock},127.0.0.1:0",
        "XTENANT_PDP_METRICS_LISTEN": "off",
        "XTENANT_PDP_MAX_BATCH": "2",
    }
    # A flag wins over its environment variable.
    proc = procs.spawn("--max-batch", "3", env=env)
    assert proc.addresses[0] == f"unix:{sock}"
    assert len(proc.addresses) == 2
    engine = Engine(load_snapshot_bytes(good_snapshot))
    for target in (f"unix:{sock}", proc.tcp_target):
        channel = channels.open(target)
        wait_health(channel, SERVING)
        assert snapshot_id(channel) == engine.snapshot_id
        batch = questions()[:3]
        response = decision_stub(channel).BatchCheck(pdp_pb2.BatchCheckRequest(requests=batch), timeout=RPC_TIMEOUT)
        assert list(response.responses) == [engine.check_proto(r) for r in batch]
        too_many = pdp_pb2.BatchCheckRequest(requests=questions()[:4])
        error = rpc_error(lambda ch=channel, r=too_many: decision_stub(ch).BatchCheck(r, timeout=RPC_TIMEOUT))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    # No --socket-mode: the default 660.
    assert stat.S_IMODE(sock.stat().st_mode) == 0o660


#: Refused configurations: id -> (serve arguments, extra environment, text the message must contain).
#: SNAPSHOT in the arguments is replaced by a valid snapshot file, so only the named setting is wrong.
_REFUSED: dict[str, tuple[list[str], dict[str, str], str]] = {
    "workers-with-unix-listener": (
        ["--snapshot", "SNAPSHOT", "--workers", "2", "--listen", "unix:/tmp/xtenant-pdp-test-never.sock"],
        {},
        "--workers",
    ),
    "workers-with-default-unix-listener": (["--snapshot", "SNAPSHOT", "--workers", "2"], {}, "--workers"),
    "bad-grace-period": (["--snapshot", "SNAPSHOT", "--grace-period", "5 fortnights"], {}, "--grace-period"),
    "bad-reload-interval": (["--snapshot", "SNAPSHOT", "--reload-interval", "soon"], {}, "--reload-interval"),
    "negative-max-age": (["--snapshot", "SNAPSHOT", "--max-snapshot-age=-1h"], {}, "--max-snapshot-age"),
    "zero-max-batch": (["--snapshot", "SNAPSHOT", "--max-batch", "0"], {}, "--max-batch"),
    "bad-cache-size": (["--snapshot", "SNAPSHOT", "--cache-size", "lots"], {}, "--cache-size"),
    "bad-listen": (["--snapshot", "SNAPSHOT", "--listen", "nowhere"], {}, "--listen"),
    "relative-unix-listen": (["--snapshot", "SNAPSHOT", "--listen", "unix:relative.sock"], {}, "--listen"),
    "bad-socket-mode": (["--snapshot", "SNAPSHOT", "--socket-mode", "rw-rw----"], {}, "--socket-mode"),
    "bad-log-level": (["--snapshot", "SNAPSHOT", "--log-level", "loud"], {}, "--log-level"),
    "bad-metrics-listen": (["--snapshot", "SNAPSHOT", "--metrics-listen", "everywhere"], {}, "--metrics-listen"),
    "cert-without-key": (["--snapshot", "SNAPSHOT", "--tls-cert", "server.pem"], {}, "--tls-key"),
    "client-ca-without-cert": (["--snapshot", "SNAPSHOT", "--tls-client-ca", "ca.pem"], {}, "--tls-client-ca"),
    "env-bad-duration": (
        ["--snapshot", "SNAPSHOT"],
        {"XTENANT_PDP_GRACE_PERIOD": "whenever"},
        "XTENANT_PDP_GRACE_PERIOD",
    ),
    "env-bad-workers": (["--snapshot", "SNAPSHOT"], {"XTENANT_PDP_WORKERS": "zero"}, "--workers"),
    "no-source": ([], {}, "--snapshot"),
    "both-sources": (["--snapshot", "SNAPSHOT", "--policy", "dir"], {}, "--policy"),
    "missing-value": (["--snapshot", "SNAPSHOT", "--max-batch"], {}, "--max-batch"),
}


#: Run as real processes (started at once); the other cases run `cli.main` in this process, which
#: takes the same path (parser, settings_from, exit code) without the cost of a Python start.
_REFUSED_IN_SUBPROCESS = ("workers-with-unix-listener", "bad-grace-period")


def _refused_argv(case: str, snapshot: Path) -> list[str]:
    args = _REFUSED[case][0]
    argv = [str(snapshot) if a == "SNAPSHOT" else a for a in args]
    if not any(a.startswith(("--listen", "--workers")) for a in argv) and case != "env-bad-workers":
        argv += ["--listen", "127.0.0.1:0"]
    if not any(a.startswith("--metrics-listen") for a in argv):
        argv += ["--metrics-listen", "off"]
    return argv


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory, good_snapshot: bytes) -> Iterator[dict[str, ServerProcess]]:
    path = tmp_path_factory.mktemp("refused") / "policy.xtsnap"
    path.write_bytes(good_snapshot)
    pool = Procs()
    try:
        yield {
            case: pool.new(*_refused_argv(case, path), env=_env_without("XTENANT_PDP_") | _REFUSED[case][1]).start()
            for case in _REFUSED_IN_SUBPROCESS
        }
    finally:
        pool.close()


@pytest.mark.parametrize("case", _REFUSED_IN_SUBPROCESS)
def test_invalid_configuration_exits_64_naming_the_setting(case: str, refused: dict[str, ServerProcess]) -> None:
    proc = refused[case]
    assert proc.wait_exit(WAIT) == USAGE, proc.stderr
    assert _REFUSED[case][2] in proc.stderr, proc.stderr
    assert "listening" not in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("case", [c for c in _REFUSED if c not in _REFUSED_IN_SUBPROCESS])
def test_invalid_configuration_is_usage_error_naming_the_setting(
    case: str,
    tmp_path: Path,
    snapshot_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = snapshot_file
    for name in [k for k in os.environ if k.startswith("XTENANT_PDP_")]:
        monkeypatch.delenv(name)
    for name, value in _REFUSED[case][1].items():
        monkeypatch.setenv(name, value)
    try:
        code = cli.main(["serve", *_refused_argv(case, path)])
    except SystemExit as exc:  # argparse errors
        code = exc.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert code == USAGE, err
    assert _REFUSED[case][2] in err, err


def test_socket_gets_the_socket_mode_and_sigint_removes_it(
    sock_dir: Path, snapshot_file: Path, procs: Procs, channels: Channels
) -> None:
    path = snapshot_file
    sock = sock_dir / "pdp.sock"
    proc = procs.spawn(
        "--snapshot", str(path), "--listen", f"unix:{sock}", "--socket-mode", "600", "--metrics-listen", "off"
    )
    wait_health(channels.open(f"unix:{sock}"), SERVING)
    st = sock.lstat()
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    proc.send(signal.SIGINT)
    assert proc.wait_exit(GRACE_S + 10) == 0
    assert not sock.exists() and not sock.is_symlink()


def test_a_socket_in_use_is_not_stolen_and_a_stale_one_is_replaced(
    sock_dir: Path, snapshot_file: Path, procs: Procs, channels: Channels
) -> None:
    path = snapshot_file
    sock = sock_dir / "pdp.sock"
    args = ("--snapshot", str(path), "--listen", f"unix:{sock}", "--metrics-listen", "off")
    first = procs.spawn(*args)
    channel = channels.open(f"unix:{sock}")
    wait_health(channel, SERVING)

    second = procs.new(*args)
    assert second.run_to_exit() == 1
    _assert_json_logs(second)
    errors = [r for r in second.records() if r["level"] == "error"]
    assert errors and "--listen" in errors[-1]["error"] and "in use" in errors[-1]["error"], second.stderr
    assert health_status(channel) == SERVING

    first.send(signal.SIGKILL)
    first.wait_exit(WAIT)
    assert stat.S_ISSOCK(sock.lstat().st_mode), "SIGKILL leaves the socket file behind"
    procs.spawn(*args)
    wait_health(channels.open(f"unix:{sock}"), SERVING)


@pytest.mark.parametrize(
    "taken_flag",
    ["--metrics-listen", "--listen"],
)
def test_a_port_in_use_fails_startup_cleanly(
    taken_flag: str, sock_dir: Path, snapshot_file: Path, procs: Procs
) -> None:
    path = snapshot_file
    sock = sock_dir / "pdp.sock"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["--snapshot", str(path), "--listen", f"unix:{sock}"]
        if taken_flag == "--listen":
            args += ["--listen", f"127.0.0.1:{port}", "--metrics-listen", "off"]
        else:
            args += ["--metrics-listen", f"127.0.0.1:{port}"]
        proc = procs.new(*args)
        code = proc.run_to_exit()
    assert code == 1
    _assert_json_logs(proc)
    errors = [r for r in proc.records() if r["level"] == "error"]
    assert errors and taken_flag in errors[-1]["error"], proc.stderr
    assert not any(r["msg"] == "listening" for r in proc.records())
    assert not sock.exists(), "a failed start must not leave its Unix socket file behind"


def test_log_lines_stay_json_when_a_tls_handshake_fails(
    tmp_path: Path, snapshot_file: Path, procs: Procs, channels: Channels
) -> None:
    path = snapshot_file
    pki = make_pki(tmp_path / "pki")
    proc = procs.spawn(
        *("--snapshot", str(path), "--listen", "127.0.0.1:0", "--metrics-listen", "off"),
        *("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--tls-client-ca", str(pki.ca)),
        env=_env_without("XTENANT_PDP_", "GRPC_VERBOSITY", "GRPC_TRACE"),
    )
    with_cert = channels.open(proc.tcp_target, pki.channel_credentials(client_cert=True))
    wait_health(with_cert, SERVING)
    without_cert = channels.open(proc.tcp_target, pki.channel_credentials(client_cert=False))
    assert rpc_error(lambda: check(without_cert, flip_question())).code() is grpc.StatusCode.UNAVAILABLE
    plaintext = channels.open(proc.tcp_target)
    assert rpc_error(lambda: check(plaintext, flip_question())).code() is grpc.StatusCode.UNAVAILABLE
    proc.send(signal.SIGTERM)
    assert proc.wait_exit(GRACE_S + 10) == 0
    _assert_json_logs(proc)


def test_health_listen_serves_probes_on_tcp_while_decisions_stay_on_the_socket(
    sock_dir: Path, snapshot_file: Path, procs: Procs, channels: Channels
) -> None:
    """The Kubernetes gRPC probe port answers grpc.health.v1 only; DecisionService is not there."""
    path = snapshot_file
    port = free_port()
    sock = sock_dir / "health.sock"
    procs.spawn(
        "--snapshot",
        str(path),
        "--listen",
        f"unix:{sock}",
        "--health-listen",
        f"127.0.0.1:{port}",
        "--metrics-listen",
        "off",
    )
    probe = channels.open(f"127.0.0.1:{port}")
    wait_health(probe, SERVING)
    assert health_status(channels.open(f"unix:{sock}")) == SERVING
    error = rpc_error(lambda: decision_stub(probe).Check(questions()[0], timeout=5))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED


def test_liveness_stays_serving_while_a_stale_snapshot_makes_the_pod_unready(
    sock_dir: Path, tmp_path: Path, procs: Procs, channels: Channels
) -> None:
    path = tmp_path / "old.xtsnap"
    path.write_bytes(compile_example(created_at=1_000_000_000).data)  # 2001: long stale
    sock = sock_dir / "live.sock"
    procs.spawn(
        "--snapshot", str(path), "--listen", f"unix:{sock}", "--max-snapshot-age", "1h", "--metrics-listen", "off"
    )
    channel = channels.open(f"unix:{sock}")
    wait_health(channel, SERVING, "liveness")
    assert health_status(channel) != SERVING
    assert health_status(channel, SERVICE) != SERVING
