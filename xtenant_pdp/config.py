"""Typed server settings from flags and XTENANT_PDP_* environment variables, validated once.

Every `serve` flag has an environment variable: `--max-snapshot-age` is
`XTENANT_PDP_MAX_SNAPSHOT_AGE`; repeatable flags take comma-separated values. A flag given on
the command line wins over the environment.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from xtenant_pdp.compiler import DEFAULT_OPTIONS, CompileOptions
from xtenant_pdp.service import decision_log

ENV_PREFIX = "XTENANT_PDP_"
#: The default socket, as the help text shows it; :func:`default_listen` resolves it.
DEFAULT_LISTEN_HELP = "unix:$XDG_RUNTIME_DIR/xtenant-pdp/pdp.sock, else unix:$PWD/.xtenant-pdp/pdp.sock"
#: Localhost only: metrics name tenants and reasons; a pod passes its IP or 0.0.0.0 explicitly.
DEFAULT_METRICS_LISTEN = "127.0.0.1:9464"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class ConfigError(ValueError):
    """A setting is invalid; the message names the flag and its environment variable."""


def parse_duration(text: str) -> float:
    """`90`, `90s`, `1.5m`, `2h`, `500ms` -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"`{text}` is not a duration (use e.g. 30s, 10m, 2h)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_size(text: str) -> int:
    """`1048576`, `64KiB`, `4MiB`, `1GiB` -> bytes (K, M and G are binary multiples)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"`{text}` is not a size in bytes (use e.g. 65536, 64KiB, 32MiB)")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)[:1].lower()]


def _receive_size(raw: str) -> int:
    """A gRPC message limit: at least 1 KiB and below 2 GiB (gRPC takes an int32)."""
    value = parse_size(raw)
    if not 1024 <= value < 1 << 31:
        raise ValueError(f"`{raw}` must be at least 1KiB and below 2GiB")
    return value


def default_listen(env: Mapping[str, str] | None = None) -> str:
    """D3: a socket in a private directory, never in world-writable /tmp: under $XDG_RUNTIME_DIR
    (per user, 0700) when it is set, else under the working directory. Clients use the same rule."""
    env = os.environ if env is None else env
    runtime = env.get("XDG_RUNTIME_DIR", "")
    base = Path(runtime) / "xtenant-pdp" if runtime.startswith("/") else Path.cwd() / ".xtenant-pdp"
    return f"unix:{base / 'pdp.sock'}"


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """`host:port` (TCP) or `unix:/path/to.sock`."""

    raw: str

    @property
    def is_unix(self) -> bool:
        return self.raw.startswith("unix:")

    @property
    def path(self) -> Path:
        return Path(self.raw.removeprefix("unix:").removeprefix("//"))

    @classmethod
    def parse(cls, raw: str) -> ListenAddress:
        raw = raw.strip()
        if raw.startswith("unix:"):
            if not raw.removeprefix("unix:").removeprefix("//").startswith("/"):
                raise ValueError(f"`{raw}`: a Unix socket needs an absolute path, e.g. unix:/run/pdp.sock")
            return cls(raw)
        host, sep, port = raw.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"`{raw}` is neither host:port nor unix:/path")
        return cls(raw if host else f"0.0.0.0:{port}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    snapshot: Path | None = None
    policy: Path | None = None
    listen: tuple[ListenAddress, ...] = field(default_factory=lambda: (ListenAddress(default_listen()),))
    socket_mode: int = 0o660
    #: Skip the socket directory's owner and permission check (D3): only for a directory that
    #: only trusted users can write, such as a Kubernetes emptyDir shared by one pod's containers.
    trust_socket_dir: bool = False
    metrics_listen: str | None = DEFAULT_METRICS_LISTEN
    health_listen: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    max_snapshot_age_s: float | None = None
    reload_interval_s: float = 2.0
    #: Decision cache bytes per snapshot generation (0: off), the largest question it keeps,
    #: and the byte bound of each memo (service/caches.py).
    cache_size: int = 32 << 20
    cache_max_question: int = 2 << 10
    memo_size: int = 4 << 20
    max_batch: int = 1000
    #: Largest BatchCheck in bytes, and the batch work in progress at once before calls are
    #: shed with RESOURCE_EXHAUSTED (service/work.py).
    max_batch_bytes: int = 4 << 20
    max_inflight_work: int = 16 << 20
    # Limits on what clients may hold (issue 9, D6; service/limits.py). 0 disables idle/age.
    max_receive_bytes: int = 4 * 1024 * 1024
    max_concurrent_streams: int = 100
    max_concurrent_rpcs: int = 1000
    max_connections: int = 1000
    keepalive_time_s: float = 60.0
    keepalive_timeout_s: float = 20.0
    max_connection_idle_s: float = 300.0
    max_connection_age_s: float = 3600.0
    max_connection_age_grace_s: float = 10.0
    grace_period_s: float = 10.0
    shutdown_delay_s: float = 1.0
    workers: int = 1
    #: Threads of the server's pool (app.py); 0: one per call --max-concurrent-rpcs lets in, so
    #: calls that wait for a slow client's request can never hold every thread.
    threads: int = 0
    #: Set for the workers of `--workers N` (SO_REUSEPORT on their shared TCP ports).
    reuse_port: bool = False
    log_level: str = "info"
    # Envoy ext_authz adapter.
    jwt_metadata_namespace: str = "envoy.filters.http.jwt_authn"
    jwt_payload_key: str = "jwt_payload"
    header_tenant: str = "x-ms-client-tenant-id"
    header_object_id: str = "x-ms-client-object-id"
    header_groups: str = "x-ms-client-groups"
    header_claims: str = "x-ms-client-amr"
    trust_headers: bool = False
    #: Deny a caller whose token has no `groups` claim instead of evaluating it with no groups.
    require_groups_claim: bool = False
    #: For --policy: how the policy directory is compiled (serve takes compile's flags).
    compile_options: CompileOptions = DEFAULT_OPTIONS
    #: --decision-log and its options; None: off.
    decision_log: decision_log.DecisionLogSettings | None = None


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `xtenant-pdp serve`; defaults are None so that the environment can fill them."""
    source = p.add_mutually_exclusive_group()
    source.add_argument("--snapshot", metavar="FILE", help="compiled snapshot to serve (hot-reloaded)")
    source.add_argument("--policy", metavar="DIR", help="policy directory, compiled at start and on change")
    p.add_argument(
        "--listen",
        action="append",
        metavar="ADDR",
        help=f"host:port or unix:/path (repeatable; default {DEFAULT_LISTEN_HELP})",
    )
    p.add_argument("--socket-mode", metavar="OCTAL", help="file mode of Unix sockets (default 660)")
    p.add_argument(
        "--trust-socket-dir",
        action="store_const",
        const="true",
        help="accept a socket directory not owned by this user or writable by others (a pod's emptyDir)",
    )
    p.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help=f"Prometheus /metrics address (default {DEFAULT_METRICS_LISTEN}; `off` disables)",
    )
    p.add_argument(
        "--health-listen",
        metavar="HOST:PORT",
        help="also serve grpc.health.v1 alone, in plaintext, here (for Kubernetes gRPC probes)",
    )
    p.add_argument("--tls-cert", metavar="FILE", help="server certificate (PEM) for TCP listeners")
    p.add_argument("--tls-key", metavar="FILE", help="server private key (PEM)")
    p.add_argument("--tls-client-ca", metavar="FILE", help="require client certificates signed by this CA (mTLS)")
    p.add_argument(
        "--max-snapshot-age",
        metavar="DURATION",
        help="older snapshots make health NOT_SERVING and decisions fail closed (e.g. 24h)",
    )
    p.add_argument("--reload-interval", metavar="DURATION", help="how often to poll the source (default 2s)")
    p.add_argument(
        "--cache-size", metavar="BYTES", help="decision cache bytes per snapshot; 0 disables (default 32MiB)"
    )
    p.add_argument(
        "--cache-max-question", metavar="BYTES", help="questions above this size are never cached (default 2KiB)"
    )
    p.add_argument("--memo-size", metavar="BYTES", help="bytes of each response/token memo (default 4MiB)")
    p.add_argument("--max-batch", metavar="N", help="largest BatchCheck accepted, in questions (default 1000)")
    p.add_argument("--max-batch-bytes", metavar="BYTES", help="largest BatchCheck accepted (default 4MiB)")
    p.add_argument(
        "--max-inflight-work",
        metavar="BYTES",
        help="BatchCheck work in progress before calls get RESOURCE_EXHAUSTED (default 16MiB)",
    )
    for name, metavar, _, text in _LIMIT_FLAGS:
        p.add_argument("--" + name.replace("_", "-"), metavar=metavar, help=text)
    p.add_argument("--grace-period", metavar="DURATION", help="time in-flight calls get on SIGTERM (default 10s)")
    p.add_argument(
        "--shutdown-delay",
        metavar="DURATION",
        help="on SIGTERM, keep answering this long after health turns NOT_SERVING (default 1s)",
    )
    p.add_argument("--workers", metavar="N", help="server processes sharing TCP ports with SO_REUSEPORT (default 1)")
    p.add_argument(
        "--threads",
        metavar="N",
        help="threads answering calls, per server process (default 0: as many as --max-concurrent-rpcs)",
    )
    p.add_argument("--log-level", metavar="LEVEL", help="debug, info, warning or error (default info)")
    p.add_argument(
        "--jwt-metadata-namespace", metavar="NAME", help="ext_authz: metadata namespace of Envoy's jwt_authn filter"
    )
    p.add_argument("--jwt-payload-key", metavar="KEY", help="ext_authz: jwt_authn payload_in_metadata key")
    p.add_argument(
        "--trust-headers",
        action="store_const",
        const="true",
        help="ext_authz: fall back to identity headers when no verified JWT payload is present",
    )
    p.add_argument(
        "--require-groups-claim",
        action="store_const",
        const="true",
        help="ext_authz: deny a token without a `groups` claim (else it is evaluated as a member of no group)",
    )
    decision_log.add_arguments(p)


