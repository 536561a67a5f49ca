"""Traffic and process sampling for the fault suite and the soak (issue 9): well-behaved clients
that check every answer against the snapshot that gave it, abusive clients beside them, and
/proc samples of a server's RSS, file descriptors and threads. Loopback only; every loop is
bounded in calls and time; every thread is joined in ``stop()``."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from server_kit import RPC_TIMEOUT, SERVICE, decision_stub, flip_question, questions, sample_value, scrape

from xtenant_pdp.api import pdp_pb2

ALLOW = (pdp_pb2.DECISION_ALLOW, pdp_pb2.REASON_ACCESS_ALLOWED)
DENY = (pdp_pb2.DECISION_DENY, pdp_pb2.REASON_USER_BLOCKED)
STALE = (pdp_pb2.DECISION_DENY, pdp_pb2.REASON_SNAPSHOT_STALE)


def outcome(answer: pdp_pb2.CheckResponse) -> tuple[int, int]:
    return answer.decision, answer.reason


def load_failures(metrics_port: int) -> float:
    """xtenant_pdp_snapshot_load_failures_total as the server exports it."""
    return sample_value(scrape(metrics_port), "xtenant_pdp_snapshot_load_failures_total") or 0.0


@dataclass
class Verdicts:
    """What each snapshot must answer to the flip question, and when answers must turn stale."""

    expected: dict[str, tuple[int, int]]
    #: Wall-clock time after which an answer other than STALE is wrong (None: never stale).
    stale_after: Callable[[], float | None] = lambda: None
    #: Grace for clocks and in-flight answers around the stale deadline.
    slack_s: float = 0.5

    def wrong(self, answer: pdp_pb2.CheckResponse, received_at: float) -> str | None:
        outcome = (answer.decision, answer.reason)
        if outcome == STALE:
            return None  # failing closed is never wrong
        if self.expected.get(answer.snapshot_id) != outcome:
            return f"{answer.snapshot_id} answered {outcome}"
        deadline = self.stale_after()
        if deadline is not None and received_at > deadline + self.slack_s:
            return f"{outcome} {received_at - deadline:.2f}s after the snapshot went stale"
        return None


@dataclass
class WellBehaved(threading.Thread):
    """Check and small BatchCheck calls, one at a time with a deadline; every failure and wrong
    answer is recorded, with each call's latency."""

    channel: grpc.Channel
    verdicts: Verdicts
    max_seconds: float
    pause_s: float = 0.0
    calls: int = 0
    failures: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    halt: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        super().__init__(name="well-behaved", daemon=True)

    def __hash__(self) -> int:
        return id(self)

    def run(self) -> None:
        stub = decision_stub(self.channel)
        flip = flip_question()
        batch = pdp_pb2.BatchCheckRequest(requests=[flip, *questions()[:4]])
        deadline = time.monotonic() + self.max_seconds
        while not self.halt.is_set() and time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                if self.calls % 4 == 3:
                    answer = stub.BatchCheck(batch, timeout=RPC_TIMEOUT).responses[0]
                else:
                    answer = stub.Check(flip, timeout=RPC_TIMEOUT)
            except grpc.RpcError as exc:
                self.failures.append(f"{exc.code()}: {exc.details()}")
            else:
                self.latencies.append(time.perf_counter() - started)
                problem = self.verdicts.wrong(answer, time.time())
                if problem is not None:
                    self.wrong.append(problem)
            self.calls += 1
            if self.pause_s:
                time.sleep(self.pause_s)


@dataclass
class Abusive(threading.Thread):
    """One kind of abuse, over and over: ``max-batch`` (the largest BatchCheck allowed, items
    full of never-seen group ids), ``garbage`` (bytes that are no CheckRequest), ``abandon``
    (calls cancelled right after they start, channels dropped) or ``deadline`` (1 ms deadlines)."""

    target: str
    kind: str
    max_seconds: float
    calls: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    halt: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        super().__init__(name=f"abusive-{self.kind}", daemon=True)

    def __hash__(self) -> int:
        return id(self)

    def _big_batch(self) -> bytes:
        rng = random.Random(7)
        item = flip_question()
        items = []
        for _ in range(1000):
            question = pdp_pb2.CheckRequest()
            question.CopyFrom(item)
            question.access.group_ids[:] = [
                f"{rng.getrandbits(32):08x}-0000-4000-8000-{rng.getrandbits(48):012x}" for _ in range(20)
            ]
            items.append(question)
        return pdp_pb2.BatchCheckRequest(requests=items).SerializeToString()

    def run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        big = self._big_batch() if self.kind == "max-batch" else b""
        rng = random.Random(self.kind)
        channel = grpc.insecure_channel(self.target)
        try:
            while not self.halt.is_set() and time.monotonic() < deadline:
                self.calls += 1
                try:
                    self._once(channel, big, rng)
                    self.codes["OK"] += 1
                except grpc.RpcError as exc:
                    self.codes[str(exc.code())] += 1
                if self.kind == "abandon" and self.calls % 10 == 0:
                    channel.close()
                    channel = grpc.insecure_channel(self.target)
        finally:
            channel.close()

    def _once(self, channel: grpc.Channel, big: bytes, rng: random.Random) -> None:
        identity: Callable[[bytes], bytes] = lambda b: b  # noqa: E731 - raw bytes both ways
        check = channel.unary_unary(f"/{SERVICE}/Check", identity, identity)
        batch = channel.unary_unary(f"/{SERVICE}/BatchCheck", identity, identity)
        if self.kind == "max-batch":
            batch(big, timeout=RPC_TIMEOUT * 2)
        elif self.kind == "garbage":
            check(rng.randbytes(rng.randint(1, 512)), timeout=RPC_TIMEOUT)
        elif self.kind == "abandon":
            future = batch.future(big or flip_question().SerializeToString(), timeout=RPC_TIMEOUT)
            future.cancel()
            time.sleep(0.002)
        elif self.kind == "deadline":
            check(flip_question().SerializeToString(), timeout=0.001)
        else:  # pragma: no cover - a typo in a test
            raise ValueError(self.kind)


@dataclass
class Traffic:
    """Well-behaved and abusive clients started together and stopped together."""

    good: list[WellBehaved]
    bad: list[Abusive] = field(default_factory=list)

    def start(self) -> Traffic:
        for thread in [*self.good, *self.bad]:
            thread.start()
        return self

    def stop(self) -> None:
        for thread in [*self.good, *self.bad]:
            thread.halt.set()
        for thread in [*self.good, *self.bad]:
            thread.join(RPC_TIMEOUT * 3)
            assert not thread.is_alive(), f"{thread.name} did not stop"

    @property
    def calls(self) -> int:
        return sum(t.calls for t in self.good)

    @property
    def failures(self) -> list[str]:
        return [f for t in self.good for f in t.failures]

    @property
    def wrong(self) -> list[str]:
        return [w for t in self.good for w in t.wrong]

    def percentile(self, p: float) -> float:
        values = sorted(v for t in self.good for v in t.latencies)
        return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


@dataclass(frozen=True)
class ProcSample:
    at: float
    rss_mib: float
    fds: int
    threads: int


def sample(pid: int) -> ProcSample:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return ProcSample(
        time.monotonic(),
        int(fields["VmRSS"].split()[0]) / 1024,
        len(os.listdir(f"/proc/{pid}/fd")),
        int(fields["Threads"]),
    )
