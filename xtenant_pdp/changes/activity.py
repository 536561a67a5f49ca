"""Cross-tenant sign-in activity per external tenant and direction.

By the rules of Microsoft's cross-tenant activity script (MSIdentityTools,
``Get-MsIdCrossTenantAccessActivity``): only sign-ins whose ``crossTenantAccessType`` is not
``none``; outbound = the resource tenant is not the local tenant, grouped by resource tenant;
inbound = the home tenant is not the local tenant and ``tokenIssuerType`` is ``AzureAD``,
grouped by home tenant. Success means ``status.errorCode`` 0. Memory grows with distinct
tenants, users, resources and days, never with the number of sign-ins.
"""

from __future__ import annotations

import csv
import enum
import html
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from xtenant_pdp.changes.signins import SignIn

TOP_APPLICATIONS = 5


class AccessDirection(enum.Enum):
    INBOUND = "Inbound"
    OUTBOUND = "Outbound"


@dataclass(slots=True)
class _Tally:
    sign_ins: int = 0
    success: int = 0
    users: set[str] = field(default_factory=set)
    resources: set[str] = field(default_factory=set)
    apps: Counter[tuple[str, str]] = field(default_factory=Counter)
    days: Counter[date] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class TopApplication:
    app_id: str
    app_name: str
    sign_ins: int


@dataclass(frozen=True, slots=True)
class TenantActivity:
    external_tenant_id: str
    direction: AccessDirection
    sign_ins: int
    success_sign_ins: int
    failed_sign_ins: int
    unique_users: int
    unique_resources: int
    top_applications: tuple[TopApplication, ...]
    #: Sign-ins per UTC day (for the report's chart), sorted.
    per_day: tuple[tuple[date, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "externalTenantId": self.external_tenant_id,
            "accessDirection": self.direction.value,
            "signIns": self.sign_ins,
            "successSignIns": self.success_sign_ins,
            "failedSignIns": self.failed_sign_ins,
            "uniqueUsers": self.unique_users,
            "uniqueResources": self.unique_resources,
            "topApplications": [
                {"appId": a.app_id, "appDisplayName": a.app_name, "signIns": a.sign_ins} for a in self.top_applications
            ],
        }


def directions(sign_in: SignIn, local: str) -> list[tuple[AccessDirection, str]]:
    """The script's rules: which (direction, external tenant) groups a sign-in counts in."""
    if not sign_in.cross_tenant:
        return []
    out = []
    if sign_in.resource_tenant_id != local:
        out.append((AccessDirection.OUTBOUND, sign_in.resource_tenant_id))
    if sign_in.home_tenant_id != local and sign_in.token_issuer_type.lower() == "azuread":
        out.append((AccessDirection.INBOUND, sign_in.home_tenant_id))
    return out


def summarize(
    sign_ins: Iterable[SignIn],
    local: str,
    *,
    direction: AccessDirection | None = None,
    external_tenant: str | None = None,
    since: datetime | None = None,
) -> list[TenantActivity]:
    """Outbound groups first, then inbound (the script's order), each by external tenant id."""
    local = local.lower()
    external_tenant = external_tenant.lower() if external_tenant else None
    tallies: dict[tuple[AccessDirection, str], _Tally] = {}
    for s in sign_ins:
        if since is not None and (s.created is None or s.created < since):
            continue
        for d, tenant in directions(s, local):
            if (direction is not None and d is not direction) or (external_tenant and tenant != external_tenant):
                continue
            t = tallies.get((d, tenant))
            if t is None:
                t = tallies[(d, tenant)] = _Tally()
            t.sign_ins += 1
            t.success += s.error_code == 0
            t.users.add(s.user_id)
            t.resources.add(s.resource_id)
            t.apps[(s.app_id, s.app_name)] += 1
            if s.created is not None:
                t.days[s.created.date()] += 1
    order = {AccessDirection.OUTBOUND: 0, AccessDirection.INBOUND: 1}
    return [
        TenantActivity(
            external_tenant_id=tenant,
            direction=d,
            sign_ins=t.sign_ins,
            success_sign_ins=t.success,
            failed_sign_ins=t.sign_ins - t.success,
            unique_users=len(t.users),
            unique_resources=len(t.resources),
            top_applications=tuple(
                TopApplication(app_id, name, n)
                for (app_id, name), n in sorted(t.apps.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_APPLICATIONS]
            ),
            per_day=tuple(sorted(t.days.items())),
        )
        for (d, tenant), t in sorted(tallies.items(), key=lambda kv: (order[kv[0][0]], kv[0][1]))
    ]


# ------------------------------------------------------------------------- output

_COLUMNS = (
    "externalTenantId",
    "accessDirection",
    "signIns",
    "successSignIns",
    "failedSignIns",
    "uniqueUsers",
    "uniqueResources",
)


def _top_text(a: TenantActivity) -> str:
    return "; ".join(f"{t.app_name or t.app_id} ({t.sign_ins})" for t in a.top_applications)


def to_csv(rows: list[TenantActivity]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*_COLUMNS, "topApplications"])
    for a in rows:
        d = a.to_dict()
        writer.writerow([*(d[c] for c in _COLUMNS), _top_text(a)])
    return out.getvalue()


