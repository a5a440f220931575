"""The operator on the local cluster, one test per rule of DESIGN §2-§4."""

from __future__ import annotations

import json

import pytest

from lightship.api import HEALTH_CHECK_CONTAINER, HEALTH_CHECK_PORT
from tests.integration.checks import leftovers
from tests.integration.support import (
    Operator,
    Services,
    selected_version,
    shop,
    states,
    uids,
    wait_conflict,
    wait_event,
    wait_for,
)


def test_first_deploy_becomes_active_with_pods_service_ingress_and_probe(
    services: Services,
) -> None:
    services.apply("shop", shop(scale=2))
    status = services.wait_active("shop", 1)
    obj = services.get("shop")
    uid = obj["metadata"]["uid"]

    assert status["versions"][0]["state"] == "Active"
    assert status["privateDomain"] == f"shop.{services.namespace}.svc.cluster.local"
    assert status["url"].startswith("https://shop.") and status["url"].endswith(
        ".local.cs.localhost/"
    )
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True",
        "Reconciling": "False",
        "Stalled": "False",
        "Progressing": "False",
        "Conflict": "False",
        "RouteRejected": "False",
    }
    assert all(c["observedGeneration"] == 1 for c in status["conditions"])

    pods = services.pods("shop", 1)
    assert sorted(p["metadata"]["name"] for p in pods) == ["shop-v1-0", "shop-v1-1"]
    for pod in pods:
        assert pod["metadata"]["labels"] == {
            "app.kubernetes.io/name": "shop",
            "app.kubernetes.io/managed-by": "lightship",
            "lightship.dev/service": "shop",
            "lightship.dev/version": "1",
        }
        (owner,) = pod["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == (
            "ContainerServiceDeployment",
            uid,
            True,
        )
        spec = pod["spec"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["enableServiceLinks"] is False
        web, cache = spec["containers"]
        assert (web["image"], web["args"]) == ("nginx:1.27", ["nginx", "-g", "daemon off;"])
        assert web["env"] == [{"name": "REDIS_HOST", "value": "localhost"}]
        assert web["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
        # The exact health check (the default): the prober sidecar checks the endpoint, the
        # kubelet reads its verdict (test_health_check_modes.py has the kubelet mode).
        assert web["readinessProbe"]["httpGet"] == {
            "path": "/",
            "port": HEALTH_CHECK_PORT,
            "scheme": "HTTP",
        }
        (prober,) = spec["initContainers"]
        assert prober["name"] == HEALTH_CHECK_CONTAINER
        assert {"-port=80", "-path=/healthz", "-interval=7", "-timeout=2"} <= set(prober["args"])
        assert cache["ports"] == [{"containerPort": 6379, "protocol": "TCP"}]
        assert "readinessProbe" not in cache

    service = services.core.read_namespaced_service("shop", services.namespace)
    assert service.spec.type == "ClusterIP"
    assert service.spec.selector["lightship.dev/version"] == "1"
    assert [(p.name, p.port, p.protocol, p.app_protocol) for p in service.spec.ports] == [
        ("http-80", 80, "TCP", "http"),
        ("tcp-6379", 6379, "TCP", None),
    ]
    assert service.metadata.owner_references[0].uid == uid

    ingress = services.networking.read_namespaced_ingress("shop", services.namespace)
    host = status["url"].removeprefix("https://").rstrip("/")
    assert ingress.spec.rules[0].host == host
    assert ingress.spec.tls[0].hosts == [host]
    assert ingress.spec.tls[0].secret_name == "shop-tls"
    backend = ingress.spec.rules[0].http.paths[0].backend.service
    assert (backend.name, backend.port.number) == ("shop", 80)

    revision = services.apps.read_namespaced_controller_revision("shop-v1", services.namespace)
    assert revision.revision == 1
    assert revision.data["containers"][0]["image"] == "nginx:1.27"

    wait_event(services, "shop", "Normal", "VersionCreated")
    wait_event(services, "shop", "Normal", "VersionActivated")


def test_update_activates_the_new_version_and_removes_the_old(services: Services) -> None:
    services.apply("shop", shop("nginx:1.26"))
    services.wait_active("shop", 1)
    services.apply("shop", shop("nginx:1.27"))
    status = services.wait_active("shop", 2)
    assert states(status) == {2: "Active", 1: "Inactive"}
    assert selected_version(services, "shop") == "2"
    assert services.pods("shop", 1) == []
    assert [p["spec"]["containers"][0]["image"] for p in services.pods("shop", 2)] == ["nginx:1.27"]


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("sim.invalid/pull-error:1", "ImagePullBackOff"),
        ("sim.invalid/crash-loop:1", "CrashLoopBackOff"),
        ("sim.invalid/never-ready:1", "ActivationTimeout"),
    ],
)
def test_failed_version_leaves_the_previous_one_serving(
    services: Services, image: str, reason: str
) -> None:
    services.apply("shop", shop(scale=2))
    services.wait_active("shop", 1)
    serving = uids(services.pods("shop", 1))

    services.apply("shop", shop(image, scale=2))
    status = services.wait(
        "shop", lambda s: states(s).get(2) == "Failed", "version 2 Failed", timeout=60
    )
    failed = status["versions"][0]
    assert (failed["version"], failed["reason"]) == (2, reason)
    assert failed["message"]
    assert status["state"] == "Running"
    assert status["currentDeployment"]["version"] == 1
    assert "nextDeployment" not in status
    assert selected_version(services, "shop") == "1"
    assert uids(services.pods("shop", 1)) == serving
    wait_for(lambda: not services.pods("shop", 2), "the failed version's pods removed", 30)
    wait_event(services, "shop", "Warning", "VersionFailed")


