"""The operator's health-check settings reach the pods it makes (simulated nodes: what the pods
carry, not what the prober decides; tests/integration/test_health_check.py runs the prober on
the real node)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from lightship.api import HEALTH_CHECK_CONTAINER, HEALTH_CHECK_PORT
from tests.integration.support import SESSION, Cluster, Operator, Services, create_namespace

pytestmark = [pytest.mark.integration]

# Namespaces of this module's own operators, out of reach of the session's operator.
PREFIX = f"hc{SESSION}"
PROBE_IMAGE = "127.0.0.1:5000/lightship/prober:settings-test"


def public_spec(image: str = "nginx:1.27") -> dict[str, Any]:
    return {
        "containers": [
            {"name": "web", "image": image, "ports": [{"port": 8443, "protocol": "HTTPS"}]},
            {"name": "cache", "image": "redis:7", "ports": [{"port": 6379, "protocol": "TCP"}]},
        ],
        "publicEndpoint": {
            "containerName": "web",
            "containerPort": 8443,
            "healthCheck": {"path": "/healthz", "successCodes": "200,300-399"},
        },
    }


@pytest.fixture
def mode_services(
    request: pytest.FixtureRequest,
    cluster: Cluster,
    crd: None,
    api_client: client.ApiClient,
    tmp_path: Path,
) -> Iterator[Services]:
    """A namespace served by an operator of its own, with LIGHTSHIP_HEALTH_CHECK=request.param."""
    namespace = f"{PREFIX}-{request.param}-{secrets.token_hex(3)}"
    create_namespace(cluster, namespace)
    running = Operator(
        cluster,
        tmp_path / "operator.log",
        {
            "LIGHTSHIP_NAMESPACES": f"{PREFIX}-*",
            "LIGHTSHIP_HEALTH_CHECK": request.param,
            "LIGHTSHIP_PROBE_IMAGE": PROBE_IMAGE,
            "LIGHTSHIP_ACTIVATION_TIMEOUT_SECONDS": "20",
        },
    )
    running.start()
    yield Services(api_client, cluster, namespace)
    running.stop()
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    assert "Traceback" not in running.log(), running.log()[-5000:]


@pytest.mark.parametrize("mode_services", ["exact"], indirect=True)
def test_exact_pods_carry_the_prober_of_the_setting(mode_services: Services) -> None:
    mode_services.apply("shop", public_spec())
    mode_services.wait_active("shop", 1)
    (pod,) = mode_services.pods("shop", 1)
    (prober,) = pod["spec"]["initContainers"]
    assert prober["name"] == HEALTH_CHECK_CONTAINER and prober["image"] == PROBE_IMAGE
    assert prober["restartPolicy"] == "Always"
    assert "-scheme=https" in prober["args"] and "-success-codes=200,300-399" in prober["args"]
    web = pod["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["port"] == HEALTH_CHECK_PORT
    # The simulated kubelet shows the sidecar running, as a real one would.
    (status,) = pod["status"]["initContainerStatuses"]
    assert status["name"] == HEALTH_CHECK_CONTAINER and "running" in status["state"]


@pytest.mark.parametrize("mode_services", ["kubelet"], indirect=True)
def test_kubelet_pods_have_the_kubelets_probe_and_no_prober(mode_services: Services) -> None:
    mode_services.apply("shop", public_spec())
    mode_services.wait_active("shop", 1)
    (pod,) = mode_services.pods("shop", 1)
    assert not pod["spec"].get("initContainers")
    web = pod["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8443, "scheme": "HTTPS"}
