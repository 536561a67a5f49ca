"""The synthetic policy generator writes the policy source format deterministically and asks sane questions."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xtenant_pdp.synthetic import QUESTION_KINDS, SyntheticPolicy, questions, write_policy_dir

# What the generator makes: lower-case version-4 GUIDs.
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
# Questions also name well-known Microsoft app ids, which are lower-case but not version 4.
ANY_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
USER_KEYWORDS = {"AllUsers"}
APP_KEYWORDS = {"AllApplications", "Office365", "AllMicrosoftApps"}
B2B_KEYS = (
    "b2bCollaborationInbound",
    "b2bCollaborationOutbound",
    "b2bDirectConnectInbound",
    "b2bDirectConnectOutbound",
)
# proto3 JSON names of each CheckRequest question's fields (pdp.proto).
QUESTION_FIELDS = {
    "access": {
        "tenantId", "externalTenantId", "externalCloud", "direction", "feature",
        "userId", "groupIds", "applicationId",
    },
    "collaboration": {"homeTenantId", "resourceTenantId", "feature", "userId", "groupIds", "applicationId"},
    "trust": {"tenantId", "externalTenantId", "feature", "required", "presented"},
    "automaticRedemption": {"homeTenantId", "resourceTenantId", "scenario"},
    "identitySync": {"sourceTenantId", "targetTenantId"},
    "tenantRestrictions": {"tenantId", "externalTenantId", "userId", "groupIds", "applicationId"},
}  # fmt: skip
ENUMS = {
    "direction": {"DIRECTION_INBOUND", "DIRECTION_OUTBOUND"},
    "feature": {"FEATURE_B2B_COLLABORATION", "FEATURE_B2B_DIRECT_CONNECT"},
    "scenario": {
        "REDEMPTION_SCENARIO_B2B_COLLABORATION",
        "REDEMPTION_SCENARIO_B2B_DIRECT_CONNECT",
        "REDEMPTION_SCENARIO_CROSS_TENANT_SYNC",
    },
}
CLAIMS = {"CLAIM_MFA", "CLAIM_COMPLIANT_DEVICE", "CLAIM_HYBRID_JOINED_DEVICE"}
ID_FIELDS = {
    "tenantId", "externalTenantId", "homeTenantId", "resourceTenantId", "sourceTenantId",
    "targetTenantId", "userId", "applicationId",
}  # fmt: skip


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def partners_of(policy: SyntheticPolicy, folder: str = "tenant-000") -> list[dict[str, Any]]:
    body = load(policy.root / folder / "partners.json")
    assert body["@odata.context"].endswith("partners(identitySynchronization())")
    value: list[dict[str, Any]] = body["value"]
    return value


def walk_targets(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "target" in node and "targetType" in node:
            yield node
        for child in node.values():
            yield from walk_targets(child)
    elif isinstance(node, list):
        for child in node:
            yield from walk_targets(child)


def walk_ids(node: Any) -> Iterator[str]:
    """Every tenantId, id and non-keyword target in a Graph body."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"tenantId", "id"} or (key == "target" and value not in USER_KEYWORDS | APP_KEYWORDS):
                yield value
            else:
                yield from walk_ids(value)
    elif isinstance(node, list):
        for child in node:
            yield from walk_ids(child)


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> SyntheticPolicy:
    return write_policy_dir(tmp_path_factory.mktemp("synthetic"), partners=2000, tenants=3, seed=11)


def test_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    a = write_policy_dir(tmp_path / "a", partners=300, tenants=3, seed=7)
    b = write_policy_dir(tmp_path / "b", partners=300, tenants=3, seed=7)
    assert read_tree(a.root) == read_tree(b.root)
    assert len(read_tree(a.root)) == 3 * 4
    assert (a.tenant_ids, a.partner_ids, a.user_ids, a.group_ids, a.app_ids, a.partner_targets) == (
        b.tenant_ids,
        b.partner_ids,
        b.user_ids,
        b.group_ids,
        b.app_ids,
        b.partner_targets,
    )


def test_another_seed_writes_other_ids(tmp_path: Path) -> None:
    a = write_policy_dir(tmp_path / "a", partners=50, seed=1)
    b = write_policy_dir(tmp_path / "b", partners=50, seed=2)
    assert read_tree(a.root) != read_tree(b.root)
    assert not set(a.partner_ids) & set(b.partner_ids)


def test_writes_the_requested_partner_count_with_unique_tenant_ids(policy: SyntheticPolicy) -> None:
    partners = partners_of(policy)
    ids = [p["tenantId"] for p in partners]
    assert len(partners) == 2000
    assert len(set(ids)) == 2000
    assert tuple(ids) == policy.partner_ids
    assert policy.tenant_id not in ids
    assert len(policy.partner_targets) == 2000


