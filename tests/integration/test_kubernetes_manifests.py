"""The Kubernetes manifests (deploy/kubernetes): valid objects of the Kubernetes API, and numbers that
agree with the settings the app reads from them.

Every manifest is checked against the schemas of Kubernetes 1.34 by ``kubernetes-validate`` (which
ships them: no cluster, no network) in strict mode, so that a misspelt or misplaced field fails
too. Then the ConfigMap and a Secret of the right shape are given to the app's own configuration
loader, and the Deployment's ports, probes, stop sequence, filesystem and secret files are compared
with what it returns.
"""
from __future__ import annotations

import copy
import hashlib
import re
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography.fernet import Fernet

from config import ConfigError, load_config, load_server_settings
from config.settings import ServerSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = MANIFESTS / "kustomization.yaml"
# The oldest Kubernetes that has everything used here as stable (the preStop sleep action is GA in 1.34).
KUBERNETES_VERSION = "1.34"
NAME = "passport-bff"
# After gunicorn's graceful timeout the master still reaps its workers and exits.
MIN_STOP_MARGIN_SECONDS = 3


def documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of one file, empty ones left out."""
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def manifest_files() -> list[Path]:
    """Every Kubernetes object file of deploy/kubernetes (the kustomization is kustomize's, not the API's)."""
    return sorted(path for path in MANIFESTS.glob("*.y*ml") if path != KUSTOMIZATION)


def manifests() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in manifest_files():
        for doc in documents(path):
            yield path, doc


def the(kind: str) -> dict[str, Any]:
    """The one object of ``kind``."""
    found = [doc for _, doc in manifests() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels and matchExpressions) selects ``labels``."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        matched = {"In": key in labels and labels[key] in values,
                   "NotIn": key not in labels or labels[key] not in values,
                   "Exists": key in labels, "DoesNotExist": key not in labels}[operator]
        if not matched:
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))


def mebibytes(quantity: str) -> float:
    """A Kubernetes memory quantity (``512Mi``, ``1Gi``, ``64M``) in MiB."""
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", quantity)
    assert match, f"not a quantity: {quantity}"
    number, unit = match.groups()
    factors = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "k": 1000 / 2**20, "M": 10**6 / 2**20, "G": 10**9 / 2**20,
               "": 1 / 2**20}
    return float(number) * factors[unit]


def dockerfile_uid() -> int:
    """The uid the repo's Dockerfile gives the passport-bff user."""
    match = re.search(r"^RUN useradd .*--uid (\d+)\b.* passport-bff$", (ROOT / "Dockerfile").read_text(), re.M)
    assert match, "Dockerfile: no `useradd ... --uid N ... passport-bff` line"
    return int(match.group(1))


# --- The objects and the app's view of them --------------------------------------------------------

@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    return the("Deployment")


