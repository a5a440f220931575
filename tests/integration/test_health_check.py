"""The health check, exactly as the managed service counts it, on the real node (issue 12): the
prober sidecar (hack/prober) checks the test application, and its verdict moves real pods in
and out of the Service's ready endpoints, with or without the operator.

Negative cases do not wait for the activation deadline: they read the prober's verdict
(`GET <pod IP>:63990`), which counts the consecutive failures, and check that the version is
still activating after more checks than would have made it healthy.
"""

# ruff: noqa: F811  (the fixtures `real` and `real_operator` of test_real_node.py are shared by
# importing them; pytest passes them to the tests by their parameter names)
from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from kubernetes import client

from lightship.api import HEALTH_CHECK_CONTAINER, HEALTH_CHECK_PORT
from tests.integration.real_node import container, http
from tests.integration.support import Cluster, Operator, Services, wait_for
from tests.integration.test_real_node import (  # noqa: F401
    DEADLINE,
    real,
    real_operator,
    serving_pods,
    version_entry,
    wait_failed,
)

pytestmark = pytest.mark.realnode

_STREAK = re.compile(r"^(healthy|unhealthy): (\d+) consecutive (successes|failures)")


def spec(
    codes: str | None = None,
    env: dict[str, str] | None = None,
    tag: str = "1",
    ports: str = "8080/http",
    **check: Any,
) -> dict[str, Any]:
    """The test application as the public endpoint, its health path /healthz, `env` its
    settings (HEALTH_STATUS, HEALTH_DELAY_SECONDS...), `check` the health check's fields."""
    port = int(ports.split("/")[0])
    health_check = {"path": "/healthz", **check}
    if codes is not None:
        health_check["successCodes"] = codes
    return {
        "containers": [container(tag=tag, ports=ports, env=env)],
        "publicEndpoint": {
            "containerName": "web",
            "containerPort": port,
            "healthCheck": health_check,
        },
    }


def verdict(pod_ip: str) -> tuple[int, str]:
    """The prober's verdict as the kubelet reads it: 200 or 503, and why."""
    return http(f"http://{pod_ip}:{HEALTH_CHECK_PORT}/", timeout=5)


def streak(text: str) -> tuple[str, int, str]:
    """("healthy" | "unhealthy", consecutive results alike, "successes" | "failures")."""
    match = _STREAK.match(text)
    assert match, text
    return match.group(1), int(match.group(2)), match.group(3)


def pod_of(real: Services, name: str, version: int) -> dict[str, Any]:
    """The one pod of a version, once it runs and has an IP."""
    return wait_for(
        lambda: [
            p
            for p in real.pods(name, version)
            if (p.get("status") or {}).get("podIP") and p["status"].get("phase") == "Running"
        ],
        f"a running pod of {name} v{version}",
        timeout=60,
    )[0]


def failing_after(real: Services, name: str, checks: int) -> str:
    """Waits until the prober of the service's first version counted `checks` failures in a
    row; returns its verdict. Meanwhile the version never went Active."""
    ip = pod_of(real, name, 1)["status"]["podIP"]

    def failed_enough() -> str | None:
        status, text = verdict(ip)
        assert status in (200, 503), (status, text)
        if status == 200:
            pytest.fail(f"{name} became healthy: {text}")
        if text.startswith("unhealthy: no check"):
            return None
        _, count, kind = streak(text)
        return text if kind == "failures" and count >= checks else None

    # OSError: the prober is not listening yet.
    text: str = wait_for(
        failed_enough, f"{checks} failed checks of {name}", timeout=DEADLINE, transient=(OSError,)
    )
    status = real.status(name)
    assert not status.get("currentDeployment"), status
    assert version_entry(status, 1).get("state") == "Activating", status
    return text


def ready_addresses(real: Services, name: str) -> set[str]:
    """The addresses the Service's EndpointSlices list as ready."""
    slices = client.DiscoveryV1Api(real.core.api_client).list_namespaced_endpoint_slice(
        real.namespace, label_selector=f"kubernetes.io/service-name={name}"
    )
    return {
        address
        for endpoint_slice in slices.items
        for endpoint in endpoint_slice.endpoints or []
        if endpoint.conditions and endpoint.conditions.ready
        for address in endpoint.addresses
    }


