"""Envoy ext_authz adapter against the real server (app.start) serving the bundled example policy.

The server runs on its own event loop in a background thread (pytest-asyncio is not installed);
the tests call it with Envoy's generated client stub, as Envoy's ext_authz filter would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from conftest import EXAMPLE_POLICY, REPO
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.config.core.v3 import base_pb2, config_source_pb2
from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2 as jwt_authn_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from google.protobuf import json_format, struct_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import CollectorRegistry

from xtenant_pdp.app import Server, start
from xtenant_pdp.compiler import compile_policy_dir
from xtenant_pdp.config import ListenAddress, Settings
from xtenant_pdp.decision import AccessQuery, Claim, Decision, Direction, Reason
from xtenant_pdp.evaluator import evaluate_gateway_caller
from xtenant_pdp.index import Index
from xtenant_pdp.loader import load_snapshot_file
from xtenant_pdp.service import ext_authz
from xtenant_pdp.service.ext_authz import (
    CLAIMS,
    CONTEXT_EXTENSION_KEYS,
    CTX_APPLICATION_ID,
    CTX_FEATURE,
    CTX_REQUIRED_CLAIMS,
    CTX_TENANT_ID,
    FEATURES,
    HEADER_DECISION,
    HEADER_REASON,
    HEADER_SNAPSHOT_ID,
    HEADER_TRUST_COMPLIANT_DEVICE,
    HEADER_TRUST_HYBRID_JOINED_DEVICE,
    HEADER_TRUST_MFA,
    HEADER_TRUST_OUTCOME,
    JWT_COMPLIANT_DEVICE,
    JWT_HYBRID_JOINED_DEVICE,
    JWT_METADATA_NAMESPACE,
    JWT_PAYLOAD_KEY,
    RESERVED_HEADERS,
    SERVICE_NAME,
    SOCKET_PATH,
)

# The generated modules register the typed configs that envoy.yaml names in its "@type"s.
_ENVOY_CONFIG_TYPES = (hcm_pb2, jwt_authn_pb2, ext_authz_pb2, router_pb2, http_protocol_options_pb2, tls_pb2)

TIMEOUT_S = 5.0
ENVOY_DIR = REPO / "deploy" / "envoy"

# Example policy (xtenant_pdp/examples/policy/README.md).
CONTOSO = "5de41ce2-ca22-4b65-866a-e46ae037737e"
FABRIKAM = "6f086a4d-9c20-4b2e-a39f-5dcccb0b955a"
WOODGROVE = "b9ecdb8d-362d-4399-8f18-27c5620f7443"
ADATUM = "fd7325cf-3c2d-49b8-8b31-fe28f59b1e3a"
NORTHWIND = "060d30a6-2d7a-48df-aa15-fb8a985b5fe1"
MEGAN = "c8c8ec6f-76e1-4b56-85e4-d1b149451ce3"
LEE = "3f995ba6-5427-429c-8069-c43ba050fac2"
ADELE = "a916fe21-25e1-4419-8ffc-8bd528ad40ee"
DIEGO = "59ddb534-337a-4342-9f89-d259f7c124d5"
NESTOR = "40b231be-eaeb-4881-9bfd-401bbb429122"
NORTHWIND_USER = "ca7ebd03-5538-4f88-85d2-b1ffb80e1d34"
PROJECT_TEAM = "d5ebb16c-5006-48be-bd8e-fab10e184847"
ALL_STAFF = "b5ed6fbc-317a-439f-8cef-a3eae5862a31"
GOV_PROGRAMS = "251d47a6-36c1-4815-a6bb-d09a6472bae3"
SHAREPOINT = "00000003-0000-0ff1-ce00-000000000000"
TEAMS = "1fec8e78-bce4-4aaf-ab1b-5451cc387264"
EXPENSES = "332efad7-8618-48b0-8e29-eb108eca953e"
HR_PAYROLL = "e7a8c7ed-3dd8-4796-8f51-8c87a002c5e2"
PARTNER_PORTAL = "0f4da82e-3a79-4aa3-a294-070eb6c08890"

MEGAN_TOKEN = {"tid": FABRIKAM, "oid": MEGAN, "groups": [PROJECT_TEAM, ALL_STAFF], "amr": ["pwd"]}
MEGAN_HEADERS = {
    "x-ms-client-tenant-id": FABRIKAM,
    "x-ms-client-object-id": MEGAN,
    "x-ms-client-groups": f"{PROJECT_TEAM}, {ALL_STAFF}",
    "x-ms-client-amr": "pwd",
}
TRUST_HEADERS = (HEADER_TRUST_MFA, HEADER_TRUST_COMPLIANT_DEVICE, HEADER_TRUST_HYBRID_JOINED_DEVICE)

OK, PERMISSION_DENIED, UNAVAILABLE, INTERNAL, UNAUTHENTICATED = 0, 7, 14, 13, 16


# --------------------------------------------------------------------------- the server


class Running:
    """app.start() on an event loop in a background thread; stop() tears everything down."""

    def __init__(self, settings: Settings) -> None:
        self.registry = CollectorRegistry()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pdp-test-loop", daemon=True)
        self.thread.start()
        self.channels: list[grpc.Channel] = []
        try:
            self.server: Server = self._run(start(settings, registry=self.registry, serve_metrics=False))
        except BaseException:
            self._stop_loop()
            raise

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT_S * 2)

    def stub(self, target: str | None = None) -> external_auth_pb2_grpc.AuthorizationStub:
        channel = grpc.insecure_channel(target or self.server.bound[0])
        self.channels.append(channel)
        return external_auth_pb2_grpc.AuthorizationStub(channel)

    def decisions(self, decision: str) -> float:
        value = self.registry.get_sample_value(
            "xtenant_pdp_decisions_total", {"question": "ext_authz", "decision": decision}
        )
        return value or 0.0

    def _stop_loop(self) -> None:
        self._run(self.loop.shutdown_default_executor())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT_S)
        self.loop.close()

    def stop(self) -> None:
        for channel in self.channels:
            channel.close()
        self._run(self.server.stop(0))
        self._stop_loop()


@pytest.fixture(scope="module")
def snapshot_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("snap") / "example.xtsnap"
    path.write_bytes(compile_policy_dir(EXAMPLE_POLICY).data)
    return path


@pytest.fixture(scope="module")
def index(snapshot_path: Path) -> Index:
    return load_snapshot_file(snapshot_path)


def _settings(tmp: Path, snapshot: Path, **overrides: Any) -> Settings:
    # A short directory keeps the socket path under the 107-byte Unix limit.
    listen = (ListenAddress(f"unix:{tmp / 'pdp.sock'}"), ListenAddress("127.0.0.1:0"))
    return Settings(snapshot=snapshot, listen=listen, metrics_listen=None, grace_period_s=0, **overrides)


def _running(request: pytest.FixtureRequest, settings: Settings) -> Running:
    running = Running(settings)
    request.addfinalizer(running.stop)
    return running


@pytest.fixture(scope="module")
def pdp(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, snapshot_path: Path) -> Running:
    """trust_headers off (the default): the identity comes only from the JWT payload."""
    return _running(request, _settings(tmp_path_factory.mktemp("s"), snapshot_path))


@pytest.fixture(scope="module")
def pdp_trusting_headers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, snapshot_path: Path
) -> Running:
    return _running(request, _settings(tmp_path_factory.mktemp("h"), snapshot_path, trust_headers=True))


@pytest.fixture(scope="module")
def stub(pdp: Running) -> external_auth_pb2_grpc.AuthorizationStub:
    """Over the Unix socket, as Envoy's sidecar cluster connects."""
    assert pdp.server.bound[0].startswith("unix:")
    return pdp.stub()


