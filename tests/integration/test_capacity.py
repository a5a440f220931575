"""Capacity is not a version (DESIGN §1-§3), on the local cluster: scale (and /scale, an HPA),
power, disabled, registry credentials and Secret-valued variables apply to the running version
in place; conditions that kubectl wait reads."""

from __future__ import annotations

import json
import time
from typing import Any

from kubernetes import client

from lightship import render
from lightship.api import ContainerServiceSpec
from tests.integration.support import Cluster, Operator, Services, shop, states, wait_for

CSD = "containerservicedeployments.lightship.dev"


def names(pods: list[dict[str, Any]]) -> list[str]:
    return sorted(p["metadata"]["name"] for p in pods)


def ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def running(services: Services, name: str, version: int, scale: int) -> dict[str, Any]:
    """Waits until `version` serves with `scale` ready pods and every setting applied."""
    return services.wait(
        name,
        lambda s: (
            s.get("state") == "Running"
            and (s.get("currentDeployment") or {}).get("version") == version
            and s.get("readyReplicas") == scale
            and s.get("replicas") == scale
        ),
        f"version {version} Running with {scale} ready pods",
    )


def test_scale_changes_pods_of_the_active_version_and_makes_no_version(
    services: Services,
) -> None:
    services.apply("shop", shop(scale=1))
    running(services, "shop", 1, 1)
    first = services.pods("shop", 1)[0]["metadata"]["uid"]

    services.apply("shop", shop(scale=3))
    status = running(services, "shop", 1, 3)
    assert names(services.pods("shop")) == ["shop-v1-0", "shop-v1-1", "shop-v1-2"]
    assert first in {p["metadata"]["uid"] for p in services.pods("shop")}  # kept, not replaced
    assert states(status) == {1: "Active"} and services.revisions("shop") == [1]

    services.apply("shop", shop(scale=2))
    status = running(services, "shop", 1, 2)
    assert names(services.pods("shop")) == ["shop-v1-0", "shop-v1-1"]
    assert states(status) == {1: "Active"} and services.revisions("shop") == [1]


def test_kubectl_scale_and_the_scale_subresource(cluster: Cluster, services: Services) -> None:
    ns = services.namespace
    services.apply("shop", shop())
    running(services, "shop", 1, 1)
    cluster.kubectl("scale", "-n", ns, "csd/shop", "--replicas=4")
    status = running(services, "shop", 1, 4)
    assert services.get("shop")["spec"]["scale"] == 4 and services.revisions("shop") == [1]
    assert status["selector"] == render.selector("shop", 1)

    scale = json.loads(
        cluster.kubectl("get", "-n", ns, "csd/shop", "--subresource=scale", "-o", "json").stdout
    )
    assert scale["kind"] == "Scale"
    assert (scale["spec"]["replicas"], scale["status"]["replicas"]) == (4, 4)
    assert scale["status"]["selector"] == render.selector("shop", 1)

    refused = cluster.kubectl("scale", "-n", ns, "csd/shop", "--replicas=21", check=False)
    assert refused.returncode != 0 and "spec.scale" in refused.stderr
    assert services.get("shop")["spec"]["scale"] == 4


def test_a_horizontal_pod_autoscaler_reads_and_writes_the_scale(
    cluster: Cluster, services: Services
) -> None:
    """No metrics pipeline here: the HPA's own bound (minReplicas above the scale) shows it
    reading the scale through /scale and writing it back."""
    ns = services.namespace
    services.apply("shop", shop())
    running(services, "shop", 1, 1)
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "shop", "namespace": ns},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "lightship.dev/v1alpha1",
                "kind": "ContainerServiceDeployment",
                "name": "shop",
            },
            "minReplicas": 2,
            "maxReplicas": 5,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
        },
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(hpa))
    running(services, "shop", 1, 2)
    assert services.revisions("shop") == [1]
    autoscaling = client.AutoscalingV2Api(services.core.api_client)

    def read_scale() -> Any:
        found = autoscaling.read_namespaced_horizontal_pod_autoscaler("shop", ns).status
        conditions = {c.type: (c.status, c.reason) for c in found.conditions or []}
        return found if conditions.get("AbleToScale") == ("True", "SucceededGetScale") else None

    found = wait_for(read_scale, "the HPA reading the scale", timeout=60)
    assert found.current_replicas == 2


