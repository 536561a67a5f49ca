"""End to end: a real DecisionService (app.start on its own loop thread, settings from real
`serve` flags) reached by the generated clients over TCP and over a Unix socket.

Answers are compared with the in-process Engine for the same snapshot file; malformed requests
must be INVALID_ARGUMENT with a google.rpc.BadRequest naming the field; TLS and mTLS use a
throwaway PKI; metrics are scraped over HTTP and parsed with prometheus_client.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from server_kit import (
    CONTOSO,
    ENVOY_AUTHZ_SERVICE,
    FABRIKAM,
    HEALTH_SERVICE,
    NOT_SERVING,
    SERVICE,
    SERVING,
    Channels,
    InProcessServer,
    Pki,
    check,
    compile_example,
    decision_stub,
    field_violations,
    flip_question,
    free_port,
    health_status,
    make_pki,
    questions,
    rpc_error,
    sample_value,
    samples,
    scrape,
    settings_from_flags,
    wait_until,
)

from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.decision import QuestionKind
from xtenant_pdp.engine import Engine
from xtenant_pdp.protowire import encode_varint

MAX_BATCH = 32
RPC_TIMEOUT = 5.0
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
NOT_A_GUID = "not-a-guid"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def snapshot_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("snap") / "example.xtsnap"
    path.write_bytes(compile_example().data)
    return path


@pytest.fixture(scope="module")
def engine(snapshot_file: Path) -> Engine:
    return Engine.from_snapshot(snapshot_file)


@pytest.fixture(scope="module")
def server(snapshot_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    sock = tmp_path_factory.mktemp("sock") / "pdp.sock"
    srv = InProcessServer(
        settings_from_flags(
            "--snapshot",
            str(snapshot_file),
            "--listen",
            "127.0.0.1:0",
            "--listen",
            f"unix:{sock}",
            "--metrics-listen",
            "off",
            "--max-batch",
            str(MAX_BATCH),
        )
    )
    try:
        srv.start()
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def module_channels() -> Iterator[Channels]:
    pool = Channels()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="module")
def transports(server: InProcessServer, module_channels: Channels) -> dict[str, grpc.Channel]:
    """One channel per transport for the whole module (closed by ``module_channels``)."""
    unix = next(a for a in server.bound if a.startswith("unix:"))
    opened = {"tcp": module_channels.open(server.tcp_target), "unix": module_channels.open(unix)}
    for ch in opened.values():
        wait_until(lambda c=ch: health_status(c) == SERVING, what="SERVING")
    return opened


@pytest.fixture(params=["tcp", "unix"])
def channel(request: pytest.FixtureRequest, transports: dict[str, grpc.Channel]) -> grpc.Channel:
    return transports[request.param]


@pytest.fixture
def servers() -> Iterator[list[InProcessServer]]:
    started: list[InProcessServer] = []
    try:
        yield started
    finally:
        for srv in started:
            srv.close()


def _start(servers: list[InProcessServer], *flags: str) -> InProcessServer:
    srv = InProcessServer(settings_from_flags(*flags))
    servers.append(srv)
    return srv.start()


def _bad_access(field: str, value: object) -> pdp_pb2.CheckRequest:
    request = flip_question()
    if field == "group_ids":
        request.access.group_ids[1] = str(value)
    else:
        setattr(request.access, field, value)
    return request



def _assert_still_serving(channel: grpc.Channel, engine: Engine) -> None:
    good = flip_question()
    assert check(channel, good) == engine.check_proto(good)


# --------------------------------------------------------------------------- answers


def test_check_answers_every_question_like_the_engine(channel: grpc.Channel, engine: Engine) -> None:
    for i, request in enumerate(questions()):
        answer = check(channel, request)
        assert answer == engine.check_proto(request), f"questions.jsonl line {i + 1}"
        assert answer.snapshot_id == engine.snapshot_id
        assert not answer.HasField("error")


def test_batch_check_answers_every_question_in_order(channel: grpc.Channel, engine: Engine) -> None:
    requests = questions()
    response = decision_stub(channel).BatchCheck(pdp_pb2.BatchCheckRequest(requests=requests), timeout=RPC_TIMEOUT)
    assert list(response.responses) == [engine.check_proto(r) for r in requests]
    assert {r.snapshot_id for r in response.responses} == {engine.snapshot_id}
    # Order matters: reversed questions give reversed answers.
    reverse = decision_stub(channel).BatchCheck(pdp_pb2.BatchCheckRequest(requests=requests[::-1]), timeout=RPC_TIMEOUT)
    assert list(reverse.responses) == list(response.responses)[::-1]


def test_batch_check_bad_item_gets_its_own_error(channel: grpc.Channel, engine: Engine) -> None:
    requests = questions()
    bad = _bad_access("user_id", NOT_A_GUID)
    batch = [requests[0], bad, requests[1], pdp_pb2.CheckRequest(), requests[2]]
    response = decision_stub(channel).BatchCheck(pdp_pb2.BatchCheckRequest(requests=batch), timeout=RPC_TIMEOUT)
    answers = list(response.responses)
    assert len(answers) == len(batch)
    for i in (0, 2, 4):
        assert answers[i] == engine.check_proto(batch[i])
        assert not answers[i].HasField("error")
    for i, field in ((1, "requests[1].access.userId"), (3, "requests[3].question")):
        assert answers[i].error.code == pdp_pb2.ERROR_CODE_INVALID_ARGUMENT
        assert answers[i].error.field == field
        assert answers[i].decision == pdp_pb2.DECISION_DENY
        assert answers[i].reason == pdp_pb2.REASON_INVALID_REQUEST
        assert answers[i].snapshot_id == engine.snapshot_id


def test_get_snapshot_info(channel: grpc.Channel, engine: Engine) -> None:
    info = decision_stub(channel).GetSnapshotInfo(pdp_pb2.GetSnapshotInfoRequest(), timeout=RPC_TIMEOUT)
    header = engine.info
    assert info.snapshot_id == engine.snapshot_id == header.snapshot_id
    assert info.snapshot_id.startswith("sha256:")
    assert (info.tenant_count, info.partner_count) == (4, 8)
    assert (info.tenant_count, info.partner_count) == (header.tenant_count, header.partner_count)
    assert info.format_version == header.format_version
    assert info.compiler_version == header.compiler_version
    assert info.compiler_release == header.compiler_release
    assert info.source_digest == header.source_digest
    assert info.created_at.ToDatetime(tzinfo=header.created_at.tzinfo) == header.created_at
    assert info.loaded_at.seconds >= info.created_at.seconds


def test_health_is_serving_once_loaded(channel: grpc.Channel) -> None:
    assert health_status(channel, "") == SERVING
    assert health_status(channel, SERVICE) == SERVING
    assert health_status(channel, "") != NOT_SERVING


# --------------------------------------------------------------------------- reflection


def _reflection(channel: grpc.Channel) -> ProtoReflectionDescriptorDatabase:
    return ProtoReflectionDescriptorDatabase(channel)


def test_reflection_lists_services_and_serves_the_descriptor(channel: grpc.Channel) -> None:
    database = _reflection(channel)
    services = set(database.get_services())
    assert {SERVICE, HEALTH_SERVICE} <= services
    proto = database.FindFileContainingSymbol(SERVICE)
    assert isinstance(proto, descriptor_pb2.FileDescriptorProto)
    assert proto.package == "xtenant.pdp.v1"
    assert [s.name for s in proto.service] == ["DecisionService"]
    service = DescriptorPool(database).FindServiceByName(SERVICE)
    methods = {m.name: (m.input_type.full_name, m.output_type.full_name) for m in service.methods}
    assert methods == {
        "Check": ("xtenant.pdp.v1.CheckRequest", "xtenant.pdp.v1.CheckResponse"),
        "BatchCheck": ("xtenant.pdp.v1.BatchCheckRequest", "xtenant.pdp.v1.BatchCheckResponse"),
        "GetSnapshotInfo": ("xtenant.pdp.v1.GetSnapshotInfoRequest", "xtenant.pdp.v1.GetSnapshotInfoResponse"),
    }


def test_reflection_lists_envoy_authorization_when_registered(channel: grpc.Channel) -> None:
    database = _reflection(channel)
    if ENVOY_AUTHZ_SERVICE not in set(database.get_services()):
        pytest.skip(f"{ENVOY_AUTHZ_SERVICE} is not registered by this server")
    service = DescriptorPool(database).FindServiceByName(ENVOY_AUTHZ_SERVICE)
    assert "Check" in service.methods_by_name


# --------------------------------------------------------------------------- malformed requests

_BAD_CHECKS = {
    "missing-oneof": (pdp_pb2.CheckRequest(), "question"),
    "bad-tenantId": (_bad_access("tenant_id", NOT_A_GUID), "access.tenantId"),
    "bad-externalTenantId": (_bad_access("external_tenant_id", NOT_A_GUID), "access.externalTenantId"),
    "bad-userId": (_bad_access("user_id", NOT_A_GUID), "access.userId"),
    "bad-groupIds": (_bad_access("group_ids", NOT_A_GUID), "access.groupIds[1]"),
    "bad-applicationId": (_bad_access("application_id", NOT_A_GUID), "access.applicationId"),
    "empty-userId": (_bad_access("user_id", ""), "access.userId"),
    "unknown-direction": (_bad_access("direction", 99), "access.direction"),
    "unknown-feature": (_bad_access("feature", 99), "access.feature"),
    "unknown-cloud": (_bad_access("external_cloud", "example.com"), "access.externalCloud"),
    "too-many-groups": (
        pdp_pb2.CheckRequest(
            access=pdp_pb2.AccessQuestion(
                tenant_id=CONTOSO,
                external_tenant_id=FABRIKAM,
                direction=pdp_pb2.DIRECTION_INBOUND,
                feature=pdp_pb2.FEATURE_B2B_COLLABORATION,
                user_id=CONTOSO,
                group_ids=[FABRIKAM] * 2049,
                application_id=CONTOSO,
            )
        ),
        "access.groupIds",
    ),
    "trust-same-tenant": (
        pdp_pb2.CheckRequest(
            trust=pdp_pb2.TrustQuestion(
                tenant_id=CONTOSO, external_tenant_id=CONTOSO, feature=pdp_pb2.FEATURE_B2B_COLLABORATION
            )
        ),
        "trust.externalTenantId",
    ),
    "trust-unknown-claim": (
        pdp_pb2.CheckRequest(
            trust=pdp_pb2.TrustQuestion(
                tenant_id=CONTOSO,
                external_tenant_id=FABRIKAM,
                feature=pdp_pb2.FEATURE_B2B_COLLABORATION,
                required=[pdp_pb2.CLAIM_MFA, 99],
            )
        ),
        "trust.required[1]",
    ),
    "identity-sync-bad-target": (
        pdp_pb2.CheckRequest(
            identity_sync=pdp_pb2.IdentitySyncQuestion(source_tenant_id=CONTOSO, target_tenant_id="x")
        ),
        "identitySync.targetTenantId",
    ),
}


@pytest.mark.parametrize("case", list(_BAD_CHECKS))
def test_malformed_check_is_invalid_argument_naming_the_field(case: str, channel: grpc.Channel, engine: Engine) -> None:
    request, field = _BAD_CHECKS[case]
    error = rpc_error(lambda: check(channel, request))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(error)
    assert [f for f, _ in violations] == [field], violations
    assert all(description for _, description in violations)
    # The in-process engine names the same field.
    assert engine.check_proto(request).error.field == field
    _assert_still_serving(channel, engine)


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xff\xff\xff", b"\x0a\xff\xff", b"\x12\x05abc", b"not a protobuf at all"],
    ids=["garbage", "truncated-length", "truncated-message", "text"],
)
def test_bytes_that_are_not_a_check_request_are_invalid_argument(
    payload: bytes, channel: grpc.Channel, engine: Engine
) -> None:
    raw_check = channel.unary_unary(
        f"/{SERVICE}/Check", request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    error = rpc_error(lambda: raw_check(payload, timeout=RPC_TIMEOUT))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    fields = [f for f, _ in field_violations(error)]
    assert fields == ["question"]
    _assert_still_serving(channel, engine)


def test_empty_batch_is_invalid_argument(channel: grpc.Channel, engine: Engine) -> None:
    error = rpc_error(lambda: decision_stub(channel).BatchCheck(pdp_pb2.BatchCheckRequest(), timeout=RPC_TIMEOUT))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations(error)] == ["requests"]
    _assert_still_serving(channel, engine)


def test_oversized_batch_is_invalid_argument(channel: grpc.Channel, engine: Engine) -> None:
    stub = decision_stub(channel)
    at_limit = [flip_question()] * MAX_BATCH
    assert len(stub.BatchCheck(pdp_pb2.BatchCheckRequest(requests=at_limit), timeout=RPC_TIMEOUT).responses) == (
        MAX_BATCH
    )
    error = rpc_error(
        lambda: stub.BatchCheck(pdp_pb2.BatchCheckRequest(requests=[*at_limit, flip_question()]), timeout=RPC_TIMEOUT)
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(error)
    assert [f for f, _ in violations] == ["requests"]
    assert str(MAX_BATCH) in violations[0][1]
    _assert_still_serving(channel, engine)


def test_batch_item_that_is_not_a_check_request_gets_its_own_error(channel: grpc.Channel, engine: Engine) -> None:
    raw_batch = channel.unary_unary(
        f"/{SERVICE}/BatchCheck", request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    first, second = questions()[:2]
    items = [first.SerializeToString(), b"\xff\xff\xff", second.SerializeToString()]
    payload = b"".join(b"\x0a" + encode_varint(len(item)) + item for item in items)
    response = pdp_pb2.BatchCheckResponse.FromString(raw_batch(payload, timeout=RPC_TIMEOUT))
    answers = list(response.responses)
    assert answers[0] == engine.check_proto(first)
    assert answers[2] == engine.check_proto(second)
    assert answers[1].error.code == pdp_pb2.ERROR_CODE_INVALID_ARGUMENT
    assert answers[1].error.field == "requests[1].question"
    assert answers[1].decision == pdp_pb2.DECISION_DENY
    assert answers[1].snapshot_id == engine.snapshot_id


def test_issue9_D8_item_with_a_non_minimal_tag_is_answered_in_its_own_slot(
    channel: grpc.Channel, engine: Engine
) -> None:
    """`8a 00` is field 1, wire type 2 encoded in two bytes: valid, and protobuf reads an item.

    The splitter once matched only the byte 0x0a, skipped that item, and answered the next
    question (ALLOW) in the DENY question's slot."""
    raw_batch = channel.unary_unary(
        f"/{SERVICE}/BatchCheck", request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    allow, deny = questions()[:2]
    assert engine.check_proto(allow).decision == pdp_pb2.DECISION_ALLOW
    assert engine.check_proto(deny).decision == pdp_pb2.DECISION_DENY
    deny_bytes, allow_bytes = deny.SerializeToString(), allow.SerializeToString()
    payload = b"\x8a\x00" + encode_varint(len(deny_bytes)) + deny_bytes
    payload += b"\x0a" + encode_varint(len(allow_bytes)) + allow_bytes
    assert list(pdp_pb2.BatchCheckRequest.FromString(payload).requests) == [deny, allow]  # what protobuf reads
    answers = list(pdp_pb2.BatchCheckResponse.FromString(raw_batch(payload, timeout=RPC_TIMEOUT)).responses)
    assert [a.decision for a in answers] == [pdp_pb2.DECISION_DENY, pdp_pb2.DECISION_ALLOW]
    assert answers == [engine.check_proto(deny), engine.check_proto(allow)]


@pytest.mark.parametrize(
    "payload", [b"\x0a\x7f\x08", b"\x0a", b"\x00\x01"], ids=["truncated-item", "no-length", "field-zero"]
)
def test_bytes_that_are_not_a_batch_are_invalid_argument(payload: bytes, channel: grpc.Channel, engine: Engine) -> None:
    raw_batch = channel.unary_unary(
        f"/{SERVICE}/BatchCheck", request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    error = rpc_error(lambda: raw_batch(payload, timeout=RPC_TIMEOUT))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations(error)] == ["requests"]
    _assert_still_serving(channel, engine)


def test_health_of_an_unknown_service_is_not_found(channel: grpc.Channel) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    error = rpc_error(
        lambda: health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=RPC_TIMEOUT
        )
    )
    assert error.code() is grpc.StatusCode.NOT_FOUND


