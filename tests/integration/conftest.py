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
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[2]
# The local cluster's registry holds the health-check prober (hack/prober) under this name: every
# operator the tests start, and every pod they render to compare, uses it (unless set already).
os.environ.setdefault(
    "LIGHTSHIP_PROBE_IMAGE", f"127.0.0.1:5000/lightship/prober:{version('lightship')}"
)
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
    # The cluster LIGHTSHIP_CLUSTER names (hack/cluster/cluster.sh), else the default one.
    name = os.environ.get("LIGHTSHIP_CLUSTER", "lightship")
    kubeconfig = "kubeconfig" if name == "lightship" else f"{name}.kubeconfig"
    return Cluster(kubeconfig=ROOT / ".cluster" / kubeconfig, bin_dir=Path(bin_dir))


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


def create_namespace(cluster: Cluster, name: str) -> None:
    """Creates a namespace and waits until pods can be made in it."""
    cluster.kubectl("create", "namespace", name)
    # Pods are refused until the namespace's default ServiceAccount exists.
    deadline = time.monotonic() + 30
    while cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode:
        assert time.monotonic() < deadline, f"namespace {name} got no default ServiceAccount"
        time.sleep(0.2)


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


class Operator:
    """`lightship run` in a subprocess against the local cluster, with its log kept."""

    def __init__(
        self,
        cluster: Cluster,
        log_path: Path,
        env: dict[str, str],
        kubeconfig: Path | None = None,
    ) -> None:
        self.cluster = cluster
        self.log_path = log_path
        self.env = env
        # Another identity than the cluster's admin (tests/integration/test_least_privilege.py).
        self.kubeconfig = kubeconfig or cluster.kubeconfig
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.process is None
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("lightship")), "run", "--verbose"],
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig), **self.env},
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


# -- Reliability and security (tests/integration/test_reliability*.py, test_security*.py) -----


