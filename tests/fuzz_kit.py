"""The fuzz targets of issue 9: each takes one input's bytes and raises Finding when the product
crashes, disagrees with protobuf's parser, or answers ALLOW where the canonical input does not.

One function per surface an attacker or an unlucky operator reaches: the CheckRequest decoders,
BatchCheck's splitter and answers, the ext_authz CheckRequest conversion, the Graph parser and
compiler (one policy file replaced by the input), and the snapshot loader (any file bytes, and
bodies re-framed with correct hashes so that only the content is broken). Bytes in, so the same
targets serve hypothesis (tests/test_fuzz.py), the corpus replay, and the long run
(tests/long/fuzz_run.py, with atheris when it is installed).

"Canonical input" is what protobuf itself reads from the bytes, re-serialized deterministically:
the answer to the bytes as sent must be the answer to that, so no encoding trick can turn a
DENY into an ALLOW.
"""

from __future__ import annotations

import functools
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envoy.service.auth.v3 import external_auth_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError
from prometheus_client import CollectorRegistry

from xtenant_pdp import convert
from xtenant_pdp import snapshot as snapshot_file
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.api import snapshot_pb2 as snapshot_pb
from xtenant_pdp.compiler import CompileResult, compile_policy_dir
from xtenant_pdp.config import Settings
from xtenant_pdp.decision import Decision
from xtenant_pdp.errors import CompileErrors, QueryError, SnapshotLoadError
from xtenant_pdp.evaluator import evaluate
from xtenant_pdp.index import Index
from xtenant_pdp.loader import load_snapshot_bytes
from xtenant_pdp.metrics import Metrics
from xtenant_pdp.protowire import encode_varint
from xtenant_pdp.service import ext_authz, wire
from xtenant_pdp.service.holder import CacheLimits, SnapshotHolder
from xtenant_pdp.service.servicer import DecisionServicer

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_POLICY = REPO / "xtenant_pdp" / "examples" / "policy"
QUESTIONS = REPO / "xtenant_pdp" / "examples" / "questions.jsonl"
CORPUS = Path(__file__).resolve().parent / "testdata" / "fuzz"
MAX_BATCH = 64
#: The files of the small policy the compile target fuzzes, one replaced per input.
POLICY_FILES = (
    "contoso/partners.json",
    "contoso/default.json",
    "contoso/crossTenantAccessPolicy.json",
    "contoso/tenant.json",
    "fabrikam/partners.json",
)


class Finding(AssertionError):
    """A fuzz input the product got wrong; the message says how."""


@functools.cache
def example_snapshot() -> bytes:
    return compile_policy_dir(EXAMPLE_POLICY, created_at=1_700_000_000.0).data


@functools.cache
def _world() -> tuple[Index, DecisionServicer, DecisionServicer, ext_authz.ExtAuthzServicer]:
    index = load_snapshot_bytes(example_snapshot())
    servicers = []
    for cache_bytes in (0, 1 << 20):
        holder = SnapshotHolder(limits=CacheLimits(decision_bytes=cache_bytes))
        holder.activate(index, "fuzz")
        servicers.append(DecisionServicer(holder, Metrics(CollectorRegistry()), max_batch=MAX_BATCH))
    holder = SnapshotHolder()
    holder.activate(index, "fuzz")
    gateway = ext_authz.ExtAuthzServicer(holder, Metrics(CollectorRegistry()), Settings(trust_headers=True))
    return index, servicers[0], servicers[1], gateway


# --------------------------------------------------------------------------- requests


def _read(fn: Callable[[bytes], Any], data: bytes) -> Any:
    try:
        return fn(data)
    except QueryError as exc:
        return exc


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, QueryError) or isinstance(b, QueryError):
        return isinstance(a, QueryError) and isinstance(b, QueryError) and (a.field, a.message) == (b.field, b.message)
    return a == b and all(type(x) is type(y) for x, y in zip(a[1], b[1], strict=True))


def canonical_answer(index: Index, item: bytes) -> tuple[int, int] | None:
    """(decision, reason) for what protobuf reads from ``item``, or None: not a question."""
    try:
        canonical = pdp_pb2.CheckRequest.FromString(item).SerializeToString(deterministic=True)
        result = evaluate(index, convert.question_via_protobuf(canonical)[1])
    except (DecodeError, QueryError):
        return None
    return int(result.decision), int(result.reason)


