"""The in-repo client: `xtenant-pdp check --server ADDR` and a small Python API over the stub.

with DecisionClient("unix:/srv/app/.xtenant-pdp/pdp.sock") as client:
    answers = client.check_many([request, ...])     # BatchCheck in chunks, order kept
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

import grpc

from xtenant_pdp.api import pdp_pb2, pdp_pb2_grpc


class DecisionClient:
    def __init__(
        self,
        target: str,
        *,
        timeout_s: float = 5.0,
        tls_ca: Path | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        batch_size: int = 500,
    ) -> None:
        if tls_ca is not None:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=tls_ca.read_bytes(),
                private_key=tls_key.read_bytes() if tls_key else None,
                certificate_chain=tls_cert.read_bytes() if tls_cert else None,
            )
            self._channel = grpc.secure_channel(target, credentials)
        else:
            self._channel = grpc.insecure_channel(target)
        self._stub = pdp_pb2_grpc.DecisionServiceStub(self._channel)
        self._timeout = timeout_s
        self._batch_size = batch_size

    def __enter__(self) -> DecisionClient:
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def check(self, request: pdp_pb2.CheckRequest) -> pdp_pb2.CheckResponse:
        """One question; a malformed one raises grpc.RpcError (INVALID_ARGUMENT)."""
        response: pdp_pb2.CheckResponse = self._stub.Check(request, timeout=self._timeout)
        return response

    def check_many(self, requests: Iterable[pdp_pb2.CheckRequest]) -> Iterator[pdp_pb2.CheckResponse]:
        """Answers in order; a malformed question gets its own error answer."""
        chunk: list[pdp_pb2.CheckRequest] = []
        for request in requests:
            chunk.append(request)
            if len(chunk) == self._batch_size:
                yield from self._batch(chunk)
                chunk = []
        if chunk:
            yield from self._batch(chunk)

    def _batch(self, chunk: Sequence[pdp_pb2.CheckRequest]) -> Iterator[pdp_pb2.CheckResponse]:
        response = self._stub.BatchCheck(pdp_pb2.BatchCheckRequest(requests=chunk), timeout=self._timeout)
        yield from response.responses

    def snapshot_info(self) -> pdp_pb2.GetSnapshotInfoResponse:
        info: pdp_pb2.GetSnapshotInfoResponse = self._stub.GetSnapshotInfo(
            pdp_pb2.GetSnapshotInfoRequest(), timeout=self._timeout
        )
        return info
