"""Typed server settings from flags and XTENANT_PDP_* environment variables, validated once.

Every `serve` flag has an environment variable: `--max-snapshot-age` is
`XTENANT_PDP_MAX_SNAPSHOT_AGE`; repeatable flags take comma-separated values. A flag given on
the command line wins over the environment.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from xtenant_pdp.compiler import DEFAULT_OPTIONS, CompileOptions
from xtenant_pdp.service import decision_log

ENV_PREFIX = "XTENANT_PDP_"
DEFAULT_LISTEN = ("unix:/tmp/xtenant-pdp/pdp.sock",)
DEFAULT_METRICS_LISTEN = "0.0.0.0:9464"

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
    listen: tuple[ListenAddress, ...] = tuple(ListenAddress(a) for a in DEFAULT_LISTEN)
    socket_mode: int = 0o660
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
    grace_period_s: float = 10.0
    shutdown_delay_s: float = 1.0
    workers: int = 1
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
        help=f"host:port or unix:/path (repeatable; default {DEFAULT_LISTEN[0]})",
    )
    p.add_argument("--socket-mode", metavar="OCTAL", help="file mode of Unix sockets (default 660)")
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
    p.add_argument("--grace-period", metavar="DURATION", help="time in-flight calls get on SIGTERM (default 10s)")
    p.add_argument(
        "--shutdown-delay",
        metavar="DURATION",
        help="on SIGTERM, keep answering this long after health turns NOT_SERVING (default 1s)",
    )
    p.add_argument("--workers", metavar="N", help="server processes sharing TCP ports with SO_REUSEPORT (default 1)")
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
    setting("socket_mode", lambda raw: int(raw, 8))
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
    setting("grace_period", parse_duration)
    setting("shutdown_delay", parse_duration)
    setting("workers", _positive)
    setting("log_level", _log_level)
    setting("jwt_metadata_namespace")
    setting("jwt_payload_key")
    setting("trust_headers", lambda raw: raw.lower() in ("1", "true", "yes", "on"))
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
}


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
