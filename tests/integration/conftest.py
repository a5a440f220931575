"""Fixtures for tests against the local cluster.

The session brings the cluster up through hack/cluster/cluster.sh (which reuses a healthy one),
so `pytest tests/integration` works on its own. Tests always target the local cluster's
kubeconfig, never the user's current context: they create and delete objects freely.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = ROOT / "hack" / "cluster" / "cluster.sh"
CRD_FILE = ROOT / "crds" / "lightship.dev_containerservicedeployments.yaml"

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
# Every namespace of this test session starts with this, and the session's operator watches only
# those: test sessions (and benchmarks) can share the cluster without their operators meeting.
SESSION = f"t{secrets.token_hex(2)}"


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

    def run_lightship(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The `lightship` command line, against this cluster."""
        return subprocess.run(
            [str(Path(sys.executable).with_name("lightship")), *args],
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
            capture_output=True,
            text=True,
            timeout=120,
        )


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
    stem = "".join(c for c in stem if c.isalnum() or c == "-")[:36].strip("-")
    name = f"{SESSION}-{stem}-{secrets.token_hex(3)}"
    cluster.kubectl("create", "namespace", name)
    # Pods are refused until the namespace's default ServiceAccount exists.
    deadline = time.monotonic() + 30
    while cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode:
        assert time.monotonic() < deadline, f"namespace {name} got no default ServiceAccount"
        time.sleep(0.2)
    yield name
    if not os.environ.get("LIGHTSHIP_KEEP_NAMESPACES"):
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


class Operator:
    """`lightship run` in a subprocess against the local cluster, with its log kept."""

    def __init__(self, cluster: Cluster, log_path: Path, env: dict[str, str]) -> None:
        self.cluster = cluster
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.process is None
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("lightship")), "run", "--verbose"],
            env={**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig), **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=30)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, crd: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    """The operator, running for the whole session, with a short activation deadline so the
    never-ready case fails within a test."""
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    running = Operator(
        cluster,
        log_path,
        {"LIGHTSHIP_ACTIVATION_TIMEOUT_SECONDS": "20", "LIGHTSHIP_NAMESPACES": f"{SESSION}-*"},
    )
    running.start()
    yield running
    if running.process is not None:
        running.stop()
    log = running.log()
    # Whatever the tests did, the operator never crashed on it.
    assert "Traceback" not in log, f"the operator logged an unhandled error:\n{log[-5000:]}"


class Services:
    """ContainerServiceDeployments of one test namespace, read through the API."""

    def __init__(self, api_client: client.ApiClient, cluster: Cluster, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.networking = client.NetworkingV1Api(api_client)
        self.cluster = cluster
        self.namespace = namespace

    def apply(self, name: str, spec: dict[str, Any], **metadata: Any) -> None:
        manifest = {
            "apiVersion": "lightship.dev/v1alpha1",
            "kind": "ContainerServiceDeployment",
            "metadata": {"name": name, "namespace": self.namespace, **metadata},
            "spec": spec,
        }
        self.cluster.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=json.dumps(manifest)
        )

    def get(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.get_namespaced_custom_object(
            "lightship.dev", "v1alpha1", self.namespace, "containerservicedeployments", name
        )
        return result

    def status(self, name: str) -> dict[str, Any]:
        return self.get(name).get("status") or {}

    def wait(
        self, name: str, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 60
    ) -> dict[str, Any]:
        """Waits until the object's status satisfies `predicate`; returns that status."""
        deadline = time.monotonic() + timeout
        while True:
            obj = self.get(name)
            status = obj.get("status") or {}
            if status.get("observedGeneration") == obj["metadata"]["generation"] and predicate(
                status
            ):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {name}: {what}; status is\n"
                    + json.dumps(status, indent=1)
                )
            time.sleep(0.2)

    def wait_active(self, name: str, version: int, timeout: float = 60) -> dict[str, Any]:
        return self.wait(
            name,
            lambda s: (
                s.get("state") == "Running"
                and (s.get("currentDeployment") or {}).get("version") == version
            ),
            f"version {version} Active and the service Running",
            timeout,
        )

    def pods(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        selector = f"lightship.dev/service={name}"
        if version is not None:
            selector += f",lightship.dev/version={version}"
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=selector)
        return [
            client.ApiClient().sanitize_for_serialization(p)
            for p in pods.items
            if p.metadata.deletion_timestamp is None
        ]

    def revisions(self, name: str) -> list[int]:
        revisions = self.apps.list_namespaced_controller_revision(
            self.namespace, label_selector=f"lightship.dev/service={name}"
        )
        return sorted(r.revision for r in revisions.items)


@pytest.fixture
def services(
    api_client: client.ApiClient, cluster: Cluster, namespace: str, operator: Operator
) -> Services:
    return Services(api_client, cluster, namespace)
