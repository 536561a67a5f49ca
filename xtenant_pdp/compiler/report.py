"""Human reports of compile issues: capped per code, then one summary line per code.

A real tenant can hold tens of thousands of findings of a handful of codes; the human output
shows the first ``max_per_code`` of each code (in file and path order) and a summary per code,
so it stays a few dozen lines. JSON output (``--format json``) keeps every issue.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from typing import IO

from xtenant_pdp.errors import CompileIssue, Severity
from xtenant_pdp.graph.waivers import WAIVABLE, unknown_code_hint

#: Findings of one code shown by default before the rest is only counted.
DEFAULT_MAX_PER_CODE = 5
_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTICE: 2, Severity.INFO: 3}


def issue_line(issue: CompileIssue) -> str:
    waived = f" (waived: {issue.waived})" if issue.waived else ""
    return f"{issue.severity.value}: {issue}{waived}"


def summary_lines(issues: Sequence[CompileIssue]) -> list[str]:
    """`  D7-MFA   warning  212 (212 partners, 200 waived)`, one line per code, errors first."""
    by_code: dict[str, list[CompileIssue]] = {}
    for issue in issues:
        by_code.setdefault(issue.code.value, []).append(issue)
    rows = []
    for code, group in by_code.items():
        severity = min((i.severity for i in group), key=_RANK.__getitem__)
        partners = len({i.partner for i in group if i.partner})
        waived = sum(bool(i.waived) for i in group)
        details = [f"{partners} partner{'s' if partners != 1 else ''}"] if partners else []
        details += [f"{waived} waived"] if waived else []
        extra = f" ({', '.join(details)})" if details else ""
        rows.append((_RANK[severity], code, f"  {code:<8} {severity.value:<8} {len(group)}{extra}"))
    return [line for _, _, line in sorted(rows)]


def render(
    issues: Sequence[CompileIssue], *, max_per_code: int | None, quiet: bool = False, show_info: bool = False
) -> list[str]:
    """The lines of a human report: issues (capped per code unless None), then the per-code summary."""
    shown = [i for i in issues if show_info or i.severity is not Severity.INFO]
    if not shown:
        return []
    lines = []
    if not quiet:
        counts: Counter[str] = Counter()
        hidden = 0
        for issue in shown:
            counts[issue.code.value] += 1
            # --show-unknown asks for every unknown property: infos are never capped.
            if max_per_code is None or counts[issue.code.value] <= max_per_code or issue.severity is Severity.INFO:
                lines.append(issue_line(issue))
            else:
                hidden += 1
        if hidden:
            lines.append(
                f"... and {hidden} more of the same codes (--max-findings N shows more, --format json lists all)"
            )
    return [*lines, "findings by code:", *summary_lines(shown)]


def _finding_code(value: str) -> str:
    """argparse type of --ignore: a finding code, or a usage error with a did-you-mean."""
    if value in WAIVABLE:
        return value
    raise argparse.ArgumentTypeError(f"`{value}` is not a finding code ({unknown_code_hint(value)})")


def add_report_options(p: argparse.ArgumentParser) -> None:
    """--ignore, --max-findings and --quiet of compile and validate."""
    p.add_argument(
        "--ignore",
        action="append",
        type=_finding_code,
        metavar="CODE",
        help="waive every finding of this code (repeatable); waived findings are still counted",
    )
    p.add_argument(
        "--max-findings",
        type=int,
        default=DEFAULT_MAX_PER_CODE,
        metavar="N",
        help=f"show at most N issues of each code (default {DEFAULT_MAX_PER_CODE}; 0: all); JSON lists all",
    )
    p.add_argument("--quiet", action="store_true", help="print only the summary per code")


def write_report(
    issues: Sequence[CompileIssue], out: IO[str], args: argparse.Namespace, *, show_info: bool = False
) -> None:
    limit = getattr(args, "max_findings", DEFAULT_MAX_PER_CODE)
    lines = render(issues, max_per_code=limit or None, quiet=getattr(args, "quiet", False), show_info=show_info)
    if lines:
        out.write("\n".join(lines) + "\n")


def json_report(issues: Sequence[CompileIssue], *, ok: bool) -> dict[str, object]:
    """Every issue (never capped), and the per-code counts."""
    summary: dict[str, dict[str, int]] = {}
    partners: dict[str, set[str]] = {}
    for issue in issues:
        entry = summary.setdefault(issue.code.value, {"count": 0, "partners": 0, "waived": 0})
        entry["count"] += 1
        entry["waived"] += bool(issue.waived)
        if issue.partner:
            partners.setdefault(issue.code.value, set()).add(issue.partner)
    for code, ids in partners.items():
        summary[code]["partners"] = len(ids)
    return {"ok": ok, "issues": [i.to_dict() for i in issues], "summary": summary}
