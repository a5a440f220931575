"""The Helm chart (charts/lightship/) on the local cluster. It installs into a namespace that
enforces the restricted Pod Security Standard, as manifests/ makes lightship-system, and its
pods go Ready (kwok's simulated pods: no container runs). The operator itself runs here as it
would in those pods: as the chart's ServiceAccount, with the Deployment's settings and Lease.
An upgrade changes the release in place; an uninstall removes it and keeps the CRD.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from lightship.settings import ENV_PREFIX
from tests.integration.checks import operator_failures
from tests.integration.helm import CHART, Helm, by_kind_and_name
from tests.integration.support import (
    Cluster,
    Operator,
    Services,
    create_namespace,
    service_account_kubeconfig,
    shop,
    wait_for,
)

CRD_NAME = "containerservicedeployments.lightship.dev"


@contextlib.contextmanager
def installed(cluster: Cluster, helm: Helm) -> Iterator[str]:
    """The chart with its defaults, released in a restricted namespace of its own."""
    namespace = f"helm-{secrets.token_hex(3)}"
    create_namespace(cluster, namespace)
    restricted = "pod-security.kubernetes.io/enforce=restricted"
    cluster.kubectl("label", "namespace", namespace, restricted)
    helm("install", "lightship", str(CHART), "-n", namespace, kubeconfig=cluster.kubeconfig)
    try:
        yield namespace
    finally:
        helm("uninstall", "lightship", "-n", namespace, kubeconfig=cluster.kubeconfig, check=False)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def release(cluster: Cluster, helm: Helm) -> Iterator[str]:
    with installed(cluster, helm) as namespace:
        yield namespace


def operator_pods(core: client.CoreV1Api, namespace: str) -> list[client.V1Pod]:
    """The operator's pods but those terminating."""
    pods = core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/name=lightship")
    return [pod for pod in pods.items if pod.metadata.deletion_timestamp is None]


def ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def wait_pods(
    core: client.CoreV1Api, namespace: str, count: int, env: dict[str, str] | None = None
) -> list[client.V1Pod]:
    """Waits until the operator has `count` pods, all Ready (and with `env` in their
    environment); returns them."""

    def settled() -> list[client.V1Pod]:
        pods = operator_pods(core, namespace)
        have = [{var.name: var.value for var in pod.spec.containers[0].env} for pod in pods]
        matching = all(env.items() <= each.items() for each in have) if env else True
        return pods if len(pods) == count and all(map(ready, pods)) and matching else []

    found: list[client.V1Pod] = wait_for(settled, f"{count} Ready operator pods {env or ''}", 120)
    return found


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_chart_installs_and_its_pods_go_ready(
    cluster: Cluster, core: client.CoreV1Api, helm: Helm, release: str
) -> None:
    for pod in wait_pods(core, release, 2):
        assert pod.spec.service_account_name == "lightship"
        (container,) = pod.spec.containers
        assert container.image == "ghcr.io/lightship-dev/lightship:0.1.0"
    # Every object of the release is in the cluster, and the CRD (crds/) is established.
    manifest = helm("get", "manifest", "lightship", "-n", release, kubeconfig=cluster.kubeconfig)
    for (kind, name), obj in by_kind_and_name(yaml.safe_load_all(manifest.stdout)).items():
        where = ["-n", obj["metadata"]["namespace"]] if "namespace" in obj["metadata"] else []
        cluster.kubectl("get", kind, name, *where)
    cluster.kubectl("wait", "--for=condition=established", "--timeout=60s", f"crd/{CRD_NAME}")

    # The metrics Service selects both replicas.
    def endpoint_slices() -> list[dict[str, Any]]:
        found = cluster.kubectl(
            *("get", "endpointslices", "-n", release, "-o", "json", "-l"),
            "kubernetes.io/service-name=lightship-operator-metrics",
        )
        items: list[dict[str, Any]] = json.loads(found.stdout)["items"]
        return items

    def ready_endpoints() -> list[dict[str, Any]]:
        return [
            e
            for s in endpoint_slices()
            for e in s.get("endpoints") or []
            if e["conditions"]["ready"]
        ]

    # The EndpointSlice controller catches up with the pods' readiness on its own time.
    ready = wait_for(
        lambda: len(ready_endpoints()) == 2 and ready_endpoints(),
        "both replicas in the metrics Service's EndpointSlice",
        60,
    )
    assert len(ready) == 2
    assert {p["port"] for s in endpoint_slices() for p in s["ports"]} == {8081}


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
    apps = client.AppsV1Api(api_client)
    deployment = apps.read_namespaced_deployment("lightship-operator", release)
    (container,) = deployment.spec.template.spec.containers
    env = {var.name: var.value for var in container.env if var.name.startswith(ENV_PREFIX)}
    watched = f"helm-services-{secrets.token_hex(3)}"
    create_namespace(cluster, watched)
    metrics = f"127.0.0.1:{free_loopback_port()}"
    kubeconfig = service_account_kubeconfig(cluster, release, "lightship", tmp_path / "kubeconfig")
    overrides = {"LIGHTSHIP_NAMESPACES": watched, "LIGHTSHIP_METRICS_ADDRESS": metrics}
    pod = {"POD_NAMESPACE": release, "POD_NAME": "lightship-operator-test"}
    operator = Operator(
        cluster, tmp_path / "operator.log", {**env, **overrides, **pod}, kubeconfig=kubeconfig
    )
    operator.start()
    try:
        services = Services(api_client, cluster, watched)
        services.apply("shop", shop())
        services.wait_active("shop", 1, timeout=90)
        # It leads through the chart's Role: the Lease in the release's namespace is its own.
        leases = client.CoordinationV1Api(api_client)
        lease = leases.read_namespaced_lease("lightship-operator", release)
        assert lease.spec.holder_identity.startswith("lightship-operator-test_")
        scraped = urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10).read().decode()
        assert 'lightship_reconcile_total{result="success"}' in scraped
        # A request its role refuses would be an error in the log (and no rollout).
        assert not operator_failures(operator.log()), operator.log()
    finally:
        operator.stop()
        cluster.kubectl("delete", "namespace", watched, "--wait=false", check=False)


def test_upgrade_changes_the_release_and_uninstall_keeps_the_crd(
    cluster: Cluster, core: client.CoreV1Api, helm: Helm
) -> None:
    with installed(cluster, helm) as namespace:
        wait_pods(core, namespace, 2)
        helm(
            *("upgrade", "lightship", str(CHART), "-n", namespace, "--reuse-values", "--set"),
            "replicas=1,settings.leaderElection=false,settings.region=eu",
            kubeconfig=cluster.kubeconfig,
        )
        # The Deployment rolls to one pod with the new settings; the Lease's Role goes.
        wait_pods(
            core, namespace, 1, {"LIGHTSHIP_REGION": "eu", "LIGHTSHIP_LEADER_ELECTION": "false"}
        )
        for kind in ("role", "rolebinding"):
            gone = cluster.kubectl(
                "get", kind, "lightship-leader-election", "-n", namespace, check=False
            )
            assert "NotFound" in gone.stderr
        helm("uninstall", "lightship", "-n", namespace, kubeconfig=cluster.kubeconfig)
        for kind in ("clusterrole", "clusterrolebinding"):
            gone = cluster.kubectl("get", kind, f"lightship-operator-{namespace}", check=False)
            assert "NotFound" in gone.stderr
        # The CRD stays, and with it every service of the cluster.
        cluster.kubectl("get", "crd", CRD_NAME)
