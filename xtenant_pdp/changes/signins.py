"""Microsoft Graph sign-in exports -> typed sign-in records -> the questions a policy answers.

Reads ``GET /auditLogs/signIns`` pages (``{"value": [...]}``, any number of files, streamed
record by record: a page file is never loaded whole), JSON lines of signIn objects, and the
CSV the Entra admin center downloads. Every malformed line or record becomes a
:class:`Problem` naming file and line, and reading goes on.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from xtenant_pdp.graph.reader import GUID_RE

#: Read size of the page streamer; one record may be at most MAX_RECORD_CHARS.
CHUNK_CHARS = 1 << 20
MAX_RECORD_CHARS = 16 << 20


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class SignIn:
    """The fields of a Graph signIn that cross-tenant questions and the activity summary use."""

    created: datetime | None
    user_id: str
    app_id: str
    app_name: str
    resource_id: str
    home_tenant_id: str
    resource_tenant_id: str
    #: crossTenantAccessType, lower case without spaces: none, b2bcollaboration, b2bdirectconnect, ...
    access_type: str
    #: tokenIssuerType as written (AzureAD, ADFederationServices, ...).
    token_issuer_type: str
    error_code: int
    file: str
    line: int

    @property
    def cross_tenant(self) -> bool:
        return self.access_type not in ("", "none")


Report = Callable[[Problem], None]

# ------------------------------------------------------------------------- one record


_NORM_KEYS: dict[str, str] = {}
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def _norm_key(name: str) -> str:
    """Lower case, letters and digits only: ``crossTenantAccessType`` = ``Cross tenant access type``."""
    key = _NORM_KEYS.get(name)
    if key is None:
        key = _NOT_ALNUM.sub("", name.lower())
        if len(_NORM_KEYS) < 4096:  # bounded: keys come from input
            _NORM_KEYS[name] = key
    return key


def _guid(value: Any) -> str:
    return value.lower() if isinstance(value, str) and GUID_RE.fullmatch(value.strip()) else ""


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in ("%m/%d/%Y, %I:%M:%S %p", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M"):
            try:
                parsed = datetime.strptime(value.strip(), fmt)
                break
            except ValueError:
                continue
        else:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip() or "0")
        except ValueError:
            return None
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _build(fields: dict[str, Any], file: str, line: int) -> SignIn | str:
    """A SignIn from normalised fields, or why the record cannot be used."""
    home, resource = _guid(fields.get("hometenantid")), _guid(fields.get("resourcetenantid"))
    access = _norm_key(_text(fields.get("crosstenantaccesstype")))
    if not access:
        return "no crossTenantAccessType"
    if not home or not resource:
        return "no homeTenantId or resourceTenantId (a GUID each)"
    code = fields.get("errorcode")
    code = code if code.__class__ is int else _int(code if code is not None else 0)
    if code is None:
        return f"status.errorCode is not a number: {fields.get('errorcode')!r}"
    raw_time = fields.get("createddatetime")
    created = _time(raw_time)
    if raw_time and created is None:
        return f"createdDateTime is not a date: {raw_time!r}"
    return SignIn(
        created=created,
        user_id=_text(fields.get("userid")).strip().lower(),
        app_id=_text(fields.get("appid")).strip().lower(),
        app_name=_text(fields.get("appdisplayname")),
        resource_id=_text(fields.get("resourceid")).strip().lower(),
        home_tenant_id=home,
        resource_tenant_id=resource,
        access_type=access,
        token_issuer_type=_text(fields.get("tokenissuertype")).strip(),
        error_code=code,
        file=file,
        line=line,
    )


#: signIn property -> the normalised name _build reads (Graph spells them one way: no normalising).
_GRAPH_FIELDS = (
    ("homeTenantId", "hometenantid"),
    ("resourceTenantId", "resourcetenantid"),
    ("crossTenantAccessType", "crosstenantaccesstype"),
    ("createdDateTime", "createddatetime"),
    ("userId", "userid"),
    ("appId", "appid"),
    ("appDisplayName", "appdisplayname"),
    ("resourceId", "resourceid"),
    ("tokenIssuerType", "tokenissuertype"),
)


def from_graph(obj: Any, file: str, line: int) -> SignIn | str:
    """A signIn resource object (Graph JSON) -> SignIn, or why not."""
    if not isinstance(obj, dict):
        return "a sign-in record must be a JSON object"
    get = obj.get
    fields = {name: get(key) for key, name in _GRAPH_FIELDS}
    status = get("status")
    fields["errorcode"] = status.get("errorCode", 0) if isinstance(status, dict) else 0
    return _build(fields, file, line)


#: Entra admin center CSV headers (normalised) -> signIn property (normalised).
_CSV_COLUMNS = {
    "dateutc": "createddatetime",
    "date": "createddatetime",
    "userid": "userid",
    "applicationid": "appid",
    "application": "appdisplayname",
    "resourceid": "resourceid",
    "resourcetenantid": "resourcetenantid",
    "hometenantid": "hometenantid",
    "crosstenantaccesstype": "crosstenantaccesstype",
    "tokenissuertype": "tokenissuertype",
    "signinerrorcode": "errorcode",
    "errorcode": "errorcode",
}


def from_csv_row(row: dict[str, str], file: str, line: int) -> SignIn | str:
    fields: dict[str, Any] = {}
    for header, value in row.items():
        if header is None:
            return "more cells than headers"
        key = _norm_key(header)
        fields[_CSV_COLUMNS.get(key, key)] = value
    return _build(fields, file, line)


# ------------------------------------------------------------------------- files


class _PageStream:
    """Streams the records of one ``{"value": [...]}`` page, a chunk at a time."""

    def __init__(self, source: IO[str], name: str) -> None:
        self.source, self.name = source, name
        self.buf, self.pos, self.line, self.eof = "", 0, 1, False
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.source.read(CHUNK_CHARS)
        if not chunk:
            self.eof = True
            return False
        self.line += self.buf.count("\n", 0, self.pos)
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def _skip_ws(self) -> str:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def _expect(self, char: str) -> None:
        if self._skip_ws() != char:
            raise ValueError(f"expected {char!r}")
        self.pos += 1

    def _value(self) -> tuple[Any, int]:
        """The next JSON value and the line it starts on."""
        self._skip_ws()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError:
                if len(self.buf) - self.pos > MAX_RECORD_CHARS or not self._fill():
                    raise
                continue
            if end == len(self.buf) and not self.eof and self._fill():
                continue  # a number may go on in the next chunk
            line = self.line + self.buf.count("\n", 0, self.pos)
            self.pos = end
            return value, line

    def records(self) -> Iterator[tuple[Any, int]]:
        self._expect("{")
        if self._skip_ws() == "}":
            return
        while True:
            key, _ = self._value()
            self._expect(":")
            if key == "value":
                self._expect("[")
                if self._skip_ws() == "]":
                    self.pos += 1
                else:
                    while True:
                        yield self._value()
                        sep = self._skip_ws()
                        self.pos += 1
                        if sep == "]":
                            break
                        if sep != ",":
                            raise ValueError("expected ',' or ']' in value")
            else:
                self._value()  # @odata.context, @odata.nextLink, ...
            sep = self._skip_ws()
            self.pos += 1
            if sep == "}":
                return
            if sep != ",":
                raise ValueError("expected ',' or '}'")

    def where(self) -> int:
        return self.line + self.buf.count("\n", 0, self.pos)


def _kind(first: str, name: str) -> str:
    stripped = first.lstrip("\ufeff \t\r\n")
    if name.lower().endswith(".csv") or not stripped.startswith(("{", "[")):
        return "csv"
    try:
        obj = json.loads(stripped)
    except (json.JSONDecodeError, RecursionError):
        return "page"  # a pretty-printed page spans lines (the page reader words any error)
    return "page" if isinstance(obj, dict) and "value" in obj else "lines"


def json_lines(source: IO[str], name: str, report: Report) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each non-blank line; a line that is not JSON is reported."""
    for number, text in enumerate(source, start=1):
        if not text.strip():
            continue
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as exc:
            report(Problem(name, number, f"not JSON: {exc.msg}"))
        except RecursionError:
            report(Problem(name, number, "not JSON we read: nested too deeply"))


