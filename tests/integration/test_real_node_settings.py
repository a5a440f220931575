"""The service's settings where a kubelet acts on them, on the real node (issue 14): images
pulled again on a redeploy, registry credentials, Secret-valued environment variables and a
power no node can hold. Each failure is the kubelet's or the scheduler's own, and the version
that served before keeps serving.
"""

# ruff: noqa: F811  (the fixtures `real` and `real_operator` of test_real_node.py are shared by
# importing them; pytest passes them to the tests by their parameter names)
from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.integration.real_node import (
    PRIVATE_TESTAPP,
    TESTAPP,
    ask,
    container,
    crane,
    create_real_namespace,
    endpoint,
    registry_secret,
)
from tests.integration.support import SESSION, Cluster, Operator, Services
from tests.integration.test_real_node import (  # noqa: F401
    DEADLINE,
    UNSCHEDULABLE_GRACE,
    real,
    real_operator,
    serving_pods,
    wait_failed,
)

pytestmark = pytest.mark.realnode

# A pull that keeps failing shows as ImagePullBackOff about 15 s after the pod starts.
PULL_FAILURE = DEADLINE + 30


def serving_uids(real: Services, name: str, version: int) -> dict[str, str]:
    """The pods of `version` that serve (one), by UID, each checked to answer as that version's
    test application: the version that served before a failure keeps serving, untouched."""
    pods = serving_pods(real, name, version, 1)
    return {p.metadata.uid: ask(p.status.pod_ip)["version"] for p in pods}


def redeploy(cluster: Cluster, real: Services, name: str, version: int) -> None:
    done = cluster.run_lightship("redeploy", name, "--version", str(version), "-n", real.namespace)
    assert done.returncode == 0, done.stderr


def with_secret_variable(web: dict[str, Any]) -> dict[str, Any]:
    web["environment"].append(
        {"name": "DB_PASSWORD", "secretKeyRef": {"name": "db", "key": "password"}}
    )
    return web


def test_a_redeploy_pulls_a_moved_tag_again(real: Services, cluster: Cluster) -> None:
    """A tag of this test's own in the local registry, moved from the test application's
    content 1 to its content 2 between the version and its redeploy."""
    moving = f"{TESTAPP}:moved-{real.namespace}"
    crane("copy", f"{TESTAPP}:1", moving)
    try:
        real.apply("shop", {"containers": [container(image=moving)]})
        real.wait_active("shop", 1, timeout=DEADLINE)
        assert list(serving_uids(real, "shop", 1).values()) == ["1"]

        crane("copy", f"{TESTAPP}:2", moving)
        redeploy(cluster, real, "shop", 1)
        real.wait_active("shop", 2, timeout=DEADLINE)
        (pod,) = serving_pods(real, "shop", 2, 1)
        assert ask(pod.status.pod_ip)["version"] == "2"
        (web,) = pod.status.container_statuses
        assert web.image_id.endswith(crane("digest", f"{TESTAPP}:2")), web.image_id
    finally:
        crane("delete", moving)


def test_a_private_registry_pulls_with_the_secret_and_fails_clearly_without(
    real: Services, cluster: Cluster
) -> None:
    """Two services serve the test application from the public registry; their next version
    is the private registry's image, one naming a Secret that does not exist, the other a
    Secret with a wrong password: both fail with the kubelet's pull error, and version 1 keeps
    serving. Once the Secret exists, a redeploy runs the private image."""
    real.core.create_namespaced_secret(real.namespace, registry_secret("wrong", "not-it"))
    for name, secret in (("shop", "regcred"), ("other", "wrong")):
        real.apply(name, {"containers": [container()], "imagePullSecrets": [secret]})
    for name in ("shop", "other"):
        real.wait_active(name, 1, timeout=DEADLINE)
    before = {name: serving_uids(real, name, 1) for name in ("shop", "other")}
    for name, secret in (("shop", "regcred"), ("other", "wrong")):
        private = container(image=PRIVATE_TESTAPP)
        real.apply(name, {"containers": [private], "imagePullSecrets": [secret]})
    # containerd's words: refused without credentials, and the registry's 401 with wrong ones.
    told = {"shop": "no basic auth credentials", "other": "401 Unauthorized"}
    for name in ("shop", "other"):
        entry = wait_failed(real, name, 2, timeout=PULL_FAILURE)
        assert entry["reason"] in ("ImagePullBackOff", "ErrImagePull"), entry
        assert PRIVATE_TESTAPP in entry["message"] and told[name] in entry["message"], entry
        assert real.status(name)["currentDeployment"]["version"] == 1
        assert serving_uids(real, name, 1) == before[name]
        assert list(before[name].values()) == ["1"]

    real.core.create_namespaced_secret(real.namespace, registry_secret("regcred"))
    redeploy(cluster, real, "shop", 2)
    real.wait_active("shop", 3, timeout=PULL_FAILURE)
    assert list(serving_uids(real, "shop", 3).values()) == ["2"]