def _pick(args: argparse.Namespace, env: Mapping[str, str], name: str) -> str | None:
    value = getattr(args, name, None)
    if value is not None:
        return ",".join(value) if isinstance(value, list) else str(value)
    return env.get(ENV_PREFIX + name.upper())


def settings_from(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Settings:
    """Flags over environment over defaults. Raises ConfigError naming the setting."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}

    def setting(name: str, convert: type | object = str) -> None:
        raw = _pick(args, env, name)
        if raw is None or raw == "":
            return
        try:
            values[_RENAMES.get(name, name)] = convert(raw)  # type: ignore[operator]
        except ValueError as exc:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} ({ENV_PREFIX}{name.upper()}): {exc}") from None

    setting("snapshot", Path)
    setting("policy", Path)
    setting("listen", lambda raw: tuple(ListenAddress.parse(a) for a in raw.split(",") if a.strip()))
    setting("socket_mode", _socket_mode)
    setting("trust_socket_dir", _flag)
    setting("metrics_listen", lambda raw: None if raw.lower() in ("off", "none", "") else _check_hostport(raw))
    setting("health_listen", _check_hostport)
    setting("tls_cert", Path)
    setting("tls_key", Path)
    setting("tls_client_ca", Path)
    setting("max_snapshot_age", parse_duration)
    setting("reload_interval", parse_duration)
    setting("cache_size", parse_size)
    setting("cache_max_question", parse_size)
    setting("memo_size", parse_size)
    setting("max_batch", _positive)
    setting("max_batch_bytes", _positive_size)
    setting("max_inflight_work", _positive_size)
    for name, _, convert, _ in _LIMIT_FLAGS:
        setting(name, convert)
    setting("grace_period", parse_duration)
    setting("shutdown_delay", parse_duration)
    setting("workers", _positive)
    setting("threads", _non_negative)
    setting("log_level", _log_level)
    setting("jwt_metadata_namespace")
    setting("jwt_payload_key")
    setting("trust_headers", _flag)
    setting("require_groups_claim", _flag)
    try:
        values["decision_log"] = decision_log.settings_from(decision_log.pick_from(args, env, ENV_PREFIX))
    except ValueError as exc:
        raise ConfigError(f"--decision-log options: {exc}") from None
    settings = Settings(**values)  # type: ignore[arg-type]
    _validate(settings)
    return settings


_RENAMES = {
    "max_snapshot_age": "max_snapshot_age_s",
    "reload_interval": "reload_interval_s",
    "grace_period": "grace_period_s",
    "shutdown_delay": "shutdown_delay_s",
    "keepalive_time": "keepalive_time_s",
    "keepalive_timeout": "keepalive_timeout_s",
    "max_connection_idle": "max_connection_idle_s",
    "max_connection_age": "max_connection_age_s",
    "max_connection_age_grace": "max_connection_age_grace_s",
}


def _flag(raw: str) -> bool:
    """A switch from the environment: anything but a known yes or no is an error (a typo must
    not switch off --require-groups-claim or --trust-socket-dir silently)."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"`{raw}` is not a switch: use true or false (also 1/0, yes/no, on/off)")


def _socket_mode(raw: str) -> int:
    mode = int(raw, 8)
    if not 0 <= mode <= 0o777 or mode & 0o600 != 0o600:
        raise ValueError(f"`{raw}` must be an octal mode up to 777 that lets the owner read and write (e.g. 660)")
    return mode


def _check_hostport(raw: str) -> str:
    return ListenAddress.parse(raw).raw


def _non_negative(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"`{raw}` must be 0 or more")
    return value


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(f"`{raw}` must be 1 or more")
    return value


def _positive_size(raw: str) -> int:
    value = parse_size(raw)
    if value < 1:
        raise ValueError(f"`{raw}` must be 1 byte or more")
    return value


def _positive_duration(raw: str) -> float:
    value = parse_duration(raw)
    if value <= 0:
        raise ValueError(f"`{raw}` must be more than 0")
    return value


#: The limits of issue 9 D6 (service/limits.py): (setting, metavar, parser, help). 0 turns idle/age off.
_LIMIT_FLAGS: tuple[tuple[str, str, Callable[[str], object], str], ...] = (
    ("max_receive_bytes", "SIZE", _receive_size, "largest request message (default 4MiB), else RESOURCE_EXHAUSTED"),
    ("max_concurrent_streams", "N", _positive, "HTTP/2 streams one connection may open (default 100)"),
    ("max_concurrent_rpcs", "N", _positive, "calls in progress; more are shed with RESOURCE_EXHAUSTED (default 1000)"),
    ("max_connections", "N", _positive, "open client connections (default 1000)"),
    ("keepalive_time", "DURATION", _positive_duration, "ping a connection quiet this long (default 60s)"),
    ("keepalive_timeout", "DURATION", _positive_duration, "close it if the ping is not answered (default 20s)"),
    ("max_connection_idle", "DURATION", parse_duration, "close a connection without calls this long (default 5m)"),
    ("max_connection_age", "DURATION", parse_duration, "ask clients to reconnect after this long (default 1h)"),
    ("max_connection_age_grace", "DURATION", parse_duration, "then give their calls this long (default 10s)"),
)


def _log_level(raw: str) -> str:
    if raw.lower() not in ("debug", "info", "warning", "error"):
        raise ValueError(f"`{raw}` is not one of debug, info, warning, error")
    return raw.lower()


def _validate(s: Settings) -> None:
    if s.snapshot is None and s.policy is None:
        raise ConfigError("one of --snapshot or --policy (XTENANT_PDP_SNAPSHOT, XTENANT_PDP_POLICY) is required")
    if s.snapshot is not None and s.policy is not None:
        raise ConfigError("--snapshot and --policy are exclusive")
    if (s.tls_cert is None) != (s.tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    if s.tls_client_ca is not None and s.tls_cert is None:
        raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key")
    if s.workers > 1 and any(a.is_unix for a in s.listen):
        raise ConfigError("--workers > 1 shares TCP ports only: a Unix socket cannot be bound by several processes")
    if not s.listen:
        raise ConfigError("--listen needs at least one address")
    if s.max_inflight_work < s.max_batch_bytes:
        raise ConfigError("--max-inflight-work must be at least --max-batch-bytes (one batch must always fit)")
