"""What the integration tests share: the local cluster and the operator they drive, the
services they write, and waiting for what they expect. conftest.py makes fixtures of these;
tests/integration/checks.py says what must hold.

Tests always target the local cluster's kubeconfig, never the user's current context: they
create and delete objects freely. LIGHTSHIP_CLUSTER names another local cluster than the
default one (hack/cluster/cluster.sh), so that several checkouts can test side by side.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
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

import yaml
from kubernetes import client

from lightship import GROUP, KIND, VERSION

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = ROOT / "hack" / "cluster" / "cluster.sh"
CRD_FILE = ROOT / "crds" / "lightship.dev_containerservicedeployments.yaml"
PLURAL = "containerservicedeployments"
# The local cluster of the tests, as hack/cluster/cluster.sh names it and lays out its files.
CLUSTER_NAME = os.environ.get("LIGHTSHIP_CLUSTER") or "lightship"
# Every namespace of this test session starts with this, and the session's operator watches only
# those: test sessions (and benchmarks) can share the cluster without their operators meeting.
SESSION = f"t{secrets.token_hex(2)}"
# The local cluster's registry holds the health-check prober (hack/prober) under this name: every
# operator the tests start, and every pod they render to compare, uses it (unless set already).
os.environ.setdefault(
    "LIGHTSHIP_PROBE_IMAGE", f"127.0.0.1:5000/lightship/prober:{version('lightship')}"
)

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def built(tool: str, *args: str, timeout: float = 3600) -> Path:
    """What hack/<tool>/build.sh [args] prints: where it built the tool once into the cache
    from its pinned versions (minutes, the first time), or found it there."""
    return Path(
        subprocess.run(
            [str(ROOT / "hack" / tool / "build.sh"), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        ).stdout.strip()
    )


def kubeconfig_of(name: str) -> Path:
    """Where hack/cluster/cluster.sh writes the kubeconfig of the local cluster `name`."""
    state = ROOT / ".cluster"
    return state / "kubeconfig" if name == "lightship" else state / f"{name}.kubeconfig"


def audit_log_of(name: str) -> Path:
    """The API server's audit log of the local cluster `name` (hack/cluster/audit-policy.yaml)."""
    return ROOT / ".cluster" / "kwok" / "clusters" / name / "logs" / "audit.log"


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


def service_account_kubeconfig(cluster: Cluster, namespace: str, account: str, path: Path) -> Path:
    """Writes to `path` a copy of the cluster's kubeconfig whose user is the ServiceAccount
    `namespace/account`, with a token of it (TokenRequest): the Python clients (kubernetes,
    kopf) ignore a kubeconfig's impersonation (`as:`), so a token is the way to be it for real."""
    token = cluster.kubectl(
        "create", "token", account, "-n", namespace, "--duration=2h"
    ).stdout.strip()
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    (context,) = (c for c in config["contexts"] if c["name"] == config["current-context"])
    context["context"]["user"] = account
    config["users"] = [{"name": account, "user": {"token": token}}]
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def create_namespace(cluster: Cluster, name: str) -> None:
    """Creates a namespace and waits until pods can be made in it."""
    cluster.kubectl("create", "namespace", name)
    # Pods are refused until the namespace's default ServiceAccount exists.
    wait_for(
        lambda: cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0,
        f"namespace {name}'s default ServiceAccount",
        30,
        interval=0.2,
    )


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


class Operator:
    """`lightship run` in a subprocess against a cluster, with its log kept."""

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

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """Stopped within the context, started again after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def log_size(self) -> int:
        """Where the log ends now: `log(since=...)` reads what comes after."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log(self, since: int = 0) -> str:
        return self.log_path.read_bytes()[since:].decode(errors="replace")