def _judge(answer: pdp_pb2.CheckResponse, expected: tuple[int, int] | None, what: str) -> None:
    if expected is None:
        if answer.decision == Decision.ALLOW or not answer.HasField("error"):
            raise Finding(f"{what}: answered {answer.decision} without an error to a question protobuf cannot read")
        return
    if answer.decision == Decision.ALLOW and expected[0] != Decision.ALLOW:
        raise Finding(f"{what}: wrong ALLOW: the canonical question is {expected}")
    if (answer.decision, answer.reason) != expected:
        raise Finding(f"{what}: answered {(answer.decision, answer.reason)}, the canonical question {expected}")


def check_request(data: bytes) -> None:
    """Check: the fast decoder and the protobuf path agree (question or error), and the server's
    answer (cache off and on) is the canonical question's."""
    index, plain, cached, _ = _world()
    fast, slow = _read(convert.question_from_bytes, data), _read(convert.question_via_protobuf, data)
    if not _same(fast, slow):
        raise Finding(f"decoders disagree: {fast!r} against the protobuf path's {slow!r}")
    expected = canonical_answer(index, data)
    for servicer in (plain, cached, cached):  # the second cached call is a cache hit
        try:
            answer = pdp_pb2.CheckResponse.FromString(servicer.answer(data))
        except QueryError:
            if expected is not None:
                raise Finding(f"refused a question whose canonical form is answered {expected}") from None
            continue
        _judge(answer, expected, "Check")


def batch(data: bytes) -> None:
    """BatchCheck: one answer per item protobuf sees, in order, each the canonical item's."""
    index, plain, _, _ = _world()
    try:
        parsed: list[pdp_pb2.CheckRequest] | None = list(pdp_pb2.BatchCheckRequest.FromString(data).requests)
    except DecodeError:
        parsed = None
    try:
        items = wire.split_items(data, MAX_BATCH)
    except QueryError:
        if parsed is not None and 0 < len(parsed) <= MAX_BATCH:
            raise Finding(f"refused a batch of {len(parsed)} items protobuf reads") from None
        return
    if parsed is not None and [pdp_pb2.CheckRequest.FromString(i) for i in items] != parsed:
        raise Finding("the splitter's items are not protobuf's")
    try:
        out = plain.batch(data)
    except QueryError:
        if items:
            raise Finding(f"refused a batch of {len(items)} readable items") from None
        return
    answers = list(pdp_pb2.BatchCheckResponse.FromString(out).responses)
    if len(answers) != len(items):
        raise Finding(f"{len(answers)} answers for {len(items)} items")
    for i, (item, answer) in enumerate(zip(items, answers, strict=True)):
        _judge(answer, canonical_answer(index, item), f"BatchCheck item {i}")


def ext_authz_request(data: bytes) -> None:
    """ext_authz: any request protobuf reads is answered without an exception, and the same as
    its canonical encoding (which is how gRPC would have handed it over)."""
    _, _, _, gateway = _world()
    try:
        request = external_auth_pb2.CheckRequest.FromString(data)
    except DecodeError:
        return  # gRPC refuses it before the servicer
    response, decision = gateway.check(request)
    canonical = external_auth_pb2.CheckRequest.FromString(request.SerializeToString(deterministic=True))
    again, decision_again = gateway.check(canonical)
    if (response.status.code, decision) != (again.status.code, decision_again):
        raise Finding(f"ext_authz: {decision} for the bytes, {decision_again} for the canonical request")
    if response.status.code == 0 and decision is not Decision.ALLOW:
        raise Finding(f"ext_authz: status OK with decision {decision}")


