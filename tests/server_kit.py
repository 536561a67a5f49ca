"""Helpers for the server tests: real server processes (or an in-process server on its own loop
thread), real generated clients, snapshots compiled from the example policy, a throwaway PKI,
Prometheus scraping and bounded polling. Nothing of the product is mocked.

Every resource made here is owned by a pool (:class:`Procs`, :class:`Channels`) whose
``close()`` runs in a fixture finalizer, so a failing test still kills its processes and
closes its channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from xtenant_pdp import app, cli
from xtenant_pdp.api import pdp_pb2, pdp_pb2_grpc
from xtenant_pdp.compiler import CompileResult, compile_policy_dir
from xtenant_pdp.config import Settings, settings_from

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_POLICY = REPO / "xtenant_pdp" / "examples" / "policy"
QUESTIONS_FILE = REPO / "xtenant_pdp" / "examples" / "questions.jsonl"
SERVICE = "xtenant.pdp.v1.DecisionService"
HEALTH_SERVICE = "grpc.health.v1.Health"
ENVOY_AUTHZ_SERVICE = "envoy.service.auth.v3.Authorization"
#: Timeout of every RPC the tests make.
RPC_TIMEOUT = 5.0
#: Bound of every "wait until" loop (a busy 2-core CI box, several servers at once).
WAIT = 20.0
#: The reloader's log lines that end a load attempt (service/reloader.py).
_FIRST_LOAD_OUTCOMES = ("snapshot activated", "snapshot rejected")

CONTOSO = "5de41ce2-ca22-4b65-866a-e46ae037737e"
FABRIKAM = "6f086a4d-9c20-4b2e-a39f-5dcccb0b955a"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

T = TypeVar("T")


# --------------------------------------------------------------------------- questions and policies


def question_lines() -> list[str]:
    return [line for line in QUESTIONS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def questions() -> list[pdp_pb2.CheckRequest]:
    return [json_format.Parse(line, pdp_pb2.CheckRequest()) for line in question_lines()]


def flip_question() -> pdp_pb2.CheckRequest:
    """questions.jsonl line 1: fabrikam's Contoso Project Team to SharePoint in contoso -> ALLOW.

    :func:`flip_policy` blocks that group in contoso's fabrikam partner setting -> DENY.
    """
    return questions()[0]


def copy_example_policy(dst: Path) -> Path:
    shutil.copytree(EXAMPLE_POLICY, dst)
    return dst


def write_atomically(path: Path, text: str) -> None:
    """Write then rename, as editors and exporters do; the temporary name does not end in .json,
    so a policy-directory poll never sees a half-written file."""
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _edit_fabrikam_partner(policy_dir: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = policy_dir / "contoso" / "partners.json"
    body = json.loads(path.read_text(encoding="utf-8"))
    edit(next(p for p in body["value"] if p["tenantId"] == FABRIKAM))
    write_atomically(path, json.dumps(body, indent=2))


def flip_policy(policy_dir: Path) -> None:
    """contoso -> fabrikam b2bCollaborationInbound: the allowed group becomes blocked."""

    def block(partner: dict[str, Any]) -> None:
        partner["b2bCollaborationInbound"]["usersAndGroups"]["accessType"] = "blocked"

    _edit_fabrikam_partner(policy_dir, block)


def break_policy(policy_dir: Path, how: str) -> None:
    """Make the directory fail to compile: ``json`` (not JSON) or ``value`` (an unknown accessType)."""
    if how == "json":
        write_atomically(policy_dir / "contoso" / "partners.json", '{"value": [ {"tenantId": ')
        return

    def misspell(partner: dict[str, Any]) -> None:
        partner["b2bCollaborationInbound"]["usersAndGroups"]["accessType"] = " blocked"

    _edit_fabrikam_partner(policy_dir, misspell)


@dataclass(frozen=True)
class Snapshots:
    """Two snapshots of the example policy, A (as shipped) and B (:func:`flip_policy`), same size."""

    a: CompileResult
    b: CompileResult


def compile_pair(workdir: Path, *, created_at: float | None = None) -> Snapshots:
    """Both snapshots with one created time, so that their files have the same length."""
    created_at = float(int(time.time())) if created_at is None else created_at
    policy = copy_example_policy(workdir / "policy-for-pair")
    a = compile_policy_dir(policy, created_at=created_at)
    flip_policy(policy)
    b = compile_policy_dir(policy, created_at=created_at)
    assert a.info.snapshot_id != b.info.snapshot_id
    return Snapshots(a, b)


def compile_example(*, created_at: float | None = None) -> CompileResult:
    return compile_policy_dir(EXAMPLE_POLICY, created_at=created_at)


class ConfigMapDir:
    """A Kubernetes ConfigMap volume: ``..data -> ..vN``, ``snapshot.xtsnap -> ..data/snapshot.xtsnap``.

    ``publish`` does what the kubelet does: write a new ``..vN`` directory, point a new
    ``..data_tmp`` symlink at it and rename it over ``..data`` atomically.
    """

    NAME = "snapshot.xtsnap"

    def __init__(self, root: Path, first: bytes) -> None:
        self.root = root
        self.version = 0
        root.mkdir(parents=True, exist_ok=True)
        self._write_version(first)
        os.symlink(f"..v{self.version}", root / "..data")
        os.symlink(f"..data/{self.NAME}", root / self.NAME)

    @property
    def path(self) -> Path:
        return self.root / self.NAME

    def _write_version(self, data: bytes) -> None:
        self.version += 1
        folder = self.root / f"..v{self.version}"
        folder.mkdir()
        (folder / self.NAME).write_bytes(data)

    def publish(self, data: bytes) -> None:
        self._write_version(data)
        self._swap()

    def publish_without_file(self) -> None:
        """A new version whose directory lacks the file: the visible path becomes a dangling symlink."""
        self.version += 1
        (self.root / f"..v{self.version}").mkdir()
        self._swap()

    def _swap(self) -> None:
        tmp = self.root / "..data_tmp"
        os.symlink(f"..v{self.version}", tmp)
        os.replace(tmp, self.root / "..data")


# --------------------------------------------------------------------------- polling


def wait_until(
    probe: Callable[[], T | None], *, timeout: float = WAIT, interval: float = 0.05, what: str = "condition"
) -> T:
    """Call ``probe`` until it returns a truthy value or ``timeout`` passes; return that value."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- clients


