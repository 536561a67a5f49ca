"""activity: the per-tenant figures of Microsoft's cross-tenant activity script on a multi-page
Graph sign-in export, against a hand-computed expectation; malformed records are reported
with file and line and skipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from xtenant_pdp.changes import signins
from xtenant_pdp.changes.activity import summarize
from xtenant_pdp.changes.signins import read_signins
from xtenant_pdp.cli import main

LOCAL = "22222222-2222-4222-8222-222222222222"
A = "11111111-1111-4111-8111-111111111111"
B = "33333333-3333-4333-8333-333333333333"
R1, R2, R3, R4 = (f"eeeeeeee-0000-4000-8000-00000000000{i}" for i in range(1, 5))


def sign_in(
    n: int,
    home: str | None,
    resource: str,
    access: str,
    user: str,
    res: str,
    app: str,
    *,
    error: int = 0,
    issuer: str = "AzureAD",
    day: int = 1,
) -> dict[str, Any]:
    """A signIn resource as Graph returns it (v1.0/beta shape, the fields activity reads and more)."""
    record: dict[str, Any] = {
        "id": str(n),
        "createdDateTime": f"2026-11-{day:02d}T10:{n:02d}:00Z",
        "userDisplayName": f"user {user}",
        "userPrincipalName": f"{user}@example.com",
        "userId": user,
        "appId": f"cccccccc-0000-4000-8000-00000000000{app[-1]}",
        "appDisplayName": app,
        "ipAddress": "203.0.113.7",
        "clientAppUsed": "Browser",
        "resourceDisplayName": "resource",
        "resourceId": res,
        "resourceTenantId": resource,
        "crossTenantAccessType": access,
        "tokenIssuerType": issuer,
        "isInteractive": True,
        "status": {"errorCode": error, "failureReason": "Other." if error else None, "additionalDetails": None},
        "location": {"city": "Redmond", "countryOrRegion": "US"},
    }
    if home is not None:
        record["homeTenantId"] = home
    return record


U = {name: f"aaaaaaaa-0000-4000-8000-0000000000{i:02d}" for i, name in enumerate(["uA1", "uA2", "uL1", "uL2", "uB1"])}

PAGE_1 = [
    sign_in(1, A, LOCAL, "b2bCollaboration", U["uA1"], R1, "App1"),
    sign_in(2, A, LOCAL, "b2bCollaboration", U["uA1"], R2, "App1", error=50076),
    sign_in(3, A, LOCAL, "b2bDirectConnect", U["uA2"], R1, "App2", day=2),
    sign_in(4, A, LOCAL, "none", U["uA2"], R1, "App2"),
    sign_in(5, LOCAL, B, "b2bCollaboration", U["uL1"], R3, "App3"),
]
PAGE_2 = [
    sign_in(6, LOCAL, B, "b2bCollaboration", U["uL2"], R3, "App3", error=53003, day=3),
    sign_in(7, LOCAL, B, "b2bDirectConnect", U["uL1"], R4, "App4"),
    sign_in(8, B, LOCAL, "b2bCollaboration", U["uB1"], R1, "App1", issuer="ADFederationServices"),
    sign_in(9, None, LOCAL, "b2bCollaboration", U["uB1"], R1, "App1"),  # malformed: no homeTenantId
    42,  # malformed: not an object
    sign_in(10, B, LOCAL, "b2bCollaboration", U["uB1"], R1, "App1"),
]

#: By hand, with the script's rules (records 4 and 8 are not counted, 9 and 42 are malformed).
EXPECTED = [
    {
        "externalTenantId": B,
        "accessDirection": "Outbound",
        "signIns": 3,
        "successSignIns": 2,
        "failedSignIns": 1,
        "uniqueUsers": 2,
        "uniqueResources": 2,
    },
    {
        "externalTenantId": A,
        "accessDirection": "Inbound",
        "signIns": 3,
        "successSignIns": 2,
        "failedSignIns": 1,
        "uniqueUsers": 2,
        "uniqueResources": 2,
    },
    {
        "externalTenantId": B,
        "accessDirection": "Inbound",
        "signIns": 1,
        "successSignIns": 1,
        "failedSignIns": 0,
        "uniqueUsers": 1,
        "uniqueResources": 1,
    },
]


@pytest.fixture
def export(tmp_path: Path) -> list[Path]:
    base = "https://graph.microsoft.com/v1.0/auditLogs/signIns"
    page1 = {
        "@odata.context": f"{base}/$metadata#auditLogs/signIns",
        "value": PAGE_1,
        "@odata.nextLink": f"{base}?$skiptoken=abc",
    }
    page2 = {"@odata.context": f"{base}/$metadata#auditLogs/signIns", "value": PAGE_2}
    paths = [tmp_path / "signins-1.json", tmp_path / "signins-2.json"]
    paths[0].write_text(json.dumps(page1, indent=2))
    paths[1].write_text(json.dumps(page2, indent=2))
    return paths


def _line_of(text: str, marker: str) -> int:
    return text.count("\n", 0, text.rindex("{", 0, text.index(marker))) + 1


def test_activity_matches_the_hand_computed_figures(export: list[Path], capsys: pytest.CaptureFixture) -> None:
    assert main(["activity", "--tenant", LOCAL, "--format", "json", *map(str, export)]) == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert [{k: v for k, v in r.items() if k != "topApplications"} for r in rows] == EXPECTED
    assert all(set(r) == {*EXPECTED[0], "topApplications"} for r in rows)
    assert rows[0]["topApplications"][0] == {
        "appId": "cccccccc-0000-4000-8000-000000000003",
        "appDisplayName": "App3",
        "signIns": 2,
    }
    page2 = export[1].read_text()
    line = _line_of(page2, '"id": "9"')
    assert f"{export[1]}:{line}: no homeTenantId" in err
    assert f"{export[1]}:" in err and "must be a JSON object" in err
    assert "2 malformed" in err


def test_activity_filters_direction_tenant_and_since(export: list[Path]) -> None:
    def figures(**kw: Any) -> list[tuple[str, str, int]]:
        return [
            (a.external_tenant_id, a.direction.value, a.sign_ins)
            for a in summarize(read_signins(export, lambda p: None), LOCAL, **kw)
        ]

    from xtenant_pdp.changes.activity import AccessDirection
    from xtenant_pdp.changes.cli import parse_since

    assert figures(direction=AccessDirection.INBOUND) == [(A, "Inbound", 3), (B, "Inbound", 1)]
    assert figures(external_tenant=B) == [(B, "Outbound", 3), (B, "Inbound", 1)]
    assert figures(since=parse_since("2026-11-02")) == [(B, "Outbound", 1), (A, "Inbound", 1)]


def test_page_streaming_reads_the_same_records_in_tiny_chunks(export: list[Path], monkeypatch) -> None:
    whole = [(s.line, s.user_id) for s in read_signins(export, lambda p: None)]
    monkeypatch.setattr(signins, "CHUNK_CHARS", 5)
    assert [(s.line, s.user_id) for s in read_signins(export, lambda p: None)] == whole
    assert len(whole) == 9


def test_json_lines_and_portal_csv_read_alike(tmp_path: Path, export: list[Path]) -> None:
    records = [r for r in PAGE_1 + PAGE_2 if isinstance(r, dict) and "homeTenantId" in r]
    lines = tmp_path / "signins.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in records) + "\nnot json\n")
    portal = tmp_path / "InteractiveSignIns_2026-11-01.csv"
    header = [
        "Date (UTC)",
        "Request ID",
        "User",
        "Username",
        "User ID",
        "Application",
        "Application ID",
        "Resource",
        "Resource ID",
        "Resource tenant ID",
        "Home tenant ID",
        "Cross tenant access type",
        "Token issuer type",
        "Status",
        "Sign-in error code",
        "Failure reason",
    ]
    import csv

    with portal.open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in records:
            w.writerow(
                [
                    r["createdDateTime"],
                    r["id"],
                    "",
                    "",
                    r["userId"],
                    r["appDisplayName"],
                    r["appId"],
                    "",
                    r["resourceId"],
                    r["resourceTenantId"],
                    r["homeTenantId"],
                    r["crossTenantAccessType"],
                    r["tokenIssuerType"],
                    "Success" if not r["status"]["errorCode"] else "Failure",
                    r["status"]["errorCode"],
                    "",
                ]
            )
        w.writerow(["not a date"] + [""] * (len(header) - 1))
    problems: list[signins.Problem] = []

    def table(paths: list[Path]) -> list[dict[str, Any]]:
        return [a.to_dict() for a in summarize(read_signins(paths, problems.append), LOCAL)]

    assert table([lines]) == table(export) == table([portal])
    assert [(Path(p.file).name, p.line) for p in problems if not p.file.endswith(".json")] == [
        ("signins.jsonl", len(records) + 1),
        ("InteractiveSignIns_2026-11-01.csv", len(records) + 2),
    ]


def test_html_report_is_self_contained(export: list[Path], tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    assert main(["activity", "--tenant", LOCAL, "--html", str(report), *map(str, export)]) == 0
    text = report.read_text()
    assert text.count("<svg") == 2 and B in text
    assert "<script" not in text and "src=" not in text and "href=" not in text and "@import" not in text


def test_missing_file_is_reported_not_fatal(tmp_path: Path, export: list[Path], capsys) -> None:
    assert main(["activity", "--tenant", LOCAL, "--format", "json", str(tmp_path / "nope.json"), str(export[0])]) == 0
    out, err = capsys.readouterr()
    assert "nope.json:0: cannot read" in err and json.loads(out)


@pytest.mark.parametrize("layout", ["lines", "page"])
def test_deeply_nested_json_in_a_sign_in_export_is_a_reported_problem_not_a_traceback(
    tmp_path: Path, layout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = "[" * 200_000 + "]" * 200_000
    text = '{"id": "1"}\n{"a": ' + deep + "}\n" if layout == "lines" else '{"value": [' + deep + "]}"
    export = tmp_path / ("deep.jsonl" if layout == "lines" else "deep.json")
    export.write_text(text)
    code = main(["activity", "--tenant", "11111111-1111-4111-8111-111111111111", str(export)])
    assert code in (0, 1)
    assert "nested too deeply" in capsys.readouterr().err


@pytest.mark.parametrize("since", ["9999999d", "99999999999d"])
def test_a_since_before_the_year_1_is_a_usage_error_not_a_traceback(
    tmp_path: Path, since: str, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "empty.jsonl"
    export.write_text("")
    assert main(["activity", "--tenant", "11111111-1111-4111-8111-111111111111", "--since", since, str(export)]) == 64
    assert "--since" in capsys.readouterr().err
