"""What a user installs, generated from manifests/ by hack/dist.sh (`make dist`): dist/install.yaml
and the Helm chart charts/lightship/. Each must be what the script generates now; the chart
must pass `helm lint`, render the objects of install.yaml, turn its values into settings the
operator accepts (and refuse bad ones, naming them), and install on the local cluster, where
its pods go Ready and the operator, running as the chart's ServiceAccount with the chart's
settings, rolls a service out. helm is built from hack/helm/go.mod (hack/helm/build.sh).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from lightship.settings import ENV_PREFIX, Settings, load_settings
from tests.integration.checks import operator_failures
from tests.integration.support import (
    ROOT,
    Cluster,
    Operator,
    Services,
    create_namespace,
    service_account_kubeconfig,
    shop,
    wait_for,
)

CHART = Path("charts") / "lightship"
INSTALL_YAML = Path("dist") / "install.yaml"


@dataclass(frozen=True)
class Helm:
    binary: Path
    home: Path

    def __call__(
        self, *args: str, kubeconfig: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        # Its own config, cache and data folders: nothing of the user's helm is read or written.
        homes = {f"HELM_{kind}_HOME": str(self.home / kind) for kind in ("CONFIG", "CACHE", "DATA")}
        cluster = ["--kubeconfig", str(kubeconfig)] if kubeconfig else []
        result = subprocess.run(
            [str(self.binary), *cluster, *args],
            env={**os.environ, **homes},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result

    def template(self, *values: str) -> dict[tuple[str, str], dict[str, Any]]:
        """The chart's objects by (kind, name), in the namespace lightship-system."""
        rendered = self(
            "template", "lightship", str(ROOT / CHART), "-n", "lightship-system", *values
        ).stdout
        return by_kind_and_name(yaml.safe_load_all(rendered))


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    bin_dir = subprocess.run(
        [str(ROOT / "hack" / "helm" / "build.sh")],
        check=True,
        capture_output=True,
        text=True,
        timeout=3600,
    ).stdout.strip()
    return Helm(Path(bin_dir) / "helm", tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What hack/dist.sh generates now, in a folder of its own."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [str(ROOT / "hack" / "dist.sh"), str(out)],
        env={**os.environ, "DIST_PYTHON": sys.executable},
        check=True,
        timeout=1800,
    )
    return out


def files_under(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): path.read_text()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def by_kind_and_name(documents: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in documents if d}