_IDS = (
    "5de41ce2-ca22-4b65-866a-e46ae037737e",
    "6F086A4D-9C20-4B2E-A39F-5DCCCB0B955A",
    "c8c8ec6f-76e1-4b56-85e4-d1b149451ce3",
    "d5ebb16c-5006-48be-bd8e-fab10e184847",
    "00000003-0000-0ff1-ce00-000000000000",
    "",
    " 5de41ce2-ca22-4b65-866a-e46ae037737e",
    "{5de41ce2-ca22-4b65-866a-e46ae037737e}",
    "not-a-guid",
)
_WORDS = ("mfa", "pwd", "MFA", "compliant_device", "b2b_direct_connect", "b2b_collaboration", "true", "1", ",", " ")
_EXTENSIONS = (
    ext_authz.CTX_TENANT_ID,
    ext_authz.CTX_APPLICATION_ID,
    ext_authz.CTX_FEATURE,
    ext_authz.CTX_REQUIRED_CLAIMS,
    "xtenant_other",
)
_CLAIM_NAMES = ("tid", "oid", "groups", "amr", "hasgroups", "_claim_names", "_claim_sources", "xms_cc", "wids")
_CLAIM_NAMES += (ext_authz.JWT_COMPLIANT_DEVICE, ext_authz.JWT_HYBRID_JOINED_DEVICE)
_HEADERS = ("x-ms-client-tenant-id", "x-ms-client-object-id", "x-ms-client-groups", "x-ms-client-amr")


def _json_value(rng: random.Random) -> Any:
    pick = rng.randrange(8)
    if pick < 3:
        return rng.choice(_IDS)
    if pick == 3:
        return rng.choice(_WORDS)
    if pick == 4:
        return [rng.choice(_IDS + _WORDS) for _ in range(rng.randrange(4))]
    if pick == 5:
        return rng.choice([True, False, None, 0, 1.5, -1])
    if pick == 6:
        return {"groups": "src1"} if rng.randrange(2) else {}
    return ",".join(rng.choice(_IDS + _WORDS) for _ in range(rng.randrange(4)))


def ext_authz_fields(data: bytes) -> None:
    """ext_authz on requests edited where they matter: the route's context_extensions, the
    verified token's claims (every JSON type) and the identity headers; the input seeds the
    edits to one of the corpus requests."""
    from google.protobuf import struct_pb2

    rng = random.Random(data)
    request = external_auth_pb2.CheckRequest.FromString(rng.choice(corpus("ext_authz")))
    attributes = request.attributes
    for _ in range(rng.randint(1, 6)):
        where = rng.randrange(3)
        if where == 0:
            key = rng.choice(_EXTENSIONS)
            if rng.randrange(4) == 0:
                attributes.context_extensions.pop(key, None)
            else:
                attributes.context_extensions[key] = str(_json_value(rng))
        elif where == 1:
            metadata = attributes.metadata_context.filter_metadata[ext_authz.JWT_METADATA_NAMESPACE]
            payload = metadata.fields[ext_authz.JWT_PAYLOAD_KEY]
            if rng.randrange(10) == 0:
                payload.string_value = "not an object"
                continue
            claims = struct_pb2.Struct()
            if payload.WhichOneof("kind") == "struct_value":
                claims.CopyFrom(payload.struct_value)
            claims.update({rng.choice(_CLAIM_NAMES): _json_value(rng)})
            payload.struct_value.CopyFrom(claims)
        else:
            attributes.request.http.headers[rng.choice(_HEADERS)] = str(_json_value(rng))
    ext_authz_request(request.SerializeToString())


# --------------------------------------------------------------------------- policies and snapshots


@functools.cache
def _policy_dir() -> Path:
    root = Path(tempfile.mkdtemp(prefix="xtenant-fuzz-"))
    for tenant in ("contoso", "fabrikam"):
        shutil.copytree(EXAMPLE_POLICY / tenant, root / tenant)
    return root


def compile_policy(data: bytes) -> None:
    """Graph parser and compiler: one file of a small policy replaced by the input (its first
    byte picks which): a snapshot that loads, or CompileErrors; nothing else."""
    if not data:
        return
    root = _policy_dir()
    name = POLICY_FILES[data[0] % len(POLICY_FILES)]
    target = root / name
    original = (EXAMPLE_POLICY / name).read_bytes()
    target.write_bytes(data[1:])
    try:
        result: CompileResult = compile_policy_dir(root, created_at=1_700_000_000.0)
    except CompileErrors:
        return
    finally:
        target.write_bytes(original)
    load_snapshot_bytes(result.data)  # a compiled snapshot always loads