@pytest.fixture(scope="module")
def pod(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"]["labels"]


@pytest.fixture(scope="module")
def container(pod: dict[str, Any]) -> dict[str, Any]:
    containers = pod["containers"]
    assert [c["name"] for c in containers] == [NAME]
    return containers[0]


@pytest.fixture(scope="module")
def http_port(container: dict[str, Any]) -> dict[str, Any]:
    ports = [port for port in container["ports"] if port["name"] == "http"]
    assert len(ports) == 1, "the container must have one port named http"
    return ports[0]


@pytest.fixture(scope="module")
def secret_volume(pod: dict[str, Any], container: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The mount path of the Secret's volume and its secret source."""
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    found = [(mount["mountPath"], volumes[mount["name"]]["secret"]) for mount in container["volumeMounts"]
             if "secret" in volumes[mount["name"]]]
    assert len(found) == 1, "expected one mounted Secret volume"
    return found[0]


@pytest.fixture(scope="module")
def secret_files(container: dict[str, Any], secret_volume: tuple[str, dict[str, Any]]) -> dict[str, str]:
    """Each ``*_FILE`` variable of the container and the Secret key its file holds."""
    mount_path, source = secret_volume
    key_of_path = {item["path"]: item["key"] for item in source.get("items") or []}
    files = {}
    for variable in container.get("env") or []:
        if not variable["name"].endswith("_FILE"):
            continue
        path = variable["value"]
        assert path.startswith(mount_path.rstrip("/") + "/"), f"{variable['name']}={path} is outside {mount_path}"
        relative = path[len(mount_path.rstrip("/")) + 1:]
        # Without items, every key of the Secret is a file named after the key.
        key = key_of_path.get(relative) if source.get("items") else relative
        assert key, f"{variable['name']}={path}: no item of the Secret volume is mounted there"
        files[variable["name"]] = key
    return files


def made_up_secret_values() -> dict[str, str]:
    """Secret values of the right format for production, made up for this run (no development key)."""
    caller_key = secrets.token_urlsafe(32)
    return {
        "passport-client-id": "k8s-test-client",
        "passport-client-secret": secrets.token_urlsafe(24),
        "redis-url": "rediss://:test-password@redis.test.invalid:6379/0",
        "auth-api-keys": f"gateway:{hashlib.sha256(caller_key.encode()).hexdigest()}:customers.read+customers.purge",
        "cache-encryption-keys": Fernet.generate_key().decode(),
    }


def pod_environment(container: dict[str, Any], secret_files: Mapping[str, str], values: Mapping[str, str],
                    directory: Path) -> dict[str, str]:
    """The pod's environment as the app sees it: the ConfigMap (envFrom), then the container's env,
    with each ``*_FILE`` moved to a file of ``directory`` that holds the Secret key's value."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        config_map = the("ConfigMap")
        assert source["configMapRef"]["name"] == config_map["metadata"]["name"]
        env.update({name: str(value) for name, value in config_map["data"].items()})  # strings: checked below
    for variable in container.get("env") or []:
        assert "valueFrom" not in variable, f"{variable['name']}: only literal values are modelled here"
        env[variable["name"]] = variable["value"]
    for variable, key in secret_files.items():
        path = directory / key
        path.write_text(values[key] + "\n", encoding="utf-8")
        env[variable] = str(path)
    return env


@pytest.fixture(scope="module")
def environment(container: dict[str, Any], secret_files: dict[str, str],
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return pod_environment(container, secret_files, made_up_secret_values(), tmp_path_factory.mktemp("secrets"))


@pytest.fixture(scope="module")
def settings(environment: dict[str, str]) -> Settings:
    return load_config(environment)


@pytest.fixture(scope="module")
def server(environment: dict[str, str]) -> ServerSettings:
    return load_server_settings(environment)


# --- Valid Kubernetes objects ------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "doc"), list(manifests()),
                         ids=[f"{path.name}:{doc.get('kind')}" for path, doc in manifests()])
def test_every_manifest_is_a_valid_object_of_kubernetes_1_34_with_no_unknown_field(path: Path, doc: dict) -> None:
    assert kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True) == KUBERNETES_VERSION


@pytest.mark.parametrize("breakage", ["replicas as a word", "a misspelt probe field", "a field of no object"])
def test_the_validator_really_rejects_a_broken_deployment(deployment: dict[str, Any], breakage: str) -> None:
    broken = copy.deepcopy(deployment)
    container = broken["spec"]["template"]["spec"]["containers"][0]
    if breakage == "replicas as a word":
        broken["spec"]["replicas"] = "three"
    elif breakage == "a misspelt probe field":
        container["readinessProbe"]["periodSecond"] = 5
    else:
        container["terminationGracePeriodSeconds"] = 40  # a pod field, put on the container
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_exactly_the_manifest_files_and_leaves_the_namespace_open() -> None:
    kustomization = documents(KUSTOMIZATION)
    assert len(kustomization) == 1 and kustomization[0]["kind"] == "Kustomization"
    listed = kustomization[0]["resources"]
    assert len(listed) == len(set(listed)), "a file is listed twice"
    assert all((MANIFESTS / name).is_file() for name in listed), "a listed file does not exist"
    assert sorted(listed) == sorted(path.name for path in manifest_files()), "a manifest file is not listed"
    assert "namespace" not in kustomization[0]
    assert kustomization[0].get("labels") or kustomization[0].get("commonLabels")
    assert all("namespace" not in doc["metadata"] for _, doc in manifests())


def test_every_file_starts_with_a_comment_saying_why() -> None:
    for path in [KUSTOMIZATION, *manifest_files()]:
        assert path.read_text(encoding="utf-8").startswith("# "), path.name


# --- What the app makes of the ConfigMap and the Secret ---------------------------------------------

def test_the_configmap_holds_only_strings() -> None:
    data = the("ConfigMap")["data"]
    assert all(isinstance(value, str) for value in data.values())


def test_the_configmap_and_the_secret_files_make_a_valid_production_config(settings: Settings,
                                                                           server: ServerSettings) -> None:
    assert settings.app_env == "production"
    assert settings.redis.enabled and settings.auth.api_keys and settings.cache.encryption_keys
    assert settings.log.format == "json"
    # Strict readiness would take the whole fleet out at once on a shared Redis or Passport failure.
    assert settings.http.readiness_strict_checks == frozenset()
    assert server.worker_class == "gevent"


def test_the_secret_keys_are_exactly_the_ones_the_pod_reads_as_files(secret_files: dict[str, str]) -> None:
    secret = the("Secret")
    assert secret["type"] == "Opaque"
    assert sorted(secret_files.values()) == sorted(secret["stringData"])
    assert set(secret_files) == {"PASSPORT_CLIENT_ID_FILE", "PASSPORT_CLIENT_SECRET_FILE", "REDIS_URL_FILE",
                                 "AUTH_API_KEYS_FILE", "CACHE_ENCRYPTION_KEYS_FILE"}


def test_the_secret_placeholders_cannot_start_a_production_pod(container: dict[str, Any],
                                                               secret_files: dict[str, str],
                                                               tmp_path: Path) -> None:
    placeholders = the("Secret")["stringData"]
    with pytest.raises(ConfigError):
        load_config(pod_environment(container, secret_files, placeholders, tmp_path))


# --- The Deployment agrees with the settings --------------------------------------------------------

def test_one_port_everywhere(http_port: dict[str, Any], settings: Settings, server: ServerSettings,
                             deployment: dict[str, Any]) -> None:
    """The container port is the app's PORT and the one gunicorn binds."""
    assert http_port["containerPort"] == settings.http.port
    assert server.bind.endswith(f":{settings.http.port}")
    annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    if "prometheus.io/port" in annotations:
        assert annotations["prometheus.io/port"] == str(settings.http.port)


def test_probes_ask_healthz_for_liveness_and_readyz_for_readiness_on_the_http_port(
        container: dict[str, Any]) -> None:
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}, probe


def test_the_grace_period_covers_the_prestop_sleep_the_drain_and_the_graceful_stop(
        pod: dict[str, Any], container: dict[str, Any], server: ServerSettings) -> None:
    pre_stop = container["lifecycle"]["preStop"]
    assert list(pre_stop) == ["sleep"], "the preStop hook must be kubelet's sleep (no shell in the image)"
    stop_sequence = pre_stop["sleep"]["seconds"] + server.drain_seconds + server.graceful_timeout_seconds
    assert pod["terminationGracePeriodSeconds"] >= stop_sequence + MIN_STOP_MARGIN_SECONDS


def test_the_drain_lasts_until_readiness_has_noticed_it(container: dict[str, Any], server: ServerSettings) -> None:
    """While draining /readyz answers 503; the pod leaves the pool after periodSeconds x failureThreshold."""
    readiness = container["readinessProbe"]
    assert server.drain_seconds >= readiness["periodSeconds"] * readiness.get("failureThreshold", 3)


def test_liveness_leaves_gunicorn_time_to_restart_a_stuck_worker_itself(container: dict[str, Any],
                                                                       server: ServerSettings) -> None:
    """gunicorn restarts a worker silent for GUNICORN_TIMEOUT; liveness restarts the pod only after that."""
    liveness = container["livenessProbe"]
    assert liveness["periodSeconds"] * liveness.get("failureThreshold", 3) > server.timeout_seconds


def test_the_root_filesystem_is_read_only_and_the_app_writes_to_two_memory_emptydirs(
        pod: dict[str, Any], container: dict[str, Any], environment: dict[str, str]) -> None:
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    empty_dirs = {volume["name"]: volume["emptyDir"] for volume in pod["volumes"] if "emptyDir" in volume}
    writable = {mount["mountPath"]: empty_dirs[mount["name"]] for mount in container["volumeMounts"]
                if mount["name"] in empty_dirs and not mount.get("readOnly")}
    assert set(writable) == {environment["PROMETHEUS_MULTIPROC_DIR"], "/tmp"}
    for path, empty_dir in writable.items():
        assert empty_dir.get("medium") == "Memory" and empty_dir.get("sizeLimit"), path
    # Memory-backed emptyDirs count against the container's memory limit.
    in_memory = sum(mebibytes(empty_dir["sizeLimit"]) for empty_dir in writable.values())
    limits, requests = container["resources"]["limits"], container["resources"]["requests"]
    assert mebibytes(limits["memory"]) >= mebibytes(requests["memory"]) + in_memory


def test_the_pod_runs_as_the_dockerfile_user_with_no_privileges(pod: dict[str, Any],
                                                                container: dict[str, Any]) -> None:
    uid = dockerfile_uid()
    pod_context, context = pod["securityContext"], container["securityContext"]
    assert pod_context["runAsNonRoot"] is True and pod_context["runAsUser"] == uid
    assert context.get("runAsUser", uid) == uid and context.get("runAsNonRoot", True) is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"] and not context["capabilities"].get("add")
    assert context["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    assert pod.get("hostNetwork") is not True and context.get("privileged") is not True


def test_the_secret_files_are_mounted_read_only_and_readable_by_the_pod_user(
        pod: dict[str, Any], container: dict[str, Any], secret_volume: tuple[str, dict[str, Any]]) -> None:
    mount_path, source = secret_volume
    assert source["secretName"] == the("Secret")["metadata"]["name"]
    assert [m.get("readOnly") for m in container["volumeMounts"] if m["mountPath"] == mount_path] == [True]
    mode = source.get("defaultMode", 0o644)
    # Root owns the files; the pod's user reads them through fsGroup, or they are world-readable.
    pod_context = pod["securityContext"]
    group_readable = bool(mode & 0o040) and pod_context.get("fsGroup") == pod_context["runAsGroup"]
    assert group_readable or mode & 0o004
    assert not mode & 0o222, "secret files must not be writable"


def test_the_pod_takes_its_settings_from_the_configmap(container: dict[str, Any], pod: dict[str, Any]) -> None:
    assert [source["configMapRef"]["name"] for source in container["envFrom"]] == ["passport-bff-config"]
    assert pod.get("enableServiceLinks") is False, "Service links would add variables the app did not ask for"


def test_rollouts_start_a_new_pod_before_stopping_an_old_one(deployment: dict[str, Any]) -> None:
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert selects(spec["selector"], spec["template"]["metadata"]["labels"])


def test_pods_spread_over_zones_and_nodes(pod: dict[str, Any], pod_labels: dict[str, str]) -> None:
    constraints = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
    assert set(constraints) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    assert all(selects(c["labelSelector"], pod_labels) for c in constraints.values())


# --- The other objects find the Deployment ----------------------------------------------------------

def test_the_service_sends_to_the_http_port_of_these_pods(pod_labels: dict[str, str],
                                                          http_port: dict[str, Any]) -> None:
    spec = the("Service")["spec"]
    assert spec["type"] == "ClusterIP"
    assert selects({"matchLabels": spec["selector"]}, pod_labels)
    assert [port["targetPort"] for port in spec["ports"]] == [http_port["name"]]


def test_the_disruption_budget_covers_these_pods_and_lets_one_go_at_the_minimum(
        pod_labels: dict[str, str]) -> None:
    spec = the("PodDisruptionBudget")["spec"]
    assert selects(spec["selector"], pod_labels)
    min_replicas = the("HorizontalPodAutoscaler")["spec"]["minReplicas"]
    if "maxUnavailable" in spec:
        assert isinstance(spec["maxUnavailable"], int) and spec["maxUnavailable"] >= 1
    else:
        assert isinstance(spec["minAvailable"], int) and min_replicas - spec["minAvailable"] >= 1


def test_the_autoscaler_scales_this_deployment_around_its_replica_count(deployment: dict[str, Any]) -> None:
    spec = the("HorizontalPodAutoscaler")["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": deployment["metadata"]["name"]}
    assert spec["minReplicas"] <= deployment["spec"]["replicas"] <= spec["maxReplicas"]
    assert [metric["resource"]["name"] for metric in spec["metrics"]] == ["cpu"]
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] > 0
    # Utilization is measured against the CPU request: there must be one.
    assert deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]


def test_the_network_policy_admits_only_the_http_port_and_the_needed_egress(
        pod_labels: dict[str, str], http_port: dict[str, Any]) -> None:
    spec = the("NetworkPolicy")["spec"]
    assert selects(spec["podSelector"], pod_labels)
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    for rule in spec["ingress"]:
        assert rule["from"], "an ingress rule without peers admits everyone"
        assert [port["port"] for port in rule["ports"]] in ([http_port["containerPort"]], [http_port["name"]])
    egress = {(port.get("protocol", "TCP"), port["port"]) for rule in spec["egress"] for port in rule["ports"]}
    assert {("UDP", 53), ("TCP", 53), ("TCP", 6379), ("TCP", 26379), ("TCP", 443)} <= egress
