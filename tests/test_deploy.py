"""deploy/ checked offline: Kustomize overlays, the snapshot ConfigMap, Envoy wiring, Prometheus
alert rules and the Grafana dashboard.

* Every overlay is rendered with `kubectl kustomize` and validated with kubernetes-validate in
  strict mode (unknown fields fail) against the oldest Kubernetes with native sidecars on by
  default and the newest the package knows; the Prometheus Operator objects, which it has no
  schema for, against the parts of their CRD schemas they use. No kind is skipped.
* The xtenant-pdp containers' arguments are parsed by the server's own `serve` parser: probe ports,
  container ports, the PodMonitor, the shared socket, the snapshot mount and the Envoy
  configuration must name what the server really listens on and reads.
* The sidecar's exact arguments run through the image's ENTRYPOINT as a local process on a fake
  ConfigMap volume: socket mode, health, decisions over the socket, ext_authz with the rendered
  Envoy route, hot reload of a new snapshot, metrics, and a clean SIGTERM. Its /metrics page is
  the list of metric names the dashboard and the alert rules may use.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest
import yaml
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from google.protobuf import struct_pb2
from server_kit import (
    FABRIKAM,
    REPO,
    SERVING,
    WAIT,
    ConfigMapDir,
    compile_pair,
    decision_stub,
    flip_question,
    health_status,
    questions,
    scrape,
    snapshot_id,
    wait_until,
)
from test_dockerfile import image_config, image_process, localize, tini

from xtenant_pdp import cli
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.app import HEALTH_SERVICES, LIVENESS_SERVICE
from xtenant_pdp.config import Settings, settings_from
from xtenant_pdp.service.ext_authz import (
    CONTEXT_EXTENSION_KEYS,
    CTX_APPLICATION_ID,
    CTX_TENANT_ID,
    JWT_METADATA_NAMESPACE,
    JWT_PAYLOAD_KEY,
    SOCKET_PATH,
)

DEPLOY = REPO / "deploy"
OVERLAYS = {p.parent.name: p.parent for p in sorted((DEPLOY / "overlays").glob("*/kustomization.yaml"))}
SIDECAR_OVERLAYS = [name for name in OVERLAYS if name.startswith("sidecar")]
ENVOY_YAML = DEPLOY / "envoy" / "envoy.yaml"
DASHBOARD = DEPLOY / "base" / "grafana" / "xtenant-pdp.json"
PROMETHEUS_RULE = DEPLOY / "base" / "prometheusrule.yaml"
RULES_FILE = DEPLOY / "components" / "prometheus-annotations" / "xtenant-pdp.rules.yml"
README = DEPLOY / "README.md"
PDP = "xtenant-pdp"
#: The oldest Kubernetes with native sidecars (init containers with restartPolicy: Always) on by default.
OLDEST_KUBERNETES = "1.29"
#: Labels Prometheus adds from the scrape target, not from the page.
TARGET_LABELS = {"namespace", "pod", "container", "job", "instance", "endpoint"}
KUBECTL_TIMEOUT_S = 60

# Example policy (xtenant_pdp/examples/policy/README.md): fabrikam's Megan in the Contoso Project Team.
MEGAN = "c8c8ec6f-76e1-4b56-85e4-d1b149451ce3"
PROJECT_TEAM = "d5ebb16c-5006-48be-bd8e-fab10e184847"
ALL_STAFF = "b5ed6fbc-317a-439f-8cef-a3eae5862a31"


def _need(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        pytest.fail(f"{module} is not installed: `.venv/bin/pip install -e '.[test,deploy]'`")


# --------------------------------------------------------------------------- rendering


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl is not installed: the overlays are rendered with `kubectl kustomize` (offline)")
    return found


def kustomize(folder: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=KUBECTL_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {folder}:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: kustomize(folder) for name, folder in OVERLAYS.items()}


@dataclass(frozen=True)
class PolicyRender:
    docs: list[dict[str, Any]]
    snapshot: bytes
    second: bytes
    first_id: str
    second_id: str

    @property
    def configmap(self) -> dict[str, Any]:
        (configmap,) = self.docs
        return configmap


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> PolicyRender:
    """deploy/policy rendered as the README says, on a snapshot compiled from the example policy."""
    pair = compile_pair(tmp_path_factory.mktemp("pair"))
    folder = tmp_path_factory.mktemp("policy")
    shutil.copy(DEPLOY / "policy" / "kustomization.yaml", folder / "kustomization.yaml")
    (folder / "policy.xtsnap").write_bytes(pair.a.data)
    return PolicyRender(kustomize(folder), pair.a.data, pair.b.data, pair.a.info.snapshot_id, pair.b.info.snapshot_id)


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


def pod_specs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "DaemonSet", "StatefulSet")]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


@dataclass(frozen=True)
class PdpPod:
    """A pod template that runs xtenant-pdp, and the server settings its arguments make."""

    workload: dict[str, Any]
    pod: dict[str, Any]
    container: dict[str, Any]
    settings: Settings

    @property
    def sidecar(self) -> bool:
        return self.container in self.pod.get("initContainers", [])

    def container_named(self, name: str) -> dict[str, Any]:
        (found,) = [c for c in containers(self.pod) if c["name"] == name]
        return found

    def volume(self, name: str) -> dict[str, Any]:
        (found,) = [v for v in self.pod["volumes"] if v["name"] == name]
        return found

    def mount_of(self, container: dict[str, Any], path: Path) -> dict[str, Any]:
        """The volume mount that holds ``path`` in ``container``."""
        mounts = [m for m in container.get("volumeMounts", []) if path.is_relative_to(m["mountPath"])]
        assert mounts, f"{path} is on no volume of container {container['name']}"
        return max(mounts, key=lambda m: len(m["mountPath"]))

    def port(self, name: str) -> int:
        (found,) = [p["containerPort"] for p in self.container.get("ports", []) if p["name"] == name]
        return int(found)


def server_settings(container: dict[str, Any]) -> Settings:
    """The container's arguments through `xtenant-pdp serve`'s own parser and environment rules."""
    args = container["args"]
    assert args[0] == "serve", "the image's ENTRYPOINT is xtenant-pdp: the arguments start with the command"
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return settings_from(cli.build_parser().parse_args(args), env=env)


def pdp_pods(docs: list[dict[str, Any]]) -> list[PdpPod]:
    out = []
    for workload in docs:
        if workload["kind"] not in ("Deployment", "DaemonSet", "StatefulSet"):
            continue
        pod = workload["spec"]["template"]["spec"]
        for container in containers(pod):
            if container["name"] == PDP:
                out.append(PdpPod(workload, pod, container, server_settings(container)))
    return out


def port_of(hostport: str | None) -> int:
    assert hostport is not None
    return int(hostport.rpartition(":")[2])


# --------------------------------------------------------------------------- schemas


_DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_OBJECT_META = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}, "labels": _STRING_MAP},
    "required": ["name"],
}
_LABEL_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"matchLabels": _STRING_MAP, "matchExpressions": {"type": "array"}},
}
#: The parts of the Prometheus Operator CRD schemas (monitoring.coreos.com/v1) these manifests use,
#: with their field names and types; anything else is an error, as kubectl's strict validation would say.
CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "PodMonitor"): {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "PodMonitor"},
            "metadata": _OBJECT_META,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["selector"],
                "properties": {
                    "selector": _LABEL_SELECTOR,
                    "namespaceSelector": {"type": "object"},
                    "jobLabel": {"type": "string"},
                    "podTargetLabels": {"type": "array", "items": {"type": "string"}},
                    "podMetricsEndpoints": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "port": {"type": "string"},
                                "portNumber": {"type": "integer"},
                                "path": {"type": "string"},
                                "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
                                "interval": {"type": "string", "pattern": _DURATION},
                                "scrapeTimeout": {"type": "string", "pattern": _DURATION},
                                "honorLabels": {"type": "boolean"},
                                "relabelings": {"type": "array"},
                                "metricRelabelings": {"type": "array"},
                            },
                        },
                    },
                },
            },
        },
    },
    ("monitoring.coreos.com/v1", "PrometheusRule"): {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "PrometheusRule"},
            "metadata": _OBJECT_META,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "groups": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["name"],
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "interval": {"type": "string", "pattern": _DURATION},
                                "labels": _STRING_MAP,
                                "limit": {"type": "integer"},
                                "query_offset": {"type": "string", "pattern": _DURATION},
                                "rules": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "required": ["expr"],
                                        "properties": {
                                            "alert": {"type": "string"},
                                            "record": {"type": "string"},
                                            "expr": {"type": ["string", "integer"]},
                                            "for": {"type": "string", "pattern": _DURATION},
                                            "keep_firing_for": {"type": "string", "pattern": _DURATION},
                                            "labels": _STRING_MAP,
                                            "annotations": _STRING_MAP,
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            },
        },
    },
}


def kubernetes_versions() -> tuple[str, ...]:
    utils = _need("kubernetes_validate.utils")
    newest = ".".join(utils.latest_version().split(".")[:2])
    assert tuple(map(int, newest.split("."))) >= (1, 33), "kubernetes-validate too old for a current Kubernetes"
    return (OLDEST_KUBERNETES, newest)


def validation_errors(docs: list[dict[str, Any]]) -> list[str]:
    kubernetes_validate = _need("kubernetes_validate")
    jsonschema = _need("jsonschema")
    errors = []
    for doc in docs:
        label = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        crd_schema = CRD_SCHEMAS.get((doc.get("apiVersion"), doc.get("kind")))
        if crd_schema is not None:
            for error in jsonschema.Draft202012Validator(crd_schema).iter_errors(doc):
                errors.append(f"{label}: {'.'.join(map(str, error.absolute_path))}: {error.message}")
            continue
        for version in kubernetes_versions():
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                errors.append(f"{label} (Kubernetes {version}): {'.'.join(map(str, error.path))}: {error.message}")
            except kubernetes_validate.utils.SchemaNotFoundError:
                errors.append(f"{label}: no schema for Kubernetes {version}; add its CRD schema to CRD_SCHEMAS")
    return errors


# --------------------------------------------------------------------------- overlays: validity


def test_overlays_are_there_and_build_on_the_base() -> None:
    assert {"sidecar", "standalone", "sidecar-prometheus-annotations"} <= set(OVERLAYS)
    for name, folder in OVERLAYS.items():
        kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
        resources = kustomization.get("resources", [])
        assert "../../base" in resources or any(r.startswith("../") and r[3:] in OVERLAYS for r in resources), name


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_overlay_renders_and_validates_strictly(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    docs = rendered[overlay]
    assert docs
    assert validation_errors(docs) == []
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    assert namespaces == {one(docs, "Namespace")["metadata"]["name"]}


def test_policy_configmap_renders_and_validates_strictly(policy: PolicyRender) -> None:
    assert policy.configmap["kind"] == "ConfigMap"
    assert validation_errors(policy.docs) == []


def test_strict_validation_rejects_unknown_fields(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The checks above can fail: a misspelt field in a pod or in a CRD object is reported."""
    docs = json.loads(json.dumps(rendered["sidecar"]))
    deployment = one(docs, "Deployment")
    deployment["spec"]["template"]["spec"]["initContainers"][0]["restartPolicyy"] = "Always"
    one(docs, "PodMonitor")["spec"]["podMetricsEndpoints"][0]["prot"] = "pdp-metrics"
    errors = validation_errors([deployment, one(docs, "PodMonitor")])
    assert any("restartPolicyy" in e for e in errors), errors
    assert any("prot" in e for e in errors), errors