# --------------------------------------------------------------------------- requests and answers


def envoy_request(
    *,
    tenant: str = CONTOSO,
    app: str = SHAREPOINT,
    feature: str | None = None,
    required: str | None = None,
    token: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, str] | None = None,
) -> external_auth_pb2.CheckRequest:
    """What Envoy sends: the route's context_extensions, jwt_authn's payload and the request headers."""
    request = external_auth_pb2.CheckRequest()
    attributes = request.attributes
    if extensions is None:
        extensions = {CTX_TENANT_ID: tenant, CTX_APPLICATION_ID: app}
        if feature is not None:
            extensions[CTX_FEATURE] = feature
        if required is not None:
            extensions[CTX_REQUIRED_CLAIMS] = required
    attributes.context_extensions.update(extensions)
    if token is not None:
        metadata = struct_pb2.Struct()
        metadata.update({JWT_PAYLOAD_KEY: token})
        attributes.metadata_context.filter_metadata[JWT_METADATA_NAMESPACE].CopyFrom(metadata)
    if headers:
        attributes.request.http.headers.update(headers)
    return request


def check(stub: external_auth_pb2_grpc.AuthorizationStub, request: Any) -> external_auth_pb2.CheckResponse:
    return stub.Check(request, timeout=TIMEOUT_S)


def upstream_headers(response: external_auth_pb2.CheckResponse) -> dict[str, str]:
    assert response.status.code == OK, response
    return {option.header.key: option.header.value for option in response.ok_response.headers}


