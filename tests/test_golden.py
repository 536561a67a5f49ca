"""Golden compiled output: each policy under testdata/compile/<case>/ against <case>.golden.json.

Regenerate after an intended change with `pytest tests/test_golden.py --update-golden` and
review the diff: it shows exactly how compiled meaning changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE_POLICY
from google.protobuf import json_format

from xtenant_pdp.compiler import compile_policy_dir

CASES_DIR = Path(__file__).parent / "testdata" / "compile"
CASES = {"example-policy": EXAMPLE_POLICY} | {p.name: p for p in sorted(CASES_DIR.iterdir()) if p.is_dir()}


def canonical(policy: Path) -> dict[str, Any]:
    result = compile_policy_dir(policy, created_at=0)
    info = result.info
    return {
        "snapshotId": info.snapshot_id,
        "formatVersion": info.format_version,
        "compilerVersion": info.compiler_version,
        "tenantCount": info.tenant_count,
        "partnerCount": info.partner_count,
        "findings": [str(f) for f in result.findings],
        "body": json_format.MessageToDict(result.snapshot),
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_snapshot_matches_golden(case: str, update_golden: bool) -> None:
    golden = CASES_DIR / f"{case}.golden.json"
    actual = canonical(CASES[case])
    if update_golden or not golden.exists():
        golden.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n")
        if not update_golden:
            pytest.fail(f"{golden.name} was missing and has been written; review and commit it")
    assert actual == json.loads(golden.read_text())
