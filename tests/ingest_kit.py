"""Damaged inputs built from the real Graph bodies in shared/examples/graph (issue 10).

``real_tenant`` writes one tenant folder from the documented GET bodies; the tests then damage one
file at a time (rename it, re-encode it, replace it with a Graph error body, misspell a key) and
check the compile refuses it with a located error, or reads it fail-closed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "examples" / "graph"
TENANT_ID = "5de41ce2-ca22-4b65-866a-e46ae037737e"
#: The partner of partner-create-response.json, and the one of the expanded identity-sync list.
PARTNER_ID = "3d0f5dec-5d3d-455c-8016-e2af1ae4d31a"
SYNC_PARTNER_ID = "9c5d131d-b1c3-4fc4-9e3f-c6557947d551"

#: What `az rest` saves when the call fails (graph-model.md section 3, documented errors).
GRAPH_ERROR = {
    "error": {
        "code": "Authorization_RequestDenied",
        "message": "Insufficient privileges to complete the operation.",
        "innerError": {"date": "2026-11-29T10:00:00", "request-id": "0f4c6a3e-4d59-4c31-9d7e-2b9f1d3c6a11"},
    }
}


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text("utf-8"))


def partners_body() -> dict[str, Any]:
    """A partners list: the created partner's body next to the expanded identity-sync list's partner."""
    listed = example("partners-list-expand-identitysync-response.json")
    created = example("partner-create-response.json")
    created.pop("@odata.context", None)
    return {"value": [created, *listed["value"]]}


def write(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def real_tenant(root: Path, folder: str = "contoso") -> Path:
    """A policy folder with one tenant whose files are the documented Graph bodies, verbatim."""
    tenant = root / folder
    write(tenant / "tenant.json", {"tenantId": TENANT_ID, "cloud": "microsoftonline.com", "displayName": "Contoso"})
    write(tenant / "crossTenantAccessPolicy.json", example("crosstenantaccesspolicy-get-response.json"))
    write(tenant / "default.json", example("default-get-response.json"))
    write(tenant / "partners.json", partners_body())
    return root