def test_failure_with_no_previous_version_leaves_no_active_deployment(services: Services) -> None:
    services.apply("shop", shop("sim.invalid/pull-error:2"))
    status = services.wait(
        "shop", lambda s: states(s) == {1: "Failed"}, "version 1 Failed", timeout=60
    )
    assert status["state"] == "Ready"
    assert "currentDeployment" not in status and "url" not in status
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions["Ready"] == ("False", "VersionFailed")
    assert conditions["Stalled"] == ("True", "ImagePullBackOff")


def test_spec_change_while_activating_supersedes_it(services: Services) -> None:
    services.apply("shop", shop())
    services.wait_active("shop", 1)
    services.apply("shop", shop("sim.invalid/never-ready:3"))
    services.wait("shop", lambda s: states(s).get(2) == "Activating", "version 2 Activating")
    services.apply("shop", shop("nginx:1.28"))
    status = services.wait_active("shop", 3)
    assert states(status) == {3: "Active", 2: "Inactive", 1: "Inactive"}
    assert status["versions"][1]["message"] == "superseded by version 3"
    assert services.pods("shop", 2) == []


def test_history_keeps_the_latest_50_versions(services: Services) -> None:
    for change in range(1, 53):
        spec = shop()
        spec["containers"][0]["environment"] = [{"name": "CHANGE", "value": str(change)}]
        services.apply("shop", spec)
        services.wait(
            "shop",
            lambda s, n=change: s["versions"][0]["version"] == n,
            f"version {change} recorded",
        )
    status = services.wait_active("shop", 52)
    assert [v["version"] for v in status["versions"]] == list(range(52, 2, -1))
    wait_for(
        lambda: services.revisions("shop") == list(range(3, 53)),
        "revisions 3..52, and no other",
        30,
    )


def test_redeploy_makes_a_new_version_from_a_kept_one(services: Services) -> None:
    services.apply("shop", shop("nginx:1.26"))
    services.wait_active("shop", 1)
    services.apply("shop", shop("nginx:1.27", public=False))
    services.wait_active("shop", 2)
    result = services.cluster.run_lightship(
        "redeploy", "shop", "--version", "1", "-n", services.namespace
    )
    assert result.returncode == 0, result.stderr
    status = services.wait_active("shop", 3)
    assert [p["spec"]["containers"][0]["image"] for p in services.pods("shop", 3)] == ["nginx:1.26"]
    assert services.get("shop")["spec"]["publicEndpoint"]["containerName"] == "web"
    assert status["url"]


