"""`xtenant-pdp bench`: load a running decision server and report what it sustained.

    xtenant-pdp bench --target unix:$PWD/.xtenant-pdp/pdp.sock --snapshot policy.xtsnap --duration 10s
    xtenant-pdp bench --target 127.0.0.1:9191 --policy policy/ --mode open --rate 1000 --format json
    xtenant-pdp bench --target ... --questions questions.jsonl --sweep 500,1000,2000,4000 --output sweep.json

Questions come from a snapshot or a policy directory (a realistic mix drawn by
:func:`xtenant_pdp.bench.mix.questions_from_index`: every question kind, hits and misses, 0-8
group ids) or from a file of CheckRequest JSON lines, and are sent round-robin. The closed loop
keeps ``--concurrency`` calls in flight; the open loop offers ``--rate`` calls/s and measures
each call from its intended send time, so a stall cannot hide in the tail (coordinated
omission). A run stops after ``--count`` calls or ``--duration``, whichever comes first.

Exit status: 0 when every measured call succeeded, 1 when some failed or the target could not
be reached, 64 for bad arguments.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.bench.loadgen import BenchError, run
from xtenant_pdp.bench.mix import describe, questions_from_index
from xtenant_pdp.bench.pacing import NS_PER_S, Mode
from xtenant_pdp.bench.report import BenchResult, build_report, format_duration, render_text
from xtenant_pdp.config import default_listen

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "add_bench_arguments",
    "load_requests",
    "main",
    "parse_rates",
    "run_bench",
    "write_sweep_plot",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 64
DEFAULT_TARGET = default_listen()  # where `serve` listens by default, from the same environment
DEFAULT_DURATION = "10s"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class UsageError(ValueError):
    """A bad combination of flags; the message says which."""


def _duration(text: str) -> float:
    from xtenant_pdp.config import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return seconds


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{text}` is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"`{text}` must be 1 or more")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{text}` is not a number of requests per second") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"`{text}` must be a positive number of requests per second")
    return value


def parse_rates(text: str) -> list[float]:
    """``500,1000,2k`` -> [500.0, 1000.0, 2000.0] (``k`` multiplies by 1,000)."""
    rates = []
    for raw in text.split(","):
        part = raw.strip().lower()
        if not part:
            continue
        scale = 1000.0 if part.endswith("k") else 1.0
        rates.append(_rate(part.removesuffix("k")) * scale)
    if not rates:
        raise argparse.ArgumentTypeError("give at least one rate, e.g. 500,1000,2000")
    return rates


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``xtenant-pdp bench``."""
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--snapshot", metavar="FILE", help="draw a realistic question mix from this snapshot")
    source.add_argument("--policy", metavar="DIR", help="draw the mix from this policy directory (compiled here)")
    source.add_argument("--questions", metavar="FILE", help="send these CheckRequest JSON lines (.jsonl) instead")
    p.add_argument(
        "--target", metavar="ADDR", default=DEFAULT_TARGET, help=f"host:port or unix:/path (default {DEFAULT_TARGET})"
    )
    p.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        help="closed: --concurrency calls in flight; open: --rate calls/s, latency from the intended send time "
        "(default: open when --rate is given, else closed)",
    )
    p.add_argument(
        "-c", "--concurrency", type=_positive_int, default=16, help="calls in flight (open loop: at most) (16)"
    )
    p.add_argument("--rate", type=_rate, metavar="RPS", help="open loop: calls offered per second")
    p.add_argument(
        "-z",
        "--duration",
        type=_duration,
        metavar="DURATION",
        help=f"measured run length, e.g. 30s (default {DEFAULT_DURATION} unless --count is given)",
    )
    p.add_argument("-n", "--count", type=_positive_int, metavar="N", help="stop after N measured calls")
    p.add_argument(
        "--warmup", type=_duration, default=0.0, metavar="DURATION", help="unmeasured load first, e.g. 2s (0)"
    )
    p.add_argument(
        "--batch-size", type=_positive_int, default=1, metavar="N", help="questions per call; >1 sends BatchCheck (1)"
    )
    p.add_argument("--timeout", type=_duration, default=5.0, metavar="DURATION", help="deadline of each call (5s)")
    p.add_argument(
        "--connect-timeout", type=_duration, default=10.0, metavar="DURATION", help="wait for the target (10s)"
    )
    p.add_argument("--format", choices=["text", "json"], default="text", help="report format (text)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report (the sweep's JSON) here, not stdout")
    p.add_argument(
        "--sweep",
        type=parse_rates,
        metavar="RATE,RATE,...",
        help="open-loop runs at each offered rate; writes the JSON and a latency-vs-throughput PNG "
        "(with matplotlib: pip install 'xtenant-pdp[bench]')",
    )
    p.add_argument(
        "--distinct", type=_positive_int, default=10_000, metavar="N", help="questions drawn for the mix (10000)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the question mix (0)")
    p.add_argument("--tls-ca", metavar="FILE", help="trust this CA (enables TLS)")
    p.add_argument("--tls-cert", metavar="FILE", help="client certificate for mTLS")
    p.add_argument("--tls-key", metavar="FILE", help="client private key for mTLS")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it is shown only on a terminal)")


