"""What one client may hold of the server (issue 9, D6): connections, streams, calls, bytes, time.

Without these, half-sent HTTP/2 streams took RSS from 47 to 992 MB and a client that never read
held 431 MB. Each limit is a gRPC core channel argument (names from grpc/impl/channel_arg_names.h)
or the server's ``maximum_concurrent_rpcs``, set from a `serve` flag; README "Limits" lists
them with their defaults.
"""

from __future__ import annotations

from typing import Any

from xtenant_pdp.config import Settings

#: Responses are small (about 100 bytes a decision); this only bounds a maximal BatchCheck answer.
MAX_SEND_BYTES = 16 * 1024 * 1024


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def server_options(settings: Settings) -> list[tuple[str, Any]]:
    """Channel arguments of the decision server (the health-only server takes its own)."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", settings.max_receive_bytes),
        ("grpc.max_send_message_length", MAX_SEND_BYTES),
        ("grpc.max_concurrent_streams", settings.max_concurrent_streams),
        ("grpc.max_allowed_incoming_connections", settings.max_connections),
        # Server pings find peers that vanished or stopped reading their socket.
        ("grpc.keepalive_time_ms", _ms(settings.keepalive_time_s)),
        ("grpc.keepalive_timeout_ms", _ms(settings.keepalive_timeout_s)),
        ("grpc.so_reuseport", 1 if settings.reuse_port else 0),
    ]
    # 0 disables (gRPC's default: unlimited).
    if settings.max_connection_idle_s > 0:
        options.append(("grpc.max_connection_idle_ms", _ms(settings.max_connection_idle_s)))
    if settings.max_connection_age_s > 0:
        options.append(("grpc.max_connection_age_ms", _ms(settings.max_connection_age_s)))
        options.append(("grpc.max_connection_age_grace_ms", _ms(settings.max_connection_age_grace_s)))
    return options