def _questions(index: Index) -> list[Any]:
    found = []
    for line in QUESTIONS.read_text(encoding="utf-8").splitlines():
        try:
            found.append(convert.query_from_proto(convert.request_from_json(line)))
        except QueryError:
            continue
    return found


def load_snapshot(data: bytes) -> None:
    """Snapshot loader, file bytes as found on disk: an index or SnapshotLoadError."""
    try:
        index = load_snapshot_bytes(data)
    except SnapshotLoadError:
        return
    for query in _questions(index):
        evaluate(index, query)


def load_snapshot_body(data: bytes) -> None:
    """Snapshot loader, the body re-framed with correct hashes (a broken or hostile compiler):
    an index whose every example question evaluates, or SnapshotLoadError."""
    try:
        body = snapshot_pb.Snapshot.FromString(data)
    except DecodeError:
        return
    load_snapshot(snapshot_file.dump(body, source_digest="sha256:fuzz", created_at=1_700_000_000.0))


_INTS = (0, 1, -1, 2, 3, 7, 255, 2**31 - 1, -(2**31), 2**32 - 1, 2**63 - 1, -(2**63))


def _mutate_message(rng: random.Random, message: Any, depth: int = 0) -> None:
    """One random edit somewhere in ``message``'s tree, by its descriptor: a scalar set to an edge
    value, a repeated element dropped, duplicated or added, a sub-message cleared."""
    fields = message.DESCRIPTOR.fields
    if not fields:
        return
    field = rng.choice(fields)
    value = getattr(message, field.name)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.is_repeated:
            if value and rng.randrange(3) == 0:
                del value[rng.randrange(len(value))]
            elif value and rng.randrange(2) == 0:
                value.add().CopyFrom(value[rng.randrange(len(value))])
            elif value and depth < 6:
                _mutate_message(rng, value[rng.randrange(len(value))], depth + 1)
            else:
                value.add()
        elif rng.randrange(5) == 0:
            message.ClearField(field.name)
        elif depth < 6:
            _mutate_message(rng, value, depth + 1)
        return
    candidates: list[Any]
    if field.type == FieldDescriptor.TYPE_STRING:
        candidates = ["", "x", "00000000-0000-0000-0000-000000000000", "ALL", "\u0130" * 3, "a" * 300]
    elif field.type == FieldDescriptor.TYPE_BOOL:
        candidates = [True, False]
    elif field.type == FieldDescriptor.TYPE_BYTES:
        candidates = [b"", b"\x00", rng.randbytes(8)]
    elif field.cpp_type in (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE):
        candidates = [0.0, -1.0, 1e300, float("nan")]
    else:
        narrow = (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_ENUM)
        bits = 32 if field.cpp_type in narrow else 64
        signed = field.cpp_type in (
            FieldDescriptor.CPPTYPE_INT32,
            FieldDescriptor.CPPTYPE_INT64,
            FieldDescriptor.CPPTYPE_ENUM,
        )
        low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        candidates = [v for v in _INTS if low <= v <= high]
    if field.is_repeated:
        if value and rng.randrange(2) == 0:
            del value[rng.randrange(len(value))]
        else:
            value.append(rng.choice(candidates))
    else:
        setattr(message, field.name, rng.choice(candidates))


@functools.cache
def _example_body() -> bytes:
    return snapshot_file.load(example_snapshot())[1].SerializeToString(deterministic=True)


def snapshot_semantics(data: bytes) -> None:
    """Snapshot loader on hash-consistent bodies broken in meaning: the example snapshot's body
    with one to eight random edits by its descriptor (the input seeds them), re-framed with
    correct hashes: an index whose every example question evaluates, or SnapshotLoadError."""
    rng = random.Random(data)
    body = snapshot_pb.Snapshot.FromString(_example_body())
    for _ in range(rng.randint(1, 8)):
        _mutate_message(rng, body)
    load_snapshot(snapshot_file.dump(body, source_digest="sha256:fuzz", created_at=1_700_000_000.0))


TARGETS: dict[str, Callable[[bytes], None]] = {
    "check_request": check_request,
    "batch": batch,
    "ext_authz": ext_authz_request,
    "ext_authz_fields": ext_authz_fields,
    "compile": compile_policy,
    "snapshot": load_snapshot,
    "snapshot_body": load_snapshot_body,
    "snapshot_semantics": snapshot_semantics,
}


