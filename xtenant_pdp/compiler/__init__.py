"""COMPILE: policy directory -> snapshot, as an ordered list of named, pure stages.

    parse -> check-source -> resolve -> find-conflicts [-> find-removals] -> compile-roles -> emit -> dump

find-removals runs only against a previous snapshot (compile --previous): C5 is about changes.
Every stage's issues pass through waive (name the partner, apply waivers and --ignore) before
anything decides whether they stop compilation.

Every stage sees the whole input and adds to one issue list; errors from every stage that
can run are reported together (CompileErrors), never first-only.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from xtenant_pdp import snapshot as snapshot_file
from xtenant_pdp.api import snapshot_pb2
from xtenant_pdp.compiler.emit import emit
from xtenant_pdp.compiler.resolve import resolve
from xtenant_pdp.compiler.resolved import MissingHalf, Tenant
from xtenant_pdp.compiler.roles import compile_roles, emit_admin
from xtenant_pdp.compiler.validate import check_source, find_conflicts, find_removals
from xtenant_pdp.compiler.waive import Waivers, name_partners
from xtenant_pdp.errors import CompileErrors, CompileIssue, Severity, sort_issues
from xtenant_pdp.graph.model import PolicySource
from xtenant_pdp.graph.parse import parse_policy_dir

_T = TypeVar("_T")

__all__ = ["DEFAULT_OPTIONS", "CompileOptions", "CompileResult", "MissingHalf", "compile_policy_dir", "compile_source"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CompileOptions:
    #: Warnings (findings) become errors.
    strict: bool = False
    #: R4: what a B2B setting's missing half means (D2: inherit the default's).
    missing_half: MissingHalf = MissingHalf.INHERIT
    #: 2.7 vs D1: the seed says automatic redemption does not work across clouds.
    automatic_redemption_across_clouds: bool = False
    #: Finding codes waived everywhere (--ignore): reported, counted, never escalated by strict.
    ignore: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class CompileResult:
    snapshot: snapshot_pb2.Snapshot
    data: bytes
    info: snapshot_file.SnapshotInfo
    tenants: tuple[Tenant, ...]
    #: Warnings and infos (unknown properties) that did not stop compilation.
    findings: list[CompileIssue]
    #: Seconds per stage, by stage name.
    timings: dict[str, float] = field(default_factory=dict)


DEFAULT_OPTIONS = CompileOptions()


def _errors(issues: list[CompileIssue], strict: bool) -> list[CompileIssue]:
    """The issues that stop compilation; with strict, warnings too, reported as errors."""
    errors = [i for i in issues if i.severity is Severity.ERROR]
    if strict:
        errors += [
            dataclasses.replace(i, severity=Severity.ERROR)
            for i in issues
            if i.severity is Severity.WARNING and not i.waived
        ]
    return errors


def compile_source(
    source: PolicySource,
    options: CompileOptions = DEFAULT_OPTIONS,
    *,
    issues: list[CompileIssue] | None = None,
    created_at: float | None = None,
    previous: snapshot_pb2.Snapshot | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> CompileResult:
    """Compile a parsed policy source. Raises CompileErrors with every error found.

    ``progress(stage, partners done, partners)`` is called as each stage starts and ends.
    """
    timings: dict[str, float] = {}
    waive = Waivers({t.folder: t.waivers for t in source.tenants if t.waivers}, options.ignore)

    tenant_names = {t.info.tenant_id: t.info.display_name for t in source.tenants if t.info.display_name}

    def settle(found: list[CompileIssue]) -> list[CompileIssue]:
        return waive(name_partners(found, source.partners_at, tenant_names))

    issues = settle(list(issues or []))

    partners = sum(len(t.partners) for t in source.tenants)

    def stage(name: str, fn: Callable[[], _T]) -> _T:
        if progress is not None:
            progress(name, 0, partners)
        start = time.perf_counter()
        try:
            return fn()
        finally:
            timings[name] = time.perf_counter() - start
            if progress is not None:
                progress(name, partners, partners)

    # check-source must run before resolve: resolve assumes valid targets and unique tenants.
    issues += settle(stage("check-source", lambda: check_source(source.tenants)))
    if _errors(issues, strict=False):
        raise CompileErrors(_errors(issues, options.strict))
    tenants = stage("resolve", lambda: resolve(source.tenants, options.missing_half))
    # find-conflicts runs on resolved settings: C1 is about what applies, inherited halves included.
    issues += settle(stage("find-conflicts", lambda: find_conflicts(tenants, source.tenants, source.catalog)))
    if previous is not None:
        issues += settle(stage("find-removals", lambda: find_removals(tenants, previous)))
    admin, role_issues = stage("compile-roles", lambda: compile_roles(source.tenants))
    issues += settle(role_issues)
    issues += waive.unused()
    if errors := _errors(issues, options.strict):
        raise CompileErrors(errors)
    snapshot = stage(
        "emit",
        lambda: emit(
            tenants,
            source.catalog,
            missing_half=options.missing_half,
            automatic_redemption_across_clouds=options.automatic_redemption_across_clouds,
        ),
    )
    for out in snapshot.tenants:
        if (compiled := admin.get(out.tenant_id)) is not None:
            emit_admin(out, compiled)
    data = stage("dump", lambda: snapshot_file.dump(snapshot, source_digest=source.digest, created_at=created_at))
    info, _ = snapshot_file.load(data)
    return CompileResult(
        snapshot=snapshot,
        data=data,
        info=info,
        tenants=tenants,
        findings=sort_issues(issues),
        timings=timings,
    )


def compile_policy_dir(
    root: Path | str,
    options: CompileOptions = DEFAULT_OPTIONS,
    *,
    created_at: float | None = None,
    previous: snapshot_pb2.Snapshot | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> CompileResult:
    """Parse and compile a policy directory. Raises CompileErrors with every error found."""
    start = time.perf_counter()
    source, issues = parse_policy_dir(Path(root), progress)
    parse_seconds = time.perf_counter() - start
    if source is None:
        raise CompileErrors(_errors(issues, options.strict))
    result = compile_source(source, options, issues=issues, created_at=created_at, previous=previous, progress=progress)
    result.timings["parse"] = parse_seconds
    return result
