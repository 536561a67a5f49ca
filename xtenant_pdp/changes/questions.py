"""Recorded events -> the question the local tenant's policy answers, or why none can be asked.

Two kinds of records are replayed: cross-tenant sign-ins (:mod:`.signins`) and the server's
decision log (``serve --decision-log``). What a record cannot tell is never guessed: a question
whose answer would depend on it is *indeterminate* (see :func:`decide`).

Sign-in -> access question of the local tenant L (README "Sign-ins as questions"):
* ``crossTenantAccessType`` b2bCollaboration / b2bDirectConnect -> the feature; any other
  cross-tenant type (passthrough, serviceProvider, microsoftSupport, ...) is not decided by B2B
  settings: indeterminate.
* resource tenant L, home tenant H != L -> inbound, about H (``tokenIssuerType`` must be AzureAD,
  as in the activity script; otherwise indeterminate); home tenant L, resource tenant R != L ->
  outbound, about R. Neither side L: not about this tenant, not counted.
* the application is ``resourceId`` (the app signed in to); no resourceId: indeterminate.
* the user: outbound, ``userId`` is L's own user, as outbound targets name them; inbound B2B
  direct connect, ``userId`` is the home tenant's id (no guest account exists); inbound B2B
  collaboration, the log names the guest account in L, not the home id inbound targets name: the
  user is unknown. Sign-in logs carry no group membership: groups are always unknown.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from xtenant_pdp.changes.signins import Problem, Report, SignIn, json_lines, read_signins
from xtenant_pdp.decision import AccessQuery, CollaborationQuery, Decision, Direction, Feature
from xtenant_pdp.evaluator import evaluate
from xtenant_pdp.graph.reader import GUID_RE
from xtenant_pdp.index import Index

#: Stands for "a user no target names" when the record's user cannot be compared with targets.
NOBODY = "00000000-0000-0000-0000-000000000000"


class Outcome(enum.Enum):
    ALLOW = "ALLOW"
    DENY = "DENY"
    INDETERMINATE = "INDETERMINATE"


_FEATURES = {"b2bcollaboration": Feature.B2B_COLLABORATION, "b2bdirectconnect": Feature.B2B_DIRECT_CONNECT}


class Kind(enum.Enum):
    ACCESS = "access"
    COLLABORATION = "collaboration"


@dataclass(frozen=True, slots=True)
class Question:
    """A replayable question. ``tenant_id``/``external_tenant_id`` are (local, external) for
    access and (home, resource) for collaboration."""

    kind: Kind
    tenant_id: str
    external_tenant_id: str
    direction: Direction
    feature: Feature
    #: None: the record's user cannot be compared with targets (guest account, masked id).
    user_id: str | None
    #: True only when the record says the caller presented no group ids.
    groups_known: bool
    application_id: str


@dataclass(frozen=True, slots=True)
class Record:
    """One replayed record: its question (or why it has none) and what the report groups by."""

    question: Question | None
    why_indeterminate: str
    local_tenant_id: str
    external_tenant_id: str
    direction: Direction | None
    feature: Feature | None
    application_id: str
    application_name: str
    user: str
    where: str


# ------------------------------------------------------------------------- sign-ins


def from_sign_in(s: SignIn, local: str) -> Record | None:
    """None: not a cross-tenant sign-in of ``local``."""
    if not s.cross_tenant:
        return None
    if s.resource_tenant_id == local and s.home_tenant_id != local:
        direction, external = Direction.INBOUND, s.home_tenant_id
    elif s.home_tenant_id == local and s.resource_tenant_id != local:
        direction, external = Direction.OUTBOUND, s.resource_tenant_id
    else:
        return None
    feature = _FEATURES.get(s.access_type)
    why = ""
    if feature is None:
        why = f"crossTenantAccessType {s.access_type} is not decided by B2B settings"
    elif direction is Direction.INBOUND and s.token_issuer_type.lower() != "azuread":
        why = f"tokenIssuerType {s.token_issuer_type or '(none)'}: not an Entra organization account"
    elif not GUID_RE.fullmatch(s.resource_id):
        why = "no resourceId: the application is unknown"
    user: str | None = s.user_id if GUID_RE.fullmatch(s.user_id) else None
    if direction is Direction.INBOUND and feature is Feature.B2B_COLLABORATION:
        user = None  # the guest account's id in the resource tenant, not the home id targets name
    question = None
    if not why and feature is not None:
        question = Question(Kind.ACCESS, local, external, direction, feature, user, False, s.resource_id)
    return Record(
        question, why, local, external, direction, feature, s.resource_id, s.app_name, s.user_id, f"{s.file}:{s.line}"
    )


# ------------------------------------------------------------------------- decision logs

_DIRECTIONS = {"DIRECTION_INBOUND": Direction.INBOUND, "DIRECTION_OUTBOUND": Direction.OUTBOUND}
_LOG_FEATURES = {
    "FEATURE_B2B_COLLABORATION": Feature.B2B_COLLABORATION,
    "FEATURE_B2B_DIRECT_CONNECT": Feature.B2B_DIRECT_CONNECT,
}


def _guid(value: object) -> str:
    return value.lower() if isinstance(value, str) and GUID_RE.fullmatch(value) else ""


def from_decision(entry: dict, where: str) -> Record | str | None:
    """A decision log line -> Record; a string says why the line is malformed; None: an audit
    line or a question kind that is not replayed (only access, extAuthz and collaboration are)."""
    # An Envoy ext_authz decision asked an access question (inbound, of the route's tenant).
    kind = "access" if entry.get("kind") == "extAuthz" else entry.get("kind")
    if kind not in ("access", "collaboration"):
        return None
    feature = _LOG_FEATURES.get(entry.get("feature", "FEATURE_B2B_COLLABORATION"))
    if feature is None:
        return f"unknown feature {entry.get('feature')!r}"
    groups = entry.get("groupCount", 0)
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 0:
        return "groupCount must be a count"
    masked = entry.get("userMasked") is True
    user = "" if masked else _guid(entry.get("userId"))
    app = _guid(entry.get("applicationId"))
    if kind == "access":
        tenant, external = _guid(entry.get("tenantId")), _guid(entry.get("externalTenantId"))
        direction = _DIRECTIONS.get(entry.get("direction", ""))
        if direction is None:
            return f"unknown direction {entry.get('direction')!r}"
        local = tenant
    else:
        tenant, external = _guid(entry.get("homeTenantId")), _guid(entry.get("resourceTenantId"))
        direction, local = Direction.OUTBOUND, tenant
    if not tenant or not external or not app:
        return "tenant or application id missing or not a GUID"
    question = Question(Kind(kind), tenant, external, direction, feature, user or None, groups == 0, app)
    label = str(entry.get("userId") or "")
    return Record(question, "", local, external, direction, feature, app, "", label, where)


def read_decision_log(path: Path, report: Report) -> Iterator[Record]:
    name = str(path)
    try:
        source = path.open(encoding="utf-8", errors="replace")
    except OSError as exc:
        report(Problem(name, 0, f"cannot read: {exc.strerror or exc}"))
        return
    with source:
        for number, entry in json_lines(source, name, report):
            if not isinstance(entry, dict):
                report(Problem(name, number, "a decision log line must be a JSON object"))
                continue
            result = from_decision(entry, f"{name}:{number}")
            if isinstance(result, str):
                report(Problem(name, number, result))
            elif result is not None:
                yield result


def _is_decision_log(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            first = f.readline()
        entry = json.loads(first)
    except (OSError, json.JSONDecodeError, RecursionError):
        return False
    return isinstance(entry, dict) and "snapshotId" in entry and ("kind" in entry or "category" in entry)


def read_records(paths: Iterable[str], local: str | None, report: Report) -> Iterator[Record]:
    """Records of sign-in exports and decision logs, in file order. A sign-in export needs the
    local tenant (whose log it is); without one its file is reported and skipped."""
    for name in paths:
        path = Path(name)
        if path.suffix in (".jsonl", ".log", ".ndjson", "") and _is_decision_log(path):
            yield from read_decision_log(path, report)
            continue
        if local is None:
            report(Problem(name, 0, "a sign-in export needs --tenant LOCAL (whose log it is)"))
            continue
        for s in read_signins([path], report):
            record = from_sign_in(s, local)
            if record is not None:
                yield record


# ------------------------------------------------------------------------- decide


def named_ids(index: Index) -> frozenset[str]:
    """Every user or group id any users-and-groups half of the index names. A user id outside
    this set cannot change a decision (only its groups could), so replay asks about it as
    :data:`NOBODY`: the same answer, and far fewer distinct questions."""
    seen: set[int] = set()
    ids: set[str] = set()
    for tenant in index.tenants.values():
        for config in (tenant.default, *tenant.partners.values()):
            for direction in (Direction.INBOUND, Direction.OUTBOUND):
                for feature in (Feature.B2B_COLLABORATION, Feature.B2B_DIRECT_CONNECT):
                    users = config.setting(direction, feature).users
                    if id(users) not in seen:
                        seen.add(id(users))
                        ids |= users.ids
    return frozenset(ids)


def _users_half_ids(index: Index, q: Question) -> list[frozenset[str]]:
    """The ids each deciding users-and-groups half names (one half for access, two for
    collaboration: the home tenant's outbound and the resource tenant's inbound)."""
    if q.kind is Kind.ACCESS:
        pairs = [(q.tenant_id, q.external_tenant_id, q.direction)]
    else:
        pairs = [
            (q.tenant_id, q.external_tenant_id, Direction.OUTBOUND),
            (q.external_tenant_id, q.tenant_id, Direction.INBOUND),
        ]
    halves = []
    for tenant_id, counterpart, direction in pairs:
        tenant = index.tenants.get(tenant_id)
        if tenant is not None:
            halves.append(frozenset(tenant.configuration(counterpart).setting(direction, q.feature).users.ids))
    return halves


def _ask(index: Index, q: Question, user: str, groups: tuple[str, ...]) -> Decision:
    if q.kind is Kind.ACCESS:
        query = AccessQuery(
            q.tenant_id, q.external_tenant_id, None, q.direction, q.feature, user, groups, q.application_id
        )
    else:
        query = CollaborationQuery(q.tenant_id, q.external_tenant_id, q.feature, user, groups, q.application_id)
    return evaluate(index, query).decision


def decide(index: Index, q: Question) -> Outcome:
    """ALLOW or DENY when the answer does not depend on what the record lacks, else INDETERMINATE.

    A half's target either matches the caller or not, so the decision depends only on which
    halves match. Asked as a user no target names (or the record's user) presenting no groups,
    presenting every id the halves target, and, with two halves (collaboration), presenting
    the ids of only one of them: equal answers mean the missing membership cannot change the
    decision. (Two questions were not enough for two halves: home outbound allowing only g1 and
    resource inbound blocking g2 is DENY with no group and with both, ALLOW for a member of g1.)
    """
    user = q.user_id or NOBODY
    low = _ask(index, q, user, ())
    if q.groups_known and q.user_id is not None:
        return Outcome(low.name)
    halves = _users_half_ids(index, q)
    every = frozenset().union(*halves)
    presented = [every] if len(halves) < 2 else [every, halves[0] - halves[1], halves[1] - halves[0]]
    for ids in presented:
        if ids and _ask(index, q, user, tuple(sorted(ids))) is not low:
            return Outcome.INDETERMINATE
    return Outcome(low.name)