class _DefaultTimeout(grpc.UnaryUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Gives every call without a deadline one (the reflection client sets none)."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    def _details(self, details: Any) -> Any:
        if details.timeout is not None:
            return details
        return _CallDetails(
            details.method, self._timeout, details.metadata, details.credentials, details.wait_for_ready, None
        )

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_stream(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(details), request_iterator)


@dataclass(frozen=True)
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


class Channels:
    """Opens channels and closes every one of them in ``close()``."""

    def __init__(self) -> None:
        self._open: list[grpc.Channel] = []

    def open(self, target: str, credentials: grpc.ChannelCredentials | None = None) -> grpc.Channel:
        channel = grpc.secure_channel(target, credentials) if credentials is not None else grpc.insecure_channel(target)
        self._open.append(channel)
        return grpc.intercept_channel(channel, _DefaultTimeout(RPC_TIMEOUT))

    def close(self) -> None:
        while self._open:
            self._open.pop().close()


def decision_stub(channel: grpc.Channel) -> pdp_pb2_grpc.DecisionServiceStub:
    return pdp_pb2_grpc.DecisionServiceStub(channel)


def health_status(channel: grpc.Channel, service: str = "") -> int | None:
    """The health status, or None while the server cannot be reached."""
    try:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=RPC_TIMEOUT
        )
    except grpc.RpcError:
        return None
    return int(response.status)