def test_a_power_change_replaces_the_pods_one_by_one(services: Services) -> None:
    services.apply("shop", shop(scale=2))
    running(services, "shop", 1, 2)
    old = {p["metadata"]["uid"] for p in services.pods("shop")}
    spec = {**shop(scale=2), "power": "medium"}
    services.apply("shop", spec)
    fewest_ready = 2
    deadline = time.monotonic() + 60
    while True:
        pods = services.pods("shop")
        fewest_ready = min(fewest_ready, sum(1 for p in pods if ready(p)))
        status = services.status("shop")
        if (
            status.get("state") == "Running"
            and status.get("observedGeneration") == services.get("shop")["metadata"]["generation"]
            and not old & {p["metadata"]["uid"] for p in pods}
        ):
            break
        assert time.monotonic() < deadline, f"pods not replaced: {names(pods)}, {status}"
        time.sleep(0.05)
    assert fewest_ready >= 2  # ready capacity never below the scale, as far as polled
    assert states(status) == {1: "Active"} and services.revisions("shop") == [1]
    for pod in services.pods("shop"):
        assert pod["spec"]["resources"] == {
            "requests": {"cpu": "1", "memory": "2Gi"},
            "limits": {"cpu": "1", "memory": "2Gi"},
        }
        assert pod["status"]["qosClass"] == "Guaranteed"


def test_disabled_stops_every_pod_and_enabling_runs_the_active_version_again(
    cluster: Cluster, services: Services
) -> None:
    ns = services.namespace
    services.apply("shop", shop(scale=2))
    url = running(services, "shop", 1, 2)["url"]

    services.apply("shop", {**shop(scale=2), "disabled": True})
    cluster.kubectl("wait", "-n", ns, "csd/shop", "--for=condition=Ready", "--timeout=60s")
    status = services.wait("shop", lambda s: s.get("state") == "Disabled", "Disabled")
    wait_for(lambda: services.pods("shop") == [], "every pod stopped", timeout=30)
    assert status["url"] == url and states(status) == {1: "Active"}
    assert services.revisions("shop") == [1]
    shown = cluster.kubectl("get", "-n", ns, "csd/shop", "-o", "wide").stdout
    assert "Disabled" in shown.splitlines()[1] and "nano" in shown.splitlines()[1]
    told = cluster.run_lightship("status", "shop", "-n", ns)
    assert told.returncode == 0, told.stderr
    assert "Disabled" in told.stdout and "scale 2, power nano, disabled" in told.stdout

    # Changed while disabled: no version until enabled; then the change becomes version 2.
    services.apply("shop", {**shop("nginx:1.28", scale=2), "disabled": True})
    status = services.wait("shop", lambda s: s.get("state") == "Disabled", "Disabled")
    assert states(status) == {1: "Active"} and services.revisions("shop") == [1]
    assert services.pods("shop") == []

    services.apply("shop", shop(scale=2))  # enabled, the deployment back to version 1's
    status = running(services, "shop", 1, 2)
    assert states(status) == {1: "Active"} and services.revisions("shop") == [1]
    assert status["url"] == url

    services.apply("shop", {**shop("nginx:1.28", scale=2), "disabled": True})
    services.wait("shop", lambda s: s.get("state") == "Disabled", "Disabled")
    services.apply("shop", shop("nginx:1.28", scale=2))
    status = running(services, "shop", 2, 2)
    assert states(status) == {2: "Active", 1: "Inactive"}


