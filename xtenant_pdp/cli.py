"""`xtenant-pdp`: compile, validate, check, explain, inspect and serve.

Exit codes (ExitCode): 0 ok or allow, 1 failure (a bad question line, an unreadable
snapshot), 2 deny (explain), 3 policy compile or validation errors, 64 usage.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import enum
import io
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from google.protobuf import json_format

from xtenant_pdp import convert
from xtenant_pdp._version import __version__
from xtenant_pdp.compiler import CompileOptions, CompileResult, MissingHalf, compile_policy_dir
from xtenant_pdp.compiler.report import add_report_options, json_report, write_report
from xtenant_pdp.engine import Engine
from xtenant_pdp.errors import CompileErrors, CompileIssue, QueryError, Severity, SnapshotLoadError
from xtenant_pdp.explain import explain
from xtenant_pdp.loader import read_regular_file
from xtenant_pdp.progress import Progress
from xtenant_pdp.snapshot import load as load_snapshot

#: The most a Kubernetes ConfigMap holds (deploy/README.md delivers snapshots in one).
CONFIGMAP_LIMIT = 1024 * 1024


class ExitCode(enum.IntEnum):
    OK = 0
    FAILURE = 1
    DENY = 2
    INVALID_POLICY = 3
    USAGE = 64


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message}\n")


def _compile_options(args: argparse.Namespace) -> CompileOptions:
    return CompileOptions(
        strict=args.strict,
        missing_half=MissingHalf.NO_RESTRICTION if args.missing_half == "no-restriction" else MissingHalf.INHERIT,
        automatic_redemption_across_clouds=args.cross_cloud_automatic_redemption,
        ignore=frozenset(getattr(args, "ignore", None) or ()),
    )


def _add_compile_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict", action="store_true", help="treat findings (2.3 C1-C5, D7) as errors")
    if p.prog.split()[-1] in ("compile", "validate"):
        p.add_argument("--previous", metavar="SNAPSHOT", help="the snapshot this one replaces: report C5 removals")
        add_report_options(p)
    p.add_argument(
        "--missing-half",
        choices=["inherit", "no-restriction"],
        default="inherit",
        help="R4: a B2B setting's missing half inherits the default's (D2, default) or restricts nothing",
    )
    p.add_argument(
        "--cross-cloud-automatic-redemption",
        action="store_true",
        help="2.7: let automatic redemption work across clouds (D1 says it does not)",
    )


def _print_issues(issues: Sequence[CompileIssue], out: IO[str], *, show_info: bool = False) -> None:
    for issue in issues:
        if issue.severity is Severity.INFO and not show_info:
            continue
        out.write(f"{issue.severity.value}: {issue}\n")


def _compile(args: argparse.Namespace) -> CompileResult | None:
    previous = None
    if getattr(args, "previous", None):
        try:
            previous = load_snapshot(Path(args.previous).read_bytes(), name=args.previous)[1]
        except (OSError, SnapshotLoadError) as exc:
            sys.stderr.write(f"error: --previous: {exc}\n")
            return None
    progress = Progress.for_stderr()
    try:
        return compile_policy_dir(args.policy_dir, _compile_options(args), previous=previous, progress=progress)
    except CompileErrors as exc:
        if progress is not None:
            progress.close()  # before the report: the status line shares stderr
        if getattr(args, "format", "text") == "json":
            json.dump(json_report(exc.issues, ok=False), sys.stdout, indent=2)
            sys.stdout.write("\n")
        write_report(exc.issues, sys.stderr, args, show_info=True)
        sys.stderr.write(f"{exc.args[0]}: {args.policy_dir}\n")
        return None
    finally:
        if progress is not None:
            progress.close()


def cmd_compile(args: argparse.Namespace) -> ExitCode:
    result = _compile(args)
    if result is None:
        return ExitCode.INVALID_POLICY
    write_report(result.findings, sys.stderr, args)
    try:
        Path(args.output).write_bytes(result.data)
    except OSError as exc:
        sys.stderr.write(f"error: cannot write snapshot: {exc.strerror or exc}: {args.output}\n")
        return ExitCode.FAILURE
    info = result.info
    sys.stderr.write(
        f"compiled {info.tenant_count} tenant(s), {info.partner_count} partner(s) -> {args.output} "
        f"({len(result.data)} bytes, {info.snapshot_id})\n"
    )
    if len(result.data) > CONFIGMAP_LIMIT:
        sys.stderr.write(
            f"warning: the snapshot ({len(result.data):,} bytes) is over the 1 MiB a Kubernetes ConfigMap holds: "
            'deliver it on another volume (deploy/README.md, "Why a snapshot ConfigMap", Size)\n'
        )
    return ExitCode.OK


def cmd_validate(args: argparse.Namespace) -> ExitCode:
    result = _compile(args)
    if result is None:
        return ExitCode.INVALID_POLICY
    shown = [f for f in result.findings if args.show_unknown or f.severity is not Severity.INFO]
    if args.format == "json":
        json.dump(json_report(shown, ok=True), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        write_report(shown, sys.stdout, args, show_info=args.show_unknown)
        warnings = sum(f.severity is Severity.WARNING for f in result.findings)
        waived = sum(f.severity is Severity.WARNING and bool(f.waived) for f in result.findings)
        sys.stdout.write(
            f"ok: {result.info.tenant_count} tenant(s), {result.info.partner_count} partner(s), {warnings} warning(s)"
            + (f" ({waived} waived)" if waived else "")
            + "\n"
        )
    return ExitCode.OK


def _engine(args: argparse.Namespace) -> Engine | None:
    try:
        if args.snapshot:
            return Engine.from_snapshot(args.snapshot)
        return Engine.from_policy_dir(args.policy, _compile_options(args))
    except SnapshotLoadError as exc:
        sys.stderr.write(f"error: {exc}\n")
    except CompileErrors as exc:
        _print_issues(exc.issues, sys.stderr)
        sys.stderr.write(f"{exc.args[0]}: {args.policy}\n")
    return None


def _question_lines(source: IO[bytes]) -> Iterator[str | QueryError]:
    """Every line, decoded one by one: a blank line or one that is not UTF-8 gets its own error,
    so that answer N always belongs to line N."""
    for number, raw in enumerate(source, start=1):
        if not raw.strip():
            yield QueryError("$", f'line {number} is blank: a question is a JSON object such as {{"access": {{...}}}}')
            continue
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            yield QueryError("$", f"line {number} is not UTF-8 text")


def _remote_answers(args: argparse.Namespace, lines: Iterator[str | QueryError]) -> Iterator[dict[str, Any]]:
    """Answers from a running server (BatchCheck), in input order; bad lines answered locally."""
    from xtenant_pdp.service.client import DecisionClient

    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    with DecisionClient(
        args.server, tls_ca=path(args.tls_ca), tls_cert=path(args.tls_cert), tls_key=path(args.tls_key)
    ) as client:
        pending: list[dict[str, Any] | None] = []
        parsed: list[Any] = []
        for line in lines:
            try:
                if isinstance(line, QueryError):
                    raise line
                parsed.append(convert.request_from_json(line))
                pending.append(None)
            except QueryError as exc:
                pending.append(convert.response_to_dict(convert.error_response(exc, "")))
        answers = iter(client.check_many(parsed))
        for local in pending:
            if local is not None:
                yield local
                continue
            answer = convert.response_to_dict(next(answers))
            if "error" in answer:  # the batch prefixes paths with requests[i]; a line is one question
                answer["error"]["field"] = answer["error"].get("field", "").split(".", 1)[-1]
            yield answer


def _stdin_bytes() -> IO[bytes]:
    buffer = getattr(sys.stdin, "buffer", None)
    return buffer if buffer is not None else io.BytesIO(sys.stdin.read().encode("utf-8", "surrogateescape"))


def _local_answer(engine: Engine, line: str | QueryError) -> dict[str, Any]:
    if isinstance(line, QueryError):
        return convert.response_to_dict(convert.error_response(line, engine.snapshot_id))
    return engine.check(line)


def cmd_check(args: argparse.Namespace) -> ExitCode:
    try:
        source: IO[bytes] = open(args.input, "rb") if args.input else _stdin_bytes()  # noqa: SIM115
    except OSError as exc:
        sys.stderr.write(f"error: cannot read questions: {exc.strerror or exc}: {args.input}\n")
        return ExitCode.FAILURE
    try:
        echo = _Echo() if args.echo else None
        lines = _question_lines(source)
        return _check(args, echo.lines(lines) if echo else lines, echo)
    finally:
        if args.input:
            source.close()


class _Echo:
    """--echo: each question (its JSON, else its text) rides along to its answer, in order."""

    def __init__(self) -> None:
        self._pending: collections.deque[Any] = collections.deque()

    def lines(self, lines: Iterator[str | QueryError]) -> Iterator[str | QueryError]:
        for line in lines:
            question: Any = None
            if not isinstance(line, QueryError):
                try:
                    question = json.loads(line)
                except ValueError:
                    question = line.rstrip("\r\n")
            self._pending.append(question)
            yield line

    def answers(self, answers: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for answer in answers:
            yield {"question": self._pending.popleft() if self._pending else None, **answer}


def _check(args: argparse.Namespace, lines: Iterator[str | QueryError], echo: _Echo | None = None) -> ExitCode:
    if args.server:
        import grpc

        try:
            answers: Iterator[dict[str, Any]] = iter(list(_remote_answers(args, lines)))
        except grpc.RpcError as exc:
            sys.stderr.write(f"error: {args.server}: {exc.code().name}: {exc.details()}\n")
            return ExitCode.FAILURE
    else:
        engine = _engine(args)
        if engine is None:
            return ExitCode.INVALID_POLICY if args.policy else ExitCode.FAILURE
        answers = (_local_answer(engine, line) for line in lines)
    failed = 0
    out = sys.stdout
    if echo is not None:
        answers = echo.answers(answers)
    for answer in answers:
        failed += "error" in answer
        out.write(json.dumps(answer, separators=(",", ":")) + "\n")
    out.flush()
    return ExitCode.FAILURE if failed else ExitCode.OK


def cmd_explain(args: argparse.Namespace) -> ExitCode:
    engine = _engine(args)
    if engine is None:
        return ExitCode.INVALID_POLICY if args.policy else ExitCode.FAILURE
    text = args.question if args.question is not None else sys.stdin.read()
    try:
        result, lines = explain(engine.index, convert.query_from_proto(convert.request_from_json(text)))
    except QueryError as exc:  # malformed, or contradicting the snapshot (D12)
        sys.stderr.write(f"error: invalid question: {exc}\n")
        return ExitCode.FAILURE
    sys.stdout.write(f"snapshot {engine.snapshot_id}\n" + "\n".join(lines) + "\n")
    return ExitCode.OK if result.allowed else ExitCode.DENY


def cmd_inspect(args: argparse.Namespace) -> ExitCode:
    try:
        info, snapshot = load_snapshot(read_regular_file(args.snapshot), name=args.snapshot)
    except SnapshotLoadError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return ExitCode.FAILURE
    header = {
        "snapshotId": info.snapshot_id,
        "formatVersion": info.format_version,
        "compilerVersion": info.compiler_version,
        "compilerRelease": info.compiler_release,
        "createdAt": info.created_at.isoformat(),
        "sourceDigest": info.source_digest,
        "tenantCount": info.tenant_count,
        "partnerCount": info.partner_count,
    }
    if args.body:
        header["body"] = json_format.MessageToDict(snapshot)
    json.dump(header, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return ExitCode.OK


def cmd_serve(args: argparse.Namespace) -> ExitCode:
    import asyncio

    from xtenant_pdp import app, logs
    from xtenant_pdp.config import ConfigError, settings_from

    try:
        settings = settings_from(args)
    except ConfigError as exc:
        sys.stderr.write(f"xtenant-pdp serve: error: {exc}\n")
        return ExitCode.USAGE
    logs.configure(settings.log_level)
    from xtenant_pdp.workers import WORKER_ENV, run_workers

    settings = dataclasses.replace(settings, compile_options=_compile_options(args))
    if os.environ.get(WORKER_ENV) is not None:
        # A worker of `--workers N`: shares its TCP ports, the supervisor serves /metrics.
        settings = dataclasses.replace(settings, reuse_port=True, metrics_listen=None)
    elif settings.workers > 1:
        return ExitCode(run_workers(settings, args.argv))
    return ExitCode(asyncio.run(app.serve(settings)))


def _add_source(p: argparse.ArgumentParser, *, server: bool = False) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--snapshot", metavar="FILE", help="a compiled snapshot")
    group.add_argument("--policy", metavar="DIR", help="a policy directory, compiled on the spot")
    if server:
        group.add_argument("--server", metavar="ADDR", help="ask a running server (host:port or unix:/path)")
        p.add_argument("--tls-ca", metavar="FILE", help="with --server: trust this CA (enables TLS)")
        p.add_argument("--tls-cert", metavar="FILE", help="with --server: client certificate for mTLS")
        p.add_argument("--tls-key", metavar="FILE", help="with --server: client private key for mTLS")
    _add_compile_options(p)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="xtenant-pdp", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("compile", help="compile a policy directory into a snapshot")
    p.add_argument("policy_dir", metavar="POLICY_DIR")
    p.add_argument("-o", "--output", required=True, metavar="SNAPSHOT")
    _add_compile_options(p)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("validate", help="report errors and findings of a policy directory")
    p.add_argument("policy_dir", metavar="POLICY_DIR")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--show-unknown", action="store_true", help="also list unknown properties that were ignored")
    _add_compile_options(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("check", help="answer CheckRequest JSON lines from stdin, one response line each")
    _add_source(p, server=True)
    p.add_argument("--input", metavar="FILE", help="read questions from FILE instead of stdin")
    p.add_argument("--echo", action="store_true", help="copy each question into its answer (`question`)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("explain", help="answer one question in human words")
    _add_source(p)
    p.add_argument("question", nargs="?", help="a CheckRequest as JSON (default: read stdin)")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("serve", help="run the gRPC decision service (DecisionService, ext_authz, health)")
    from xtenant_pdp.config import add_serve_arguments

    add_serve_arguments(p)
    _add_compile_options(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("bench", help="load-test a running server (ghz-style report, open or closed loop)")
    from xtenant_pdp.bench.cli import add_bench_arguments, run_bench

    add_bench_arguments(p)
    p.set_defaults(func=run_bench)

    from xtenant_pdp.changes.cli import register as register_changes

    register_changes(sub)

    p = sub.add_parser("inspect", help="print a snapshot's header (and body with --body)")
    p.add_argument("snapshot", metavar="SNAPSHOT")
    p.add_argument("--body", action="store_true")
    p.set_defaults(func=cmd_inspect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # gRPC's C core prints plain-text lines on stderr (each failed TLS handshake, each failed bind,
    # which serve also reports as JSON); logs here are JSON only. GRPC_VERBOSITY=ERROR brings them back.
    # It is read once, when grpc is first imported: set it before the parser imports anything.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return int(args.func(args))
    except BrokenPipeError:  # pragma: no cover - e.g. `| head`
        return ExitCode.OK
    except KeyboardInterrupt:  # pragma: no cover
        return ExitCode.FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