def set_health(pod_ip: str, code: int, delay: str = "0") -> None:
    """The test application's POST /health/<code>: its health path answers so from now on."""
    request = urllib.request.Request(
        f"http://{pod_ip}:8080/health/{code}?delay={delay}", data=b"", method="POST"
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as answer:
        assert answer.status == 200, answer.read()


def test_default_codes_count_404_as_healthy_and_500_as_not(real: Services) -> None:
    real.apply("shop", spec(env={"HEALTH_STATUS": "404"}))
    real.wait_active("shop", 1, timeout=DEADLINE)
    (pod,) = serving_pods(real, "shop", 1, 1)
    _, text = verdict(pod.status.pod_ip)
    assert "answered 404" in text, text

    real.apply("shop", spec(env={"HEALTH_STATUS": "500"}, tag="2"))
    entry = wait_failed(real, "shop", 2, timeout=DEADLINE + 30)
    assert entry["reason"] == "ActivationTimeout", entry
    assert real.status("shop")["currentDeployment"]["version"] == 1
    # The previous version kept serving throughout: its pod is the Service's ready endpoint.
    assert ready_addresses(real, "shop") == {pod.status.pod_ip}


@pytest.mark.parametrize(
    ("codes", "answer", "healthy"),
    [
        ("200", 200, True),
        ("200", 302, False),
        ("200,300-399", 302, True),
        ("200,300-399", 204, False),
        ("201-204,404", 404, True),
        ("201-204,404", 200, False),
    ],
)
def test_the_codes_listed_decide(real: Services, codes: str, answer: int, healthy: bool) -> None:
    real.apply("shop", spec(codes, env={"HEALTH_STATUS": str(answer)}))
    if healthy:
        real.wait_active("shop", 1, timeout=DEADLINE)
        return
    # healthyThreshold is 2; the first check may have found the application not started yet.
    text = failing_after(real, "shop", checks=4)
    assert f"answered {answer}, not a success code" in text, text


def test_a_health_path_slower_than_the_timeout_fails(real: Services) -> None:
    real.apply("shop", spec(env={"HEALTH_DELAY_SECONDS": "5"}, timeoutSeconds=2))
    text = failing_after(real, "shop", checks=4)
    assert "Timeout" in text or "deadline exceeded" in text, text
    # Fast again: healthy.
    set_health(pod_of(real, "shop", 1)["status"]["podIP"], 200)
    real.wait_active("shop", 1, timeout=DEADLINE)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_thresholds_in_both_directions(real: Services) -> None:
    real.apply("shop", spec(intervalSeconds=5, healthyThreshold=4, unhealthyThreshold=2))
    real.wait_active("shop", 1, timeout=DEADLINE + 30)
    pod = real.pods("shop", 1)[0]
    web = next(c for c in pod["status"]["containerStatuses"] if c["name"] == "web")
    started = _time(web["state"]["running"]["startedAt"])
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    # Four successes 5 s apart: ready 15 s after the container started answering, at the
    # earliest (the kubelet's timestamps have whole seconds).
    assert (_time(ready["lastTransitionTime"]) - started).total_seconds() >= 14, pod["status"]
    ip = pod["status"]["podIP"]
    assert ready_addresses(real, "shop") == {ip}

    set_health(ip, 500)
    wait_for(lambda: ip not in ready_addresses(real, "shop"), "the pod out", timeout=30)
    state, count, kind = streak(verdict(ip)[1])
    assert (state, kind) == ("unhealthy", "failures") and count >= 2

    set_health(ip, 200)
    wait_for(lambda: ip in ready_addresses(real, "shop"), "the pod back", timeout=45)
    state, count, kind = streak(verdict(ip)[1])
    assert (state, kind) == ("healthy", "successes") and count >= 4


def test_an_https_endpoint_is_checked_over_https(real: Services) -> None:
    real.apply("shop", spec(ports="8443/https"))
    real.wait_active("shop", 1, timeout=DEADLINE)
    (pod,) = serving_pods(real, "shop", 1, 1)
    _, text = verdict(pod.status.pod_ip)
    assert f"GET https://{pod.status.pod_ip}:8443/healthz answered 200" in text, text


def test_logs_show_the_users_container_and_the_prober_on_request(
    real: Services, cluster: Cluster
) -> None:
    real.apply("shop", spec())
    real.wait_active("shop", 1, timeout=DEADLINE)
    shown = cluster.run_lightship("logs", "shop", "-n", real.namespace)
    assert "testapp 1 args" in shown.stdout and "checking GET" not in shown.stdout, shown
    prober = cluster.run_lightship(
        "logs", "shop", "-c", HEALTH_CHECK_CONTAINER, "-n", real.namespace
    )
    assert "checking GET http://" in prober.stdout and "healthy: 2" in prober.stdout, prober


@pytest.fixture
def stoppable_operator(real_operator: Operator) -> Iterator[Operator]:
    """The module's operator, stopped by the test and started again after it."""
    yield real_operator
    if real_operator.process is None:
        real_operator.start()


def test_health_changes_move_pods_while_the_operator_is_down(
    real: Services, stoppable_operator: Operator
) -> None:
    real.apply("shop", spec())
    real.wait_active("shop", 1, timeout=DEADLINE)
    (pod,) = serving_pods(real, "shop", 1, 1)
    ip = pod.status.pod_ip
    stoppable_operator.stop()

    set_health(ip, 500)
    wait_for(lambda: ip not in ready_addresses(real, "shop"), "the pod out", timeout=30)
    set_health(ip, 200)
    wait_for(lambda: ip in ready_addresses(real, "shop"), "the pod back", timeout=30)
