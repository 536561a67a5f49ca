"""CheckRequest bytes straight into the evaluator's typed question, for the common encoding.

Parsing the protobuf message and then reading and validating each field in Python cost about
two thirds of a decision's CPU, most of it in checking never-seen GUIDs one by one. A valid
question as every protobuf encoder writes it (one question, its fields in number order, each
once, repeated enums packed, ids in the 36-character form) is matched here by one compiled
regular expression per question kind, which checks the layout, every GUID and every enum byte
in one pass of C; the ids are then sliced out of one lower-cased copy of the message.

Anything else - an error to report, an unknown field, another order, a new question kind or
field added to the .proto - returns None, and the caller takes the protobuf path
(convert.py), which is correct by construction and words every error. So this module never
raises and never decides what is valid on its own: tests/test_decode_props.py checks that for
any message hypothesis builds from the descriptors, its answer is the protobuf path's.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable

from xtenant_pdp.decision import (
    AccessQuery,
    AutomaticRedemptionQuery,
    Claim,
    Cloud,
    CollaborationQuery,
    Direction,
    Feature,
    IdentitySyncQuery,
    Query,
    QuestionKind,
    RedemptionScenario,
    SyncObjectKind,
    TenantRestrictionsQuery,
    TrustQuery,
)

#: Group ids accepted per question, on both paths (convert.py words the error above it).
MAX_GROUP_IDS = 2048
_MAX_PACKED_CLAIMS = 8

_HEX = rb"[0-9a-fA-F]"
_ID = _HEX + rb"{8}-" + _HEX + rb"{4}-" + _HEX + rb"{4}-" + _HEX + rb"{4}-" + _HEX + rb"{12}"


def _tag(number: int, length: int | None = None) -> bytes:
    """The one-byte tag (and one-byte length) of a field, escaped for a pattern."""
    wire_type = 0 if length is None else 2
    head = bytes([number << 3 | wire_type]) + (b"" if length is None else bytes([length]))
    return re.escape(head)


def _guid(number: int) -> bytes:
    """A required id field; the group captures the id's position."""
    return _tag(number, 36) + rb"(" + _ID + rb")"


def _guids(number: int) -> bytes:
    """A repeated id field, at most MAX_GROUP_IDS times in a row; the group spans the run."""
    return rb"((?:" + _tag(number, 36) + _ID + rb"){0,%d})" % MAX_GROUP_IDS


def _enum(number: int, members: type[enum.IntEnum], *, optional: bool = False) -> bytes:
    """An enum field holding one of the enum's values (one-byte varints); 0 is never written:
    a required enum that is absent, 0 or unknown is an error the protobuf path words."""
    return rb"(?:" + _tag(number) + rb"(" + _one_byte_values(members) + rb"))" + (b"?" if optional else b"")


def _one_byte_values(members: type[enum.IntEnum]) -> bytes:
    """A byte class of the enum's values. Each must be a one-byte varint: from 128 on, protobuf
    reads the byte as the start of a longer varint, and this path would disagree with it."""
    if any(not 0 < m < 0x80 for m in members):
        raise ValueError(f"{members.__name__}: a value outside 1-127 needs the protobuf path")
    return rb"[" + b"".join(re.escape(bytes([m])) for m in members) + rb"]"


def _packed_claims(number: int) -> bytes:
    claim = _one_byte_values(Claim)
    lengths = b"|".join(_tag(number, n) + claim + rb"{%d}" % n for n in range(1, _MAX_PACKED_CLAIMS + 1))
    return rb"((?:" + lengths + rb"))?"


_CLOUDS = {cloud.endpoint.encode(): cloud for cloud in Cloud}


def _cloud(number: int) -> bytes:
    alternatives = b"|".join(_tag(number, len(e)) + re.escape(e) for e in _CLOUDS)
    return rb"(" + alternatives + rb")?"


_ACCESS = re.compile(
    _guid(1) + _guid(2) + _cloud(3) + _enum(4, Direction) + _enum(5, Feature) + _guid(6) + _guids(7) + _guid(8), re.S
)
_COLLABORATION = re.compile(_guid(1) + _guid(2) + _enum(3, Feature) + _guid(4) + _guids(5) + _guid(6), re.S)
_TRUST = re.compile(_guid(1) + _guid(2) + _enum(3, Feature) + _packed_claims(4) + _packed_claims(5), re.S)
_AUTOMATIC_REDEMPTION = re.compile(_guid(1) + _guid(2) + _enum(3, RedemptionScenario, optional=True), re.S)
_IDENTITY_SYNC = re.compile(_guid(1) + _guid(2) + _enum(3, SyncObjectKind, optional=True), re.S)
_TENANT_RESTRICTIONS = re.compile(_guid(1) + _guid(2) + _guid(3) + _guids(4) + _guid(5), re.S)

DIRECTIONS = {int(d): d for d in Direction}
FEATURES = {int(f): f for f in Feature}
SCENARIOS = {int(s): s for s in RedemptionScenario}
SYNC_OBJECT_KINDS = {int(k): k for k in SyncObjectKind}
CLAIMS = {int(c): c for c in Claim}
_CLOUD_FIELDS = {bytes([3 << 3 | 2, len(e)]) + e: cloud for e, cloud in _CLOUDS.items()}
_new = tuple.__new__


def _ids(text: str, start: int, end: int) -> tuple[str, ...]:
    """The ids of a run of repeated id fields from ``start`` (its first tag) to ``end`` (38
    bytes each: tag, length, 36 characters)."""
    if start == end:
        return ()
    return tuple([text[i : i + 36] for i in range(start + 2, end, 38)])