def denial(response: external_auth_pb2.CheckResponse, grpc_code: int, http_code: int) -> dict[str, Any]:
    """The JSON body of a denial, after checking its codes and that the reason header matches it."""
    assert response.WhichOneof("http_response") == "denied_response", response
    assert response.status.code == grpc_code
    denied = response.denied_response
    assert denied.status.code == http_code
    body = json.loads(denied.body)
    headers = {option.header.key: option.header.value for option in denied.headers}
    assert headers[HEADER_REASON] == body["reason"]
    assert headers["content-type"] == "application/json"
    assert set(body) == {"decision", "reason", "snapshotId"}
    assert body["decision"] == "deny"
    return body


# --------------------------------------------------------------------------- allow and deny


def test_allow_tells_the_upstream_decision_reason_snapshot_and_trust(stub: Any, pdp: Running) -> None:
    """questions.jsonl line 1: contoso inbound from fabrikam's Megan (Contoso Project Team) to SharePoint."""
    response = check(stub, envoy_request(token=MEGAN_TOKEN))
    headers = upstream_headers(response)
    assert headers == {
        HEADER_DECISION: "allow",
        HEADER_REASON: "REASON_ACCESS_ALLOWED",
        HEADER_SNAPSHOT_ID: pdp.server.holder.current.snapshot_id,
        # contoso's partner fabrikam trusts MFA and compliant devices, not hybrid joined ones.
        HEADER_TRUST_MFA: "true",
        HEADER_TRUST_COMPLIANT_DEVICE: "true",
        HEADER_TRUST_HYBRID_JOINED_DEVICE: "false",
    }
    # No claims required on this route: no outcome, and a client's copy of it is removed.
    assert list(response.ok_response.headers_to_remove) == [HEADER_TRUST_OUTCOME]


def test_deny_is_403_with_reason_in_body_and_header(stub: Any, pdp: Running) -> None:
    """questions.jsonl line 2: the same user to contoso's Expenses app."""
    response = check(stub, envoy_request(app=EXPENSES, token=MEGAN_TOKEN))
    body = denial(response, PERMISSION_DENIED, 403)
    assert body == {
        "decision": "deny",
        "reason": "REASON_APPLICATION_NOT_ALLOWED",
        "snapshotId": pdp.server.holder.current.snapshot_id,
    }


def test_required_mfa_trusted_and_presented_allows_with_outcome(stub: Any) -> None:
    token = {**MEGAN_TOKEN, "amr": ["pwd", "mfa"]}
    headers = upstream_headers(check(stub, envoy_request(required="mfa", token=token)))
    assert headers[HEADER_DECISION] == "allow"
    assert headers[HEADER_REASON] == "REASON_ACCESS_ALLOWED"
    assert headers[HEADER_TRUST_OUTCOME] == "TRUST_OUTCOME_SATISFIED"


def test_required_mfa_trusted_but_not_presented_allows_with_mfa_in_home_tenant(stub: Any) -> None:
    """2.6: trusted but absent means MFA in the home tenant; the upstream must act on the outcome."""
    headers = upstream_headers(check(stub, envoy_request(required="mfa", token=MEGAN_TOKEN)))
    assert headers[HEADER_TRUST_OUTCOME] == "TRUST_OUTCOME_MFA_IN_HOME_TENANT"


@pytest.mark.parametrize(
    ("claims", "allowed"),
    [
        ({}, False),
        ({JWT_COMPLIANT_DEVICE: False}, False),
        ({JWT_COMPLIANT_DEVICE: "true"}, False),  # only a JSON true is a device claim
        ({JWT_HYBRID_JOINED_DEVICE: True}, False),  # the other device claim does not count
        ({JWT_COMPLIANT_DEVICE: True}, True),
    ],
)
def test_required_compliant_device(stub: Any, claims: dict[str, Any], allowed: bool) -> None:
    response = check(stub, envoy_request(required="compliant_device", token={**MEGAN_TOKEN, **claims}))
    if allowed:
        assert upstream_headers(response)[HEADER_TRUST_OUTCOME] == "TRUST_OUTCOME_SATISFIED"
    else:
        assert denial(response, PERMISSION_DENIED, 403)["reason"] == "REASON_TRUST_DEVICE_CLAIM_UNSATISFIED"


def test_hybrid_joined_device_is_not_trusted_from_fabrikam(stub: Any) -> None:
    token = {**MEGAN_TOKEN, JWT_HYBRID_JOINED_DEVICE: True}
    response = check(stub, envoy_request(required="hybrid_joined_device", token=token))
    assert denial(response, PERMISSION_DENIED, 403)["reason"] == "REASON_TRUST_DEVICE_CLAIM_UNSATISFIED"