def wait_health(channel: grpc.Channel, status: int, service: str = "", *, timeout: float = WAIT) -> None:
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
    wait_until(lambda: health_status(channel, service) == status, timeout=timeout, what=f"health {name}")


def snapshot_id(channel: grpc.Channel) -> str | None:
    """The answering snapshot's id; None while there is none (UNAVAILABLE)."""
    try:
        info = decision_stub(channel).GetSnapshotInfo(pdp_pb2.GetSnapshotInfoRequest(), timeout=RPC_TIMEOUT)
    except grpc.RpcError as exc:
        if exc.code() is grpc.StatusCode.UNAVAILABLE:
            return None
        raise
    return info.snapshot_id


def wait_snapshot(channel: grpc.Channel, wanted: str, *, timeout: float = WAIT) -> None:
    wait_until(lambda: snapshot_id(channel) == wanted, timeout=timeout, what=f"snapshot {wanted}")


def check(channel: grpc.Channel, request: pdp_pb2.CheckRequest) -> pdp_pb2.CheckResponse:
    return decision_stub(channel).Check(request, timeout=RPC_TIMEOUT)


def rpc_error(call: Callable[[], Any]) -> grpc.RpcError:
    """The RpcError ``call`` raises (it must raise)."""
    try:
        call()
    except grpc.RpcError as exc:
        return exc
    raise AssertionError("the call succeeded, an error was expected")


def field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """(field, description) of every google.rpc.BadRequest field violation in the error's status."""
    from google.rpc import error_details_pb2

    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no google.rpc.Status in the trailers of {error!r}"
    out = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend((v.field, v.description) for v in bad.field_violations)
    return out


# --------------------------------------------------------------------------- server process