# --------------------------------------------------------------------------- inputs


def load_requests(args: argparse.Namespace) -> list[pdp_pb2.CheckRequest]:
    """The requests to send, from ``--questions``, ``--snapshot`` or ``--policy``.

    Raises UsageError for an unreadable or empty source, naming it (and the bad line).
    """
    if args.questions:
        return _requests_from_jsonl(Path(args.questions))
    from xtenant_pdp.errors import CompileErrors, SnapshotLoadError
    from xtenant_pdp.loader import load_policy_dir, load_snapshot_file

    try:
        index = load_snapshot_file(args.snapshot) if args.snapshot else load_policy_dir(args.policy)
    except SnapshotLoadError as exc:
        raise UsageError(str(exc)) from None
    except CompileErrors as exc:
        raise UsageError(f"{exc.args[0]}: {args.policy} (run `xtenant-pdp validate` for details)") from None
    return questions_from_index(index, args.distinct, args.seed)


def _requests_from_jsonl(path: Path) -> list[pdp_pb2.CheckRequest]:
    from xtenant_pdp.convert import request_from_json
    from xtenant_pdp.errors import QueryError

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read questions: {getattr(exc, 'strerror', None) or exc}: {path}") from None
    requests = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            requests.append(request_from_json(line))
        except QueryError as exc:
            raise UsageError(f"{path}:{number}: {exc}") from None
    if not requests:
        raise UsageError(f"{path}: no questions")
    return requests


def _credentials(args: argparse.Namespace) -> Any:
    if not (args.tls_ca or args.tls_cert or args.tls_key):
        return None
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.target.startswith("unix:"):
        raise UsageError("TLS applies to TCP targets only")
    import grpc

    def read(name: str | None) -> bytes | None:
        if not name:
            return None
        try:
            return Path(name).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None

    return grpc.ssl_channel_credentials(
        root_certificates=read(args.tls_ca), private_key=read(args.tls_key), certificate_chain=read(args.tls_cert)
    )


def _mode(args: argparse.Namespace) -> Mode:
    if args.sweep:
        if args.mode == Mode.CLOSED.value:
            raise UsageError("--sweep runs the open loop; drop --mode closed")
        if args.rate is not None:
            raise UsageError("--sweep gives the rates; drop --rate")
        return Mode.OPEN
    mode = Mode(args.mode) if args.mode else (Mode.OPEN if args.rate is not None else Mode.CLOSED)
    if mode is Mode.OPEN and args.rate is None:
        raise UsageError("--mode open needs --rate")
    if mode is Mode.CLOSED and args.rate is not None:
        raise UsageError("--rate applies to the open loop (--mode open)")
    return mode


def _bounds(args: argparse.Namespace) -> tuple[float | None, int | None]:
    duration = args.duration
    if duration is None and args.count is None:
        duration = _duration(DEFAULT_DURATION)
    if duration is not None and duration <= 0:
        raise UsageError("--duration must be more than 0")
    return duration, args.count


# --------------------------------------------------------------------------- reports


def _options(args: argparse.Namespace, requests: Sequence[pdp_pb2.CheckRequest]) -> dict[str, Any]:
    return {
        "target": args.target,
        "source": args.snapshot or args.policy or args.questions,
        "questions": len(requests),
        "mix": describe(requests),
        "batchSize": args.batch_size,
        "duration": args.duration,
        "count": args.count,
        "warmup": args.warmup,
        "timeout": args.timeout,
        "tls": bool(args.tls_ca or args.tls_cert),
    }