def _read_lines(source: IO[str], name: str, report: Report) -> Iterator[SignIn]:
    for number, obj in json_lines(source, name, report):
        yield from _checked(from_graph(obj, name, number), name, number, report)


def _read_page(source: IO[str], name: str, report: Report) -> Iterator[SignIn]:
    stream = _PageStream(source, name)
    try:
        for obj, line in stream.records():
            yield from _checked(from_graph(obj, name, line), name, line, report)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        message = "nested too deeply" if isinstance(exc, RecursionError) else getattr(exc, "msg", str(exc))
        where = stream.where()
        report(Problem(name, where, f'not a Graph page ({{"value": [...]}}): {message}; rest of file skipped'))


def _read_csv(source: IO[str], name: str, report: Report) -> Iterator[SignIn]:
    reader = csv.DictReader(source)
    try:
        for row in reader:
            yield from _checked(from_csv_row(row, name, reader.line_num), name, reader.line_num, report)
    except csv.Error as exc:
        report(Problem(name, reader.line_num, f"bad CSV: {exc}; rest of file skipped"))


def _checked(result: SignIn | str, name: str, line: int, report: Report) -> Iterator[SignIn]:
    if isinstance(result, str):
        report(Problem(name, line, result))
    else:
        yield result


def read_signins(paths: Iterable[str | Path], report: Report) -> Iterator[SignIn]:
    """Every usable sign-in of every file, in order; problems go to ``report``."""
    for path in paths:
        name = str(path)
        try:
            source = open(path, encoding="utf-8-sig", errors="replace", newline="")  # noqa: SIM115
        except OSError as exc:
            report(Problem(name, 0, f"cannot read: {exc.strerror or exc}"))
            continue
        with source:
            first = source.readline()
            source.seek(0)
            kind = _kind(first, name)
            if kind == "csv":
                yield from _read_csv(source, name, report)
            elif kind == "lines":
                yield from _read_lines(source, name, report)
            else:
                yield from _read_page(source, name, report)


def read_signins_text(text: str, name: str, report: Report) -> Iterator[SignIn]:
    """The same readers over a string (tests, stdin)."""
    kind = _kind(text.split("\n", 1)[0], name)
    source = io.StringIO(text, newline="")
    reader = {"csv": _read_csv, "lines": _read_lines, "page": _read_page}[kind]
    yield from reader(source, name, report)