def wait_for(
    check: Callable[[], Any],
    what: str,
    timeout: float,
    interval: float = 0.25,
    transient: tuple[type[BaseException], ...] = (),
) -> Any:
    """Polls `check` until it returns something truthy, and returns that; fails after `timeout`
    seconds saying `what` was awaited and what `check` last returned or raised. Exceptions of
    the `transient` types (an API server that is down) count as "not yet"."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
            if last:
                return last
        except transient as error:
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}; last: {last}"
            )
        time.sleep(interval)


def audit_service(
    services: Services, name: str, spec: dict[str, Any], versions: list[int]
) -> list[str]:
    """What is wrong with a service that should be at rest: `versions` kept (status and
    ControllerRevisions, no duplicate, none missing), the newest one Active and made from
    `spec`'s deployment, exactly `scale` pods of it and no other pod, the Service selecting it.
    An empty list when all holds."""
    from lightship import children, render
    from lightship.api import ContainerServiceSpec, read_deployment

    problems: list[str] = []
    obj = services.get(name)
    uid, generation = obj["metadata"]["uid"], obj["metadata"]["generation"]
    status = obj.get("status") or {}
    want = ContainerServiceSpec.model_validate(spec)
    if ContainerServiceSpec.model_validate(obj["spec"]) != want:
        problems.append("the object's spec is not the last one written")
    if status.get("observedGeneration") != generation:
        problems.append(f"observedGeneration {status.get('observedGeneration')} != {generation}")
    listed = [v["version"] for v in status.get("versions", [])]
    if listed != sorted(versions, reverse=True):
        problems.append(f"status.versions {listed} != {sorted(versions, reverse=True)}")
    active = [v["version"] for v in status.get("versions", []) if v["state"] == "Active"]
    newest = max(versions)
    if active != [newest]:
        entries = [v for v in status.get("versions", []) if v["version"] == newest]
        problems.append(f"Active versions {active} != [{newest}]; version {newest}: {entries}")
    others = {
        v["version"]: v["state"] for v in status.get("versions", []) if v["version"] != newest
    }
    if any(state not in ("Inactive", "Failed") for state in others.values()):
        problems.append(f"older versions not at rest: {others}")
    if (status.get("currentDeployment") or {}).get("version") != newest:
        problems.append(f"currentDeployment {status.get('currentDeployment')}")
    if status.get("state") != "Running" or "nextDeployment" in status:
        problems.append(f"state {status.get('state')}, next {status.get('nextDeployment')}")

    revisions = services.apps.list_namespaced_controller_revision(
        services.namespace, label_selector=f"{render.SERVICE_LABEL}={name}"
    ).items
    numbers = sorted(r.revision for r in revisions)
    if numbers != sorted(versions):
        problems.append(f"ControllerRevisions {numbers} != {sorted(versions)}")
    generations = [r.metadata.annotations.get(render.GENERATION_ANNOTATION) for r in revisions]
    if len(set(generations)) != len(generations):
        problems.append(f"two versions of one generation: {sorted(generations)}")
    for revision in revisions:
        if not any(o.uid == uid and o.controller for o in revision.metadata.owner_references):
            problems.append(f"revision {revision.metadata.name} is not owned by the object")
        if revision.revision == newest:
            if read_deployment(revision.data).deployment() != want.deployment():
                problems.append(f"revision {revision.metadata.name} is not the last deployment")
            made = revision.metadata.annotations.get(render.GENERATION_ANNOTATION)
            if int(made or 0) > generation:
                problems.append(f"revision {revision.metadata.name} is of a future generation")

    pods = services.core.list_namespaced_pod(
        services.namespace, label_selector=f"{render.SERVICE_LABEL}={name}"
    ).items
    names = sorted(p.metadata.name for p in pods)
    expected = sorted(render.pod_name(name, newest, k) for k in range(want.scale))
    if names != expected:
        problems.append(f"pods {names} != {expected}")
    for pod in pods:
        manifest = client.ApiClient().sanitize_for_serialization(pod)
        desired = render.render_pod(name, uid, want, newest, 0)
        for key in ("apiVersion", "kind"):  # not in the items of a list
            desired.pop(key)
        desired["metadata"].pop("name")
        if pod.metadata.deletion_timestamp is not None:
            problems.append(f"pod {pod.metadata.name} is terminating")
        elif not children.is_subset(desired, manifest):
            problems.append(f"pod {pod.metadata.name} is not rendered from the last spec")

    try:
        service = services.core.read_namespaced_service(name, services.namespace)
    except client.ApiException as error:
        problems.append(f"the Service cannot be read: {error.reason}")
    else:
        if service.spec.selector != render.labels(name, newest):
            problems.append(f"Service selector {service.spec.selector}")
    return problems


def wait_consistent(
    services: Services,
    name: str,
    spec: dict[str, Any],
    versions: list[int],
    timeout: float = 60,
) -> None:
    """Waits until `audit_service` finds nothing wrong, and fails with what it found."""
    deadline = time.monotonic() + timeout
    while problems := audit_service(services, name, spec, versions):
        if time.monotonic() > deadline:
            raise AssertionError(f"{services.namespace}/{name} after {timeout} s: {problems}")
        time.sleep(0.5)


def leftovers(services: Services, selector: str = "lightship.dev/service") -> list[str]:
    """Pods, Services, Ingresses and ControllerRevisions of the namespace that carry a label of
    Lightship (`selector`), as kind/name."""
    return services.cluster.kubectl(
        "get",
        "pods,services,ingresses,controllerrevisions",
        "-n",
        services.namespace,
        "-l",
        selector,
        "-o",
        "name",
    ).stdout.split()


class SideCluster:
    """A local cluster of its own (hack/cluster/cluster.sh with LIGHTSHIP_CLUSTER), for tests
    that pause, kill and restart its API server: the shared one is never touched.

    kwokctl runs the control plane as plain processes; nothing restarts one that exits. Here
    `supervise()` does what a kubelet does for static pods: it starts again, with its recorded
    command line, every component that exited (the controller manager and the scheduler exit
    when they cannot renew their leader lease, that is when the API server is away for 10 s)."""

    COMPONENTS = (
        "etcd",
        "kube-apiserver",
        "kwok-controller",
        "kube-controller-manager",
        "kube-scheduler",
    )

    def __init__(self, name: str, bin_dir: Path) -> None:
        self.name = name
        self.dir = ROOT / ".cluster" / "kwok" / "clusters" / name
        self.cluster = Cluster(kubeconfig=ROOT / ".cluster" / f"{name}.kubeconfig", bin_dir=bin_dir)
        self.commands: dict[str, tuple[list[str], str, dict[str, str]]] = {}
        self.started: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, int] = {}

    def _script(self, action: str) -> None:
        subprocess.run(
            [str(CLUSTER_SCRIPT), action],
            env={**os.environ, "LIGHTSHIP_CLUSTER": self.name},
            check=True,
            timeout=600,
        )

    def up(self) -> None:
        self._script("up")
        for component in self.COMPONENTS:
            pid = self.pid(component)
            proc = Path(f"/proc/{pid}")
            argv = (proc / "cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
            env = dict(
                entry.split("=", 1)
                for entry in (proc / "environ").read_bytes().decode().split("\0")
                if "=" in entry
            )
            self.commands[component] = (argv, os.readlink(proc / "cwd"), env)

    def down(self) -> None:
        self._script("down")
        for process in self.started.values():  # stopped by kwokctl through the pid files
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    def pid(self, component: str) -> int:
        return int((self.dir / "pids" / f"{component}.pid").read_text().strip())

    def alive(self, component: str) -> bool:
        process = self.started.get(component)
        if process is not None:
            return process.poll() is None
        try:
            state = Path(f"/proc/{self.pid(component)}/stat").read_text().split(") ", 1)[1]
        except (FileNotFoundError, ProcessLookupError):
            return False
        return not state.startswith(("Z", "X"))

    def start(self, component: str) -> None:
        argv, cwd, env = self.commands[component]
        log = (self.dir / "logs" / f"{component}.log").open("ab")
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.started[component] = process
        # kwokctl stops the cluster through its pid files: keep them right.
        (self.dir / "pids" / f"{component}.pid").write_text(str(process.pid))
        self.restarts[component] = self.restarts.get(component, 0) + 1

    def revive(self) -> None:
        for component in self.COMPONENTS:
            if not self.alive(component):
                self.start(component)

    def supervise(self) -> _Supervision:
        """A context in which components that exit are started again."""
        return _Supervision(self)

    def signal_apiserver(self, sig: int) -> None:
        os.kill(self.pid("kube-apiserver"), sig)

    def ready(self) -> bool:
        return self.cluster.kubectl("get", "--raw=/readyz", check=False, timeout=10).returncode == 0


class _Supervision:
    """While entered, a thread starts again every component of a SideCluster that exited."""

    def __init__(self, side: SideCluster) -> None:
        import threading

        self.side = side
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, name=f"supervise-{side.name}", daemon=True)

    def loop(self) -> None:
        while not self.stop.wait(0.5):
            self.side.revive()

    def __enter__(self) -> None:
        self.thread.start()

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
