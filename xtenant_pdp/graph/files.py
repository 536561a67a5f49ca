"""Reading a policy folder's files: which names belong, which encodings, which links (D11).

Nothing unknown may read as a default: a misnamed export (`Partners.json`) would otherwise
vanish and every partner in it fall back to the service default, a Graph error body saved by a
failed `az rest` would read as "not configured", and a link out of the folder would compile
whatever it points at. Each of these is a located error here, before any Graph parsing.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

from xtenant_pdp.errors import CompileIssue, IssueCode
from xtenant_pdp.fsread import NotRegularFile, read_regular
from xtenant_pdp.graph.reader import suggest

TENANT_FILE = "tenant.json"
POLICY_FILE = "crossTenantAccessPolicy.json"
DEFAULT_FILE = "default.json"
PARTNERS_FILE = "partners.json"
WAIVERS_FILE = "waivers.json"
ROLE_DEFINITIONS_FILE = "roleDefinitions.json"
ROLE_ASSIGNMENTS_FILE = "roleAssignments.json"
RESOURCE_ACTIONS_FILE = "resourceActions.json"
CATALOG_FILE = "applications.json"

#: Every `*.json` a tenant folder may hold, and what it is. Any other `*.json` there is an error
#: with a did-you-mean (names are case-sensitive). A new file the compiler reads goes here.
TENANT_FILES: dict[str, str] = {
    TENANT_FILE: "who the local tenant is (tenantId, cloud, displayName, license)",
    POLICY_FILE: "GET /policies/crossTenantAccessPolicy",
    DEFAULT_FILE: "GET /policies/crossTenantAccessPolicy/default",
    PARTNERS_FILE: "GET /policies/crossTenantAccessPolicy/partners?$expand=identitySynchronization",
    WAIVERS_FILE: "accepted findings: code, partner tenant id or *, reason",
    ROLE_DEFINITIONS_FILE: "GET /roleManagement/directory/roleDefinitions (adminAction, D13)",
    ROLE_ASSIGNMENTS_FILE: "GET /roleManagement/directory/roleAssignments (adminAction, D13)",
    RESOURCE_ACTIONS_FILE: "GET /roleManagement/directory/resourceNamespaces/microsoft.directory/resourceActions "
    "(protected actions, D13)",
}

_SAVE_AS = "save it as UTF-8 (with or without BOM) or UTF-16 with BOM"
_BOMS = (
    (codecs.BOM_UTF32_LE, None, "UTF-32 LE"),  # before UTF-16 LE: FF FE 00 00 starts with FF FE
    (codecs.BOM_UTF32_BE, None, "UTF-32 BE"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE"),
)


class EncodingProblem(ValueError):
    """The bytes are in no encoding a policy file may use; the message says where and why."""


def _line_column(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line} column {column}"


def decode(data: bytes) -> str:
    """UTF-8 with or without BOM, UTF-16 LE/BE with BOM; anything else raises EncodingProblem."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            if codec is None:
                raise EncodingProblem(f"is {name} (byte order mark {bom.hex(' ')})")
            body = data[len(bom) :]
            try:
                return body.decode(codec)
            except UnicodeDecodeError as exc:
                raise EncodingProblem(
                    f"has a {name} byte order mark but is not valid {name} at byte {exc.start + len(bom)}"
                ) from None
    if len(data) >= 2 and (data[0] == 0) != (data[1] == 0):
        # JSON starts with an ASCII character: one zero byte next to it is UTF-16 (or UTF-32).
        raise EncodingProblem("looks like UTF-16 without a byte order mark")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingProblem(
            f"is not UTF-8: byte 0x{data[exc.start]:02x} at {_line_column(data, exc.start)}"
            " (a legacy code page such as Windows-1252?)"
        ) from None


def _graph_error(document: object) -> tuple[str, str] | None:
    """(code, message) when the document is a Graph error response body."""
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        error = document["error"]
        return str(error.get("code") or "(no code)"), str(error.get("message") or "")
    return None


def _issue(display: str, message: str, code: IssueCode, hint: str = "") -> CompileIssue:
    return CompileIssue(file=display, path="$", message=message, code=code, hint=hint)


def outside(path: Path, root: Path | None) -> Path | None:
    """Where ``path`` really is, when a link takes it out of ``root`` (already resolved); else None."""
    if root is None:
        return None
    real = path.resolve()
    return None if real.is_relative_to(root) else real


def load_json(path: Path, display: str, issues: list[CompileIssue], root: Path | None = None) -> tuple[bool, Any]:
    """(ok, document). Unreadable, mis-encoded, invalid JSON or a Graph error body becomes an issue."""
    if (real := outside(path, root)) is not None:
        issues.append(
            _issue(
                display,
                f"is a link to `{real}`, outside the policy folder",
                IssueCode.LINK_OUTSIDE_POLICY,
                hint="copy the file into the folder: links may only point inside it",
            )
        )
        return False, None
    try:
        data = read_regular(path)  # never blocks on a FIFO or device named like a policy file
    except NotRegularFile:
        hint = "a policy file must be a plain file"
        issues.append(_issue(display, "cannot read: not a regular file", IssueCode.UNREADABLE_FILE, hint=hint))
        return False, None
    except OSError as exc:
        issues.append(_issue(display, f"cannot read: {exc.strerror or exc}", IssueCode.UNREADABLE_FILE))
        return False, None
    try:
        text = decode(data)
    except EncodingProblem as exc:
        hint = _SAVE_AS + " (PowerShell: `Out-File -Encoding utf8`)"
        issues.append(_issue(display, str(exc), IssueCode.UNSUPPORTED_ENCODING, hint=hint))
        return False, None
    try:
        document = json.loads(text)
    except RecursionError:
        issues.append(_issue(display, "JSON nested too deeply", IssueCode.INVALID_JSON))
        return False, None
    except json.JSONDecodeError as exc:
        issues.append(
            _issue(
                display,
                f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg.lower()}",
                IssueCode.INVALID_JSON,
                hint="fix the syntax; Graph bodies are exported as plain JSON",
            )
        )
        return False, None
    if (error := _graph_error(document)) is not None:
        code, message = error
        issues.append(
            CompileIssue(
                file=display,
                path="$.error",
                message=f"is a Graph error response, not a policy: {code}: {message}".rstrip(": "),
                code=IssueCode.GRAPH_ERROR_BODY,
                hint="the export call failed: fix its cause (permissions, URL) and export again",
            )
        )
        return False, None
    return True, document


def tenant_folder_files(folder: Path, display: str, issues: list[CompileIssue]) -> frozenset[str]:
    """The known files present (exact names), with an error for every unknown `*.json` (D11).

    Hidden files (editor and ConfigMap bookkeeping) and files of other types (a README) are ignored.
    """
    try:
        names = sorted(entry.name for entry in folder.iterdir() if not entry.is_dir())
    except OSError as exc:
        issues.append(_issue(display, f"cannot list: {exc.strerror or exc}", IssueCode.UNREADABLE_FILE))
        return frozenset()
    present = []
    for name in names:
        if name in TENANT_FILES:
            present.append(name)
        elif name.lower().endswith(".json") and not name.startswith("."):
            best = suggest(name, TENANT_FILES)
            known = ", ".join(TENANT_FILES)
            issues.append(
                _issue(
                    f"{display}/{name}",
                    "is not a file a tenant folder may hold (names are case-sensitive)",
                    IssueCode.UNKNOWN_FILE,
                    hint=f'did you mean "{best}"?' if best else f"expected one of {known}; move other files out",
                )
            )
    return frozenset(present)