# --------------------------------------------------------------------------- overlays: the server's flags


def test_every_overlay_runs_xtenant_pdp_with_the_image_entrypoint(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for overlay, docs in rendered.items():
        pods = pdp_pods(docs)
        assert pods, overlay
        for pdp in pods:
            # No `command`: the image's tini -- xtenant-pdp ENTRYPOINT runs the arguments.
            assert "command" not in pdp.container
            assert pdp.container["image"].rpartition(":")[0].endswith("/xtenant-pdp")
            assert pdp.settings.workers == 1
            assert pdp.settings.max_snapshot_age_s is not None, "a stale snapshot must fail closed"


def test_probes_are_grpc_on_the_health_port(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for overlay, docs in rendered.items():
        for pdp in pdp_pods(docs):
            health = port_of(pdp.settings.health_listen)
            assert pdp.settings.health_listen == f"0.0.0.0:{health}", "kubelet probes the pod IP"
            assert pdp.port("pdp-health") == health
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = pdp.container[kind]
                assert set(probe) & {"grpc", "httpGet", "tcpSocket", "exec"} == {"grpc"}, (overlay, kind)
                assert probe["grpc"]["port"] == health, (overlay, kind)  # numeric: grpc probes take no names
                assert probe["grpc"].get("service", "") in (*HEALTH_SERVICES, LIVENESS_SERVICE)
            # Startup waits for the first snapshot load; afterwards readiness follows NOT_SERVING quickly.
            startup = pdp.container["startupProbe"]
            assert startup["periodSeconds"] * startup["failureThreshold"] >= 60
            # Liveness ignores the snapshot (a restart cannot cure a stale one); readiness follows it.
            assert pdp.container["livenessProbe"]["grpc"]["service"] == LIVENESS_SERVICE
            assert pdp.container["readinessProbe"]["grpc"].get("service", "") in HEALTH_SERVICES


def test_metrics_port_is_what_prometheus_scrapes(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for overlay, docs in rendered.items():
        monitors = find(docs, "PodMonitor")
        for pdp in pdp_pods(docs):
            metrics = port_of(pdp.settings.metrics_listen)
            assert pdp.port("pdp-metrics") == metrics
            labels = pdp.workload["spec"]["template"]["metadata"]["labels"]
            annotations = pdp.workload["spec"]["template"]["metadata"].get("annotations", {})
            if monitors:
                (monitor,) = monitors
                assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items(), overlay
                (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
                assert pdp.port(endpoint["port"]) == metrics
                assert endpoint["path"] == "/metrics"
                assert "prometheus.io/scrape" not in annotations
            else:
                assert annotations["prometheus.io/scrape"] == "true", overlay
                assert annotations["prometheus.io/port"] == str(metrics)
                assert annotations["prometheus.io/path"] == "/metrics"
                assert find(docs, "PrometheusRule") == []
                rules = one(docs, "ConfigMap", "xtenant-pdp-prometheus-rules")
                assert yaml.safe_load(rules["data"]["xtenant-pdp.rules.yml"]) == yaml.safe_load(
                    RULES_FILE.read_text(encoding="utf-8")
                )


@pytest.mark.parametrize("overlay", SIDECAR_OVERLAYS)
def test_sidecar_is_native_and_shares_its_socket_with_envoy(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    (pdp,) = pdp_pods(rendered[overlay])
    assert pdp.sidecar and pdp.container["restartPolicy"] == "Always"
    init_names = [c["name"] for c in pdp.pod["initContainers"]]
    assert init_names.index(PDP) < init_names.index("envoy"), "the PDP must be SERVING before Envoy starts"
    assert pdp.container_named("envoy")["restartPolicy"] == "Always"
    # Decisions only on the socket; it is where Envoy's cluster and the adapter's constant say.
    (listen,) = pdp.settings.listen
    assert listen.is_unix
    assert str(listen.path) == SOCKET_PATH
    assert pdp.settings.socket_mode == 0o660
    mount = pdp.mount_of(pdp.container, listen.path)
    assert mount["mountPath"] == str(listen.path.parent)
    volume = pdp.volume(mount["name"])
    assert "emptyDir" in volume
    envoy = pdp.container_named("envoy")
    assert pdp.mount_of(envoy, listen.path)["name"] == mount["name"]
    assert not pdp.mount_of(envoy, listen.path).get("readOnly", False), "connect() needs write access"
    # Mode 660: Envoy runs as another user and gets in through the pod's fsGroup, which owns the
    # emptyDir (setgid) and so the socket, and is a supplementary group of every container.
    fs_group = pdp.pod["securityContext"]["fsGroup"]
    assert effective(pdp.pod, pdp.container, "runAsGroup") == fs_group
    assert effective(pdp.pod, envoy, "runAsUser") != effective(pdp.pod, pdp.container, "runAsUser")


def test_snapshot_is_the_policy_configmap_mounted_read_only(
    rendered: dict[str, list[dict[str, Any]]], policy: PolicyRender
) -> None:
    configmap = policy.configmap
    name = configmap["metadata"]["name"]
    assert name == "xtenant-pdp-snapshot", "no hash suffix: updated in place and hot-reloaded, no rollout"
    (key,) = configmap["binaryData"]
    assert "data" not in configmap
    assert base64.b64decode(configmap["binaryData"][key]) == policy.snapshot
    for overlay, docs in rendered.items():
        assert configmap["metadata"]["namespace"] == one(docs, "Namespace")["metadata"]["name"], overlay
        for pdp in pdp_pods(docs):
            path = pdp.settings.snapshot
            assert path is not None and pdp.settings.policy is None
            mount = pdp.mount_of(pdp.container, path)
            assert mount["readOnly"] is True
            assert "subPath" not in mount and "subPathExpr" not in mount, "a subPath mount is never updated"
            assert path == Path(mount["mountPath"]) / key
            source = pdp.volume(mount["name"])["configMap"]
            assert source["name"] == name
            assert "items" not in source and not source.get("optional", False)


def test_envoy_configmap_is_deploy_envoy_yaml_and_matches_the_adapter(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for overlay in SIDECAR_OVERLAYS:
        docs = rendered[overlay]
        (pdp,) = pdp_pods(docs)
        envoy = pdp.container_named("envoy")
        config_path = Path(envoy["args"][envoy["args"].index("--config-path") + 1])
        mount = pdp.mount_of(envoy, config_path)
        assert mount["readOnly"] is True
        source = pdp.volume(mount["name"])["configMap"]["name"]
        assert re.fullmatch(r"xtenant-pdp-envoy-[a-z0-9]{10}", source), "hashed: a new Envoy config rolls the pods"
        text = one(docs, "ConfigMap", source)["data"][config_path.name]
        assert text == ENVOY_YAML.read_text(encoding="utf-8")
        config = yaml.safe_load(text)
        authz = http_filter(config, "envoy.filters.http.ext_authz")
        assert authz["failure_mode_allow"] is False
        assert authz["grpc_service"]["timeout"]
        assert authz["metadata_context_namespaces"] == [pdp.settings.jwt_metadata_namespace]
        assert pdp.settings.jwt_metadata_namespace == JWT_METADATA_NAMESPACE
        pipe = cluster_address(config, authz["grpc_service"]["envoy_grpc"]["cluster_name"])["pipe"]["path"]
        (listen,) = pdp.settings.listen
        assert pipe == str(listen.path)
        jwt = http_filter(config, "envoy.filters.http.jwt_authn")
        assert {p["payload_in_metadata"] for p in jwt["providers"].values()} == {pdp.settings.jwt_payload_key}
        assert pdp.settings.jwt_payload_key == JWT_PAYLOAD_KEY
        routes = protected_routes(config)
        assert routes
        for extensions in routes:
            assert {CTX_TENANT_ID, CTX_APPLICATION_ID} <= set(extensions) <= set(CONTEXT_EXTENSION_KEYS)
        # Envoy's probes hit a route that skips ext_authz; its port is the listener's.
        listener = config["static_resources"]["listeners"][0]["address"]["socket_address"]
        assert envoy["ports"][0]["containerPort"] == listener["port_value"]
        assert envoy["readinessProbe"]["httpGet"]["path"] in unprotected_paths(config)
        # The application the routes go to listens where the cluster says, on loopback only.
        app = pdp.container_named("app")
        for cluster in {route["route"]["cluster"] for route in all_routes(config) if "route" in route}:
            address = cluster_address(config, cluster)["socket_address"]
            assert address["address"] == "127.0.0.1"
            assert str(address["port_value"]) in app["command"] and "127.0.0.1" in app["command"]


def http_filter(config: dict[str, Any], name: str) -> dict[str, Any]:
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    (found,) = [f["typed_config"] for f in manager["http_filters"] if f["name"] == name]
    return found


def all_routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return [route for host in manager["route_config"]["virtual_hosts"] for route in host["routes"]]


def protected_routes(config: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for route in all_routes(config):
        per_route = route.get("typed_per_filter_config", {}).get("envoy.filters.http.ext_authz", {})
        if not per_route.get("disabled"):
            out.append(per_route["check_settings"]["context_extensions"])
    return out


def unprotected_paths(config: dict[str, Any]) -> set[str]:
    return {
        route["match"]["path"]
        for route in all_routes(config)
        if route.get("typed_per_filter_config", {}).get("envoy.filters.http.ext_authz", {}).get("disabled")
    }


def cluster_address(config: dict[str, Any], name: str) -> dict[str, Any]:
    (cluster,) = [c for c in config["static_resources"]["clusters"] if c["name"] == name]
    (endpoint,) = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    address: dict[str, Any] = endpoint["endpoint"]["address"]
    return address


def test_standalone_service_and_disruption_budget(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["standalone"]
    (pdp,) = pdp_pods(docs)
    assert not pdp.sidecar
    (listen,) = pdp.settings.listen
    assert not listen.is_unix
    labels = pdp.workload["spec"]["template"]["metadata"]["labels"]
    service = one(docs, "Service", PDP)
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert pdp.port(port["targetPort"]) == port_of(listen.raw)
    budget = one(docs, "PodDisruptionBudget", PDP)
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdp.workload["spec"]["replicas"] >= 2
    assert budget["spec"]["maxUnavailable"] < pdp.workload["spec"]["replicas"]
    # SIGTERM: keep answering --shutdown-delay while the Service drops the pod, then the grace period.
    assert pdp.settings.shutdown_delay_s >= 3
    grace = pdp.settings.shutdown_delay_s + pdp.settings.grace_period_s
    assert pdp.pod["terminationGracePeriodSeconds"] > grace


# --------------------------------------------------------------------------- overlays: hardening and sizing


def effective(pod: dict[str, Any], container: dict[str, Any], key: str) -> Any:
    return container.get("securityContext", {}).get(key, pod.get("securityContext", {}).get(key))


def test_every_container_is_locked_down(rendered: dict[str, list[dict[str, Any]]]) -> None:
    image_uid = int(image_config().user.partition(":")[0])
    for overlay, docs in rendered.items():
        for pod in pod_specs(docs):
            assert pod["automountServiceAccountToken"] is False
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            assert pod["securityContext"]["runAsNonRoot"] is True
            for container in containers(pod):
                where = f"{overlay}/{container['name']}"
                context = container["securityContext"]
                assert context["allowPrivilegeEscalation"] is False, where
                assert context["readOnlyRootFilesystem"] is True, where
                assert context["capabilities"] == {"drop": ["ALL"]}, where
                assert effective(pod, container, "runAsNonRoot") is True, where
                assert effective(pod, container, "runAsUser") not in (None, 0), where
                assert effective(pod, container, "seccompProfile") in (None, {"type": "RuntimeDefault"}), where
                resources = container["resources"]
                assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}, where
                for kind in ("cpu", "memory"):
                    assert quantity(resources["requests"][kind]) <= quantity(resources["limits"][kind]), where
                if container["name"] == PDP:
                    assert effective(pod, container, "runAsUser") == image_uid


def quantity(text: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "": 1}
    number, unit = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(text)).groups()  # type: ignore[union-attr]
    return float(number) * units[unit]


def test_pdp_resources_are_the_measured_figures_in_the_readme(rendered: dict[str, list[dict[str, Any]]]) -> None:
    text = README.read_text(encoding="utf-8")
    sizing = text[text.index("## Sizing") :]
    for overlay, docs in rendered.items():
        for pdp in pdp_pods(docs):
            resources = pdp.container["resources"]
            # Peak RSS measured during a hot reload of 10,000 partners: 154 MiB.
            assert quantity(resources["requests"]["memory"]) >= 154 * 2**20, overlay
            assert quantity(resources["limits"]["memory"]) >= 1.5 * 154 * 2**20, overlay
            for value in (*resources["requests"].values(), *resources["limits"].values()):
                assert f"`{value}`" in sizing, f"{overlay}: {value} is not in deploy/README.md's Sizing section"


# --------------------------------------------------------------------------- the sidecar's arguments, run


class PolicyVolume(ConfigMapDir):
    """The kubelet's ConfigMap volume, with the key deploy/policy generates."""

    NAME = "policy.xtsnap"


@dataclass
class SidecarRun:
    socket: Path
    socket_mode: int = 0
    serving: bool = False
    answers: list[pdp_pb2.CheckResponse] = field(default_factory=list)
    authz: list[external_auth_pb2.CheckResponse] = field(default_factory=list)
    snapshot_ids: list[str | None] = field(default_factory=list)
    reload_s: float = 0.0
    metrics: list[Any] = field(default_factory=list)
    exit_code: int | None = None
    socket_left: bool = True
    output: str = ""


def _authz_request(extensions: dict[str, str], namespace: str, key: str) -> external_auth_pb2.CheckRequest:
    request = external_auth_pb2.CheckRequest()
    request.attributes.context_extensions.update(extensions)
    token = {
        "tid": FABRIKAM,
        "oid": MEGAN,
        "groups": [PROJECT_TEAM, ALL_STAFF],
        "amr": ["pwd", "mfa"],
        "xtenant_compliant_device": True,
        "xtenant_hybrid_joined_device": True,
    }
    payload = struct_pb2.Struct()
    payload.update({key: token})
    request.attributes.metadata_context.filter_metadata[namespace].CopyFrom(payload)
    return request


@pytest.fixture(scope="module")
def sidecar_run(
    rendered: dict[str, list[dict[str, Any]]], policy: PolicyRender, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SidecarRun]:
    """The sidecar container as the kubelet would run it: the image's ENTRYPOINT with the manifest's
    arguments, the snapshot on a ConfigMap-style volume, the socket directory a fresh folder."""
    docs = rendered["sidecar"]
    (pdp,) = pdp_pods(docs)
    (listen,) = pdp.settings.listen
    assert pdp.settings.snapshot is not None
    config = image_config()
    volume = PolicyVolume(tmp_path_factory.mktemp("cm"), policy.snapshot)
    socket_dir = tmp_path_factory.mktemp("s")  # short: a socket path has at most 107 bytes
    local = localize(
        [*config.entrypoint, *pdp.container["args"]],
        {str(listen.path.parent): socket_dir, str(pdp.settings.snapshot.parent): volume.root},
        tini_path=tini(),
    )
    socket = socket_dir / listen.path.name
    run = SidecarRun(socket=socket)
    envoy_config = yaml.safe_load(
        one(docs, "ConfigMap", pdp.volume("envoy-config")["configMap"]["name"])["data"]["envoy.yaml"]
    )
    with image_process(local.argv, config.env, tmp_path_factory.mktemp("run")) as process:
        health_port = local.ports[port_of(pdp.settings.health_listen)]
        with (
            grpc.insecure_channel(f"127.0.0.1:{health_port}") as health,
            grpc.insecure_channel(f"unix:{socket}") as channel,
        ):
            process.wait_until(lambda: health_status(health) == SERVING, "SERVING on the probe port")
            run.serving = True
            run.socket_mode = socket.stat().st_mode
            stub = decision_stub(channel)
            batch = stub.BatchCheck(pdp_pb2.BatchCheckRequest(requests=questions()), timeout=WAIT)
            run.answers = [*batch.responses, stub.Check(flip_question(), timeout=WAIT)]
            authz = external_auth_pb2_grpc.AuthorizationStub(channel)
            for extensions in protected_routes(envoy_config):
                request = _authz_request(extensions, pdp.settings.jwt_metadata_namespace, pdp.settings.jwt_payload_key)
                run.authz.append(authz.Check(request, timeout=WAIT))
            run.snapshot_ids.append(snapshot_id(channel))
            # A new policy: the kubelet swaps ..data; the server must pick it up by itself.
            started = time.monotonic()
            volume.publish(policy.second)
            wait_until(lambda: snapshot_id(channel) == policy.second_id, what="hot reload of the new snapshot")
            run.reload_s = time.monotonic() - started
            run.snapshot_ids.append(snapshot_id(channel))
            run.metrics = scrape(local.ports[port_of(pdp.settings.metrics_listen)])
        run.exit_code = process.terminate(timeout=pdp.settings.shutdown_delay_s + pdp.settings.grace_period_s + WAIT)
        run.socket_left = os.path.lexists(socket)
        run.output = process.output
    yield run


def test_sidecar_arguments_serve_on_a_group_socket(sidecar_run: SidecarRun) -> None:
    assert sidecar_run.serving
    assert stat.S_ISSOCK(sidecar_run.socket_mode)
    assert stat.S_IMODE(sidecar_run.socket_mode) == 0o660


def test_sidecar_arguments_answer_decisions_and_ext_authz(sidecar_run: SidecarRun) -> None:
    assert len(sidecar_run.answers) == len(questions()) + 1
    assert all(not answer.HasField("error") for answer in sidecar_run.answers)
    assert sidecar_run.answers[-1].decision == pdp_pb2.DECISION_ALLOW
    assert sidecar_run.authz
    for response in sidecar_run.authz:
        # Megan with every claim on the example policy: only the policy may deny, never the wiring.
        if response.status.code != 0:
            body = json.loads(response.denied_response.body)
            assert body["reason"] not in ("REASON_INVALID_REQUEST", "REASON_NO_SNAPSHOT"), body
    assert any(response.status.code == 0 for response in sidecar_run.authz)


def test_sidecar_arguments_hot_reload_a_new_configmap_version(sidecar_run: SidecarRun, policy: PolicyRender) -> None:
    assert sidecar_run.snapshot_ids == [policy.first_id, policy.second_id]
    assert sidecar_run.reload_s < WAIT


def test_sidecar_arguments_stop_cleanly_on_sigterm(sidecar_run: SidecarRun) -> None:
    assert sidecar_run.exit_code == 0, sidecar_run.output
    assert not sidecar_run.socket_left, "the server removes its socket on the way out"
    assert "Traceback" not in sidecar_run.output, sidecar_run.output


# --------------------------------------------------------------------------- PromQL: dashboard and alert rules


def _grafana_free(expr: str) -> str:
    """Grafana's variables replaced by values PromQL accepts."""
    expr = re.sub(r"\$__\w+", "5m", expr)
    return re.sub(r"\$\{?\w+\}?", "x", expr)


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[tuple[str, str, str], ...]


def selectors(expr: str) -> list[Selector]:
    promql_parser = _need("promql_parser")
    try:
        tree = promql_parser.parse(_grafana_free(expr))
    except ValueError as exc:
        raise AssertionError(f"not PromQL: {expr}\n{exc}") from None
    found: list[Selector] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = tuple((m.name, str(m.op).rpartition(".")[2], m.value) for m in node.matchers.matchers)
            name = node.name or next((value for label, _, value in matchers if label == "__name__"), "")
            assert name, f"a selector without a metric name in {expr}"
            found.append(Selector(name, matchers))
        return True

    promql_parser.walk(tree, visit)
    assert found, f"no metric in {expr}"
    return found


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def dashboard_exprs() -> list[str]:
    board = dashboard()
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+),\s*\w+\)", query)
            assert match, query
            exprs.append(match.group(1))
    return exprs


def alert_rules() -> list[dict[str, Any]]:
    spec = yaml.safe_load(PROMETHEUS_RULE.read_text(encoding="utf-8"))["spec"]
    return [rule for group in spec["groups"] for rule in group["rules"]]


def exported(families: list[Any]) -> dict[str, dict[str, set[str]]]:
    """Sample name -> label name -> values seen, from a scraped /metrics page."""
    out: dict[str, dict[str, set[str]]] = {}
    for family in families:
        for sample in family.samples:
            labels = out.setdefault(sample.name, {})
            for key, value in sample.labels.items():
                labels.setdefault(key, set()).add(value)
    return out


def unknown_references(exprs: list[str], page: dict[str, dict[str, set[str]]]) -> list[str]:
    problems = []
    for expr in exprs:
        for selector in selectors(expr):
            if selector.name not in page:
                problems.append(f"{selector.name} (in `{expr}`) is not exported")
                continue
            labels = page[selector.name]
            for label, op, value in selector.matchers:
                if label == "__name__" or label in TARGET_LABELS:
                    continue
                if label not in labels:
                    problems.append(f"{selector.name} has no label {label} (in `{expr}`)")
                elif op == "Equal" and value not in labels[label]:
                    problems.append(f'{selector.name}{{{label}="{value}"}} never occurs (in `{expr}`)')
                elif op == "Re" and re.fullmatch(r"[\w.|-]+", value):
                    missing = [v for v in value.split("|") if v not in labels[label]]
                    if missing:
                        problems.append(f"{selector.name}{{{label}}} never is {missing} (in `{expr}`)")
    return problems


def test_dashboard_uses_only_exported_metrics(sidecar_run: SidecarRun) -> None:
    page = exported(sidecar_run.metrics)
    assert "xtenant_pdp_decisions_total" in page and "grpc_server_handling_seconds_bucket" in page
    assert unknown_references(dashboard_exprs(), page) == []


def test_alert_rules_use_only_exported_metrics(sidecar_run: SidecarRun) -> None:
    assert unknown_references([rule["expr"] for rule in alert_rules()], exported(sidecar_run.metrics)) == []


def test_metric_check_is_not_a_no_op(sidecar_run: SidecarRun) -> None:
    """A misspelt metric, label or label value is caught (summary and counter suffixes included)."""
    page = exported(sidecar_run.metrics)
    bad = [
        "rate(xtenant_pdp_decision_total[5m])",
        "xtenant_pdp_decision_duration_seconds_total",
        'rate(grpc_server_handled_total{grpc_code="Internal"}[5m])',
        'rate(xtenant_pdp_cache_requests_total{outcome="hit"}[5m])',
        "up",
    ]
    assert len(unknown_references(bad, page)) == len(bad)


def test_alert_rules_cover_snapshot_errors_and_latency() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    used = {alert: {s.name for s in selectors(rule["expr"])} for alert, rule in rules.items()}

    def alerts_on(metric: str) -> list[str]:
        return [alert for alert, names in used.items() if metric in names]

    assert alerts_on("xtenant_pdp_snapshot_load_failures_total")
    assert alerts_on("xtenant_pdp_snapshot_stale")
    assert [a for a in alerts_on("xtenant_pdp_decisions_total") if 'decision="error"' in rules[a]["expr"]]
    assert [a for a in alerts_on("grpc_server_handled_total") if "grpc_code" in rules[a]["expr"]]
    assert [
        a for a in alerts_on("grpc_server_handling_seconds_bucket") if "histogram_quantile(0.99" in rules[a]["expr"]
    ]
    for alert, rule in rules.items():
        assert re.fullmatch(r"XtenantPdp[A-Z]\w+", alert)
        assert rule["labels"]["severity"] in ("warning", "critical"), alert
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], alert


def test_plain_rule_file_is_the_prometheusrule() -> None:
    spec = yaml.safe_load(PROMETHEUS_RULE.read_text(encoding="utf-8"))["spec"]
    assert yaml.safe_load(RULES_FILE.read_text(encoding="utf-8")) == spec


def test_dashboard_shows_decisions_latency_cache_and_snapshot() -> None:
    board = dashboard()
    assert board["uid"] and board["title"]
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    squashed = [re.sub(r"\s+", "", expr) for expr in dashboard_exprs()]

    def some(*parts: str) -> bool:
        return any(all(part in expr for part in parts) for expr in squashed)

    assert some("by(question,decision)", "xtenant_pdp_decisions_total")
    for quantile in ("0.5", "0.9", "0.99"):
        assert some(f"histogram_quantile({quantile},", "xtenant_pdp_decision_duration_seconds_bucket")
    assert some("histogram_quantile(0.99,", "grpc_server_handling_seconds_bucket")
    assert some("xtenant_pdp_cache_requests_total{", 'result="hit"', ")/sum(")
    assert some("time()-xtenant_pdp_snapshot_loaded_timestamp_seconds")
    assert some("changes(xtenant_pdp_snapshot_loaded_timestamp_seconds")
    assert some("xtenant_pdp_snapshot_load_failures_total")
    assert some("xtenant_pdp_snapshot_info")
    names = {v["name"] for v in board["templating"]["list"]}
    assert {"datasource", "namespace", "pod"} <= names


def test_dashboard_configmap_is_the_json_file(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for overlay, docs in rendered.items():
        configmap = one(docs, "ConfigMap", "xtenant-pdp-grafana-dashboard")
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert json.loads(configmap["data"][DASHBOARD.name]) == dashboard(), overlay


# --------------------------------------------------------------------------- the walkthrough


def test_readme_walks_from_a_graph_export_to_a_scraped_sidecar() -> None:
    text = README.read_text(encoding="utf-8")
    steps = [
        "docker build",
        "docker push",
        "/policies/crossTenantAccessPolicy/partners",
        "xtenant-pdp validate",
        "xtenant-pdp compile",
        "-o deploy/policy/policy.xtsnap",
        "kubectl apply --server-side -k deploy/policy",
        "kubectl apply --server-side -k deploy/overlays/sidecar",
        "kubectl apply --server-side -k deploy/overlays/standalone",
        "rollout status deployment/example-app",
        "wait --for=condition=Ready",
        "grpc.health.v1.Health",
        "/metrics",
        "xtenant-pdp-grafana-dashboard",
        "GetSnapshotInfo",
        "disableNameSuffixHash",
        "binaryData",
        "components/prometheus-annotations",
    ]
    missing = [step for step in steps if step not in text]
    assert missing == []
    # The walkthrough's names are the manifests' names.
    for name in ("xtenant-pdp-snapshot", "policy.xtsnap", SOCKET_PATH, "9191", "9464", "example-app"):
        assert name in text, name