def test_feature_comes_from_the_route(stub: Any) -> None:
    """Lee is not in Contoso Project Team: collaboration denies him, direct connect (allow-all) does not."""
    lee = {"tid": FABRIKAM, "oid": LEE, "groups": [ALL_STAFF]}
    collaboration = check(stub, envoy_request(app=TEAMS, token=lee))
    assert denial(collaboration, PERMISSION_DENIED, 403)["reason"] == "REASON_USER_NOT_ALLOWED"
    direct_connect = check(stub, envoy_request(app=TEAMS, feature="b2b_direct_connect", token=lee))
    assert upstream_headers(direct_connect)[HEADER_REASON] == "REASON_ACCESS_ALLOWED"


def test_same_tenant_allows_without_trust_headers(stub: Any) -> None:
    adele = {"tid": CONTOSO, "oid": ADELE, "amr": ["pwd"]}
    response = check(stub, envoy_request(app=EXPENSES, required="mfa,compliant_device", token=adele))
    headers = upstream_headers(response)
    assert headers[HEADER_REASON] == "REASON_SAME_TENANT"
    assert not set(TRUST_HEADERS) & set(headers)
    assert set(response.ok_response.headers_to_remove) == {*TRUST_HEADERS, HEADER_TRUST_OUTCOME}


def test_ids_are_compared_without_regard_to_case(stub: Any) -> None:
    token = {**MEGAN_TOKEN, "tid": FABRIKAM.upper(), "oid": MEGAN.upper()}
    response = check(stub, envoy_request(tenant=CONTOSO.upper(), app=SHAREPOINT.upper(), token=token))
    assert upstream_headers(response)[HEADER_REASON] == "REASON_ACCESS_ALLOWED"


def test_resource_tenant_not_in_snapshot_denies(stub: Any) -> None:
    response = check(stub, envoy_request(tenant=NORTHWIND, token=MEGAN_TOKEN))
    assert denial(response, PERMISSION_DENIED, 403)["reason"] == "REASON_TENANT_NOT_IN_SNAPSHOT"


# --------------------------------------------------------------------------- identity


def test_missing_jwt_is_401(stub: Any) -> None:
    response = check(stub, envoy_request(token=None))
    assert denial(response, UNAUTHENTICATED, 401)["reason"] == "REASON_INVALID_REQUEST"
    headers = {option.header.key: option.header.value for option in response.denied_response.headers}
    assert headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "token",
    [
        {**MEGAN_TOKEN, "tid": "fabrikam"},
        {**MEGAN_TOKEN, "oid": "not-a-guid"},
        {key: value for key, value in MEGAN_TOKEN.items() if key != "tid"},
        {key: value for key, value in MEGAN_TOKEN.items() if key != "oid"},
        {**MEGAN_TOKEN, "tid": 42},
        {**MEGAN_TOKEN, "groups": PROJECT_TEAM},
        {**MEGAN_TOKEN, "groups": [PROJECT_TEAM, "Contoso Project Team"]},
        {**MEGAN_TOKEN, "amr": "mfa"},
    ],
    ids=["tid", "oid", "no-tid", "no-oid", "tid-number", "groups-string", "group-name", "amr-string"],
)
def test_malformed_identity_is_401(stub: Any, token: dict[str, Any]) -> None:
    denial(check(stub, envoy_request(token=token)), UNAUTHENTICATED, 401)


def test_jwt_payload_that_is_not_an_object_is_401(stub: Any) -> None:
    request = envoy_request(token=None)
    metadata = request.attributes.metadata_context.filter_metadata[JWT_METADATA_NAMESPACE]
    metadata.update({JWT_PAYLOAD_KEY: "eyJhbGciOi..."})
    denial(check(stub, request), UNAUTHENTICATED, 401)


