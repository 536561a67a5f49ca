"""Measure `xtenant-pdp impact` on N generated sign-ins (default 1,000,000): records/s and peak RSS.

    .venv/bin/python benchmarks/changes_impact.py [--records N] [--users U] [--apps A]

Writes a JSON lines export of signIn records shaped as Graph returns them to a temporary
directory, runs the impact replay in this process (the example policy against a copy that
adds a partner whose inbound B2B collaboration is blocked), and prints the figures. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from xtenant_pdp.changes.impact import impact
from xtenant_pdp.changes.questions import read_records
from xtenant_pdp.loader import load_policy_dir

EXAMPLE = Path(__file__).resolve().parent.parent / "xtenant_pdp" / "examples" / "policy"
CONTOSO = "5de41ce2-ca22-4b65-866a-e46ae037737e"
PARTNERS = [
    "6f086a4d-9c20-4b2e-a39f-5dcccb0b955a",
    "b9ecdb8d-362d-4399-8f18-27c5620f7443",
    "fd7325cf-3c2d-49b8-8b31-fe28f59b1e3a",
    "bb9e6048-0da4-4c01-bd66-d95061dbf6de",
    "11111111-1111-4111-8111-111111111111",
    "22222222-2222-4222-8222-222222222222",
]
TYPES = ["b2bCollaboration"] * 8 + ["b2bDirectConnect", "passthrough"]


def _write_export(path: Path, records: int, users: int, apps: int, seed: int) -> None:
    rng = random.Random(seed)
    user_ids = [f"aaaaaaaa-0000-4000-8000-{i:012d}" for i in range(users)]
    app_ids = [f"cccccccc-0000-4000-8000-{i:012d}" for i in range(apps)]
    with path.open("w") as out:
        for n in range(records):
            partner = rng.choice(PARTNERS)
            inbound = rng.random() < 0.6
            home, res = (partner, CONTOSO) if inbound else (CONTOSO, partner)
            app = rng.choice(app_ids)
            record = {
                "id": f"{n:08x}-0000-4000-8000-000000000000",
                "createdDateTime": f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:00:00Z",
                "userDisplayName": "User",
                "userPrincipalName": "user@example.com",
                "userId": rng.choice(user_ids),
                "appId": app,
                "appDisplayName": "App",
                "ipAddress": "203.0.113.7",
                "clientAppUsed": "Browser",
                "resourceDisplayName": "Resource",
                "resourceId": app,
                "resourceTenantId": res,
                "homeTenantId": home,
                "crossTenantAccessType": rng.choice(TYPES),
                "tokenIssuerType": "AzureAD",
                "isInteractive": True,
                "status": {"errorCode": 0 if rng.random() < 0.9 else 50076, "failureReason": None},
            }
            out.write(json.dumps(record, separators=(",", ":")) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="xtenant-impact-"))
    try:
        export = tmp / "signins.jsonl"
        start = time.perf_counter()
        _write_export(export, args.records, args.users, args.apps, args.seed)
        written = time.perf_counter() - start
        new_policy = tmp / "policy"
        shutil.copytree(EXAMPLE, new_policy)
        partners_file = new_policy / "contoso" / "partners.json"
        body = json.loads(partners_file.read_text())
        block = {"accessType": "blocked", "targets": [{"target": "AllUsers", "targetType": "user"}]}
        apps = {"accessType": "blocked", "targets": [{"target": "AllApplications", "targetType": "application"}]}
        body["value"].append(
            {"tenantId": PARTNERS[4], "b2bCollaborationInbound": {"usersAndGroups": block, "applications": apps}}
        )
        partners_file.write_text(json.dumps(body))
        old, new = load_policy_dir(EXAMPLE), load_policy_dir(new_policy)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start, cpu_start = time.perf_counter(), time.process_time()
        problems: list[object] = []
        result = impact(old, new, read_records([str(export)], CONTOSO, problems.append))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            json.dumps(
                {
                    "records": result.totals.records,
                    "exportBytes": export.stat().st_size,
                    "writeSeconds": round(written, 1),
                    "impactSeconds": round(seconds, 1),
                    "recordsPerSecond": round(result.totals.records / seconds),
                    # The wall figures depend on what else runs on the machine; CPU time much less.
                    "impactCpuSeconds": round(cpu, 1),
                    "recordsPerCpuSecond": round(result.totals.records / cpu),
                    "distinctQuestions": result.distinct_questions,
                    "peakRssMiB": round(rss / 1024),
                    "rssBeforeImpactMiB": round(rss_before / 1024),
                    "totals": result.to_dict()["totals"],
                    "problems": len(problems),
                },
                indent=2,
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