class Services:
    """ContainerServiceDeployments of one test namespace, read through the API."""

    def __init__(self, api_client: client.ApiClient, cluster: Cluster, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.networking = client.NetworkingV1Api(api_client)
        self.cluster = cluster
        self.namespace = namespace
        # The failures of the operator a test causes on purpose (checks.operator_failures).
        self.expected_failures: re.Pattern[str] | None = None

    def apply(self, name: str, spec: dict[str, Any], **metadata: Any) -> None:
        """`kubectl apply --server-side` of the object, as a user would."""
        manifest = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": name, "namespace": self.namespace, **metadata},
            "spec": spec,
        }
        self.cluster.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=json.dumps(manifest)
        )

    def patch(self, name: str, body: Any, **options: Any) -> dict[str, Any]:
        """A PATCH of the object, of the type `options` say (`_content_type`)."""
        result: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, body, **options
        )
        return result

    def get(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name
        )
        return result

    def status(self, name: str) -> dict[str, Any]:
        return self.get(name).get("status") or {}

    def wait(
        self, name: str, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 60
    ) -> dict[str, Any]:
        """Waits until the object's current generation is observed and its status satisfies
        `predicate`; returns that status."""

        def check() -> dict[str, Any] | None:
            obj = self.get(name)
            status = obj.get("status") or {}
            return status if observed(obj) and predicate(status) else None

        try:
            result: dict[str, Any] = wait_for(check, f"{name}: {what}", timeout, interval=0.2)
        except AssertionError as error:
            status = json.dumps(self.status(name), indent=1)
            raise AssertionError(f"{error}; status:\n{status}") from None
        return result

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
        """The pods of the service (of one version), but those terminating."""
        selector = f"lightship.dev/service={name}"
        if version is not None:
            selector += f",lightship.dev/version={version}"
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=selector)
        return [
            client.ApiClient().sanitize_for_serialization(p)
            for p in pods.items
            if p.metadata.deletion_timestamp is None
        ]

    def controller_revisions(self, name: str) -> list[client.V1ControllerRevision]:
        """The ControllerRevisions labelled with the service, whoever owns them."""
        return list(
            self.apps.list_namespaced_controller_revision(
                self.namespace, label_selector=f"lightship.dev/service={name}"
            ).items
        )

    def revisions(self, name: str) -> list[int]:
        return sorted(r.revision for r in self.controller_revisions(name))

    def revision_owners(self, name: str) -> dict[str, list[str]]:
        """Each revision of the service by name, with the uids of its owners."""
        return {
            r.metadata.name: [o.uid for o in r.metadata.owner_references or []]
            for r in self.controller_revisions(name)
        }


def create(services: Services, name: str, spec: dict[str, Any]) -> None:
    """Creates the object through the API (refused if it exists)."""
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": name}}
    services.custom.create_namespaced_custom_object(
        GROUP, VERSION, services.namespace, PLURAL, {**body, "spec": spec}
    )


def write_spec(custom: client.CustomObjectsApi, namespace: str, name: str, spec: Any) -> int:
    """Replaces the spec (a JSON patch: lists are replaced whole); returns the new generation."""
    result = custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
        [{"op": "replace", "path": "/spec", "value": spec}],
        _content_type="application/json-patch+json",
    )
    return int(result["metadata"]["generation"])


def listed(services: Services) -> dict[str, dict[str, Any]]:
    """Every object of the namespace, by name."""
    items = services.custom.list_namespaced_custom_object(
        GROUP, VERSION, services.namespace, PLURAL
    )["items"]
    return {item["metadata"]["name"]: item for item in items}


def observed(obj: dict[str, Any]) -> bool:
    """The operator has acted on the object's current spec generation."""
    status = obj.get("status") or {}
    return bool(status.get("observedGeneration") == obj["metadata"]["generation"])


def wait_observed(services: Services, name: str, generation: int, timeout: float = 60) -> None:
    """Waits until the operator has acted on `generation` of the spec, or a later one."""
    wait_for(
        lambda: (services.status(name).get("observedGeneration") or 0) >= generation,
        f"{name}: generation {generation} observed",
        timeout,
        interval=0.1,
    )


