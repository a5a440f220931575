"""Lightship's conditions read by the readers' own code (DESIGN §3): the status that
sigs.k8s.io/cli-utils/pkg/kstatus computes (hack/kstatus: Flux and the cli-utils applier use
it) for real objects of the local cluster, through a rollout, a failure, a capacity change and a
disabled service."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.support import Cluster, Services, built, shop, states, wait_for


@pytest.fixture(scope="module")
def kstatus() -> Path:
    """The harness, built once from its pinned go.mod into the cache (hack/kstatus/build.sh)."""
    return built("kstatus", timeout=1200)


def computed(kstatus: Path, cluster: Cluster, namespace: str) -> dict[str, Any]:
    obj = cluster.kubectl("get", "-n", namespace, "csd/shop", "-o", "json").stdout
    result = subprocess.run(
        [str(kstatus)], input=obj, capture_output=True, text=True, check=True, timeout=30
    )
    verdict: dict[str, Any] = json.loads(result.stdout)
    return verdict


def reaches(
    kstatus: Path, cluster: Cluster, services: Services, wanted: str, timeout: float = 60
) -> dict[str, Any]:
    """Waits until kstatus computes `wanted` for the object; returns its verdict."""
    found: dict[str, Any] = wait_for(
        lambda: (
            verdict
            if (verdict := computed(kstatus, cluster, services.namespace))["status"] == wanted
            else None
        ),
        f"kstatus {wanted}",
        timeout=timeout,
    )
    return found


def test_kstatus_reads_rollout_failure_capacity_and_disabled(
    kstatus: Path, cluster: Cluster, services: Services
) -> None:
    # A rollout: Current once version 1 serves.
    services.apply("shop", shop())
    reaches(kstatus, cluster, services, "Current")
    assert services.status("shop")["state"] == "Running"

    # A version that never becomes ready: InProgress while it activates, Failed when it fails,
    # although version 1 keeps serving.
    services.apply("shop", shop("sim.invalid/never-ready:1"))
    services.wait("shop", lambda s: states(s).get(2) == "Activating", "version 2 Activating")
    assert computed(kstatus, cluster, services.namespace)["status"] == "InProgress"
    failed = reaches(kstatus, cluster, services, "Failed")
    assert "ActivationTimeout" in failed["message"]
    assert services.status("shop")["currentDeployment"]["version"] == 1

    # A new deployment after the failure: Current again.
    services.apply("shop", shop("nginx:1.28", scale=2))
    reaches(kstatus, cluster, services, "Current")
    assert services.status("shop")["currentDeployment"]["version"] == 3

    # A capacity change: Current once applied, no version made.
    services.apply("shop", {**shop("nginx:1.28", scale=4), "power": "micro"})
    reaches(kstatus, cluster, services, "Current")
    status = services.status("shop")
    assert (status["state"], status["readyReplicas"]) == ("Running", 4)
    assert services.revisions("shop") == [1, 2, 3]

    # Disabled: Current once every pod has stopped.
    services.apply("shop", {**shop("nginx:1.28", scale=4), "power": "micro", "disabled": True})
    reaches(kstatus, cluster, services, "Current")
    assert services.status("shop")["state"] == "Disabled"
    assert services.pods("shop") == []


def test_a_new_object_is_in_progress_until_the_operator_writes_its_status(
    kstatus: Path, cluster: Cluster, crd: None
) -> None:
    """Without a status kstatus would call the object Current: the CRD defaults the status to
    observedGeneration 0. A namespace no operator of the session watches keeps it unwritten."""
    namespace = f"unwatched-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", namespace)
    try:
        manifest = {
            "apiVersion": "lightship.dev/v1alpha1",
            "kind": "ContainerServiceDeployment",
            "metadata": {"name": "shop", "namespace": namespace},
            "spec": shop(),
        }
        cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
        verdict = computed(kstatus, cluster, namespace)
        assert verdict["status"] == "InProgress"
        assert "latest observed generation is 0" in verdict["message"]
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false")