@pytest.mark.parametrize("partners", [0, 1, 2])
def test_small_partner_counts(tmp_path: Path, partners: int) -> None:
    policy = write_policy_dir(tmp_path, partners=partners, tenants=3)
    assert len(partners_of(policy)) == partners
    assert policy.partner_ids == policy.tenant_ids[1 : 1 + partners]


def test_other_local_tenants_are_partners_both_ways(policy: SyntheticPolicy) -> None:
    assert len(policy.tenant_ids) == len(set(policy.tenant_ids)) == 3
    assert policy.partner_ids[:2] == policy.tenant_ids[1:]
    for sister in partners_of(policy)[:2]:
        assert sister["isInMultiTenantOrganization"] is True
        assert sister["identitySynchronization"]["userSyncInbound"] == {"isSyncAllowed": True}
    assert policy.partner_targets[:2] == ((), ())
    for index, tenant_id in enumerate(policy.tenant_ids):
        folder = f"tenant-{index:03d}"
        info = load(policy.root / folder / "tenant.json")
        assert info["tenantId"] == tenant_id
        assert info["cloud"] == "microsoftonline.com"
        assert info["license"] in {"free", "p1", "p2"}
        if index:
            (back,) = partners_of(policy, folder)
            assert back["tenantId"] == policy.tenant_id
            assert back["automaticUserConsentSettings"] == {"inboundAllowed": True, "outboundAllowed": True}
            assert back["identitySynchronization"]["tenantId"] == policy.tenant_id


def test_first_tenant_has_a_customized_default_with_tenant_restrictions(policy: SyntheticPolicy) -> None:
    default = load(policy.root / "tenant-000" / "default.json")
    assert default["isServiceDefault"] is False
    assert GUID.match(default["id"])
    assert default["automaticUserConsentSettings"] == {"inboundAllowed": False, "outboundAllowed": False}
    restrictions = default["tenantRestrictions"]
    assert restrictions["usersAndGroups"]["accessType"] == "blocked"
    assert restrictions["applications"]["targets"] == [{"target": "AllApplications", "targetType": "application"}]
    assert load(policy.root / "tenant-001" / "default.json")["isServiceDefault"] is True


def test_every_id_is_a_lower_case_guid(policy: SyntheticPolicy) -> None:
    emitted = [guid for path in policy.root.rglob("*.json") for guid in walk_ids(load(path))]
    assert len(emitted) > 10_000
    returned = [
        *policy.tenant_ids,
        *policy.partner_ids,
        *policy.user_ids,
        *policy.group_ids,
        *policy.app_ids,
        *(guid for targets in policy.partner_targets for guid in targets),
    ]
    bad = [guid for guid in emitted + returned if not GUID.match(guid)]
    assert bad == []


def test_pools_are_exactly_the_targeted_ids(policy: SyntheticPolicy) -> None:
    seen: dict[str, set[str]] = {"user": set(), "group": set(), "application": set()}
    for path in policy.root.rglob("*.json"):
        for target in walk_targets(load(path)):
            if target["target"] in USER_KEYWORDS:
                assert target["targetType"] == "user"
            elif target["target"] in APP_KEYWORDS:
                assert target["targetType"] == "application"
            else:
                seen[target["targetType"]].add(target["target"])
    assert set(policy.user_ids) == seen["user"]
    assert set(policy.group_ids) == seen["group"]
    assert set(policy.app_ids) == seen["application"]
    assert not (seen["user"] & seen["group"] or seen["user"] & seen["application"])
    assert list(policy.user_ids) == sorted(policy.user_ids)


def test_partner_targets_name_that_partners_targets(policy: SyntheticPolicy) -> None:
    for body, named in zip(partners_of(policy), policy.partner_targets, strict=True):
        in_body = {t["target"] for t in walk_targets(body)} - USER_KEYWORDS - APP_KEYWORDS
        assert set(named) == in_body


