"""Command-line subcommands of the "before you change" tools, registered from xtenant_pdp.cli."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from xtenant_pdp.admin.plan import add_principal_arguments
from xtenant_pdp.changes.questions import Record
from xtenant_pdp.changes.signins import Problem, read_signins
from xtenant_pdp.compiler import CompileOptions
from xtenant_pdp.errors import CompileErrors, QueryError, SnapshotLoadError
from xtenant_pdp.graph.reader import GUID_RE, is_guid
from xtenant_pdp.index import Index
from xtenant_pdp.loader import load_policy_dir, load_snapshot_file

EXIT_OK, EXIT_FAILURE, EXIT_INVALID_POLICY, EXIT_USAGE = 0, 1, 3, 64


class PolicyLoadError(Exception):
    """A policy folder or snapshot that cannot be read; carries the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def load_policy(path: str, options: CompileOptions | None = None) -> Index:
    """A policy folder (compiled on the spot) or a snapshot file, as an index."""
    try:
        if Path(path).is_dir():
            return load_policy_dir(path, options or CompileOptions())
        return load_snapshot_file(path)
    except CompileErrors as exc:
        lines = [f"error: {issue}" for issue in exc.issues[:20]]
        raise PolicyLoadError("\n".join([*lines, f"{exc.args[0]}: {path}"]), EXIT_INVALID_POLICY) from None
    except SnapshotLoadError as exc:
        raise PolicyLoadError(f"error: {exc}", EXIT_FAILURE) from None


def _format_value(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def cmd_diff(args: argparse.Namespace) -> int:
    from xtenant_pdp.changes.diff import diff

    try:
        old, new = load_policy(args.old), load_policy(args.new)
    except PolicyLoadError as exc:
        sys.stderr.write(f"{exc}\n")
        return exc.code
    records = diff(old, new)
    checks = None
    if args.principal:
        from xtenant_pdp.admin.plan import principal_checks

        try:
            checks = principal_checks(old, records, args)  # the role assignments in force before the change
        except QueryError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return EXIT_USAGE
    out = sys.stdout
    if args.format == "json":
        found = {(c.tenant_id, c.action): c.to_dict() for c in checks or ()}
        dicts = []
        for r in records:
            d = r.to_dict()
            if checks is not None and r.required_action:
                d["principalCheck"] = found[(r.tenant_id, r.required_action)]
            dicts.append(d)
        json.dump(dicts, out, indent=2)
        out.write("\n")
        return _principal_exit(checks)
    for r in records:
        what = f".{r.property}" if r.property else ""
        out.write(
            f"{r.tenant_id} {r.target}{what}: {_format_value(r.old_value)} -> {_format_value(r.new_value)}"
            f"  [{r.activity}; {r.required_action or 'no role action (read-only)'}]\n"
        )
    out.write(f"{len(records)} change(s)\n")
    if checks is not None:
        from xtenant_pdp.admin.plan import report_lines

        out.write("\n".join(report_lines(args.principal, checks)) + "\n")
    return _principal_exit(checks)


def _principal_exit(checks: Any) -> int:
    """D13 via --principal: non-zero when the principal may not perform some required action."""
    from xtenant_pdp.admin.plan import EXIT_ACTION_DENIED

    return EXIT_ACTION_DENIED if checks and any(not c.allowed for c in checks) else EXIT_OK


class ProblemLog:
    """Malformed records: each reported on stderr with file and line (the first MAX_SHOWN), then counted."""

    MAX_SHOWN = 100

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, problem: Problem) -> None:
        self.count += 1
        if self.count <= self.MAX_SHOWN:
            sys.stderr.write(f"warning: {problem} (skipped)\n")

    def close(self) -> None:
        if self.count:
            sys.stderr.write(f"warning: {self.count} malformed line(s) or record(s) skipped\n")