def test_unschedulable_pods_fail_their_version_with_the_scheduler_message(
    services: Services,
) -> None:
    """The session's operator sizes xlarge beyond the local nodes (conftest)."""
    services.apply("shop", shop())
    running(services, "shop", 1, 1)
    services.apply("shop", {**shop("nginx:1.28"), "power": "xlarge"})
    status = services.wait(
        "shop", lambda s: states(s).get(2) == "Failed", "version 2 Failed", timeout=60
    )
    failed = status["versions"][0]
    assert failed["reason"] == "Unschedulable"
    assert "Insufficient cpu" in failed["message"]
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions["Stalled"] == ("True", "Unschedulable")
    assert status["currentDeployment"]["version"] == 1  # version 1 keeps serving


def test_secret_values_and_registry_credentials_reach_every_pod(services: Services) -> None:
    spec = shop(scale=2)
    spec["containers"][0]["environment"].append(
        {"name": "DB_PASSWORD", "secretKeyRef": {"name": "db", "key": "password"}}
    )
    spec["imagePullSecrets"] = ["regcred"]
    services.apply("shop", spec)
    running(services, "shop", 1, 2)
    for pod in services.pods("shop"):
        assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
        web = next(c for c in pod["spec"]["containers"] if c["name"] == "web")
        assert {
            "name": "DB_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
        } in web["env"]

    spec["imagePullSecrets"] = ["regcred", "mirror"]
    services.apply("shop", spec)
    wait_for(
        lambda: (
            len(pods := services.pods("shop")) == 2
            and all(len(p["spec"].get("imagePullSecrets", [])) == 2 for p in pods)
            and services.status("shop").get("state") == "Running"
        ),
        "pods replaced with both credentials",
        timeout=60,
    )
    assert services.revisions("shop") == [1]


def test_revisions_of_the_previous_code_keep_their_numbers_after_the_upgrade(
    services: Services, operator: Operator
) -> None:
    """Revisions as the previous code stored them (the whole spec, scale included), made while
    no operator runs: the new one reads them as their deployments, makes no version, renumbers
    none, and applies a scale change in place."""
    operator.stop()
    try:
        services.apply("shop", shop("nginx:1.26", scale=2))
        uid = services.get("shop")["metadata"]["uid"]
        for number, image in ((1, "nginx:1.26"), (2, "nginx:1.27")):
            whole = ContainerServiceSpec.model_validate(shop(image, scale=2))
            made = render.render_revision("shop", uid, whole, number, number)
            made["data"] = {"scale": 2, **whole.deployment()}  # as the previous code stored it
            services.apps.create_namespaced_controller_revision(services.namespace, made)
            services.apply("shop", shop(image, scale=2))
    finally:
        operator.start()
    status = running(services, "shop", 2, 2)
    assert states(status) == {2: "Active", 1: "Inactive"}
    services.apply("shop", shop("nginx:1.27", scale=3))
    status = running(services, "shop", 2, 3)
    assert states(status) == {2: "Active", 1: "Inactive"}
    assert services.revisions("shop") == [1, 2]


def test_a_change_of_custom_domains_applies_in_place(services: Services) -> None:
    services.apply("shop", shop())
    running(services, "shop", 1, 1)
    pod = services.pods("shop")[0]["metadata"]["uid"]
    domains = [{"certificate": "shop-example-com", "domains": ["shop.example.com"]}]
    services.apply("shop", {**shop(), "publicDomainNames": domains})

    def hosts() -> list[str]:
        ingress = services.networking.read_namespaced_ingress("shop", services.namespace)
        return [rule.host for rule in ingress.spec.rules]

    wait_for(lambda: "shop.example.com" in hosts(), "the Ingress serving the domain", timeout=30)
    status = running(services, "shop", 1, 1)
    assert status["domains"] == ["shop.example.com"]
    assert states(status) == {1: "Active"} and services.revisions("shop") == [1]
    assert [p["metadata"]["uid"] for p in services.pods("shop")] == [pod]