def test_partner_mix_is_realistic(policy: SyntheticPolicy) -> None:
    partners = partners_of(policy)
    settings = ("inboundTrust", "tenantRestrictions", "identitySynchronization", *B2B_KEYS)
    consent = "automaticUserConsentSettings"
    inherit = [
        p
        for p in partners
        if all(p[k] is None for k in settings) and p[consent] == {"inboundAllowed": None, "outboundAllowed": None}
    ]
    assert 0.33 < len(inherit) / len(partners) < 0.47
    overridden = Counter(sum(p[k] is not None for k in B2B_KEYS) for p in partners)
    assert set(overridden) == {0, 1, 2, 3}
    count = Counter()
    for p in partners:
        count["trust"] += p["inboundTrust"] is not None
        count["redemption"] += p[consent]["inboundAllowed"] is True or p[consent]["outboundAllowed"] is True
        count["sync"] += p["identitySynchronization"] is not None
        count["restrictions"] += p["tenantRestrictions"] is not None
        count["provider"] += p["isServiceProvider"] is True
        count["mto"] += p["isInMultiTenantOrganization"] is True
        count["half"] += any(p[k] is not None and len(p[k]) == 1 for k in B2B_KEYS)
        for key in B2B_KEYS:
            for half in (p[key] or {}).values():
                assert half["accessType"] in {"allowed", "blocked"}
                assert 1 <= len(half["targets"]) <= 20
    assert all(count[k] >= 5 for k in ("trust", "redemption", "sync", "restrictions", "provider", "mto", "half"))
    assert count["provider"] < 0.05 * len(partners)
    synced = [p for p in partners if p["identitySynchronization"] is not None]
    assert all(p["identitySynchronization"]["tenantId"] == p["tenantId"] for p in synced)
    assert all(p[consent]["inboundAllowed"] is True for p in synced)


def test_partners_file_streams_one_partner_per_line(policy: SyntheticPolicy) -> None:
    lines = (policy.root / "tenant-000" / "partners.json").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith('{"@odata.context": ')
    assert lines[1] == '"value": ['
    assert lines[-1] == "]}"
    body = lines[2:-1]
    assert len(body) == 2000
    assert [json.loads(line.removesuffix(","))["tenantId"] for line in body] == list(policy.partner_ids)


def check_question(question: dict[str, Any], policy: SyntheticPolicy) -> str:
    (kind,) = question
    fields = question[kind]
    assert kind in QUESTION_KINDS
    assert set(fields) <= QUESTION_FIELDS[kind]
    for name, value in fields.items():
        if name == "applicationId":
            assert ANY_GUID.match(value), value
        elif name in ID_FIELDS:
            assert GUID.match(value), (name, value)
        elif name in ENUMS:
            assert value in ENUMS[name]
        elif name == "groupIds":
            assert 1 <= len(value) <= 8
            assert len(set(value)) == len(value)
            assert all(GUID.match(g) for g in value)
        else:
            assert name in {"required", "presented"}
            assert set(value) <= CLAIMS
    required = QUESTION_FIELDS[kind] - {"externalCloud", "groupIds", "presented"}
    assert required <= set(fields)
    local = {v for k, v in fields.items() if k.endswith("TenantId") or k == "tenantId"}
    assert local & set(policy.tenant_ids), question
    return kind


def test_questions_are_check_requests_with_a_mix_of_kinds(policy: SyntheticPolicy) -> None:
    asked = questions(policy, 1500, seed=3)
    assert len(asked) == 1500
    kinds = Counter(check_question(q, policy) for q in asked)
    assert set(kinds) == set(QUESTION_KINDS)
    assert kinds["access"] > 0.5 * len(asked)
    assert questions(policy, 1500, seed=3) == asked
    assert questions(policy, 1500, seed=4) != asked
    json.dumps(asked)  # plain JSON values only


def test_questions_hit_and_miss(policy: SyntheticPolicy) -> None:
    access = [q["access"] for q in questions(policy, 2000, seed=5, kinds=("access",))]
    partners = set(policy.partner_ids)
    known_users, known_groups, known_apps = set(policy.user_ids), set(policy.group_ids), set(policy.app_ids)
    share = {
        "partner": sum(q["externalTenantId"] in partners for q in access) / len(access),
        "user": sum(q["userId"] in known_users for q in access) / len(access),
        "group": sum(bool(set(q.get("groupIds", ())) & known_groups) for q in access) / len(access),
        "app": sum(q["applicationId"] in known_apps for q in access) / len(access),
        "no groups": sum("groupIds" not in q for q in access) / len(access),
    }
    assert all(0.05 < value < 0.95 for value in share.values()), share
    hits = 0
    for q in access:
        if q["externalTenantId"] in partners:
            named = set(policy.partner_targets[policy.partner_ids.index(q["externalTenantId"])])
            hits += bool(({q["userId"], q["applicationId"]} | set(q.get("groupIds", ()))) & named)
    assert hits > 0.2 * len(access)


def test_questions_honour_kinds(policy: SyntheticPolicy) -> None:
    asked = questions(policy, 200, kinds=("trust", "identitySync"))
    assert {next(iter(q)) for q in asked} == {"trust", "identitySync"}
    assert questions(policy, 0) == []
    with pytest.raises(ValueError, match="kinds"):
        questions(policy, 10, kinds=("nope",))
    with pytest.raises(ValueError, match="kinds"):
        questions(policy, 10, kinds=())


def test_rejects_bad_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="partners"):
        write_policy_dir(tmp_path, partners=-1)
    with pytest.raises(ValueError, match="tenants"):
        write_policy_dir(tmp_path, partners=1, tenants=0)
