"""Builders for Graph-shaped policy directories used by the rule tests.

Everything written here is the verbatim Graph JSON shape (camelCase, targets lists), so the
tests run the real parser, compiler, loader and evaluator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from xtenant_pdp.compiler import DEFAULT_OPTIONS, CompileOptions
from xtenant_pdp.engine import Engine

HOME = "11111111-1111-4111-8111-111111111111"
RESOURCE = "22222222-2222-4222-8222-222222222222"
OTHER = "33333333-3333-4333-8333-333333333333"
GOV = "44444444-4444-4444-8444-444444444444"
CHINA = "55555555-5555-4555-8555-555555555555"
USER = "aaaaaaaa-0000-4000-8000-000000000001"
USER2 = "aaaaaaaa-0000-4000-8000-000000000002"
GROUP = "bbbbbbbb-0000-4000-8000-000000000001"
GROUP2 = "bbbbbbbb-0000-4000-8000-000000000002"
APP = "cccccccc-0000-4000-8000-000000000001"
APP2 = "cccccccc-0000-4000-8000-000000000002"
EXCHANGE = "00000002-0000-0ff1-ce00-000000000000"
GRAPH_APP = "00000003-0000-0000-c000-000000000000"

COMMERCIAL_CLOUD = "microsoftonline.com"
GOV_CLOUD = "microsoftonline.us"
CHINA_CLOUD = "partner.microsoftonline.cn"


def targets(ids: list[str] | str, kind: str) -> list[dict[str, str]]:
    """Graph targets: keywords keep their spelling, GUIDs get the given targetType."""
    if isinstance(ids, str):
        ids = [ids]
    out = []
    for target in ids:
        target_type = kind
        if target == "AllUsers":
            target_type = "user"
        elif target in ("AllApplications", "Office365", "AllMicrosoftApps"):
            target_type = "application"
        out.append({"target": target, "targetType": target_type})
    return out


def half(access: str, ids: list[str] | str, kind: str) -> dict[str, Any]:
    return {"accessType": access, "targets": targets(ids, kind)}


def setting(
    users: tuple[str, list[str] | str] | None = None,
    apps: tuple[str, list[str] | str] | None = None,
    *,
    user_kind: str = "group",
) -> dict[str, Any]:
    """A crossTenantAccessPolicyB2BSetting; pass None to leave a half out (R4)."""
    out: dict[str, Any] = {}
    if users is not None:
        out["usersAndGroups"] = half(users[0], users[1], user_kind)
    if apps is not None:
        out["applications"] = half(apps[0], apps[1], "application")
    return out


ALLOW_ALL = setting(("allowed", "AllUsers"), ("allowed", "AllApplications"))
BLOCK_ALL = setting(("blocked", "AllUsers"), ("blocked", "AllApplications"))


def partner(tenant_id: str, **props: Any) -> dict[str, Any]:
    return {"tenantId": tenant_id, **props}


def tenant(
    tenant_id: str,
    *,
    cloud: str = COMMERCIAL_CLOUD,
    default: dict[str, Any] | None = None,
    partners: list[dict[str, Any]] | None = None,
    allowed_clouds: list[str] | None = None,
    license: str | None = None,
) -> dict[str, Any]:
    return {
        "tenant": {"tenantId": tenant_id, "cloud": cloud, **({"license": license} if license else {})},
        "default": default,
        "partners": partners,
        "policy": None if allowed_clouds is None else {"allowedCloudEndpoints": allowed_clouds},
    }


def customized_default(**props: Any) -> dict[str, Any]:
    """A customized default: the service default's shape with the given properties replaced."""
    base: dict[str, Any] = {
        "id": "dddddddd-0000-4000-8000-000000000001",
        "isServiceDefault": False,
        "inboundTrust": {
            "isMfaAccepted": False,
            "isCompliantDeviceAccepted": False,
            "isHybridAzureADJoinedDeviceAccepted": False,
        },
        "automaticUserConsentSettings": {"inboundAllowed": False, "outboundAllowed": False},
        "b2bCollaborationOutbound": ALLOW_ALL,
        "b2bCollaborationInbound": ALLOW_ALL,
        "b2bDirectConnectOutbound": BLOCK_ALL,
        "b2bDirectConnectInbound": BLOCK_ALL,
    }
    base.update(props)
    return base


def write_policy(root: Path, tenants: dict[str, dict[str, Any]], catalog: dict[str, list[str]] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for folder, spec in tenants.items():
        d = root / folder
        d.mkdir()
        (d / "tenant.json").write_text(json.dumps(spec["tenant"]))
        if spec.get("default") is not None:
            (d / "default.json").write_text(json.dumps(spec["default"]))
        if spec.get("partners") is not None:
            (d / "partners.json").write_text(json.dumps({"value": spec["partners"]}))
        if spec.get("policy") is not None:
            (d / "crossTenantAccessPolicy.json").write_text(json.dumps(spec["policy"]))
    if catalog is not None:
        (root / "applications.json").write_text(json.dumps(catalog))
    return root


def engine(
    root: Path, tenants: dict[str, dict[str, Any]], options: CompileOptions = DEFAULT_OPTIONS, **kw: Any
) -> Engine:
    return Engine.from_policy_dir(write_policy(root, tenants, **kw), options)


def access(
    tenant_id: str = RESOURCE,
    external: str = HOME,
    direction: str = "DIRECTION_INBOUND",
    feature: str = "FEATURE_B2B_COLLABORATION",
    user: str = USER,
    groups: tuple[str, ...] = (),
    app: str = APP,
    cloud: str = "",
) -> dict[str, Any]:
    q: dict[str, Any] = {
        "tenantId": tenant_id,
        "externalTenantId": external,
        "direction": direction,
        "feature": feature,
        "userId": user,
        "groupIds": list(groups),
        "applicationId": app,
    }
    if cloud:
        q["externalCloud"] = cloud
    return {"access": q}


def collaboration(
    home: str = HOME,
    resource: str = RESOURCE,
    feature: str = "FEATURE_B2B_COLLABORATION",
    user: str = USER,
    groups: tuple[str, ...] = (),
    app: str = APP,
) -> dict[str, Any]:
    return {
        "collaboration": {
            "homeTenantId": home,
            "resourceTenantId": resource,
            "feature": feature,
            "userId": user,
            "groupIds": list(groups),
            "applicationId": app,
        }
    }


def outcome(answer: dict[str, Any]) -> tuple[str, str]:
    """(decision, reason) without enum prefixes, e.g. ("ALLOW", "ACCESS_ALLOWED")."""
    return answer["decision"].removeprefix("DECISION_"), answer["reason"].removeprefix("REASON_")