def settled_versions(services: Services, name: str, timeout: float = 60) -> list[int]:
    """Once the current generation is observed and its version Active: the kept versions."""
    status = services.wait(name, lambda s: s.get("state") == "Running", "settled", timeout)
    return sorted(v["version"] for v in status["versions"])


def states(status: dict[str, Any]) -> dict[int, str]:
    """The state of each kept version, by number."""
    return {v["version"]: v["state"] for v in status.get("versions", [])}


def uids(pods: list[dict[str, Any]]) -> set[str]:
    return {p["metadata"]["uid"] for p in pods}


def events(services: Services, name: str) -> list[tuple[str, str, str]]:
    """(type, reason, message) of every Event about the object."""
    found = services.core.list_namespaced_event(
        services.namespace, field_selector=f"involvedObject.name={name}"
    )
    return [(e.type, e.reason, e.message) for e in found.items]


def wait_event(services: Services, name: str, type_: str, reason: str) -> str:
    """Waits for an Event of this type and reason about the object; returns its message.
    Events are written after the status that goes with them, and apart from it."""
    found: str = wait_for(
        lambda: next((m for t, r, m in events(services, name) if (t, r) == (type_, reason)), ""),
        f"a {type_} Event {reason} about {name}",
        30,
    )
    return found


def selected_version(services: Services, name: str) -> str:
    """The version the Service's selector sends traffic to."""
    service = services.core.read_namespaced_service(name, services.namespace)
    return str(service.spec.selector["lightship.dev/version"])


def wait_conflict(services: Services, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Waits for the service's Conflict condition to be True; returns the status and it."""
    status = services.wait(
        name,
        lambda s: any(
            c["type"] == "Conflict" and c["status"] == "True" for c in s.get("conditions", [])
        ),
        "the Conflict condition",
    )
    return status, next(c for c in status["conditions"] if c["type"] == "Conflict")


# -- specs --------------------------------------------------------------------------------------

WEB = {
    "name": "web",
    "image": "nginx:1.27",
    "command": ["nginx", "-g", "daemon off;"],
    "environment": [{"name": "REDIS_HOST", "value": "localhost"}],
    "ports": [{"port": 80, "protocol": "HTTP"}],
}
CACHE = {"name": "cache", "image": "redis:7", "ports": [{"port": 6379, "protocol": "TCP"}]}


def remove_children(cluster: Cluster, namespace: str, name: str) -> None:
    """What an orphaning delete left of a service: as garbage collection would remove it."""
    cluster.kubectl(
        "delete",
        "controllerrevisions,pods,services,ingresses",
        "-n",
        namespace,
        "-l",
        f"lightship.dev/service={name}",
        "--wait=true",
    )


def shop(image: str = "nginx:1.27", scale: int = 1, public: bool = True) -> dict[str, Any]:
    """A fresh spec (callers may change it freely): web and cache, web public with a health
    check."""
    web = {**copy.deepcopy(WEB), "image": image}
    spec: dict[str, Any] = {"scale": scale, "containers": [web, copy.deepcopy(CACHE)]}
    if public:
        spec["publicEndpoint"] = {
            "containerName": "web",
            "containerPort": 80,
            "healthCheck": {"path": "/healthz", "intervalSeconds": 7},
        }
    return spec


def spec_of(change: int, scale: int = 1, public: bool = True) -> dict[str, Any]:
    """A valid spec; `change` is visible in the pods (an environment variable)."""
    spec: dict[str, Any] = {
        "scale": scale,
        "containers": [
            {
                "name": "web",
                "image": "nginx:1.27",
                "environment": [{"name": "CHANGE", "value": str(change)}],
                "ports": [{"port": 80, "protocol": "HTTP"}],
            },
            copy.deepcopy(CACHE),
        ],
    }
    if public:
        spec["publicEndpoint"] = {"containerName": "web", "containerPort": 80}
    return spec