def container_of(objects: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    deployment = objects["Deployment", "lightship-operator"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def settings_of(env: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings the operator reads from this environment (and nothing else)."""
    for name in [name for name in os.environ if name.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for var in env:
        if var["name"].startswith(ENV_PREFIX):
            monkeypatch.setenv(var["name"], var["value"])
    return load_settings()


def test_install_yaml_is_what_make_dist_generates(generated: Path) -> None:
    current = (ROOT / INSTALL_YAML).read_text()
    assert current == (generated / INSTALL_YAML).read_text(), f"{INSTALL_YAML}: run make dist"


def test_chart_is_what_make_dist_generates(generated: Path) -> None:
    current, fresh = files_under(ROOT / CHART), files_under(generated / CHART)
    stale = sorted(
        path for path in current.keys() | fresh.keys() if current.get(path) != fresh.get(path)
    )
    assert not stale, f"stale in {CHART} (run make dist): {', '.join(stale)}"


def test_helm_lint_accepts_the_chart(helm: Helm) -> None:
    linted = helm("lint", "--strict", str(ROOT / CHART))
    assert "1 chart(s) linted, 0 chart(s) failed" in linted.stdout


def test_defaults_render_the_objects_of_install_yaml(
    helm: Helm, monkeypatch: pytest.MonkeyPatch
) -> None:
    chart = helm.template("--include-crds")
    install = by_kind_and_name(yaml.safe_load_all((ROOT / INSTALL_YAML).read_text()))
    # The release's namespace is made by `helm install --create-namespace` (or beforehand);
    # cluster-wide RBAC is named after it, so that two releases do not share it.
    del install["Namespace", "lightship-system"]
    for kind in ("ClusterRole", "ClusterRoleBinding"):
        obj = install.pop((kind, "lightship-operator"))
        obj["metadata"]["name"] = "lightship-operator-lightship-system"
        install[kind, "lightship-operator-lightship-system"] = obj
    install["ClusterRoleBinding", "lightship-operator-lightship-system"]["roleRef"]["name"] = (
        "lightship-operator-lightship-system"
    )
    # Settings the operator reads the same, whether a variable says the default or is unset.
    chart_env, install_env = container_of(chart).pop("env"), container_of(install).pop("env")
    assert settings_of(chart_env, monkeypatch) == settings_of(install_env, monkeypatch)
    chart_others, install_others = (
        [var for var in env if not var["name"].startswith(ENV_PREFIX)]
        for env in (chart_env, install_env)
    )
    assert chart_others == install_others
    assert chart == install


def test_values_set_the_settings_and_objects(helm: Helm, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = helm.template(
        *("--set", "replicas=1,settings.leaderElection=false,settings.metricsAddress="),
        *("--set", "settings.namespaces={team-a,team-b},settings.ingressClass=nginx"),
        *("--set-json", 'settings.ingressAnnotations={"a.example/x": "1 \\"2\\""}'),
        *("--set", "image.repository=registry.example/lightship,image.tag=0.2.0"),
        *("--set", "resources.limits.memory=1Gi,settings.activationTimeoutSeconds=30"),
    )
    # One replica, no Lease to hold, no metrics to serve: no Role, RoleBinding or Service.
    assert {kind for kind, _ in objects} == {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
    }
    assert objects["Deployment", "lightship-operator"]["spec"]["replicas"] == 1
    container = container_of(objects)
    assert container["image"] == "registry.example/lightship:0.2.0"
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert [port["name"] for port in container["ports"]] == ["health"]
    settings = settings_of(container["env"], monkeypatch)
    assert settings.namespaces == ["team-a", "team-b"]
    assert settings.ingress_class == "nginx"
    assert settings.ingress_annotations == {"a.example/x": '1 "2"'}
    assert settings.activation_timeout_seconds == 30
    assert settings.leader_election is False
    assert settings.metrics_address is None


def test_metrics_port_follows_the_metrics_address(helm: Helm) -> None:
    objects = helm.template("--set", "settings.metricsAddress=0.0.0.0:9102")
    assert {"name": "metrics", "containerPort": 9102} in container_of(objects)["ports"]
    service = objects["Service", "lightship-operator-metrics"]
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9102, "targetPort": "metrics"}]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ("replicas=2,settings.leaderElection=false", "replicas"),
        ("settings.regoin=eu", "regoin"),
        ("settings.activationTimeoutSeconds=0", "activationTimeoutSeconds"),
        ("replicas=two", "replicas"),
        ("image.repository=", "repository"),
    ],
)
def test_bad_values_are_refused_naming_them(helm: Helm, values: str, named: str) -> None:
    refused = helm("template", "lightship", str(ROOT / CHART), "--set", values, check=False)
    assert refused.returncode != 0
    assert named in refused.stderr, refused.stderr


@pytest.fixture(scope="module")
def release(cluster: Cluster, helm: Helm) -> Iterator[str]:
    """The chart installed (defaults) in a namespace of its own that enforces the restricted
    Pod Security Standard, as manifests/ makes lightship-system; uninstalled afterwards."""
    namespace = f"helm-{secrets.token_hex(3)}"
    create_namespace(cluster, namespace)
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    helm("install", "lightship", str(ROOT / CHART), "-n", namespace, kubeconfig=cluster.kubeconfig)
    yield namespace
    helm("uninstall", "lightship", "-n", namespace, kubeconfig=cluster.kubeconfig, check=False)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def ready_pods(core: client.CoreV1Api, namespace: str) -> list[client.V1Pod]:
    pods = core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/name=lightship")
    return [
        pod
        for pod in pods.items
        if any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    ]


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_chart_installs_and_its_pods_go_ready(
    cluster: Cluster, core: client.CoreV1Api, helm: Helm, release: str
) -> None:
    def both_ready() -> list[client.V1Pod]:
        pods = ready_pods(core, release)
        return pods if len(pods) == 2 else []

    pods = wait_for(both_ready, "the chart's two operator pods Ready", 120)
    for pod in pods:
        assert pod.spec.service_account_name == "lightship"
        (container,) = pod.spec.containers
        assert container.image == "ghcr.io/lightship-dev/lightship:0.1.0"
    # Every object of the release is in the cluster.
    manifest = helm("get", "manifest", "lightship", "-n", release, kubeconfig=cluster.kubeconfig)
    for (kind, name), obj in by_kind_and_name(yaml.safe_load_all(manifest.stdout)).items():
        where = ["-n", obj["metadata"]["namespace"]] if "namespace" in obj["metadata"] else []
        cluster.kubectl("get", kind, name, *where)
    # The metrics Service selects both replicas.
    slices = wait_for(
        lambda: json.loads(
            cluster.kubectl(
                *("get", "endpointslices", "-n", release, "-o", "json", "-l"),
                "kubernetes.io/service-name=lightship-operator-metrics",
            ).stdout
        )["items"],
        "the metrics Service's EndpointSlice",
        60,
    )
    assert len([e for s in slices for e in s["endpoints"] if e["conditions"]["ready"]]) == 2
    assert {p["port"] for s in slices for p in s["ports"]} == {8081}


def test_operator_runs_as_the_charts_account_with_its_settings(
    api_client: client.ApiClient,
    cluster: Cluster,
    crd: None,
    release: str,
    tmp_path: Path,
) -> None:
    """kwok runs no containers: the operator runs here, as it would in the chart's pod, with its
    ServiceAccount's token, the Deployment's environment and POD_NAMESPACE; it watches a
    namespace of its own only (LIGHTSHIP_NAMESPACES), and serves metrics on a free loopback
    port (the pod's 0.0.0.0:8081 is not for this machine)."""
    deployment = client.AppsV1Api(api_client).read_namespaced_deployment(
        "lightship-operator", release
    )
    (container,) = deployment.spec.template.spec.containers
    env = {var.name: var.value for var in container.env if var.name.startswith(ENV_PREFIX)}
    watched = f"helm-services-{secrets.token_hex(3)}"
    create_namespace(cluster, watched)
    metrics = f"127.0.0.1:{free_loopback_port()}"
    kubeconfig = service_account_kubeconfig(cluster, release, "lightship", tmp_path / "kubeconfig")
    operator = Operator(
        cluster,
        tmp_path / "operator.log",
        {
            **env,
            "LIGHTSHIP_NAMESPACES": watched,
            "LIGHTSHIP_METRICS_ADDRESS": metrics,
            "POD_NAMESPACE": release,
            "POD_NAME": "lightship-operator-test",
        },
        kubeconfig=kubeconfig,
    )
    operator.start()
    try:
        services = Services(api_client, cluster, watched)
        services.apply("shop", shop())
        services.wait_active("shop", 1, timeout=90)
        # It leads through the chart's Role: the Lease in the release's namespace is its own.
        lease = client.CoordinationV1Api(api_client).read_namespaced_lease(
            "lightship-operator", release
        )
        assert lease.spec.holder_identity.startswith("lightship-operator-test_")
        scraped = urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10).read().decode()
        assert 'lightship_reconcile_total{result="success"}' in scraped
        # A request its role refuses would be an error in the log (and no rollout).
        assert not operator_failures(operator.log()), operator.log()
    finally:
        operator.stop()
        cluster.kubectl("delete", "namespace", watched, "--wait=false", check=False)