def test_a_missing_secret_or_key_fails_the_version_and_a_present_one_reaches_the_program(
    real: Services, cluster: Cluster
) -> None:
    real.apply("shop", {"containers": [container()]})
    real.wait_active("shop", 1, timeout=DEADLINE)
    before = serving_uids(real, "shop", 1)

    real.apply("shop", {"containers": [with_secret_variable(container(tag="2"))]})
    entry = wait_failed(real, "shop", 2, timeout=DEADLINE)
    assert entry["reason"] == "CreateContainerConfigError", entry
    assert '"db" not found' in entry["message"], entry

    secret = client.V1Secret(metadata=client.V1ObjectMeta(name="db"), string_data={"user": "u"})
    real.core.create_namespaced_secret(real.namespace, secret)
    redeploy(cluster, real, "shop", 2)
    entry = wait_failed(real, "shop", 3, timeout=DEADLINE)
    assert entry["reason"] == "CreateContainerConfigError", entry
    assert "password" in entry["message"], entry
    assert real.status("shop")["currentDeployment"]["version"] == 1
    assert serving_uids(real, "shop", 1) == before

    value = base64.b64encode(b"s3cret").decode()
    real.core.patch_namespaced_secret("db", real.namespace, {"data": {"password": value}})
    redeploy(cluster, real, "shop", 2)
    real.wait_active("shop", 4, timeout=DEADLINE)
    (pod,) = serving_pods(real, "shop", 4, 1)
    assert ask(pod.status.pod_ip, "/env")["DB_PASSWORD"] == "s3cret"


def test_a_power_no_node_can_hold_fails_the_version_as_the_scheduler_says(
    real: Services,
) -> None:
    """xlarge is 1000 CPUs for this module's operator. The power is capacity: version 1 gets
    a pod of that power too, which cannot be placed either, so its old pod keeps serving."""
    real.apply("shop", {"containers": [container()]})
    real.wait_active("shop", 1, timeout=DEADLINE)
    before = serving_uids(real, "shop", 1)

    real.apply("shop", {"containers": [container(tag="2")], "power": "xlarge"})
    entry = wait_failed(real, "shop", 2, timeout=DEADLINE + UNSCHEDULABLE_GRACE)
    assert entry["reason"] == "Unschedulable", entry
    assert "Insufficient cpu" in entry["message"], entry
    status = real.status("shop")
    assert status["currentDeployment"]["version"] == 1
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions["Stalled"] == ("True", "Unschedulable")
    assert serving_uids(real, "shop", 1) == before


@pytest.fixture
def missing_prober(
    cluster: Cluster, crd: None, api_client: client.ApiClient, tmp_path: Path
) -> Iterator[Services]:
    """A real-node namespace served by an operator of its own whose prober image does not exist,
    and whose activation deadline (10 minutes) is far beyond the test's wait."""
    prefix = f"{SESSION}p"
    namespace = f"{prefix}-{secrets.token_hex(3)}"
    create_real_namespace(cluster, namespace)
    running = Operator(
        cluster,
        tmp_path / "operator.log",
        {
            "LIGHTSHIP_NAMESPACES": f"{prefix}-*",
            "LIGHTSHIP_PROBE_IMAGE": "127.0.0.1:5000/lightship/prober:missing",
            "LIGHTSHIP_ACTIVATION_TIMEOUT_SECONDS": "600",
        },
    )
    running.start()
    yield Services(api_client, cluster, namespace)
    running.stop()
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    assert "Traceback" not in running.log(), running.log()[-5000:]


def test_a_prober_that_cannot_be_pulled_fails_the_version_by_the_kubelets_reason(
    missing_prober: Services,
) -> None:
    """The health-check prober is a native sidecar (an init container): its pull failure is
    read from the pod's initContainerStatuses and fails the version with the kubelet's reason,
    long before the activation deadline would."""
    missing_prober.apply("shop", {"containers": [container()], "publicEndpoint": endpoint()})
    entry = wait_failed(missing_prober, "shop", 1, timeout=300)
    assert entry["reason"] == "ImagePullBackOff", entry
    assert "container lightship-health-check" in entry["message"], entry
    assert "prober:missing" in entry["message"], entry