@pytest.mark.parametrize(
    "overage",
    [
        {"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "https://graph"}}},
        {"hasgroups": True},
    ],
    ids=["claim-names", "hasgroups"],
)
def test_group_overage_denies_instead_of_guessing(stub: Any, overage: dict[str, Any]) -> None:
    token = {key: value for key, value in MEGAN_TOKEN.items() if key != "groups"} | overage
    assert denial(check(stub, envoy_request(token=token)), PERMISSION_DENIED, 403)["reason"] == "REASON_INVALID_REQUEST"


def test_identity_headers_only_when_trust_headers_is_on(stub: Any, pdp_trusting_headers: Running) -> None:
    request = envoy_request(token=None, headers=MEGAN_HEADERS)
    denial(check(stub, request), UNAUTHENTICATED, 401)
    trusting = pdp_trusting_headers.stub()
    assert upstream_headers(check(trusting, request))[HEADER_REASON] == "REASON_ACCESS_ALLOWED"
    # The groups header decides: without the project team Megan is not allowed.
    alone = envoy_request(token=None, headers={**MEGAN_HEADERS, "x-ms-client-groups": ALL_STAFF})
    assert denial(check(trusting, alone), PERMISSION_DENIED, 403)["reason"] == "REASON_USER_NOT_ALLOWED"
    # amr values in the claims header present MFA.
    mfa = envoy_request(required="mfa", token=None, headers={**MEGAN_HEADERS, "x-ms-client-amr": "pwd, mfa"})
    assert upstream_headers(check(trusting, mfa))[HEADER_TRUST_OUTCOME] == "TRUST_OUTCOME_SATISFIED"
    denial(check(trusting, envoy_request(token=None)), UNAUTHENTICATED, 401)


def test_verified_jwt_wins_over_identity_headers(pdp_trusting_headers: Running) -> None:
    """Headers are a fallback: with a token present they cannot lend Lee Megan's group."""
    lee = {"tid": FABRIKAM, "oid": LEE, "groups": [ALL_STAFF]}
    response = check(pdp_trusting_headers.stub(), envoy_request(token=lee, headers=MEGAN_HEADERS))
    assert denial(response, PERMISSION_DENIED, 403)["reason"] == "REASON_USER_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("token", "required"),
    [(MEGAN_TOKEN, None), (MEGAN_TOKEN, "mfa"), ({"tid": CONTOSO, "oid": ADELE}, "mfa")],
    ids=["cross-tenant", "claims-required", "same-tenant"],
)
def test_spoofed_xtenant_headers_never_reach_the_upstream(stub: Any, token: dict[str, Any], required: str) -> None:
    """Envoy removes headers_to_remove AFTER setting headers: each reserved header is either set
    here (overwriting the client's copy) or removed, never both (that would remove our own)."""
    forged = dict.fromkeys(RESERVED_HEADERS, "forged")
    response = check(stub, envoy_request(required=required, token=token, headers=forged))
    ok = response.ok_response
    overwritten = {
        o.header.key for o in ok.headers if o.append_action == base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
    }
    assert overwritten == {o.header.key for o in ok.headers}
    removed = set(ok.headers_to_remove)
    assert removed | overwritten == set(RESERVED_HEADERS)
    assert not removed & overwritten
    assert "forged" not in {o.header.value for o in ok.headers}


# --------------------------------------------------------------------------- route misconfiguration


@pytest.mark.parametrize(
    "extensions",
    [
        {},
        {CTX_TENANT_ID: CONTOSO},
        {CTX_APPLICATION_ID: SHAREPOINT},
        {CTX_TENANT_ID: "contoso.onmicrosoft.com", CTX_APPLICATION_ID: SHAREPOINT},
        {CTX_TENANT_ID: CONTOSO, CTX_APPLICATION_ID: "SharePoint"},
        {CTX_TENANT_ID: CONTOSO, CTX_APPLICATION_ID: SHAREPOINT, CTX_FEATURE: "b2b_everything"},
        {CTX_TENANT_ID: CONTOSO, CTX_APPLICATION_ID: SHAREPOINT, CTX_REQUIRED_CLAIMS: "mfa,retina_scan"},
    ],
    ids=["none", "no-app", "no-tenant", "tenant-domain", "app-name", "feature", "claim"],
)
def test_missing_or_malformed_context_extensions_deny_and_log(
    stub: Any, pdp: Running, caplog: pytest.LogCaptureFixture, extensions: dict[str, str]
) -> None:
    before = pdp.decisions("error")
    with caplog.at_level(logging.WARNING, logger="xtenant_pdp.ext_authz"):
        response = check(stub, envoy_request(extensions=extensions, token=MEGAN_TOKEN))
    assert denial(response, PERMISSION_DENIED, 403)["reason"] == "REASON_INVALID_REQUEST"
    records = [r for r in caplog.records if r.name == "xtenant_pdp.ext_authz"]
    assert len(records) == 1
    assert getattr(records[0], "context_extension", None) in CONTEXT_EXTENSION_KEYS
    assert pdp.decisions("error") == before + 1


def test_success_logs_nothing(stub: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="xtenant_pdp"):
        upstream_headers(check(stub, envoy_request(token=MEGAN_TOKEN)))
        denial(check(stub, envoy_request(app=EXPENSES, token=MEGAN_TOKEN)), PERMISSION_DENIED, 403)
    assert not [r for r in caplog.records if r.name.startswith("xtenant_pdp.ext_authz")]


