"""`xtenant-pdp bench`: arguments, the question mix, and short real runs (no timing assertions)."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import json_format
from server_kit import EXAMPLE_POLICY, InProcessServer, settings_from_flags

from xtenant_pdp import convert
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.bench.cli import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_bench_arguments,
    main,
    parse_rates,
    run_bench,
)
from xtenant_pdp.bench.mix import describe, questions_from_index
from xtenant_pdp.bench.report import REPORT_KEYS
from xtenant_pdp.compiler import compile_policy_dir
from xtenant_pdp.config import default_listen
from xtenant_pdp.decision import AccessQuery, Decision
from xtenant_pdp.engine import Engine
from xtenant_pdp.evaluator import evaluate
from xtenant_pdp.loader import load_policy_dir, load_snapshot_bytes
from xtenant_pdp.synthetic import QUESTION_KINDS, write_policy_dir

# The keys ghz users know (tests/test_bench_report.py pins REPORT_KEYS itself).
GHZ_KEYS = set(REPORT_KEYS) - {"decisionsPerSecond", "mode", "offeredRate", "concurrency"}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    return parser.parse_args(list(argv))


# --------------------------------------------------------------------------- arguments


def test_defaults() -> None:
    args = parse("--snapshot", "s.xtsnap")
    assert args.target == default_listen()  # where `serve` listens by default (D3: not in /tmp)
    assert (args.mode, args.rate, args.duration, args.count) == (None, None, None, None)
    assert (args.concurrency, args.batch_size, args.timeout, args.warmup) == (16, 1, 5.0, 0.0)
    assert (args.format, args.output, args.sweep) == ("text", None, None)


def test_every_flag_parses() -> None:
    args = parse(
        "--policy", "dir", "--target", "127.0.0.1:9191", "--mode", "open", "-c", "8", "--rate", "250.5",
        "--duration", "1.5m", "--count", "100", "--warmup", "500ms", "--batch-size", "10", "--timeout", "2s",
        "--format", "json", "--output", "out.json", "--tls-ca", "ca.pem", "--tls-cert", "c.pem",
        "--tls-key", "c.key", "--seed", "7", "--distinct", "50",
    )  # fmt: skip
    assert args.policy == "dir" and args.target == "127.0.0.1:9191"
    assert (args.mode, args.concurrency, args.rate) == ("open", 8, 250.5)
    assert (args.duration, args.count, args.warmup, args.timeout) == (90.0, 100, 0.5, 2.0)
    assert (args.batch_size, args.format, args.output) == (10, "json", "out.json")
    assert (args.tls_ca, args.tls_cert, args.tls_key, args.seed, args.distinct) == ("ca.pem", "c.pem", "c.key", 7, 50)


def test_sweep_rates() -> None:
    assert parse_rates("500, 1000,2k") == [500.0, 1000.0, 2000.0]
    assert parse("--questions", "q.jsonl", "--sweep", "100,200").sweep == [100.0, 200.0]


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no question source
        ["--snapshot", "a", "--policy", "b"],  # two sources
        ["--snapshot", "a", "-c", "0"],
        ["--snapshot", "a", "--rate", "-5"],
        ["--snapshot", "a", "--duration", "soon"],
        ["--snapshot", "a", "--mode", "sideways"],
        ["--snapshot", "a", "--sweep", ","],
        ["--snapshot", "a", "--format", "xml"],
    ],
)
def test_bad_arguments_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == EXIT_USAGE
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mode", "open"], "--mode open needs --rate"),
        (["--mode", "closed", "--rate", "10"], "--rate applies to the open loop"),
        (["--sweep", "10,20", "--rate", "10"], "--sweep gives the rates"),
        (["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["--tls-ca", "ca.pem"], "TLS applies to TCP targets only"),
    ],
)
def test_bad_combinations_are_refused_before_any_call(argv: list[str], message: str) -> None:
    err = io.StringIO()
    args = parse("--policy", str(EXAMPLE_POLICY), "--target", "unix:/nonexistent/pdp.sock", *argv)
    assert run_bench(args, out=io.StringIO(), err=err) == EXIT_USAGE
    assert message in err.getvalue()


def test_bad_question_line_is_named(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"identitySync": {}}\n{"nonsense": 1}\n')
    err = io.StringIO()
    assert run_bench(parse("--questions", str(questions)), out=io.StringIO(), err=err) == EXIT_USAGE
    assert f"{questions}:2:" in err.getvalue()


def test_unreachable_target_fails_without_hanging(tmp_path: Path) -> None:
    args = parse(
        "--policy", str(EXAMPLE_POLICY), "--target", f"unix:{tmp_path}/none.sock", "--count", "5",
        "--connect-timeout", "0.3s",
    )  # fmt: skip
    err = io.StringIO()
    assert run_bench(args, out=io.StringIO(), err=err) == EXIT_FAILED
    assert "could not connect" in err.getvalue()


# --------------------------------------------------------------------------- the mix


@pytest.fixture(scope="module")
def synthetic_index(tmp_path_factory: pytest.TempPathFactory) -> object:
    policy = write_policy_dir(tmp_path_factory.mktemp("mix") / "policy", partners=200, tenants=3, seed=3)
    return load_snapshot_bytes(compile_policy_dir(policy.root).data)


def test_mix_has_every_kind_and_valid_requests(synthetic_index: object) -> None:
    requests = questions_from_index(synthetic_index, 3000, seed=1)  # type: ignore[arg-type]
    assert len(requests) == 3000
    assert set(describe(requests)) == set(QUESTION_KINDS)
    for request in requests:
        assert isinstance(request, pdp_pb2.CheckRequest)
        convert.query_from_proto(request)  # raises QueryError for an invalid question
    # The JSON form round-trips (what --questions files hold).
    assert convert.request_from_json(json.dumps(json_format.MessageToDict(requests[0]))) == requests[0]


def test_mix_is_deterministic_for_a_seed(synthetic_index: object) -> None:
    a = questions_from_index(synthetic_index, 500, seed=9)  # type: ignore[arg-type]
    b = questions_from_index(synthetic_index, 500, seed=9)  # type: ignore[arg-type]
    c = questions_from_index(synthetic_index, 500, seed=10)  # type: ignore[arg-type]
    assert [r.SerializeToString() for r in a] == [r.SerializeToString() for r in b]
    assert [r.SerializeToString() for r in a] != [r.SerializeToString() for r in c]


def test_mix_hits_and_misses(synthetic_index: object) -> None:
    index = synthetic_index
    requests = questions_from_index(index, 3000, seed=2)  # type: ignore[arg-type]
    queries = [convert.query_from_proto(r) for r in requests]
    decisions = {evaluate(index, q).decision for q in queries}  # type: ignore[arg-type]
    assert decisions == {Decision.ALLOW, Decision.DENY}
    access = [q for q in queries if isinstance(q, AccessQuery)]
    tenants = index.tenants  # type: ignore[attr-defined]
    partners = [q for q in access if q.external_tenant_id in tenants[q.tenant_id].partners]
    strangers = [q for q in access if q.external_tenant_id not in index.clouds]  # type: ignore[attr-defined]
    assert partners and strangers, "questions about partners and about tenants in no policy"

    def targeted(q: AccessQuery) -> bool:
        setting = tenants[q.tenant_id].partners[q.external_tenant_id].channels[q.direction][q.feature]
        return q.user_id in setting.u_ids or not setting.u_ids.isdisjoint(q.group_ids)

    hits = [q for q in partners if targeted(q)]
    assert hits and len(hits) < len(partners), "some subjects are targeted, some are not"
    assert max(len(q.group_ids) for q in access) >= 3, "several group ids"
    assert any(not q.group_ids for q in access)


def test_mix_from_the_example_policy(example_engine: Engine) -> None:
    requests = questions_from_index(example_engine.index, 400, seed=0)
    assert set(describe(requests)) == set(QUESTION_KINDS)
    answers = [example_engine.check_proto(r) for r in requests]
    assert not [a for a in answers if a.HasField("error")]


def test_mix_rejects_bad_arguments(example_engine: Engine) -> None:
    with pytest.raises(ValueError, match="count"):
        questions_from_index(example_engine.index, -1)
    with pytest.raises(ValueError, match="kinds"):
        questions_from_index(example_engine.index, 1, kinds=["gossip"])
    assert questions_from_index(example_engine.index, 0) == []


# --------------------------------------------------------------------------- real runs


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    sock = tmp_path_factory.mktemp("sock") / "pdp.sock"
    settings = settings_from_flags(
        "--policy", str(EXAMPLE_POLICY), "--listen", f"unix:{sock}", "--listen", "127.0.0.1:0",
        "--metrics-listen", "off", "--shutdown-delay", "0s",
    )  # fmt: skip
    pdp = InProcessServer(settings)
    try:
        pdp.start()
        yield pdp
    finally:
        pdp.close()


def unix_target(server: InProcessServer) -> str:
    return next(a for a in server.bound if a.startswith("unix:"))


def run_json(*argv: str) -> tuple[int, dict[str, object]]:
    out = io.StringIO()
    code = run_bench(parse(*argv, "--format", "json", "--timeout", "5s", "--no-progress"), out=out, err=io.StringIO())
    return code, json.loads(out.getvalue())


def test_closed_loop_run(server: InProcessServer) -> None:
    code, report = run_json(
        "--policy", str(EXAMPLE_POLICY), "--target", unix_target(server), "--count", "200", "-c", "4",
    )  # fmt: skip
    assert code == EXIT_OK
    assert set(report) >= GHZ_KEYS and set(report) >= REPORT_KEYS
    assert report["count"] == 200
    assert report["statusCodeDistribution"] == {"OK": 200}
    assert report["errorDistribution"] == {}
    assert report["mode"] == "closed" and report["offeredRate"] is None
    assert [d["percentage"] for d in report["latencyDistribution"]] == [50.0, 90.0, 95.0, 99.0, 99.9]  # type: ignore[union-attr]
    assert sum(b["count"] for b in report["histogram"]) == 200  # type: ignore[union-attr]
    assert set(report["options"]["mix"]) == set(QUESTION_KINDS)  # type: ignore[index]


def test_open_loop_run_over_tcp(server: InProcessServer) -> None:
    code, report = run_json(
        "--policy", str(EXAMPLE_POLICY), "--target", server.tcp_target, "--rate", "400", "--count", "200",
    )  # fmt: skip
    assert code == EXIT_OK
    assert report["mode"] == "open" and report["offeredRate"] == 400.0
    assert report["count"] + report["unsent"] == 200  # type: ignore[operator]
    assert report["statusCodeDistribution"] == {"OK": report["count"]}


def test_batch_run_counts_decisions(server: InProcessServer, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(Path(EXAMPLE_POLICY.parent / "questions.jsonl").read_text())
    code, report = run_json(
        "--questions", str(questions), "--target", unix_target(server), "--count", "20", "--batch-size", "10",
    )  # fmt: skip
    assert code == EXIT_OK
    assert report["count"] == 20
    assert report["decisionsPerSecond"] > report["rps"]  # type: ignore[operator]


def test_failed_calls_are_counted_by_status(server: InProcessServer, tmp_path: Path) -> None:
    # A question with no question in it: well-formed JSON, refused by the server (INVALID_ARGUMENT).
    questions = tmp_path / "bad.jsonl"
    questions.write_text("{}\n")
    code, report = run_json("--questions", str(questions), "--target", unix_target(server), "--count", "30")
    assert code == EXIT_FAILED
    assert report["statusCodeDistribution"] == {"INVALID_ARGUMENT": 30}
    assert sum(report["errorDistribution"].values()) == 30  # type: ignore[union-attr]


def test_text_report(server: InProcessServer, tmp_path: Path) -> None:
    output = tmp_path / "report.txt"
    args = parse(
        "--policy", str(EXAMPLE_POLICY), "--target", unix_target(server), "--count", "50", "--output", str(output),
    )  # fmt: skip
    assert run_bench(args, out=io.StringIO(), err=io.StringIO()) == EXIT_OK
    text = output.read_text()
    assert "Requests/sec" in text and "Latency distribution" in text and "[OK]" in text


def test_sweep_writes_json_and_png(server: InProcessServer, tmp_path: Path) -> None:
    output = tmp_path / "sweep.json"
    out = io.StringIO()
    args = parse(
        "--snapshot", str(snapshot_of_example(tmp_path)), "--target", unix_target(server), "--sweep", "200,400",
        "--count", "60", "--output", str(output), "--no-progress",
    )  # fmt: skip
    assert run_bench(args, out=out, err=io.StringIO()) == EXIT_OK
    body = json.loads(output.read_text())
    assert [p["offeredRate"] for p in body["points"]] == [200.0, 400.0]
    for point in body["points"]:
        assert set(point) >= GHZ_KEYS
        assert point["count"] + point["unsent"] == 60
    assert "Sweep (open loop)" in out.getvalue()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in out.getvalue()
        return
    png = output.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def snapshot_of_example(tmp_path: Path) -> Path:
    path = tmp_path / "example.xtsnap"
    path.write_bytes(compile_policy_dir(EXAMPLE_POLICY).data)
    assert load_policy_dir(EXAMPLE_POLICY).snapshot_id == load_snapshot_bytes(path.read_bytes()).snapshot_id
    return path
