"""The local cluster is real Kubernetes: scheduling, simulated container outcomes, garbage
collection by kube-controller-manager, and CEL validation in the API server."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest

from tests.integration.support import Cluster, create_namespace, wait_for

SIMULATED_IMAGES = {
    "pull-error": "sim.invalid/pull-error:1",
    "crash-loop": "sim.invalid/crash-loop:1",
    "never-ready": "sim.invalid/never-ready:1",
}


def pod_manifest(name: str, image: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "automountServiceAccountToken": False,
                "containers": [{"name": "main", "image": image}, {"name": "side", "image": image}],
            },
        }
    )


def get_pod(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return json.loads(cluster.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_ordinary_pod_is_scheduled_on_a_simulated_node_and_becomes_ready(
    cluster: Cluster, namespace: str
) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=pod_manifest("web", "nginx:1.27"))
    wait_for(lambda: is_ready(get_pod(cluster, namespace, "web")), "the pod to be Ready", 30)
    pod = get_pod(cluster, namespace, "web")
    node = json.loads(cluster.kubectl("get", "node", pod["spec"]["nodeName"], "-o", "json").stdout)
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["hostIP"].startswith("127.")
    assert all(s["ready"] for s in pod["status"]["containerStatuses"])


def test_simulated_nodes_have_loopback_addresses(cluster: Cluster) -> None:
    nodes = json.loads(cluster.kubectl("get", "nodes", "-l", "type=kwok", "-o", "json").stdout)
    assert len(nodes["items"]) >= 2
    for node in nodes["items"]:
        for address in node["status"]["addresses"]:
            if address["type"] == "InternalIP":
                assert address["address"].startswith("127."), node["metadata"]["name"]


def simulated_state(pod: dict[str, Any]) -> str | None:
    """Which row of the simulated-outcome table a pod is in, if any."""
    status = pod.get("status", {})
    containers = status.get("containerStatuses", [])
    if len(containers) != len(pod["spec"]["containers"]) or is_ready(pod):
        return None
    waiting = {c.get("state", {}).get("waiting", {}).get("reason") for c in containers}
    if status.get("phase") == "Pending" and waiting == {"ImagePullBackOff"}:
        return "pull-error"
    if status.get("phase") != "Running":
        return None
    if waiting == {"CrashLoopBackOff"} and all(c["restartCount"] > 0 for c in containers):
        return "crash-loop"
    if all("running" in c.get("state", {}) and not c["ready"] for c in containers):
        return "never-ready"
    return None


@pytest.fixture(scope="module")
def simulated_history(cluster: Cluster) -> dict[str, list[str | None]]:
    """Each simulated image's pod, observed once a second for 12 s after it settles."""
    namespace = f"t-simulated-{secrets.token_hex(3)}"
    create_namespace(cluster, namespace)
    try:
        for outcome, image in SIMULATED_IMAGES.items():
            cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=pod_manifest(outcome, image))
        for outcome in SIMULATED_IMAGES:
            wait_for(
                lambda o=outcome: simulated_state(get_pod(cluster, namespace, o)) is not None,
                f"pod {outcome} to settle",
                30,
            )
        history: dict[str, list[str | None]] = {outcome: [] for outcome in SIMULATED_IMAGES}
        for _ in range(12):
            for outcome in SIMULATED_IMAGES:
                history[outcome].append(simulated_state(get_pod(cluster, namespace, outcome)))
            time.sleep(1)
        return history
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.mark.parametrize("outcome", sorted(SIMULATED_IMAGES))
def test_simulated_image_reaches_its_documented_state_and_stays(
    simulated_history: dict[str, list[str | None]], outcome: str
) -> None:
    assert simulated_history[outcome] == [outcome] * 12


def test_owned_object_is_garbage_collected_after_its_owner(
    cluster: Cluster, namespace: str
) -> None:
    cluster.kubectl("create", "configmap", "owner", "-n", namespace)
    owner = json.loads(cluster.kubectl("get", "cm", "owner", "-n", namespace, "-o", "json").stdout)
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "child",
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": "owner",
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(child))
    cluster.kubectl("delete", "cm", "owner", "-n", namespace)
    wait_for(
        lambda: cluster.kubectl("get", "cm", "child", "-n", namespace, check=False).returncode,
        "the garbage collector to delete the child",
        60,
    )


def test_cel_validation_rule_rejects_a_violating_object(cluster: Cluster) -> None:
    group = f"g{secrets.token_hex(3)}.test.lightship.dev"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gadgets.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "min": {"type": "integer"},
                                        "max": {"type": "integer"},
                                    },
                                    "x-kubernetes-validations": [
                                        {
                                            "rule": "self.min <= self.max",
                                            "message": "min must not exceed max",
                                        }
                                    ],
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    cluster.kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(crd))
    try:
        cluster.kubectl("wait", "--for=condition=established", f"crd/gadgets.{group}")
        gadget = {
            "apiVersion": f"{group}/v1",
            "kind": "Gadget",
            "metadata": {"name": "bad", "namespace": "default"},
            "spec": {"min": 5, "max": 1},
        }
        result = cluster.kubectl(
            "apply", "--server-side", "-f", "-", stdin=json.dumps(gadget), check=False
        )
        assert result.returncode != 0
        assert "min must not exceed max" in result.stderr
        assert cluster.kubectl("get", "gadgets", "bad", "-n", "default", check=False).returncode
    finally:
        cluster.kubectl("delete", "crd", f"gadgets.{group}", "--wait=false", check=False)