# --------------------------------------------------------------------------- same answer as the evaluator


def _case(
    resource: str, app: str, token: dict[str, Any], feature: str = "b2b_collaboration", required: str = ""
) -> tuple[str, str, dict[str, Any], str, str]:
    return resource, app, token, feature, required


EVALUATOR_CASES = [
    _case(CONTOSO, SHAREPOINT, MEGAN_TOKEN),
    _case(CONTOSO, EXPENSES, MEGAN_TOKEN),
    _case(CONTOSO, SHAREPOINT, {"tid": FABRIKAM, "oid": LEE, "groups": [ALL_STAFF]}),
    _case(CONTOSO, TEAMS, {"tid": FABRIKAM, "oid": LEE}, "b2b_direct_connect"),
    _case(
        CONTOSO,
        SHAREPOINT,
        {**MEGAN_TOKEN, "amr": ["mfa"], JWT_COMPLIANT_DEVICE: True},
        required="mfa,compliant_device",
    ),
    _case(CONTOSO, SHAREPOINT, MEGAN_TOKEN, required="compliant_device"),
    _case(CONTOSO, HR_PAYROLL, {"tid": NORTHWIND, "oid": NORTHWIND_USER}),
    _case(CONTOSO, SHAREPOINT, {"tid": NORTHWIND, "oid": NORTHWIND_USER}, required="hybrid_joined_device"),
    _case(CONTOSO, SHAREPOINT, {"tid": NORTHWIND, "oid": NORTHWIND_USER, "amr": ["mfa"]}, required="mfa"),
    _case(CONTOSO, SHAREPOINT, {"tid": WOODGROVE, "oid": NESTOR}),
    _case(CONTOSO, SHAREPOINT, {"tid": ADATUM, "oid": NORTHWIND_USER}, required="mfa"),
    _case(FABRIKAM, TEAMS, {"tid": CONTOSO, "oid": DIEGO, "amr": ["mfa"]}, "b2b_direct_connect", "mfa"),
    _case(FABRIKAM, PARTNER_PORTAL, {"tid": CONTOSO, "oid": DIEGO}, required="mfa"),
    _case(
        WOODGROVE, SHAREPOINT, {"tid": CONTOSO, "oid": ADELE, "groups": [GOV_PROGRAMS], "amr": ["mfa"]}, required="mfa"
    ),
    _case(CONTOSO, SHAREPOINT, {"tid": CONTOSO, "oid": ADELE}, required="compliant_device"),
    _case(NORTHWIND, SHAREPOINT, MEGAN_TOKEN),
]


def _expected(index: Index, resource: str, app: str, token: dict[str, Any], feature: str, required: str) -> Any:
    """The evaluator's own answer for the questions the adapter should ask."""
    presented = {Claim.MFA} if "mfa" in token.get("amr", ()) else set()
    if token.get(JWT_COMPLIANT_DEVICE) is True:
        presented.add(Claim.COMPLIANT_DEVICE)
    needs = frozenset(CLAIMS[name] for name in required.split(",") if name)
    access = AccessQuery(
        resource,
        token["tid"],
        None,
        Direction.INBOUND,
        FEATURES[feature],
        token["oid"],
        tuple(token.get("groups", ())),
        app,
    )
    return evaluate_gateway_caller(index, access, needs, frozenset(presented))


@pytest.mark.parametrize(("resource", "app", "token", "feature", "required"), EVALUATOR_CASES)
def test_answer_equals_the_in_process_evaluator(
    stub: Any, index: Index, resource: str, app: str, token: dict[str, Any], feature: str, required: str
) -> None:
    access, trust = _expected(index, resource, app, token, feature, required)
    response = check(stub, envoy_request(tenant=resource, app=app, feature=feature, required=required, token=token))
    if access.decision is Decision.DENY or (trust is not None and trust.decision is Decision.DENY):
        reason = access.reason if access.decision is Decision.DENY else trust.reason
        assert denial(response, PERMISSION_DENIED, 403)["reason"] == "REASON_" + Reason(reason).name
        return
    headers = upstream_headers(response)
    assert headers[HEADER_REASON] == "REASON_" + access.reason.name
    if trust is None:
        assert not set(TRUST_HEADERS) & set(headers)
        return
    detail = trust.trust
    assert headers[HEADER_TRUST_MFA] == str(detail.mfa_accepted).lower()
    assert headers[HEADER_TRUST_COMPLIANT_DEVICE] == str(detail.compliant_device_accepted).lower()
    assert headers[HEADER_TRUST_HYBRID_JOINED_DEVICE] == str(detail.hybrid_joined_device_accepted).lower()
    assert headers.get(HEADER_TRUST_OUTCOME) == ("TRUST_OUTCOME_" + detail.outcome.name if required else None)


