"""The kustomize base under manifests/ that runs the operator in a cluster.

Rendering it (`kubectl kustomize`) needs kubectl and is left to the integration tests; these
read the YAML files as they are.
"""

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from lightship import render
from lightship.api import ContainerServiceSpec
from lightship.settings import ENV_PREFIX, Settings, load_settings, published_probe_image

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
CRDS = ROOT / "crds"


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    """Every object of the base (not samples/, not argocd/), by kind: one of each."""
    found = [obj for path in sorted(MANIFESTS.glob("*.yaml")) for obj in load(path)]
    by_kind = {obj["kind"]: obj for obj in found}
    assert len(by_kind) == len(found), "one object of each kind is expected"
    return by_kind


@pytest.fixture(scope="module")
def pod(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = objects["Deployment"]["spec"]["template"]["spec"]
    return spec


@pytest.fixture(scope="module")
def container(pod: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod["containers"]
    assert only["name"] == "operator"
    assert isinstance(only, dict)
    return only


def test_kustomization_lists_every_file() -> None:
    (kustomization,) = load(MANIFESTS / "kustomization.yaml")
    files = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files | {"../crds"}
    assert kustomization["namespace"] == "lightship-system"


def test_crds_kustomization_lists_every_crd() -> None:
    (kustomization,) = load(CRDS / "kustomization.yaml")
    files = {p.name for p in CRDS.glob("*.yaml")} - {"kustomization.yaml"}
    assert kustomization["resources"] == ["lightship.dev_containerservicedeployments.yaml"]
    assert set(kustomization["resources"]) == files


def test_two_replicas_elect_a_leader_on_a_lease_of_their_namespace(
    objects: dict[str, dict[str, Any]], container: dict[str, Any]
) -> None:
    assert objects["Deployment"]["spec"]["replicas"] == 2
    env = {var["name"]: var for var in container["env"]}
    assert env["LIGHTSHIP_LEADER_ELECTION"]["value"] == "true"
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    # The Lease verbs, in the operator's namespace only (a Role, not the ClusterRole).
    rules = objects["Role"]["rules"]
    assert {(tuple(r["verbs"]), tuple(r.get("resourceNames", []))) for r in rules} == {
        (("create",), ()),
        (("get", "update"), ("lightship-operator",)),
    }
    assert all(r["resources"] == ["leases"] for r in rules)
    assert objects["RoleBinding"]["roleRef"]["name"] == objects["Role"]["metadata"]["name"]
    assert not any("leases" in rule["resources"] for rule in objects["ClusterRole"]["rules"])


def test_metrics_are_served_and_selected(
    objects: dict[str, dict[str, Any]], container: dict[str, Any]
) -> None:
    env = {var["name"]: var.get("value") for var in container["env"]}
    port = int(env["LIGHTSHIP_METRICS_ADDRESS"].rpartition(":")[2])
    assert {"name": "metrics", "containerPort": port} in container["ports"]
    service = objects["Service"]
    assert service["spec"]["ports"] == [{"name": "metrics", "port": port, "targetPort": "metrics"}]
    labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_pod_is_locked_down(pod: dict[str, Any], container: dict[str, Any]) -> None:
    # Container settings override the pod's: check what applies to the container.
    effective = {**pod["securityContext"], **container["securityContext"]}
    assert effective["runAsNonRoot"] is True
    assert effective["runAsUser"] == 10001
    assert effective["readOnlyRootFilesystem"] is True
    assert effective["allowPrivilegeEscalation"] is False
    assert effective["capabilities"] == {"drop": ["ALL"]}
    assert effective["seccompProfile"] == {"type": "RuntimeDefault"}


def test_read_only_root_keeps_a_writable_tmp(
    pod: dict[str, Any], container: dict[str, Any]
) -> None:
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == "/tmp"
    (volume,) = (v for v in pod["volumes"] if v["name"] == mount["name"])
    assert "emptyDir" in volume


def test_operator_uses_its_service_account(
    objects: dict[str, dict[str, Any]], pod: dict[str, Any]
) -> None:
    account = objects["ServiceAccount"]["metadata"]["name"]
    assert pod["serviceAccountName"] == account
    assert pod["automountServiceAccountToken"] is True
    binding = objects["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == objects["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": "lightship-system"}
    ]


def test_role_grants_no_wildcards(objects: dict[str, dict[str, Any]]) -> None:
    for rule in objects["ClusterRole"]["rules"]:
        for field in ("apiGroups", "resources", "verbs"):
            assert rule[field], rule
            assert "*" not in rule[field], rule


def mebibytes(quantity: str) -> int:
    """A memory quantity in Mi or Gi, in MiB."""
    number, unit = quantity[:-2], quantity[-2:]
    return int(number) * {"Mi": 1, "Gi": 1024}[unit]


# The operator's peak RSS with 1,000 services, from `make bench` (README, Benchmarks).
PEAK_MIB_AT_1000_SERVICES = 248


def test_resources_and_liveness(container: dict[str, Any]) -> None:
    requests, limits = container["resources"]["requests"], container["resources"]["limits"]
    assert (requests["cpu"], limits["cpu"]) == ("100m", "1")
    # Scheduled where the measured peak fits, and killed only past twice that.
    assert mebibytes(requests["memory"]) >= PEAK_MIB_AT_1000_SERVICES
    assert mebibytes(limits["memory"]) >= 2 * PEAK_MIB_AT_1000_SERVICES
    # The probe asks the endpoint that `lightship run --liveness` serves (the image's ENTRYPOINT).
    assert "command" not in container
    assert container["args"] == ["--liveness=http://0.0.0.0:8080/healthz"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}


def test_environment_is_valid_settings(
    container: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # pydantic-settings ignores unknown variables: a misspelt name would silently do nothing.
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    settings = [var for var in container["env"] if var["name"].startswith(ENV_PREFIX)]
    assert {var["name"] for var in settings} <= known
    for var in settings:
        monkeypatch.setenv(var["name"], var["value"])
    load_settings()


def test_image_matches_the_project_and_dockerfile(container: dict[str, Any]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert container["image"] == f"ghcr.io/lightship-dev/lightship:{version}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 10001(:10001)?$", dockerfile, re.MULTILINE)
    assert 'ENTRYPOINT ["lightship", "run"]' in dockerfile


def test_probe_image_is_the_projects_prober_of_this_version(container: dict[str, Any]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert published_probe_image() == f"ghcr.io/lightship-dev/prober:{version}"
    env = {var["name"]: var.get("value") for var in container["env"]}
    assert env["LIGHTSHIP_PROBE_IMAGE"] == published_probe_image()
    # The image's user is the one the pods run the prober as.
    spec = ContainerServiceSpec.model_validate(
        {
            "containers": [
                {"name": "web", "image": "nginx", "ports": [{"port": 80, "protocol": "HTTP"}]}
            ],
            "publicEndpoint": {"containerName": "web", "containerPort": 80},
        }
    )
    pod = render.render_pod("shop", "uid", spec, 1, 0, Settings(health_check="exact"))
    (prober,) = pod["spec"]["initContainers"]
    user = prober["securityContext"]["runAsUser"]
    dockerfile = (ROOT / "hack" / "prober" / "Dockerfile").read_text()
    assert re.search(rf"^USER {user}:{user}$", dockerfile, re.MULTILINE)
    assert 'ENTRYPOINT ["/prober"]' in dockerfile
