"""A JSON walker that knows where it is: every complaint names the file and JSON path.

The parser reads Graph bodies through :class:`Reader` so that a wrong type, an unknown
enum value or a missing field becomes a :class:`~xtenant_pdp.errors.CompileIssue` (never a
KeyError or TypeError), and reading goes on to find every other problem in the same pass.
"""

from __future__ import annotations

import difflib
import enum
import functools
import re
from collections.abc import Iterable
from typing import Any, TypeVar

from xtenant_pdp.errors import CompileIssue, IssueCode, Severity
from xtenant_pdp.graph.model import Loc

E = TypeVar("E", bound=enum.Enum)

GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def json_type_name(value: object) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def suggest(value: str, choices: Iterable[str]) -> str | None:
    """The closest valid spelling, or None: trims and case first, then edit distance."""
    options = list(choices)
    folded = value.strip().casefold()
    for option in options:
        if option.casefold() == folded:
            return option
    close = difflib.get_close_matches(value.strip(), options, n=1, cutoff=0.6)
    return close[0] if close else None


#: Documented Graph properties of the cross-tenant access resources (graph-model.md section 1),
#: used or not: an unknown property that is one of these is never taken for a typo of another.
DOCUMENTED_PROPERTIES = frozenset(
    {
        "id", "displayName", "description", "deletedDateTime", "createdDateTime", "lastModifiedDateTime",
        "definition", "isOrganizationDefault", "allowedCloudEndpoints", "default", "partners", "templates",
        "isServiceDefault", "b2bCollaborationInbound", "b2bCollaborationOutbound", "b2bDirectConnectInbound",
        "b2bDirectConnectOutbound", "inboundTrust", "automaticUserConsentSettings", "tenantRestrictions",
        "invitationRedemptionIdentityProviderConfiguration", "m365CollaborationInbound", "m365CollaborationOutbound",
        "appServiceConnectInbound", "blockServiceProviderOutboundAccess", "m365Capabilities",
        "crossCloudMeetingConfiguration", "protectedContentSharing", "tenantId", "isServiceProvider",
        "isInMultiTenantOrganization", "identitySynchronization", "serviceProviderConstraints", "usersAndGroups",
        "applications", "users", "devices", "accessType", "targets", "target", "targetType", "mode", "rule",
        "isMfaAccepted", "isCompliantDeviceAccepted", "isHybridAzureADJoinedDeviceAccepted",
        "isCompliantNetworkAccepted", "inboundAllowed", "outboundAllowed", "userSyncInbound", "groupSyncInbound",
        "isSyncAllowed", "externalCloudAuthorizedApplicationId", "primaryIdentityProviderPrecedenceOrder",
        "fallbackIdentityProvider", "templateApplicationLevel", "allowedRoleTemplateIds", "name", "inboundAccess",
        "isAllowed", "resourceScopes", "included", "excluded", "resourceId", "resourceType",
    }
)  # fmt: skip


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, or ``limit + 1`` as soon as it is certain to exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


@functools.lru_cache(maxsize=4096)
def likely_typo(key: str, known: frozenset[str]) -> str | None:
    """The known property ``key`` is probably a misspelling of (D6), or None.

    Same letters in another case, or at most 1 edit (2 for names of 8 letters or more), and
    ``key`` itself is not a documented Graph property.
    """
    if key in DOCUMENTED_PROPERTIES:
        return None
    folded = key.casefold()
    limit = 2 if len(key) >= 8 else 1
    best, best_distance = None, limit + 1
    for name in sorted(known):
        distance = 0 if name.casefold() == folded else edit_distance(folded, name.casefold(), limit)
        if distance < best_distance:
            best, best_distance = name, distance
    return best


_ENUM_MEMBERS: dict[type, dict[str, Any]] = {}


def _enum_members(enum_type: type[E]) -> dict[str, E]:
    members = _ENUM_MEMBERS.get(enum_type)
    if members is None:
        members = _ENUM_MEMBERS[enum_type] = {m.value: m for m in enum_type}
    return members


def is_guid(value: str) -> bool:
    return GUID_RE.fullmatch(value) is not None


