"""waivers.json: findings a team has consciously accepted (read here, applied by compiler/waive.py).

`{"waivers": [{"code": "D7-MFA", "partner": "<partner tenant id>" | "*", "reason": "..."}]}`, beside
tenant.json. Only finding codes (warnings) can be waived: errors make a policy unusable.
"""

from __future__ import annotations

from typing import Any

from xtenant_pdp.errors import IssueCode
from xtenant_pdp.graph.model import Waiver
from xtenant_pdp.graph.reader import Reader, is_guid, suggest

ANY_PARTNER = "*"

#: Codes of findings (warnings): the only ones a waiver or --ignore can accept.
WAIVABLE = frozenset(c.value for c in IssueCode if not c.value.startswith(("E", "I", "N")))
_WAIVER_KEYS = frozenset({"code", "partner", "reason"})


def unknown_code_hint(code: str) -> str:
    best = suggest(code, sorted(WAIVABLE))
    return f'did you mean "{best}"?' if best else "codes a waiver can accept: " + ", ".join(sorted(WAIVABLE))


def parse_waivers(reader: Reader, document: object) -> tuple[Waiver, ...]:
    """`{"waivers": [{"code": "D7-MFA", "partner": "<tenant id>" | "*", "reason": "..."}]}`."""
    root = reader.root()
    data = reader.obj(document, root, nullable=False)
    if data is None:
        return ()
    reader.check_keys(data, root, frozenset({"waivers"}))
    items_at = root.child("waivers")
    if "waivers" not in data:
        reader.error(items_at, "is required", IssueCode.MISSING_FIELD, hint='write {"waivers": [...]}')
    found = []
    for i, item in enumerate(reader.array(data.get("waivers"), items_at)):
        at = items_at.child(i)
        entry: dict[str, Any] | None = reader.obj(item, at, nullable=False)
        if entry is None:
            continue
        reader.check_keys(entry, at, _WAIVER_KEYS)
        code = reader.string(entry, "code", at, required=True)
        partner = reader.string(entry, "partner", at, required=True)
        reason = reader.string(entry, "reason", at, required=True)
        ok = code is not None and partner is not None and reason is not None
        if code is not None and code not in WAIVABLE:
            what = "an error code: errors cannot be waived" if code.startswith("E") else "not a finding code"
            if not code.startswith("E") and code not in {c.value for c in IssueCode}:
                what = "an unknown code"
            reader.error(at.child("code"), f"`{code}` is {what}", IssueCode.INVALID_WAIVER, unknown_code_hint(code))
            ok = False
        if partner is not None and partner != ANY_PARTNER and not is_guid(partner):
            reader.error(
                at.child("partner"),
                f"`{partner}` is neither a tenant id nor `*`",
                IssueCode.INVALID_WAIVER,
                hint="use the partner's tenantId, or * for every partner",
            )
            ok = False
        if reason is not None and not reason.strip():
            reader.error(at.child("reason"), "must say why the finding is accepted", IssueCode.INVALID_WAIVER)
            ok = False
        if ok:
            assert code is not None and partner is not None and reason is not None
            found.append(Waiver(code=code, partner=partner.lower(), reason=reason, loc=at))
    return tuple(found)
