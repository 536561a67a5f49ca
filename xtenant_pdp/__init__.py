"""xtenant-pdp: a policy decision point for Microsoft Entra cross-tenant access settings.

Compile Graph exports into a snapshot, load it, and ask questions::

    from xtenant_pdp import Engine
    engine = Engine.from_policy_dir("policy/")
    engine.check({"access": {...}})
"""

# First, before the heavy imports: `serve` survives a SIGHUP while it starts (see _signals.py).
from xtenant_pdp import _signals  # noqa: F401
from xtenant_pdp._version import __version__
from xtenant_pdp.compiler import CompileOptions, CompileResult, MissingHalf, compile_policy_dir
from xtenant_pdp.decision import (
    AccessQuery,
    AutomaticRedemptionQuery,
    Claim,
    Cloud,
    CollaborationQuery,
    Decision,
    Direction,
    Feature,
    IdentitySyncQuery,
    Reason,
    RedemptionScenario,
    Result,
    Source,
    TenantRestrictionsQuery,
    TrustOutcome,
    TrustQuery,
)
from xtenant_pdp.engine import Engine
from xtenant_pdp.errors import CompileErrors, CompileIssue, QueryError, SnapshotLoadError, XtenantPdpError

__all__ = [
    "AccessQuery",
    "AutomaticRedemptionQuery",
    "Claim",
    "Cloud",
    "CollaborationQuery",
    "CompileErrors",
    "CompileIssue",
    "CompileOptions",
    "CompileResult",
    "Decision",
    "Direction",
    "Engine",
    "Feature",
    "IdentitySyncQuery",
    "MissingHalf",
    "QueryError",
    "Reason",
    "RedemptionScenario",
    "Result",
    "SnapshotLoadError",
    "Source",
    "TenantRestrictionsQuery",
    "TrustOutcome",
    "TrustQuery",
    "XtenantPdpError",
    "__version__",
    "compile_policy_dir",
]
