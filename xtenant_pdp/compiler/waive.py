"""WAIVE stage: accepted findings stop failing ``--strict``; every finding names its partner.

A waiver (``waivers.json`` beside ``tenant.json``, read by graph/waivers.py) names a finding code, a
partner tenant id or ``*`` (every partner and the tenant's own settings), and the reason; ``--ignore
CODE`` waives a code everywhere. A waived finding keeps its place in every report (marked, and
counted in the summary); it only stops being escalated. A waiver that matches nothing is a notice,
so stale waivers do not pile up.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from xtenant_pdp.errors import CompileIssue, IssueCode, Severity
from xtenant_pdp.graph.model import Loc, Waiver
from xtenant_pdp.graph.waivers import ANY_PARTNER

IGNORED = "--ignore"
_PARTNER_PATH = re.compile(r"\$\.value\[\d+\]")


def name_partners(
    issues: list[CompileIssue],
    partners_at: dict[tuple[str, str], tuple[str, str]],
    tenant_names: dict[str, str],
) -> list[CompileIssue]:
    """Each issue located inside a partner entry (`$.value[N]...`) also names that partner.

    The display name is the partner's own (or its identity sync policy's), else the one in the
    partner tenant's tenant.json when it is a local tenant of the same policy.
    """
    if not partners_at:
        return issues
    named = []
    for issue in issues:
        found = None
        if not issue.partner and (m := _PARTNER_PATH.match(issue.path)) is not None:
            found = partners_at.get((issue.file, m.group(0)))
        if found is None:
            named.append(issue)
            continue
        tenant_id, name = found
        named.append(
            dataclasses.replace(issue, partner=tenant_id, partner_name=name or tenant_names.get(tenant_id, ""))
        )
    return named


class Waivers:
    """Applies the waivers of every tenant folder, and --ignore, to a list of findings."""

    def __init__(self, by_folder: dict[str, tuple[Waiver, ...]], ignore: Iterable[str]) -> None:
        self._by_folder = by_folder
        self._ignore = frozenset(ignore)
        self._used: set[Loc] = set()

    def __call__(self, issues: list[CompileIssue]) -> list[CompileIssue]:
        if not self._by_folder and not self._ignore:
            return issues
        return [self._waive(i) if i.severity is Severity.WARNING and not i.waived else i for i in issues]

    def _waive(self, issue: CompileIssue) -> CompileIssue:
        code = issue.code.value
        if code in self._ignore:
            return dataclasses.replace(issue, waived=IGNORED)
        folder = issue.file.split("/", 1)[0]
        for waiver in self._by_folder.get(folder, ()):
            if waiver.code == code and waiver.partner in (ANY_PARTNER, issue.partner):
                self._used.add(waiver.loc)
                return dataclasses.replace(issue, waived=waiver.reason)
        return issue

    def unused(self) -> list[CompileIssue]:
        """A notice for each waiver that accepted nothing (the finding it was for is gone)."""
        return [
            CompileIssue(
                file=w.loc.file,
                path=w.loc.path,
                message=f"waiver for `{w.code}` ({w.partner}) matches no finding",
                code=IssueCode.UNUSED_WAIVER,
                severity=Severity.NOTICE,
                hint="remove it if the finding was fixed",
            )
            for waivers in self._by_folder.values()
            for w in waivers
            if w.loc not in self._used
        ]