def test_redeploy_of_the_newest_version_makes_a_new_version(services: Services) -> None:
    services.apply("shop", shop(scale=2))
    services.wait_active("shop", 1)
    before = uids(services.pods("shop", 1))
    result = services.cluster.run_lightship(
        "redeploy", "shop", "--version", "1", "-n", services.namespace
    )
    assert result.returncode == 0, result.stderr
    status = services.wait_active("shop", 2)
    assert states(status) == {2: "Active", 1: "Inactive"}
    assert len(services.pods("shop", 2)) == 2 and not before & uids(services.pods("shop"))
    spec = services.get("shop")["spec"]
    assert spec["scale"] == 2 and spec["redeployedAt"].endswith("Z")
    # Again: every request is a version, the spec otherwise unchanged.
    result = services.cluster.run_lightship(
        "redeploy", "shop", "--version", "2", "-n", services.namespace
    )
    assert result.returncode == 0, result.stderr
    assert states(services.wait_active("shop", 3)) == {3: "Active", 2: "Inactive", 1: "Inactive"}


def test_removing_the_public_endpoint_removes_ingress_and_url(services: Services) -> None:
    services.apply("shop", shop())
    assert services.wait_active("shop", 1)["url"]
    services.apply("shop", shop(public=False))
    status = services.wait_active("shop", 2)
    assert "url" not in status
    ingresses = services.networking.list_namespaced_ingress(services.namespace)
    assert ingresses.items == []


def test_deleted_pod_of_the_active_version_is_replaced(services: Services) -> None:
    services.apply("shop", shop(scale=2))
    services.wait_active("shop", 1)
    (victim, _) = sorted(services.pods("shop", 1), key=lambda p: p["metadata"]["name"])
    services.core.delete_namespaced_pod(victim["metadata"]["name"], services.namespace)

    def replaced() -> bool:
        pods = services.pods("shop", 1)
        names = sorted(p["metadata"]["name"] for p in pods)
        return names == ["shop-v1-0", "shop-v1-1"] and victim["metadata"]["uid"] not in uids(pods)

    wait_for(replaced, f"{victim['metadata']['name']} replaced", 30)


def test_deleting_the_object_removes_every_child(services: Services) -> None:
    services.apply("shop", shop())
    services.wait_active("shop", 1)
    services.cluster.kubectl("delete", "csd", "shop", "-n", services.namespace, "--wait=true")
    wait_for(lambda: not leftovers(services, "lightship.dev/service=shop"), "no child left", 60)


def test_operator_restarted_mid_rollout_completes_it(
    services: Services, operator: Operator
) -> None:
    services.apply("shop", shop())
    services.wait_active("shop", 1)
    with operator.stopped():
        services.apply("shop", shop("nginx:1.28", scale=3))
    status = services.wait_active("shop", 2)
    assert states(status) == {2: "Active", 1: "Inactive"}
    assert services.revisions("shop") == [1, 2]
    assert len(services.pods("shop", 2)) == 3
    # The old pods go right after the status says version 2 serves.
    wait_for(lambda: services.pods("shop", 1) == [], "version 1's pods removed", timeout=30)


def test_label_and_annotation_changes_make_no_version(services: Services) -> None:
    services.apply("shop", shop())
    services.wait_active("shop", 1)
    services.cluster.kubectl(
        "label", "csd", "shop", "-n", services.namespace, "argocd.argoproj.io/instance=shop"
    )
    services.cluster.kubectl("annotate", "csd", "shop", "-n", services.namespace, "note=hello")
    services.apply("shop", shop())  # the same manifest again
    assert services.get("shop")["metadata"]["generation"] == 1
    # A spec change after them is the barrier: the operator handles the events of one object
    # in order, so once it acted on the change it has handled the label and annotation
    # changes too. Had they made a version, this one would be version 3.
    services.apply("shop", shop("nginx:1.28"))
    status = services.wait("shop", lambda s: s.get("state") == "Running", "the change settled")
    assert states(status) == {2: "Active", 1: "Inactive"}
    assert services.revisions("shop") == [1, 2]


def test_foreign_service_is_reported_not_overwritten(services: Services) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "shop"},
        "spec": {"selector": {"app": "someone-else"}, "ports": [{"port": 8080}]},
    }
    services.cluster.kubectl(
        "apply", "-n", services.namespace, "-f", "-", stdin=json.dumps(foreign)
    )
    services.apply("shop", shop())
    status, conflict = wait_conflict(services, "shop")
    assert conflict["reason"] == "ForeignObject"
    assert "Service" in conflict["message"]
    service = services.core.read_namespaced_service("shop", services.namespace)
    assert service.spec.selector == {"app": "someone-else"}
    assert "Service" in wait_event(services, "shop", "Warning", "ForeignObject")
    assert states(status) == {1: "Activating"}  # traffic cannot move to it
