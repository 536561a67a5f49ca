"""`serve --workers 2`: two real server processes on one TCP port, metrics added up across them."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from conftest import EXAMPLE_POLICY
from prometheus_client.parser import text_string_to_metric_families

from xtenant_pdp import convert
from xtenant_pdp.api import pdp_pb2_grpc
from xtenant_pdp.compiler import compile_policy_dir
from xtenant_pdp.metrics import FLUSH_INTERVAL_S

QUESTIONS = (EXAMPLE_POLICY.parent / "questions.jsonl").read_text().splitlines()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, int]]:
    snapshot = tmp_path / "policy.xtsnap"
    snapshot.write_bytes(compile_policy_dir(EXAMPLE_POLICY).data)
    grpc_port, metrics_port = _free_port(), _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xtenant_pdp",
            "serve",
            "--snapshot",
            str(snapshot),
            "--workers",
            "2",
            "--listen",
            f"127.0.0.1:{grpc_port}",
            "--metrics-listen",
            f"127.0.0.1:{metrics_port}",
            "--grace-period",
            "3s",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, grpc_port, metrics_port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


def _wait_serving(port: int, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pdp_pb2_grpc.DecisionServiceStub(channel)
            with contextlib.suppress(grpc.RpcError):
                stub.Check(convert.request_from_json(QUESTIONS[0]), timeout=1)
                return
        time.sleep(0.2)
    raise AssertionError("workers did not start serving in time")


def _settled_scrape(port: int, deadline_s: float = 30.0) -> dict:  # type: ignore[type-arg]
    """A scrape once every worker has flushed its counts: each flushes every FLUSH_INTERVAL_S,
    so two scrapes more than that apart agree."""
    deadline = time.monotonic() + deadline_s
    previous = _scrape(port)
    while time.monotonic() < deadline:
        time.sleep(FLUSH_INTERVAL_S * 1.2)
        current = _scrape(port)
        if current == previous:
            return current
        previous = current
    raise AssertionError("metrics did not settle")


def test_two_workers_share_the_port_and_add_up_their_metrics(
    workers: tuple[subprocess.Popen[str], int, int],
) -> None:
    process, grpc_port, metrics_port = workers
    _wait_serving(grpc_port)
    baseline = _settled_scrape(metrics_port)
    calls = 0
    # A new connection per round: SO_REUSEPORT spreads connections, not calls.
    for _ in range(30):
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = pdp_pb2_grpc.DecisionServiceStub(channel)
            for line in QUESTIONS[:5]:
                stub.Check(convert.request_from_json(line), timeout=5)
                calls += 1
    after = _settled_scrape(metrics_port)

    def total(name: str, **labels: str) -> float:
        return sum(
            value - baseline.get(key, 0.0)
            for key, value in after.items()
            if key[0] == name and all(dict(key[1]).get(k) == v for k, v in labels.items())
        )

    assert total("xtenant_pdp_decisions_total") == calls
    assert total("grpc_server_handled_total", grpc_method="Check", grpc_code="OK") == calls
    pids = {
        dict(labels)["pid"]
        for (name, labels), value in after.items()
        if name == "xtenant_pdp_snapshot_info" and value == 1
    }
    assert len(pids) == 2, "both workers report their active snapshot"

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert process.stderr is not None
    lines = [json.loads(line) for line in process.stderr.read().splitlines() if line.startswith("{")]
    assert any(entry["msg"] == "workers stopped" and entry["code"] == 0 for entry in lines)