class Reader:
    """Collects issues for one source file while typed values are read out of its JSON."""

    def __init__(self, file: str, issues: list[CompileIssue], unknown: list[Loc]) -> None:
        self.file = file
        self.issues = issues
        self.unknown = unknown

    def root(self) -> Loc:
        return Loc(self.file, "$")

    def error(self, loc: Loc, message: str, code: IssueCode, hint: str = "") -> None:
        self.issues.append(CompileIssue(file=loc.file, path=loc.path, message=message, code=code, hint=hint))

    def warn(self, loc: Loc, message: str, code: IssueCode, hint: str = "") -> None:
        self.issues.append(
            CompileIssue(
                file=loc.file,
                path=loc.path,
                message=message,
                code=code,
                severity=Severity.WARNING,
                hint=hint,
            )
        )

    def notice(self, loc: Loc, message: str, code: IssueCode, hint: str = "") -> None:
        self.issues.append(
            CompileIssue(file=loc.file, path=loc.path, message=message, code=code, severity=Severity.NOTICE, hint=hint)
        )

    def wrong_type(self, loc: Loc, value: object, expected: str) -> None:
        self.error(loc, f"expected {expected}, got {json_type_name(value)}", IssueCode.WRONG_TYPE)

    def obj(self, value: object, loc: Loc, *, nullable: bool = True) -> dict[str, Any] | None:
        """The value as an object; None (and an issue unless nullable) for null or wrong type."""
        if value is None:
            if not nullable:
                self.error(loc, "must not be null", IssueCode.WRONG_TYPE)
            return None
        if not isinstance(value, dict):
            self.wrong_type(loc, value, "an object")
            return None
        return value

    def check_keys(self, data: dict[str, Any], loc: Loc, known: frozenset[str]) -> None:
        """Unknown properties are ignored (R5, D6) but remembered so they can be listed.

        One within a small edit distance of a known name is a likely typo that would silently
        drop what it carries (`b2bColaborationInbound`): a warning naming the right property.
        """
        for key in data:
            if key not in known and not key.startswith("@odata.") and "@odata." not in key:
                best = likely_typo(key, known)
                if best is None:
                    self.unknown.append(loc.child(key))
                else:
                    self.warn(
                        loc.child(key),
                        f'unknown property "{key}" ignored',
                        IssueCode.LIKELY_TYPO,
                        hint=f'did you mean "{best}"? (property names are case-sensitive)',
                    )

    # The readers below build a child Loc only on the error path: parsing 100,000 partners
    # reads millions of fields and almost all of them are fine.

    def boolean(self, data: dict[str, Any], key: str, loc: Loc) -> bool | None:
        value = data.get(key)
        if value is None or value is True or value is False:
            return value
        self.wrong_type(loc.child(key), value, "a boolean or null")
        return None

    def string(self, data: dict[str, Any], key: str, loc: Loc, *, required: bool = False) -> str | None:
        value = data.get(key)
        if value.__class__ is str:
            return value  # type: ignore[no-any-return]
        if value is None:
            if required:
                self.error(loc.child(key), "is required", IssueCode.MISSING_FIELD, hint=f"add `{key}`")
            return None
        if isinstance(value, str):
            return value
        self.wrong_type(loc.child(key), value, "a string")
        return None

    def guid(self, data: dict[str, Any], key: str, loc: Loc, *, required: bool = False) -> str | None:
        """A GUID, normalised to lower case (D4)."""
        value = self.string(data, key, loc, required=required)
        if value is None:
            return None
        if not is_guid(value):
            self.error(
                loc.child(key),
                f"`{value}` is not a GUID",
                IssueCode.INVALID_GUID,
                hint="use the 36-character id, e.g. 3d0f5dec-5d3d-455c-8016-e2af1ae4d31a",
            )
            return None
        return value.lower()

    def enum_field(
        self, data: dict[str, Any], key: str, loc: Loc, enum_type: type[E], *, required: bool = True
    ) -> E | None:
        value = data.get(key)
        member = _enum_members(enum_type).get(value) if value.__class__ is str else None
        if member is not None:
            return member
        return self.enum_value(value, loc.child(key), enum_type, required=required)

    def enum_value(self, value: object, at: Loc, enum_type: type[E], *, required: bool = True) -> E | None:
        """An enum member by its Graph spelling; unknown values are errors naming the closest (D6)."""
        if value is None:
            if required:
                self.error(at, "is required", IssueCode.MISSING_FIELD)
            return None
        if not isinstance(value, str):
            self.wrong_type(at, value, "a string")
            return None
        try:
            return enum_type(value)
        except ValueError:
            choices = [m.value for m in enum_type]
            best = suggest(value, choices)
            hint = f'did you mean "{best}"?' if best else "expected one of " + ", ".join(f'"{c}"' for c in choices)
            self.error(at, f'unknown value "{value}"', IssueCode.UNKNOWN_VALUE, hint=hint)
            return None

    def array(self, value: object, at: Loc) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.wrong_type(at, value, "an array")
            return []
        return value
