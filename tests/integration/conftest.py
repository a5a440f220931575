"""Fixtures for tests against the local cluster (the helpers are in support.py and checks.py).

The session brings the cluster up through hack/cluster/cluster.sh (which reuses a healthy one),
so `pytest tests/integration` works on its own; LIGHTSHIP_CLUSTER chooses which local cluster.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.integration.checks import RACES, operator_failures
from tests.integration.helm import Helm
from tests.integration.support import (
    CLUSTER_NAME,
    CLUSTER_SCRIPT,
    CRD_FILE,
    SESSION,
    Cluster,
    Kubectl,
    Operator,
    Services,
    built,
    create_namespace,
    kubeconfig_of,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    subprocess.run(
        [str(CLUSTER_SCRIPT), "up"],
        env={**os.environ, "LIGHTSHIP_CLUSTER": CLUSTER_NAME},
        check=True,
        timeout=1800,
    )
    return Cluster(kubeconfig=kubeconfig_of(CLUSTER_NAME), bin_dir=built("cluster"))


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """helm, built from hack/helm/go.mod, with config, cache and data folders of its own."""
    return Helm.build(tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="session")
def kubectl(cluster: Cluster) -> Kubectl:
    return cluster.kubectl


@pytest.fixture(scope="session")
def api_client(cluster: Cluster) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(cluster.kubeconfig))


@pytest.fixture(scope="session")
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def crd(cluster: Cluster) -> None:
    """The CRD under crds/ is installed and established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE))
    cluster.kubectl("wait", "--for=condition=established", "--timeout=60s", "-f", str(CRD_FILE))


@pytest.fixture
def namespace(request: pytest.FixtureRequest, cluster: Cluster) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting for it to go)."""
    stem = request.node.name.lower().replace("_", "-")
    stem = "".join(c for c in stem if c.isalnum() or c == "-")[:36].strip("-")
    name = f"{SESSION}-{stem}-{secrets.token_hex(3)}"
    create_namespace(cluster, name)
    yield name
    if not os.environ.get("LIGHTSHIP_KEEP_NAMESPACES"):
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, crd: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    """The operator, running for the whole session, with a short activation deadline so the
    never-ready case fails within a test, a short grace for unschedulable pods, and a power
    sized beyond the local nodes (64 CPUs each: hack/cluster/nodes.yaml), so that pods of that
    power cannot be scheduled."""
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    running = Operator(
        cluster,
        log_path,
        {
            "LIGHTSHIP_ACTIVATION_TIMEOUT_SECONDS": "20",
            "LIGHTSHIP_UNSCHEDULABLE_GRACE_SECONDS": "5",
            "LIGHTSHIP_POWERS": json.dumps({"xlarge": {"cpu": "1000", "memory": "8Gi"}}),
            "LIGHTSHIP_NAMESPACES": f"{SESSION}-*",
        },
    )
    running.start()
    yield running
    if running.process is not None:
        running.stop()
    # Failures about the tests' services are checked test by test (`services`); here, those
    # about none of them.
    failures = [f for f in operator_failures(running.log()) if f"{SESSION}-" not in f]
    assert not failures, "the operator reported failures:\n" + "\n".join(failures)


@pytest.fixture
def services(
    api_client: client.ApiClient, cluster: Cluster, namespace: str, operator: Operator
) -> Iterator[Services]:
    """The services of the test's namespace. After the test (before its namespace goes), the
    operator's log must report no failure about them but a write refused by a race, or those
    the test expects (`services.expected_failures`)."""
    since = operator.log_size()
    services = Services(api_client, cluster, namespace)
    yield services
    expected = services.expected_failures or RACES
    failures = operator_failures(operator.log(since), namespace, expected)
    assert not failures, "the operator reported failures:\n" + "\n".join(failures)