def _claims(raw: bytes, span: tuple[int, int]) -> frozenset[Claim]:
    start, end = span
    if start < 0:
        return frozenset()
    claims = CLAIMS
    return frozenset([claims[b] for b in raw[start + 2 : end]])


# Where the pattern matched, every field but the optional cloud and the repeated ids has a fixed
# size (38 bytes an id field, 2 an enum), so the fields are found by arithmetic from the start
# and the end rather than read from the match's groups (which cost as much as the match).


def _access(raw: bytes, pos: int) -> Query | None:
    if _ACCESS.fullmatch(raw, pos) is None:
        return None
    text = raw.lower().decode("latin-1")  # bytes.lower: ASCII only; ids are ASCII by the match
    p = pos + 76
    cloud = None
    if raw[p] == 0x1A:  # field 3, the optional cloud
        n = raw[p + 1] + 2
        cloud = _CLOUD_FIELDS[raw[p : p + n]]
        p += n
    end = len(raw)
    return _new(
        AccessQuery,
        (
            text[pos + 2 : pos + 38],
            text[pos + 40 : pos + 76],
            cloud,
            DIRECTIONS[raw[p + 1]],
            FEATURES[raw[p + 3]],
            text[p + 6 : p + 42],
            _ids(text, p + 42, end - 38),
            text[end - 36 : end],
        ),
    )


def _collaboration(raw: bytes, pos: int) -> Query | None:
    if _COLLABORATION.fullmatch(raw, pos) is None:
        return None
    text = raw.lower().decode("latin-1")
    end = len(raw)
    return _new(
        CollaborationQuery,
        (
            text[pos + 2 : pos + 38],
            text[pos + 40 : pos + 76],
            FEATURES[raw[pos + 77]],
            text[pos + 80 : pos + 116],
            _ids(text, pos + 116, end - 38),
            text[end - 36 : end],
        ),
    )


def _two(raw: bytes, m: re.Match[bytes]) -> tuple[str, str] | None:
    """The first two ids, lower-cased; None when they name the same tenant (an error)."""
    s1, s2 = m.start(1), m.start(2)
    first = raw[s1 : s1 + 36].decode("ascii").lower()
    second = raw[s2 : s2 + 36].decode("ascii").lower()
    if first == second:
        return None
    return first, second


def _trust(raw: bytes, pos: int) -> Query | None:
    m = _TRUST.fullmatch(raw, pos)
    if m is None:
        return None
    tenants = _two(raw, m)
    if tenants is None:
        return None
    _, _, _, (f, _), required, presented = m.regs
    return _new(TrustQuery, (*tenants, FEATURES[raw[f]], _claims(raw, required), _claims(raw, presented)))


def _automatic_redemption(raw: bytes, pos: int) -> Query | None:
    m = _AUTOMATIC_REDEMPTION.fullmatch(raw, pos)
    if m is None:
        return None
    tenants = _two(raw, m)
    if tenants is None:
        return None
    scenario = m.start(3)
    found = RedemptionScenario.B2B_COLLABORATION if scenario < 0 else SCENARIOS[raw[scenario]]
    return _new(AutomaticRedemptionQuery, (*tenants, found))


def _identity_sync(raw: bytes, pos: int) -> Query | None:
    m = _IDENTITY_SYNC.fullmatch(raw, pos)
    if m is None:
        return None
    tenants = _two(raw, m)
    if tenants is None:
        return None
    kind = m.start(3)
    return _new(IdentitySyncQuery, (*tenants, SyncObjectKind.USERS if kind < 0 else SYNC_OBJECT_KINDS[raw[kind]]))


def _tenant_restrictions(raw: bytes, pos: int) -> Query | None:
    if _TENANT_RESTRICTIONS.fullmatch(raw, pos) is None:
        return None
    text = raw.lower().decode("latin-1")
    end = len(raw)
    return _new(
        TenantRestrictionsQuery,
        (
            text[pos + 2 : pos + 38],
            text[pos + 40 : pos + 76],
            text[pos + 78 : pos + 114],
            _ids(text, pos + 114, end - 38),
            text[end - 36 : end],
        ),
    )


#: CheckRequest's question oneof field number (= QuestionKind) -> decoder.
DECODERS: dict[QuestionKind, Callable[[bytes, int], Query | None]] = {
    QuestionKind.ACCESS: _access,
    QuestionKind.COLLABORATION: _collaboration,
    QuestionKind.TRUST: _trust,
    QuestionKind.AUTOMATIC_REDEMPTION: _automatic_redemption,
    QuestionKind.IDENTITY_SYNC: _identity_sync,
    QuestionKind.TENANT_RESTRICTIONS: _tenant_restrictions,
}
#: The one-byte tag of each question field (wire type 2) -> its decoder.
_BY_TAG = {kind << 3 | 2: (kind, decoder) for kind, decoder in DECODERS.items()}


def question(raw: bytes) -> tuple[QuestionKind, Query] | None:
    """(question kind, typed question) of a serialized CheckRequest in the common encoding,
    or None: then ask the protobuf path, for the answer or the error."""
    if len(raw) < 2:
        return None
    entry = _BY_TAG.get(raw[0])
    if entry is None:
        return None
    size = raw[1]
    if size < 0x80:
        start = 2
    elif len(raw) > 2 and raw[2] < 0x80:
        size, start = (size & 0x7F) | raw[2] << 7, 3
    else:
        return None  # a question above 16 KiB: rare enough for the protobuf path
    if start + size != len(raw):
        return None
    query = entry[1](raw, start)
    return None if query is None else (entry[0], query)
