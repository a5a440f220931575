"""API-server faults, on a cluster of this module's own (never the shared one): the API server
is paused with SIGSTOP for 15 s, and killed and started again, each time in the middle of
rollouts. The operator is not told anything; it must recover on its own and finish every
rollout correctly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config

from tests.integration.checks import OUTAGE, audit_service, operator_failures, wait_consistent
from tests.integration.support import (
    CLUSTER_SCRIPT,
    CRD_FILE,
    ROOT,
    SESSION,
    Cluster,
    Operator,
    Services,
    create,
    create_namespace,
    kubeconfig_of,
    spec_of,
    wait_for,
    wait_observed,
    write_spec,
)

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

# While the API server is away, requests fail (connection refused, reset) or time out.
DOWN = (urllib3.exceptions.HTTPError, OSError, client.ApiException)


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
        self.cluster = Cluster(kubeconfig=kubeconfig_of(name), bin_dir=bin_dir)
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


@pytest.fixture(scope="module")
def side(cluster: Cluster) -> Iterator[SideCluster]:
    side = SideCluster(f"lightship-chaos-{SESSION}", cluster.bin_dir)
    side.up()
    try:
        side.cluster.kubectl("apply", "--server-side", "-f", str(CRD_FILE))
        side.cluster.kubectl("wait", "--for=condition=established", "-f", str(CRD_FILE))
        yield side
    finally:
        side.down()


@pytest.fixture(scope="module")
def side_operator(
    side: SideCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    log = tmp_path_factory.mktemp("side-operator") / "operator.log"
    # A deadline longer than the faults: versions must not fail because the API was away.
    running = Operator(side.cluster, log, {"LIGHTSHIP_ACTIVATION_TIMEOUT_SECONDS": "300"})
    running.start()
    yield running
    if running.process is not None:
        running.stop()
    print(f"operator log: {log}")


@pytest.fixture
def side_services(side: SideCluster, side_operator: Operator) -> Iterator[Services]:
    api = config.new_client_from_config(config_file=str(side.cluster.kubeconfig))
    # No request of the test hangs on a paused API server for long.
    api.configuration.retries = 0
    name = f"faults-{int(time.monotonic() * 1000) % 100000}"
    create_namespace(side.cluster, name)
    yield Services(api, side.cluster, name)


def roll_out_through(
    side: SideCluster,
    services: Services,
    fault: str,
    count: int = 10,
) -> dict[str, Any]:
    """Makes `count` services Active at version 1, writes version 2 of each (and version 3 of
    half of them: a version superseded mid-rollout), injects the fault while those roll out,
    and checks that every service ends consistent at its last spec. Returns timings."""
    names = [f"svc-{i}" for i in range(count)]
    for name in names:
        create(services, name, spec_of(1, scale=2))
    for name in names:
        services.wait_active(name, 1, timeout=90)
    last = {}
    for i, name in enumerate(names):
        last[name] = spec_of(2, scale=1 + i % 3)
        write_spec(services.custom, services.namespace, name, last[name])
    for name in names[::2]:
        # Generation 3 only once the operator acted on generation 2: a generation it never
        # saw is no version (DESIGN §2), and version 2 must exist to be superseded.
        wait_observed(services, name, 2)
        last[name] = spec_of(3, scale=2)
        write_spec(services.custom, services.namespace, name, last[name])

    began = time.monotonic()
    if fault == "kill":
        # Hung first, then killed (as a liveness probe would): every request the operator has
        # in flight breaks, then it meets refused connections and broken watches.
        side.signal_apiserver(signal.SIGSTOP)
        time.sleep(2)
        side.signal_apiserver(signal.SIGKILL)
        time.sleep(3)
    with side.supervise():  # starts again what exited: the API server after a kill
        if fault == "pause":
            side.signal_apiserver(signal.SIGSTOP)
            time.sleep(15)
            side.signal_apiserver(signal.SIGCONT)
        wait_for(side.ready, "the API server to be ready again", 90, interval=0.5)
        back = time.monotonic()
        deadline = time.monotonic() + 120
        for name in names:
            # The test's own reads may meet the API server still recovering.
            versions = [1, 2, 3] if name in names[::2] else [1, 2]
            wait_for(
                lambda n=name, v=versions: _consistent(services, n, last[n], v),
                f"{name} consistent after the fault",
                max(deadline - time.monotonic(), 1),
                interval=0.5,
                transient=DOWN,
            )
        recovered = time.monotonic()
    for name in names:
        wait_consistent(services, name, last[name], [1, 2, 3] if name in names[::2] else [1, 2])
    return {
        "services": count,
        "fault_seconds": back - began,
        "recovered_after": recovered - back,
        "restarts": dict(side.restarts),
    }


def _consistent(services: Services, name: str, spec: dict[str, Any], versions: list[int]) -> bool:
    return not audit_service(services, name, spec, versions)


def assert_survived(operator: Operator, since: int) -> None:
    """The operator still runs, and reported no failure the fault does not explain."""
    assert operator.process is not None and operator.process.poll() is None
    failures = operator_failures(operator.log(since), expected=OUTAGE)
    assert not failures, "the operator reported failures:\n" + "\n".join(failures)


def test_api_server_paused_for_15_s_mid_rollout(
    side: SideCluster, side_services: Services, side_operator: Operator
) -> None:
    since = side_operator.log_size()
    result = roll_out_through(side, side_services, "pause")
    print(f"SIGSTOP: recovered {result['recovered_after']:.1f} s after the API server was back")
    print(f"SIGSTOP: {result}")
    assert_survived(side_operator, since)


def test_api_server_killed_and_restarted_mid_rollout(
    side: SideCluster, side_services: Services, side_operator: Operator
) -> None:
    since = side_operator.log_size()
    restarts = side.restarts.get("kube-apiserver", 0)
    result = roll_out_through(side, side_services, "kill")
    print(f"SIGKILL: recovered {result['recovered_after']:.1f} s after the API server was back")
    print(f"SIGKILL + restart: {result}")
    assert side.restarts["kube-apiserver"] == restarts + 1
    assert_survived(side_operator, since)
