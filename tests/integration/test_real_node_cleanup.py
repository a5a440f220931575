"""`cluster-down` leaves nothing of the real node on the host: no process (its registries
included), mount, interface, network namespace, cgroup, netfilter rule or file (the private
registry's storage and credentials, containerd's certs.d), and every sysctl as it was before
the node started.

It stops the session's real node (`cluster.sh node-down`), starts it again, stops it again and
compares the host after the two stops; then starts it for the tests that follow. It runs after
test_real_node.py (file order), and never touches the control plane.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.real_node import PRIVATE_REGISTRY, TESTAPP, create_real_namespace
from tests.integration.support import CLUSTER_SCRIPT, ROOT, SESSION, Cluster

pytestmark = pytest.mark.realnode

NODE_STATE = ROOT / ".cluster" / "node"
BRIDGE = "lightship0"  # hack/cluster/node.sh
REGISTRY = "127.0.0.1:5000"


@dataclass(frozen=True)
class Host:
    """What the real node could leave behind."""

    node_processes: frozenset[str]
    mounts: frozenset[str]
    interfaces: frozenset[str]
    network_namespaces: frozenset[str]
    node_cgroups: frozenset[str]
    other_cgroups: frozenset[str]
    ruleset: str
    sysctls: dict[str, str]


def node_script(action: str) -> None:
    subprocess.run([str(CLUSTER_SCRIPT), action], check=True, timeout=600)


def processes() -> dict[str, Path]:
    """The running processes: not the zombies of exited ones, which only the machine's init
    (the parent of every daemon once its starter exits) can reap."""
    return {
        p.name: p
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and read(p / "stat").rpartition(") ")[2][:1] not in ("Z", "")
    }


def read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:  # the process ended meanwhile
        return ""


def snapshot(sysctls: list[str]) -> Host:
    procs = processes()
    cgroups = [str(d) for d in Path("/sys/fs/cgroup").glob("*/**/") if d.is_dir()]
    namespaces = set()
    for proc in procs.values():
        with contextlib.suppress(OSError):
            namespaces.add(os.readlink(proc / "ns" / "net"))
    return Host(
        node_processes=frozenset(
            f"{name} {read(proc / 'cmdline').replace(chr(0), ' ')}"
            for name, proc in procs.items()
            if "/lightship-node" in read(proc / "cgroup")
        ),
        mounts=frozenset(
            " ".join(line.split()[3:5]) for line in read(Path("/proc/self/mountinfo")).splitlines()
        ),
        interfaces=frozenset(os.listdir("/sys/class/net")),
        network_namespaces=frozenset(namespaces),
        node_cgroups=frozenset(c for c in cgroups if "lightship-node" in c),
        # Memory cgroups come and go with every command of the machine's process manager.
        other_cgroups=frozenset(
            c for c in cgroups if "lightship-node" not in c and "/memory/" not in c
        ),
        ruleset=subprocess.run(
            ["nft", "list", "ruleset"], capture_output=True, text=True, check=True
        ).stdout,
        sysctls={key: read(Path("/proc/sys", *key.split("."))).strip() for key in sysctls},
    )


def registry_answers(address: str) -> int | None:
    """The HTTP status a registry's /v2/ answers, None when nothing listens."""
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            f"http://{address}/v2/", timeout=5
        ) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def run_pod(cluster: Cluster, namespace: str) -> None:
    """A pod of the test application on the real node, Ready: its network namespace, veth,
    mounts and cgroups are among what cluster-down must remove."""
    create_real_namespace(cluster, namespace)
    cluster.kubectl("run", "app", "-n", namespace, f"--image={TESTAPP}:1")
    cluster.kubectl("wait", "pod/app", "-n", namespace, "--for=condition=Ready", "--timeout=60s")


def test_cluster_down_puts_the_host_back_as_it_was(cluster: Cluster) -> None:
    recorded = dict(
        line.split("=", 1) for line in (NODE_STATE / "host" / "sysctls").read_text().splitlines()
    )
    node_script("node-down")
    stopped = snapshot(list(recorded))
    assert stopped.sysctls == recorded, "cluster-down did not restore the sysctls"
    assert not stopped.node_processes and not stopped.node_cgroups, stopped
    assert BRIDGE not in stopped.interfaces
    assert "kube-proxy" not in stopped.ruleset and "lightship-node" not in stopped.ruleset

    node_script("node-up")
    namespace = f"{SESSION}-cleanup-{os.getpid()}"
    run_pod(cluster, namespace)
    running = snapshot(list(recorded))
    # What the comparison below looks for is there while the node runs.
    assert running.node_processes and running.node_cgroups
    assert BRIDGE in running.interfaces and "kube-proxy" in running.ruleset
    assert running.network_namespaces > stopped.network_namespaces
    assert running.sysctls["net.ipv4.ip_forward"] == "1"
    assert (registry_answers(REGISTRY), registry_answers(PRIVATE_REGISTRY)) == (200, 401)
    assert (NODE_STATE / "config" / "certs.d" / PRIVATE_REGISTRY / "hosts.toml").is_file()

    node_script("node-down")
    again = snapshot(list(recorded))
    try:
        assert again.node_processes == frozenset()
        assert again.mounts == stopped.mounts
        assert again.interfaces == stopped.interfaces
        assert again.network_namespaces <= stopped.network_namespaces
        assert again.node_cgroups == frozenset()
        assert again.other_cgroups == stopped.other_cgroups
        assert again.ruleset == stopped.ruleset
        assert again.sysctls == recorded
        assert (registry_answers(REGISTRY), registry_answers(PRIVATE_REGISTRY)) == (None, None)
        assert not NODE_STATE.exists()  # the private registry's storage, certs.d, ...
    finally:
        node_script("node-up")
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    ready = cluster.kubectl(
        "get", "node", "-l", "lightship.dev/node=real", "-o", "jsonpath={.items[*].metadata.name}"
    )
    assert ready.stdout.strip(), "the real node did not come back"
