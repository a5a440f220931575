"""Fixtures for tests against the local cluster.

The session brings the cluster up through hack/cluster/cluster.sh (which reuses a healthy one),
so `pytest tests/integration` works on its own. Tests always target the local cluster's
kubeconfig, never the user's current context: they create and delete objects freely.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = ROOT / "hack" / "cluster" / "cluster.sh"
CRD_FILE = ROOT / "crds" / "lightship.dev_containerservicedeployments.yaml"

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    bin_dir: Path

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    subprocess.run([str(CLUSTER_SCRIPT), "up"], check=True, timeout=1800)
    bin_dir = subprocess.run(
        [str(ROOT / "hack" / "cluster" / "build.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Cluster(kubeconfig=ROOT / ".cluster" / "kubeconfig", bin_dir=Path(bin_dir))


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
    stem = "".join(c for c in stem if c.isalnum() or c == "-")[:40].strip("-")
    name = f"t-{stem}-{secrets.token_hex(3)}"
    cluster.kubectl("create", "namespace", name)
    # Pods are refused until the namespace's default ServiceAccount exists.
    deadline = time.monotonic() + 30
    while cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode:
        assert time.monotonic() < deadline, f"namespace {name} got no default ServiceAccount"
        time.sleep(0.2)
    yield name
    if not os.environ.get("LIGHTSHIP_KEEP_NAMESPACES"):
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