def report_dict(result: BenchResult, options: dict[str, Any]) -> dict[str, Any]:
    """ghz's JSON keys (see :mod:`xtenant_pdp.bench.report`), plus ``date``, ``options``, ``unsent``."""
    report = build_report(result)
    report["unsent"] = result.unsent
    report["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    report["options"] = options
    return report


def _emit(text: str, args: argparse.Namespace, out: TextIO) -> None:
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        out.write(text)
        out.flush()


def _failed(result: BenchResult) -> bool:
    return result.count > result.status_codes.get("OK", 0)


def sweep_row(result: BenchResult) -> str:
    lat = result.latency
    errors = result.count - result.status_codes.get("OK", 0)
    offered = result.offered_rate or 0.0
    return (
        f"  {offered:>10.0f} {result.rps:>10.0f} {format_duration(lat.p50_ns):>10} {format_duration(lat.p99_ns):>10} "
        f"{format_duration(lat.p999_ns):>10} {errors:>7} {result.unsent:>7}"
    )


def write_sweep_plot(points: Sequence[dict[str, Any]], path: Path, *, title: str = "") -> bool:
    """Latency (p50, p99, p99.9) against achieved throughput; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    achieved = [p["rps"] for p in points]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    try:
        tops: list[float | None] = [None] * len(points)
        for percentage, style in ((50.0, "o-"), (99.0, "s-"), (99.9, "^-")):
            ys = []
            for i, p in enumerate(points):
                found = [d["latency"] for d in p["latencyDistribution"] if d["percentage"] == percentage]
                ys.append(found[0] / 1e6 if found else float("nan"))
                if found:
                    tops[i] = found[0] / 1e6
            ax.plot(achieved, ys, style, label=f"p{percentage:g}")
        for p, top in zip(points, tops, strict=True):
            if top is not None:  # label each point with its offered rate, above its highest marker
                label = f"offered {p['offeredRate']:g}/s"
                ax.annotate(label, (p["rps"], top), textcoords="offset points", xytext=(0, 6), fontsize=7, ha="center")
        ax.set_yscale("log")
        ax.set_xlabel("achieved throughput (calls/s)")
        ax.set_ylabel("latency from intended send time (ms)")
        ax.set_title(title or "xtenant-pdp bench --sweep (open loop)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return True


def _sweep(args: argparse.Namespace, requests: list[pdp_pb2.CheckRequest], common: dict[str, Any], out: TextIO) -> int:
    duration, count = _bounds(args)
    options = _options(args, requests)
    points: list[dict[str, Any]] = []
    failed = False
    lines = [
        "",
        "Sweep (open loop):",
        f"  {'offered/s':>10} {'achieved/s':>10} {'p50':>10} {'p99':>10} {'p99.9':>10} {'errors':>7} {'unsent':>7}",
    ]
    for rate in args.sweep:
        result = run(
            args.target, requests, mode=Mode.OPEN, rate=rate, duration_s=duration, max_requests=count, **common
        )
        failed |= _failed(result)
        points.append(report_dict(result, {**options, "rate": rate}))
        lines.append(sweep_row(result))
    body = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "options": {**options, "rates": args.sweep, "concurrency": args.concurrency},
        "points": points,
    }
    text = json.dumps(body, indent=2, allow_nan=False) + "\n"
    json_path = Path(args.output) if args.output else Path("xtenant-pdp-sweep.json")
    json_path.write_text(text, encoding="utf-8")
    png_path = json_path.with_suffix(".png")
    lines.append("")
    lines.append(f"JSON: {json_path}")
    if write_sweep_plot(points, png_path, title=f"xtenant-pdp bench --sweep, {args.target}"):
        lines.append(f"PNG:  {png_path}")
    else:
        lines.append("PNG:  not drawn: matplotlib is not installed (pip install 'xtenant-pdp[bench]')")
    if args.format == "json" and not args.output:
        out.write(text)
    else:
        out.write("\n".join(lines) + "\n")
    out.flush()
    return EXIT_FAILED if failed else EXIT_OK


def run_bench(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Carry out ``xtenant-pdp bench`` with parsed ``args``; return the exit status."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        mode = _mode(args)
        duration, count = _bounds(args)
        credentials = _credentials(args)
        requests = load_requests(args)
    except UsageError as exc:
        err.write(f"xtenant-pdp bench: error: {exc}\n")
        return EXIT_USAGE
    common: dict[str, Any] = {
        "concurrency": args.concurrency,
        "warmup_s": args.warmup,
        "batch_size": args.batch_size,
        "timeout_s": args.timeout,
        "progress": not args.no_progress,
        "credentials": credentials,
        "connect_timeout_s": args.connect_timeout,
    }
    try:
        if args.sweep:
            return _sweep(args, requests, common, out)
        result = run(
            args.target, requests, mode=mode, rate=args.rate, duration_s=duration, max_requests=count, **common
        )
    except BenchError as exc:
        err.write(f"xtenant-pdp bench: error: {exc}\n")
        return EXIT_FAILED
    except ValueError as exc:
        err.write(f"xtenant-pdp bench: error: {exc}\n")
        return EXIT_USAGE
    if args.format == "json":
        text = json.dumps(report_dict(result, _options(args, requests)), indent=2, allow_nan=False) + "\n"
    else:
        text = render_text(result)
        text += f"\n  Target: {args.target}, {len(requests)} distinct questions"
        text += f", measured {result.elapsed_ns / NS_PER_S:.2f}s\n"
    _emit(text, args, out)
    return EXIT_FAILED if _failed(result) else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m xtenant_pdp.bench.cli``: the same as ``xtenant-pdp bench``."""
    parser = _Parser(prog="xtenant-pdp bench", description=__doc__.split("\n")[0])
    add_bench_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_bench(args)
    except KeyboardInterrupt:  # pragma: no cover
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