def corpus(target: str) -> list[bytes]:
    folder = CORPUS / target
    return [p.read_bytes() for p in sorted(folder.iterdir())] if folder.is_dir() else []


def seeds() -> dict[str, dict[str, bytes]]:
    """The corpus's seeds (tests/testdata/fuzz/<target>/<name>): valid inputs of every kind and a
    few known-tricky encodings; the fuzzers mutate from these."""
    from google.protobuf import struct_pb2

    questions = [convert.request_from_json(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    raw = [q.SerializeToString() for q in questions]
    out: dict[str, dict[str, bytes]] = {name: {} for name in TARGETS}
    for i, (q, r) in enumerate(zip(questions, raw, strict=True)):
        out["check_request"][f"{i:02d}-{q.WhichOneof('question')}"] = r
    first = raw[0]
    out["check_request"]["nonminimal-tag"] = bytes([first[0] | 0x80, 0]) + first[1:]
    out["check_request"]["unknown-fields"] = first + b"\x98\x06\x01\xa3\x06\x08\x01\xa4\x06"

    def item(body: bytes, tag: bytes = b"\x0a") -> bytes:
        return tag + encode_varint(len(body)) + body

    out["batch"]["every-example"] = b"".join(item(r) for r in raw)
    out["batch"]["D8-nonminimal-tag"] = item(raw[1], b"\x8a\x00") + item(raw[0])
    out["batch"]["groups-and-unknown"] = b"\x0b\x0a\x00\x0c" + item(raw[2]) + b"\x10\x01" + item(raw[3])

    def envoy(extensions: dict[str, str], token: dict[str, Any] | None, headers: dict[str, str] | None) -> bytes:
        request = external_auth_pb2.CheckRequest()
        request.attributes.context_extensions.update(extensions)
        if token is not None:
            metadata = struct_pb2.Struct()
            metadata.update({ext_authz.JWT_PAYLOAD_KEY: token})
            request.attributes.metadata_context.filter_metadata[ext_authz.JWT_METADATA_NAMESPACE].CopyFrom(metadata)
        if headers:
            request.attributes.request.http.headers.update(headers)
        return request.SerializeToString()

    contoso, fabrikam = "5de41ce2-ca22-4b65-866a-e46ae037737e", "6f086a4d-9c20-4b2e-a39f-5dcccb0b955a"
    megan, team = "c8c8ec6f-76e1-4b56-85e4-d1b149451ce3", "d5ebb16c-5006-48be-bd8e-fab10e184847"
    sharepoint = "00000003-0000-0ff1-ce00-000000000000"
    route = {ext_authz.CTX_TENANT_ID: contoso, ext_authz.CTX_APPLICATION_ID: sharepoint}
    token = {"tid": fabrikam, "oid": megan, "groups": [team], "amr": ["pwd", "mfa"]}
    out["ext_authz"]["token-allow"] = envoy(route, token, None)
    out["ext_authz"]["token-required-claims"] = envoy({**route, ext_authz.CTX_REQUIRED_CLAIMS: "mfa"}, token, None)
    out["ext_authz"]["headers"] = envoy(
        route, None, {"x-ms-client-tenant-id": fabrikam, "x-ms-client-object-id": megan, "x-ms-client-groups": team}
    )
    out["ext_authz"]["no-route"] = envoy({}, token, None)
    for i, name in enumerate(POLICY_FILES):
        out["compile"][name.replace("/", "-")] = bytes([i]) + (EXAMPLE_POLICY / name).read_bytes()
    data = example_snapshot()
    out["snapshot"]["example"] = data
    out["snapshot_body"]["example"] = _example_body()
    out["snapshot_semantics"].update({f"seed-{i}": bytes([i]) for i in range(4)})
    out["ext_authz_fields"].update({f"seed-{i}": bytes([i]) for i in range(4)})
    return out


def write_corpus(root: Path = CORPUS) -> None:
    for target, found in seeds().items():
        (root / target).mkdir(parents=True, exist_ok=True)
        for name, data in found.items():
            (root / target / name).write_bytes(data)