def test_unknown_method_is_unimplemented(channel: grpc.Channel, engine: Engine) -> None:
    call = channel.unary_unary(f"/{SERVICE}/Nope", request_serializer=lambda b: b, response_deserializer=lambda b: b)
    error = rpc_error(lambda: call(b"", timeout=RPC_TIMEOUT))
    assert error.code() is grpc.StatusCode.UNIMPLEMENTED
    _assert_still_serving(channel, engine)


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_tls_serves_a_client_that_trusts_the_ca(
    pki: Pki, snapshot_file: Path, engine: Engine, servers: list[InProcessServer], channels: Channels
) -> None:
    srv = _start(
        servers,
        *("--snapshot", str(snapshot_file), "--listen", "127.0.0.1:0", "--metrics-listen", "off"),
        *("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)),
    )
    port = srv.tcp_target.rpartition(":")[2]
    for host in ("127.0.0.1", "localhost"):
        secure = channels.open(f"{host}:{port}", pki.channel_credentials(client_cert=False))
        wait_until(lambda ch=secure: health_status(ch) == SERVING, what="SERVING over TLS")
        assert check(secure, flip_question()) == engine.check_proto(flip_question())
    # A plaintext client cannot talk to the TLS port.
    plain = channels.open(f"127.0.0.1:{port}")
    assert rpc_error(lambda: check(plain, flip_question())).code() is grpc.StatusCode.UNAVAILABLE


def test_mtls_refuses_a_client_without_certificate_and_serves_one_with(
    pki: Pki, snapshot_file: Path, engine: Engine, servers: list[InProcessServer], channels: Channels
) -> None:
    srv = _start(
        servers,
        *("--snapshot", str(snapshot_file), "--listen", "127.0.0.1:0", "--metrics-listen", "off"),
        *("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--tls-client-ca", str(pki.ca)),
    )
    with_cert = channels.open(srv.tcp_target, pki.channel_credentials(client_cert=True))
    wait_until(lambda: health_status(with_cert) == SERVING, what="SERVING over mTLS")
    assert check(with_cert, flip_question()) == engine.check_proto(flip_question())

    without_cert = channels.open(srv.tcp_target, pki.channel_credentials(client_cert=False))
    assert rpc_error(lambda: check(without_cert, flip_question())).code() is grpc.StatusCode.UNAVAILABLE
    # The server is unharmed by the refused handshake.
    assert check(with_cert, flip_question()) == engine.check_proto(flip_question())


# --------------------------------------------------------------------------- metrics


def test_metrics_count_the_traffic_sent(
    snapshot_file: Path, engine: Engine, servers: list[InProcessServer], channels: Channels
) -> None:
    metrics_port = free_port()
    srv = _start(
        servers,
        *("--snapshot", str(snapshot_file), "--listen", "127.0.0.1:0"),
        *("--metrics-listen", f"127.0.0.1:{metrics_port}"),
    )
    channel = channels.open(srv.tcp_target)
    wait_until(lambda: health_status(channel) == SERVING, what="SERVING")

    expected: Counter[tuple[str, str]] = Counter()
    rounds = 2
    for _ in range(rounds):
        for request in questions():
            answer = check(channel, request)
            assert answer == engine.check_proto(request)
            kind = request.WhichOneof("question")
            expected[(kind, "allow" if answer.decision == pdp_pb2.DECISION_ALLOW else "deny")] += 1
    ok_calls = sum(expected.values())
    bad = [pdp_pb2.CheckRequest(), _bad_access("user_id", NOT_A_GUID), _bad_access("direction", 99)]
    for request in bad:
        assert rpc_error(lambda r=request: check(channel, r)).code() is grpc.StatusCode.INVALID_ARGUMENT

    def handled(code: str, families: list) -> float | None:  # type: ignore[type-arg]
        return sample_value(
            families, "grpc_server_handled_total", grpc_service=SERVICE, grpc_method="Check", grpc_code=code
        )

    # Counters are updated as the handler returns; wait until the last call is counted.
    families = wait_until(
        lambda: (f := scrape(metrics_port)) and handled("INVALID_ARGUMENT", f) == len(bad) and f,
        what="every call counted",
    )

    assert handled("OK", families) == ok_calls
    assert handled("INVALID_ARGUMENT", families) == len(bad)
    for (kind, decision), count in expected.items():
        assert sample_value(families, "xtenant_pdp_decisions_total", question=kind, decision=decision) == count
    counted = sum(
        s.value
        for s in samples(families)
        if s.name == "xtenant_pdp_decisions_total" and s.labels["question"] != "invalid"
    )
    assert counted == ok_calls
    assert sample_value(families, "xtenant_pdp_decisions_total", question="invalid", decision="error") == len(bad)
    assert sample_value(
        families, "grpc_server_started_total", grpc_service=SERVICE, grpc_method="Check"
    ) == ok_calls + len(bad)

    duration_buckets = {
        float(s.labels["le"]): s.value
        for s in samples(families)
        if s.name == "xtenant_pdp_decision_duration_seconds_bucket"
    }
    sub_ms = [le for le in duration_buckets if le < 1e-3]
    assert len(sub_ms) >= 3, sorted(duration_buckets)
    assert duration_buckets[float("inf")] == ok_calls
    assert sample_value(families, "xtenant_pdp_decision_duration_seconds_count") == ok_calls

    assert sample_value(families, "xtenant_pdp_snapshot_info", snapshot_id=engine.snapshot_id) == 1
    info_samples = [s for s in samples(families) if s.name == "xtenant_pdp_snapshot_info"]
    assert [s.labels["snapshot_id"] for s in info_samples] == [engine.snapshot_id]
    assert sample_value(families, "xtenant_pdp_snapshot_partners") == engine.info.partner_count == 8
    assert sample_value(families, "xtenant_pdp_snapshot_tenants") == engine.info.tenant_count == 4

    # Low cardinality: no label value anywhere is (or contains) a tenant, user, group or app id.
    for sample in samples(families):
        for name, value in sample.labels.items():
            assert not GUID.search(value), f"{sample.name} label {name}={value!r}"
    label_sets = {frozenset(s.labels.items()) for s in samples(families) if s.name == "xtenant_pdp_decisions_total"}
    assert len(label_sets) <= len(QuestionKind) * 3  # kinds (8 before adminAction, D13) x decisions