def to_table(rows: list[TenantActivity]) -> str:
    header = ["external tenant", "direction", "sign-ins", "success", "failed", "users", "resources", "top applications"]
    body = [
        [
            a.external_tenant_id,
            a.direction.value,
            *(str(v) for v in (a.sign_ins, a.success_sign_ins, a.failed_sign_ins, a.unique_users, a.unique_resources)),
            _top_text(a),
        ]
        for a in rows
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in [header, *body]]
    return "\n".join(lines) + "\n"


def _bars_svg(rows: list[TenantActivity]) -> str:
    width, bar_h, label_w = 760, 22, 330
    peak = max((a.sign_ins for a in rows), default=1) or 1
    height = bar_h * len(rows) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for i, a in enumerate(rows):
        y = 5 + i * bar_h
        ok = (width - label_w - 60) * a.success_sign_ins / peak
        bad = (width - label_w - 60) * a.failed_sign_ins / peak
        label = html.escape(f"{a.external_tenant_id} {a.direction.value}")
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{label}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{ok:.1f}" height="{bar_h - 6}" fill="#2e7d32"/>')
        parts.append(
            f'<rect x="{label_w + ok:.1f}" y="{y + 3}" width="{bad:.1f}" height="{bar_h - 6}" fill="#c62828"/>'
        )
        parts.append(f'<text x="{label_w + ok + bad + 4:.1f}" y="{y + 15}" font-size="12">{a.sign_ins}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _days_svg(rows: list[TenantActivity]) -> str:
    per_day: Counter[date] = Counter()
    for a in rows:
        for day, n in a.per_day:
            per_day[day] += n
    if not per_day:
        return "<p>No sign-in carried a date.</p>"
    days = sorted(per_day)
    width, height, pad = 760, 200, 30
    peak = max(per_day.values())
    step = (width - 2 * pad) / max(len(days), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 30}" role="img">']
    for i, day in enumerate(days):
        h = (height - pad) * per_day[day] / peak
        x = pad + i * step
        parts.append(
            f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{max(step - 2, 1):.1f}" height="{h:.1f}" fill="#1565c0">'
            f"<title>{day.isoformat()}: {per_day[day]}</title></rect>"
        )
    parts.append(f'<text x="{pad}" y="{height + 20}" font-size="12">{days[0].isoformat()}</text>')
    parts.append(f'<text x="{width - pad - 80}" y="{height + 20}" font-size="12">{days[-1].isoformat()}</text>')
    parts.append(f'<text x="0" y="12" font-size="12">{peak}</text></svg>')
    return "".join(parts)


def to_html(rows: list[TenantActivity], local: str) -> str:
    """One self-contained page (inline CSS and SVG, no script, no external resource)."""
    table_rows = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(str(a.to_dict()[c]))}</td>" for c in _COLUMNS)
        + f"<td>{html.escape(_top_text(a))}</td></tr>"
        for a in rows
    )
    head = "".join(f"<th>{c}</th>" for c in (*_COLUMNS, "topApplications"))
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Cross-tenant activity</title>'
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}</style></head><body>"
        f"<h1>Cross-tenant activity of {html.escape(local)}</h1>"
        "<h2>Sign-ins per external tenant (green: success, red: failed)</h2>"
        f"{_bars_svg(rows)}<h2>Sign-ins per day</h2>{_days_svg(rows)}"
        f"<h2>Summary</h2><table><tr>{head}</tr>{table_rows}</table></body></html>\n"
    )
