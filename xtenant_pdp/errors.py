"""Every exception xtenant-pdp raises, and the compile issue record.

Exception tree::

    XtenantPdpError
    ├── CompileErrors      a policy source failed to compile; carries every CompileIssue at once
    ├── SnapshotLoadError  a snapshot file is unreadable, corrupt, truncated or of another version
    │   └── SnapshotMissing    ... or does not exist (yet)
    ├── QueryError         a question is malformed; names the request field (INVALID_ARGUMENT)
    │   └── QueryContradictsSnapshot  a well-formed question says what the snapshot knows otherwise (D12)
    ├── NoSnapshot         no snapshot is active yet (UNAVAILABLE)
    └── Busy               the server sheds a call to stay fair (RESOURCE_EXHAUSTED)

Messages are lowercase, carry no trailing period and put user input in backticks.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Stop collecting after this many issues, like OPA's default error limit.
MAX_ISSUES = 200


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    #: Shown by default but never an error, not even under --strict (a skipped deleted partner).
    NOTICE = "notice"
    INFO = "info"


class IssueCode(enum.Enum):
    """Stable codes of compile issues; the value is what reports and JSON show."""

    # Reading and shape (parser).
    UNREADABLE_FILE = "E001"
    INVALID_JSON = "E002"
    WRONG_TYPE = "E003"
    MISSING_FIELD = "E004"
    UNKNOWN_VALUE = "E005"
    INVALID_GUID = "E006"
    DUPLICATE_PARTNER = "E007"
    DUPLICATE_TENANT = "E008"
    INVALID_TARGET = "E009"
    TARGET_TYPE_MISMATCH = "E010"
    MISMATCHED_TENANT_ID = "E011"
    # D11: nothing unknown reads as a default.
    GRAPH_ERROR_BODY = "E013"
    UNKNOWN_FILE = "E014"
    UNSUPPORTED_ENCODING = "E015"
    LINK_OUTSIDE_POLICY = "E016"
    INVALID_WAIVER = "E017"
    UNKNOWN_PROPERTY = "I001"
    # Validation findings (graph-model.md 2.3 and D7): warnings unless --strict.
    C1_BLOCKED_USERS_NEED_BLOCKED_APPS = "C1a"
    C1_BLOCKED_APPS_NEED_BLOCKED_USERS = "C1b"
    C1_ALLOWED_USERS_NEED_AN_APP = "C1c"
    C2_DEFAULT_INBOUND_TARGETS_ALL_USERS = "C2"
    C3_DEFAULT_CONSENT_READ_ONLY = "C3"
    C4_MSA_TENANT_RESTRICTIONS_APPS_ONLY = "C4"
    C5_PARTNER_CANNOT_BE_REMOVED = "C5"
    D7_OME_APP_BLOCKED = "D7-OME"
    D7_P1_LICENSE_REQUIRED = "D7-P1"
    D7_MFA_TRUST_REGISTRATION_POLICY = "D7-MFA"
    CLOUD_ENDPOINT_UNSUPPORTED = "W001"
    PAGINATED_EXPORT = "W002"
    LIKELY_TYPO = "W003"
    UNKNOWN_FUTURE_VALUE = "W004"
    DELETED_SKIPPED = "N001"
    UNUSED_WAIVER = "N002"
    TOO_MANY_ISSUES = "E012"
    # Role management exports (roleDefinitions, roleAssignments, resourceActions; D13).
    UNKNOWN_ROLE_PROPERTY = "R001"
    ROLE_DEFINITION_NOT_FOUND = "R002"
    DUPLICATE_ROLE_DEFINITION = "R003"
    INVALID_RESOURCE_ACTION = "R004"
    DUPLICATE_RESOURCE_ACTION = "R005"
    ROLE_CONDITION_NOT_EVALUATED = "R006"


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class CompileIssue:
    """One problem in a policy source, located by file and JSON path."""

    file: str
    path: str
    message: str
    code: IssueCode = IssueCode.WRONG_TYPE
    severity: Severity = Severity.ERROR
    hint: str = ""
    #: The partner the issue is about (its tenant id as exported) and its display name, when known.
    partner: str = ""
    partner_name: str = ""
    #: Why the finding is accepted (a waiver's reason, or `--ignore`); a waived finding never fails --strict.
    waived: str = ""

    def __str__(self) -> str:
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.file}: {self.path}{self.subject()}: {self.message}{hint} [{self.code.value}]"

    def subject(self) -> str:
        """` (partner <tenant id> "<name>")` or nothing."""
        if not self.partner:
            return ""
        name = f' "{self.partner_name}"' if self.partner_name else ""
        return f" (partner {self.partner}{name})"

    def to_dict(self) -> dict[str, str]:
        return {
            "file": self.file,
            "path": self.path,
            "code": self.code.value,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
            "partner": self.partner,
            "partnerName": self.partner_name,
            "waived": self.waived,
        }


_PATH_PARTS = re.compile(r"\[(\d+)\]|[^.\[\]]+")


def _path_key(path: str) -> tuple[tuple[int, int | str], ...]:
    """JSON path order: `$.value[2]` before `$.value[10]`."""
    return tuple((0, int(m.group(1))) if m.group(1) else (1, m.group(0)) for m in _PATH_PARTS.finditer(path))


def sort_issues(issues: Iterable[CompileIssue]) -> list[CompileIssue]:
    """Deduplicate and sort by file, then JSON path (array indices as numbers), then message."""
    return sorted(set(issues), key=lambda i: (i.file, _path_key(i.path), i.message, i.code.value))


class XtenantPdpError(Exception):
    """Base of every error xtenant-pdp raises on purpose."""


class CompileErrors(XtenantPdpError):
    """A policy source did not compile. ``issues`` holds every problem found, sorted."""

    def __init__(self, issues: Iterable[CompileIssue]) -> None:
        self.issues = sort_issues(issues)
        count = len(self.issues)
        super().__init__(f"{count} error{'s' if count != 1 else ''} in policy source")

    def __str__(self) -> str:
        return "\n".join([self.args[0], *(str(i) for i in self.issues)])


class SnapshotLoadError(XtenantPdpError):
    """A snapshot file cannot be used; the previous snapshot (if any) stays active."""


class SnapshotMissing(SnapshotLoadError):
    """The snapshot file does not exist (yet): a server waits for it, a command says so."""


class QueryError(XtenantPdpError):
    """A question is malformed. ``field`` is the JSON path of the offending request field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class QueryContradictsSnapshot(QueryError):
    """A question states a fact the snapshot knows otherwise (D12: a known tenant's cloud).

    Raised by the evaluator, which alone reads the snapshot; still INVALID_ARGUMENT naming the
    field, never an answer: a caller's claim must not override the compiled policy."""


class NoSnapshot(XtenantPdpError):
    """No snapshot has been activated yet: UNAVAILABLE, clients may retry."""


class Busy(XtenantPdpError):
    """The server sheds this call: the batch work in progress is at its bound (RESOURCE_EXHAUSTED;
    clients retry with backoff). The message names the limit and its flag."""
