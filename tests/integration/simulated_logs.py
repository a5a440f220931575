"""Simulated container logs on the local cluster.

kwok serves `kubectl logs` (the kubelet API's containerLogs) for its simulated nodes from files
named by its `Logs` objects (kwok.x-k8s.io/v1alpha1, one per pod, in the pod's namespace) or
`ClusterLogs` objects (selected by namespace and pod name). hack/cluster/kwokctl.yaml enables
them as CRDs (`enableCRDs`), so a test writes a file in the CRI log format and points a `Logs`
object at it; kwok-controller runs on this machine and reads the file, following appended lines.
The Logs objects go with the test's namespace.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from tests.integration.support import Cluster, wait_for


def cri_lines(lines: Iterable[str], at: datetime | None = None, stream: str = "stdout") -> str:
    """Lines in the CRI log format that the kubelet (and kwok) read: time, stream, tag, text."""
    stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return "".join(f"{stamp} {stream} F {line}\n" for line in lines)


def append(path: Path, lines: Iterable[str], at: datetime | None = None) -> None:
    with path.open("a") as file:
        file.write(cri_lines(lines, at))


def simulate(
    cluster: Cluster,
    namespace: str,
    pod: str,
    containers: Mapping[str, Iterable[str] | str],
    directory: Path,
) -> dict[str, Path]:
    """Gives each container of `pod` a log: lines (written now), or CRI text as it is.
    Returns the files, to append to."""
    files = {}
    for container, content in containers.items():
        path = directory / f"{namespace}.{pod}.{container}.log"
        path.write_text(content if isinstance(content, str) else cri_lines(content))
        files[container] = path
    logs = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Logs",
        "metadata": {"name": pod, "namespace": namespace},
        "spec": {
            "logs": [
                {"containers": [container], "logsFile": str(path), "follow": True}
                for container, path in files.items()
            ]
        },
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(logs))
    return files


def wait_served(cluster: Cluster, namespace: str, pod: str, container: str) -> str:
    """Waits until the API server serves the container's simulated log (kwok has seen its Logs
    object and the pod is on a node); returns it."""

    def served() -> str:
        result = cluster.kubectl("logs", "-n", namespace, pod, "-c", container, check=False)
        return result.stdout if result.returncode == 0 else ""

    log: str = wait_for(served, f"the simulated log of {pod}/{container}", 30)
    return log