def test_evaluator_cases_cover_allow_and_deny(index: Index) -> None:
    outcomes = set()
    for case in EVALUATOR_CASES:
        access, trust = _expected(index, *case)
        outcomes.add((access.decision, None if trust is None else trust.decision))
    assert outcomes >= {(Decision.ALLOW, Decision.ALLOW), (Decision.ALLOW, Decision.DENY), (Decision.DENY, None)}


# --------------------------------------------------------------------------- fail closed


def test_no_snapshot_is_503(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("n")
    running = _running(request, _settings(tmp, tmp / "missing.xtsnap"))
    response = check(running.stub(), envoy_request(token=MEGAN_TOKEN))
    assert denial(response, UNAVAILABLE, 503) == {"decision": "deny", "reason": "REASON_NO_SNAPSHOT", "snapshotId": ""}


def test_stale_snapshot_is_403(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("o")
    old = tmp / "old.xtsnap"
    old.write_bytes(compile_policy_dir(EXAMPLE_POLICY, created_at=0).data)
    running = _running(request, _settings(tmp, old, max_snapshot_age_s=3600))
    response = check(running.stub(), envoy_request(token=MEGAN_TOKEN))
    body = denial(response, PERMISSION_DENIED, 403)
    assert body["reason"] == "REASON_SNAPSHOT_STALE"
    assert body["snapshotId"] == running.server.holder.current.snapshot_id


def test_unexpected_error_is_500_and_logged(
    stub: Any, pdp: Running, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(index: Index, *question: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(ext_authz, "evaluate_gateway_caller", broken)
    with caplog.at_level(logging.ERROR, logger="xtenant_pdp.ext_authz"):
        response = check(stub, envoy_request(token=MEGAN_TOKEN))
    assert denial(response, INTERNAL, 500)["reason"] == "REASON_UNSPECIFIED"
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)


# --------------------------------------------------------------------------- serving


def test_counts_decisions_and_observes_duration(stub: Any, pdp: Running) -> None:
    allowed, denied = pdp.decisions("allow"), pdp.decisions("deny")
    observed = pdp.registry.get_sample_value("xtenant_pdp_decision_duration_seconds_count") or 0.0
    check(stub, envoy_request(token=MEGAN_TOKEN))
    check(stub, envoy_request(app=EXPENSES, token=MEGAN_TOKEN))
    check(stub, envoy_request(token=None))
    assert pdp.decisions("allow") == allowed + 1
    assert pdp.decisions("deny") == denied + 2
    assert pdp.registry.get_sample_value("xtenant_pdp_decision_duration_seconds_count") == observed + 3


def test_served_over_tcp_too_and_listed_by_reflection(pdp: Running) -> None:
    tcp = pdp.server.bound[1]
    assert tcp.startswith("127.0.0.1:")
    assert upstream_headers(check(pdp.stub(tcp), envoy_request(token=MEGAN_TOKEN)))[HEADER_DECISION] == "allow"
    with grpc.insecure_channel(tcp) as channel:
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=TIMEOUT_S
        )
        names = {service.name for answer in answers for service in answer.list_services_response.service}
    assert SERVICE_NAME == "envoy.service.auth.v3.Authorization"
    assert SERVICE_NAME in names


# --------------------------------------------------------------------------- deploy/envoy


def _bootstrap() -> tuple[dict[str, Any], bootstrap_pb2.Bootstrap]:
    """envoy.yaml as YAML and as Envoy's own Bootstrap message (unknown fields or types fail)."""
    config = yaml.safe_load((ENVOY_DIR / "envoy.yaml").read_text())
    return config, json_format.ParseDict(config, bootstrap_pb2.Bootstrap())


def _filters(bootstrap: bootstrap_pb2.Bootstrap) -> tuple[hcm_pb2.HttpConnectionManager, dict[str, Any]]:
    (listener,) = bootstrap.static_resources.listeners
    manager = hcm_pb2.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    return manager, {f.name: f.typed_config for f in manager.http_filters}


def test_envoy_yaml_points_ext_authz_at_the_pdp_socket() -> None:
    _, bootstrap = _bootstrap()
    manager, filters = _filters(bootstrap)
    assert [f.name for f in manager.http_filters] == [
        "envoy.filters.http.jwt_authn",
        "envoy.filters.http.ext_authz",
        "envoy.filters.http.router",
    ]
    config = ext_authz_pb2.ExtAuthz()
    filters["envoy.filters.http.ext_authz"].Unpack(config)
    assert config.transport_api_version == config_source_pb2.V3
    assert config.failure_mode_allow is False
    assert config.include_peer_certificate is False
    assert config.grpc_service.timeout.ToMilliseconds() == 250
    assert list(config.metadata_context_namespaces) == [JWT_METADATA_NAMESPACE]
    clusters = {c.name: c for c in bootstrap.static_resources.clusters}
    cluster = clusters[config.grpc_service.envoy_grpc.cluster_name]
    (endpoint,) = cluster.load_assignment.endpoints[0].lb_endpoints
    assert endpoint.endpoint.address.pipe.path == SOCKET_PATH
    options = http_protocol_options_pb2.HttpProtocolOptions()
    cluster.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].Unpack(options)
    assert options.explicit_http_config.HasField("http2_protocol_options")


def test_envoy_yaml_puts_the_jwt_payload_where_the_adapter_reads_it() -> None:
    _, bootstrap = _bootstrap()
    _, filters = _filters(bootstrap)
    jwt = jwt_authn_pb2.JwtAuthentication()
    filters["envoy.filters.http.jwt_authn"].Unpack(jwt)
    assert jwt.providers
    for provider in jwt.providers.values():
        assert provider.payload_in_metadata == JWT_PAYLOAD_KEY
        assert provider.forward is True
        assert provider.remote_jwks.http_uri.uri.startswith("https://login.microsoftonline.com/")
    # The adapter's defaults are the server's defaults.
    assert Settings().jwt_metadata_namespace == JWT_METADATA_NAMESPACE == "envoy.filters.http.jwt_authn"


def test_envoy_yaml_routes_answerable_by_the_adapter(stub: Any) -> None:
    """Every route that runs ext_authz sets only documented keys, and the PDP accepts its values."""
    _, bootstrap = _bootstrap()
    manager, _ = _filters(bootstrap)
    checked = 0
    for host in manager.route_config.virtual_hosts:
        for route in host.routes:
            per_route = ext_authz_pb2.ExtAuthzPerRoute()
            route.typed_per_filter_config["envoy.filters.http.ext_authz"].Unpack(per_route)
            if per_route.disabled:
                continue
            extensions = dict(per_route.check_settings.context_extensions)
            assert {CTX_TENANT_ID, CTX_APPLICATION_ID} <= set(extensions) <= set(CONTEXT_EXTENSION_KEYS)
            # Megan with every claim: whatever the route needs, only the policy can deny her.
            token = {**MEGAN_TOKEN, "amr": ["mfa"], JWT_COMPLIANT_DEVICE: True, JWT_HYBRID_JOINED_DEVICE: True}
            response = check(stub, envoy_request(extensions=extensions, token=token))
            if response.status.code != OK:
                assert json.loads(response.denied_response.body)["reason"] != "REASON_INVALID_REQUEST"
            checked += 1
    assert checked >= 2


def test_deploy_readme_documents_keys_claims_and_headers() -> None:
    text = (ENVOY_DIR / "README.md").read_text()
    names = [
        *CONTEXT_EXTENSION_KEYS,
        *FEATURES,
        *CLAIMS,
        *RESERVED_HEADERS,
        JWT_COMPLIANT_DEVICE,
        JWT_HYBRID_JOINED_DEVICE,
    ]
    missing = [name for name in names if f"`{name}`" not in text]
    assert not missing


def test_2_2_then_2_6_the_first_deny_decides_a_gateway_caller() -> None:
    """evaluate_gateway_caller asks 2.2 then 2.6; the answer (response and decision log alike)
    is the first deny, else the access allow."""
    from xtenant_pdp.decision import Decision, Reason, Result, Source
    from xtenant_pdp.evaluator import deciding_result

    allow = Result(Decision.ALLOW, Reason.ACCESS_ALLOWED, Source.PARTNER, "t")
    deny = Result(Decision.DENY, Reason.USER_NOT_ALLOWED, Source.PARTNER, "t")
    trusted = Result(Decision.ALLOW, Reason.TRUST_SATISFIED, Source.PARTNER, "t")
    untrusted = Result(Decision.DENY, Reason.TRUST_DEVICE_CLAIM_UNSATISFIED, Source.PARTNER, "t")
    assert deciding_result(allow, None) is allow
    assert deciding_result(allow, trusted) is allow
    assert deciding_result(allow, untrusted) is untrusted
    assert deciding_result(deny, None) is deny
    assert deciding_result(deny, untrusted) is deny
