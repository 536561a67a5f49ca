"""Command-line subcommands of the "before you change" tools, registered from xtenant_pdp.cli."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from xtenant_pdp.admin.plan import add_principal_arguments
from xtenant_pdp.compiler import CompileOptions
from xtenant_pdp.errors import CompileErrors, QueryError, SnapshotLoadError
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


def register(sub: Any) -> None:
    """Add the subcommands to the main parser's subparsers."""
    p = sub.add_parser("diff", help="every changed property between two policies, with the role action it needs")
    p.add_argument("old", metavar="OLD", help="policy folder or snapshot")
    p.add_argument("new", metavar="NEW", help="policy folder or snapshot")
    p.add_argument("--format", choices=["text", "json"], default="text")
    add_principal_arguments(p)
    p.set_defaults(func=cmd_diff)