@dataclass
class ServerProcess:
    """``python -m xtenant_pdp serve ...`` with its stderr read line by line on a thread."""

    args: Sequence[str]
    env: Mapping[str, str] | None = None
    proc: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None
    _listening: threading.Event = field(default_factory=threading.Event)
    #: Set once the first load attempt has an outcome (activated or rejected): since the first load runs
    #: on the reloader's task after `listening` (issue 9 D11), this is what `spawn` waits for as well.
    _first_load: threading.Event = field(default_factory=threading.Event)
    addresses: list[str] = field(default_factory=list)

    def start(self) -> ServerProcess:
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xtenant_pdp", "serve", *self.args],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read, name=f"stderr-{self.proc.pid}", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.rstrip("\n")
            self.lines.append(line)
            record = _json_or_none(line)
            if record is not None and record.get("msg") == "listening" and "addresses" in record:
                self.addresses = list(record["addresses"])
                self._listening.set()
            elif record is not None and str(record.get("msg", "")).startswith(_FIRST_LOAD_OUTCOMES):
                self._first_load.set()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _wait_for(self, logged: threading.Event, what: str, timeout: float) -> None:
        """Until the server logs ``what``; a server that exits first fails at once, not at the timeout."""
        deadline = time.monotonic() + timeout
        while not logged.wait(0.05):
            if self.proc is not None and self.proc.poll() is not None:
                self._join_reader()
                raise AssertionError(f"server exited with {self.proc.returncode} before {what}:\n{self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"server logged no {what} within {timeout}s:\n{self.stderr}")

    def wait_listening(self, timeout: float = WAIT) -> list[str]:
        self._wait_for(self._listening, "`listening`", timeout)
        return self.addresses

    def wait_first_load(self, timeout: float = WAIT) -> None:
        """Until the first snapshot load has an outcome, so a call is never UNAVAILABLE by a race."""
        self._wait_for(self._first_load, "first load outcome", timeout)

    @property
    def tcp_target(self) -> str:
        return next(a for a in self.addresses if not a.startswith("unix:"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def records(self) -> list[dict[str, Any]]:
        return [r for r in (_json_or_none(line) for line in self.lines) if r is not None]

    def send(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"server did not exit within {timeout}s:\n{self.stderr}") from None
        self._join_reader()
        return code

    def run_to_exit(self, timeout: float = WAIT) -> int:
        """For configurations that must be refused: start and wait for the exit code."""
        self.start()
        return self.wait_exit(timeout)

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(5)

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        self._join_reader()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Procs:
    """Starts server processes and kills every one of them in ``close()``."""

    def __init__(self) -> None:
        self._all: list[ServerProcess] = []

    def spawn(self, *args: str, env: Mapping[str, str] | None = None, listening: bool = True) -> ServerProcess:
        proc = ServerProcess(list(args), env)
        self._all.append(proc)
        proc.start()
        if listening:
            proc.wait_listening()
            proc.wait_first_load()
        return proc

    def new(self, *args: str, env: Mapping[str, str] | None = None) -> ServerProcess:
        """Not started: for ``run_to_exit``."""
        proc = ServerProcess(list(args), env)
        self._all.append(proc)
        return proc

    def close(self) -> None:
        while self._all:
            self._all.pop().close()


# --------------------------------------------------------------------------- in-process server


class InProcessServer:
    """``app.start(settings)`` on an event loop of its own thread; ``close()`` stops it all."""

    def __init__(
        self, settings: Settings, *, registry: CollectorRegistry | None = None, loop_stall_s: float | None = None
    ) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else CollectorRegistry()
        self._start_kwargs = {} if loop_stall_s is None else {"loop_stall_s": loop_stall_s}
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="pdp-server-loop", daemon=True)
        self.server: app.Server | None = None

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    def start(self) -> InProcessServer:
        self._thread.start()
        start = app.start(self.settings, registry=self.registry, **self._start_kwargs)
        future = asyncio.run_coroutine_threadsafe(start, self.loop)
        self.server = future.result(WAIT)
        return self

    @property
    def bound(self) -> list[str]:
        assert self.server is not None
        return self.server.bound

    @property
    def tcp_target(self) -> str:
        return next(a for a in self.bound if not a.startswith("unix:"))

    def close(self) -> None:
        if self._thread.is_alive():
            if self.server is not None:
                stop = asyncio.run_coroutine_threadsafe(self.server.stop(0.5), self.loop)
                with contextlib.suppress(Exception):
                    stop.result(WAIT)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(WAIT)


def settings_from_flags(*flags: str) -> Settings:
    """Settings exactly as `xtenant-pdp serve FLAGS` builds them (real parser, no environment)."""
    args = cli.build_parser().parse_args(["serve", *flags])
    return settings_from(args, env={})


# --------------------------------------------------------------------------- metrics


def scrape(port: int) -> list[Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=RPC_TIMEOUT) as response:
        text = response.read().decode("utf-8")
    return list(text_string_to_metric_families(text))


def samples(families: Iterable[Any]) -> Iterator[Any]:
    for family in families:
        yield from family.samples


def sample_value(families: Iterable[Any], name: str, **labels: str) -> float | None:
    """The value of the one sample named ``name`` whose labels include ``labels``; None if absent."""
    found = [s.value for s in samples(families) if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} samples"
    return found[0] if found else None


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def channel_credentials(self, *, client_cert: bool) -> grpc.ChannelCredentials:
        if client_cert:
            return grpc.ssl_channel_credentials(
                root_certificates=self.ca.read_bytes(),
                private_key=self.client_key.read_bytes(),
                certificate_chain=self.client_cert.read_bytes(),
            )
        return grpc.ssl_channel_credentials(root_certificates=self.ca.read_bytes())


def make_pki(folder: Path) -> Pki:
    """A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("xtenant-pdp test CA"))
        .issuer_name(name("xtenant-pdp test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, usage: Any, sans: list[x509.GeneralName]) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)

    server_cert, server_key = leaf(
        "localhost",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client_cert, client_key = leaf("xtenant-pdp test client", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    pki = Pki(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.server_cert.write_bytes(server_cert)
    pki.server_key.write_bytes(server_key)
    pki.client_cert.write_bytes(client_cert)
    pki.client_key.write_bytes(client_key)
    return pki