_DURATION = re.compile(r"(\d+)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``30d``, ``12h``, ``90m`` before now, or an ISO date/time."""
    now = now or datetime.now(UTC)
    if match := _DURATION.fullmatch(text.strip()):
        amount, unit = int(match[1]), match[2]
        try:
            return now - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:  # 9999999d: before year 1
            raise ValueError(f"{text} reaches before the year 1") from None
    parsed = datetime.fromisoformat(text.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def cmd_activity(args: argparse.Namespace) -> int:
    from xtenant_pdp.changes import activity

    try:
        since = parse_since(args.since) if args.since else None
    except ValueError:
        sys.stderr.write(f"error: --since: expected e.g. 30d, 12h or an ISO date, got {args.since!r}\n")
        return EXIT_USAGE
    if not GUID_RE.fullmatch(args.tenant) or (args.external_tenant and not GUID_RE.fullmatch(args.external_tenant)):
        sys.stderr.write("error: --tenant and --external-tenant take tenant ids (GUIDs)\n")
        return EXIT_USAGE
    problems = ProblemLog()
    direction = activity.AccessDirection(args.direction.capitalize()) if args.direction else None
    rows = activity.summarize(
        read_signins(args.sources, problems),
        args.tenant,
        direction=direction,
        external_tenant=args.external_tenant,
        since=since,
    )
    problems.close()
    if args.format == "json":
        sys.stdout.write(json.dumps([r.to_dict() for r in rows], indent=2) + "\n")
    elif args.format == "csv":
        sys.stdout.write(activity.to_csv(rows))
    else:
        sys.stdout.write(activity.to_table(rows))
    if args.html:
        try:
            Path(args.html).write_text(activity.to_html(rows, args.tenant.lower()), encoding="utf-8")
        except OSError as exc:
            sys.stderr.write(f"error: cannot write {args.html}: {exc.strerror or exc}\n")
            return EXIT_FAILURE
    return EXIT_OK


def _local_tenant(args: argparse.Namespace, old: Index, new: Index) -> str | int | None:
    """The tenant whose sign-ins are replayed: --tenant, checked against both policies (a typo
    replayed nothing and passed), else the one tenant they hold; or EXIT_USAGE."""
    known = sorted(frozenset(old.tenants) | frozenset(new.tenants))
    if not args.tenant:
        return known[0] if len(known) == 1 else None
    local = args.tenant.lower()
    if not is_guid(local):
        sys.stderr.write(f"error: --tenant: `{args.tenant}` is not a GUID\n")
        return EXIT_USAGE
    if local not in known:
        sys.stderr.write(f"error: --tenant: {local} is in neither policy (they hold {', '.join(known)})\n")
        return EXIT_USAGE
    return local


def _records(args: argparse.Namespace, local: str | None, problems: ProblemLog) -> Iterator[Record]:
    from xtenant_pdp.changes.questions import read_records

    return read_records(args.sources, local, problems)


def _load_two(old: str, new: str) -> tuple[Index, Index] | int:
    try:
        return load_policy(old), load_policy(new)
    except PolicyLoadError as exc:
        sys.stderr.write(f"{exc}\n")
        return exc.code


def cmd_impact(args: argparse.Namespace) -> int:
    from xtenant_pdp.changes.impact import impact, report_lines

    loaded = _load_two(args.old, args.new)
    if isinstance(loaded, int):
        return loaded
    local = _local_tenant(args, *loaded)
    if isinstance(local, int):
        return local
    problems = ProblemLog()
    result = impact(*loaded, _records(args, local, problems))
    problems.close()
    if args.format == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(report_lines(result)) + "\n")
    if result.totals.lost and not args.allow_loss:
        sys.stderr.write(f"error: {result.totals.lost} recorded access(es) would be lost (--allow-loss to accept)\n")
        return EXIT_FAILURE
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from xtenant_pdp.changes.plan import make_plan

    loaded = _load_two(args.old, args.new)
    if isinstance(loaded, int):
        return loaded
    local = _local_tenant(args, *loaded)
    if isinstance(local, int):
        return local
    problems = ProblemLog()
    plan = make_plan(*loaded, _records(args, local, problems) if args.sources else None)
    problems.close()
    checks = None
    if args.principal:
        from xtenant_pdp.admin.plan import principal_checks, report_lines

        try:
            checks = principal_checks(loaded[0], plan.changes, args)  # the role assignments before the change
        except QueryError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return EXIT_USAGE
    if args.format == "json":
        found = plan.to_dict()
        if checks is not None:
            found["principal"] = {"principalId": args.principal, "actions": [c.to_dict() for c in checks]}
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
    else:
        sys.stdout.write(plan.report())
        if checks is not None:
            sys.stdout.write("\n".join(report_lines(args.principal, checks)) + "\n")
    if plan.loses_access and not args.allow_loss:
        return EXIT_FAILURE
    return _principal_exit(checks)


def _add_replay_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tenant",
        metavar="LOCAL",
        help="the local tenant whose sign-in exports these are (needed when the policies hold several tenants)",
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--allow-loss", action="store_true", help="exit 0 even when recorded access would be lost")


def register(sub: Any) -> None:
    """Add the subcommands to the main parser's subparsers."""
    p = sub.add_parser("diff", help="every changed property between two policies, with the role action it needs")
    p.add_argument("old", metavar="OLD", help="policy folder or snapshot")
    p.add_argument("new", metavar="NEW", help="policy folder or snapshot")
    p.add_argument("--format", choices=["text", "json"], default="text")
    add_principal_arguments(p)
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("activity", help="cross-tenant sign-in activity per external tenant (Graph sign-in exports)")
    p.add_argument("--tenant", required=True, metavar="LOCAL", help="the local tenant id")
    p.add_argument("--direction", choices=["inbound", "outbound"])
    p.add_argument("--external-tenant", metavar="ID")
    p.add_argument("--since", metavar="AGE", help="only sign-ins newer than this (30d, 12h, or an ISO date)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--html", metavar="REPORT.html", help="also write a self-contained HTML report with charts")
    p.add_argument("sources", nargs="+", metavar="SOURCES", help="Graph sign-in pages, JSON lines or portal CSV")
    p.set_defaults(func=cmd_activity)

    p = sub.add_parser("impact", help="replay recorded sign-ins and decisions against two policies; exit 1 on loss")
    p.add_argument("--from", dest="old", required=True, metavar="OLD", help="policy folder or snapshot in force")
    p.add_argument("--to", dest="new", required=True, metavar="NEW", help="the policy to roll out")
    _add_replay_options(p)
    p.add_argument("sources", nargs="+", metavar="SOURCES", help="sign-in exports and decision logs")
    p.set_defaults(func=cmd_impact)

    p = sub.add_parser("plan", help="diff + required role actions + impact on recorded sign-ins, one report")
    _add_replay_options(p)
    # Options go before the paths: argparse cannot take options between NEW and SOURCES.
    p.add_argument("old", metavar="OLD", help="policy folder or snapshot in force")
    p.add_argument("new", metavar="NEW", help="the policy to roll out")
    p.add_argument("sources", nargs="*", metavar="SOURCES", help="sign-in exports and decision logs")
    add_principal_arguments(p)
    p.set_defaults(func=cmd_plan)
