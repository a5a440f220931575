"""The local cluster's real node, as the tests on it use it (hack/cluster/node.sh).

Pods of a namespace annotated as the image contract says run on the real node: real containers
of the test application (hack/testapp), pulled from the registry on 127.0.0.1:5000, on a bridge
of the cluster script's own. The host reaches their IPs on-link, so a test talks to a pod
directly; Service IPs and cluster DNS names are only dialled from inside pods (/peer).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

from kubernetes import client

from tests.integration.support import ROOT, Cluster, built, create_namespace

TESTAPP = "127.0.0.1:5000/lightship/testapp"
# The private registry (hack/cluster/node-images.sh): it answers only with the credentials of
# the Docker config the cluster script writes, and holds this image (the test application, tag 2).
PRIVATE_REGISTRY = "127.0.0.1:5001"
PRIVATE_TESTAPP = f"{PRIVATE_REGISTRY}/lightship/testapp:2"
PRIVATE_CREDENTIALS = ROOT / ".cluster" / "node" / "private-registry" / "docker" / "config.json"
NODE_LABEL = "lightship.dev/node=real"
# The image contract's annotations: the API server's PodNodeSelector and
# PodTolerationRestriction admission plugins put the namespace's pods on the real node.
ANNOTATIONS = {
    "scheduler.alpha.kubernetes.io/node-selector": NODE_LABEL,
    "scheduler.alpha.kubernetes.io/defaultTolerations": json.dumps(
        [{"key": "lightship.dev/node", "operator": "Exists", "effect": "NoSchedule"}]
    ),
}
# Straight to the pod network: no proxy of the environment applies.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_INSECURE = ssl.create_default_context()
_INSECURE.check_hostname = False
_INSECURE.verify_mode = ssl.CERT_NONE


def create_real_namespace(cluster: Cluster, name: str) -> None:
    """A namespace whose pods run on the real node."""
    create_namespace(cluster, name)
    cluster.kubectl(
        "annotate", "namespace", name, *(f"{key}={value}" for key, value in ANNOTATIONS.items())
    )


def container(
    name: str = "web",
    tag: str = "1",
    ports: str = "8080/http",
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
    image: str | None = None,
) -> dict[str, Any]:
    """A container of the test application: `ports` as its PORTS setting, declared alike."""
    environment = {"PORTS": ports, "CONTAINER_NAME": name, **(env or {})}
    result: dict[str, Any] = {
        "name": name,
        "image": image or f"{TESTAPP}:{tag}",
        "environment": [{"name": k, "value": v} for k, v in environment.items()],
        "ports": [
            {"port": int(port), "protocol": protocol.upper()}
            for port, protocol in (entry.split("/") for entry in ports.split(","))
        ],
    }
    if command is not None:
        result["command"] = command
    return result


def endpoint(path: str = "/healthz", interval: int = 5, healthy: int = 2) -> dict[str, Any]:
    """The public endpoint on the `web` container's port 8080, with its health check."""
    return {
        "containerName": "web",
        "containerPort": 8080,
        "healthCheck": {"path": path, "intervalSeconds": interval, "healthyThreshold": healthy},
    }


def http(url: str, timeout: float = 10) -> tuple[int, str]:
    """GET `url` (HTTPS without verifying the test application's self-signed certificate)."""
    try:
        with _OPENER.open(url, timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def ask(pod_ip: str, path: str = "/", port: int = 8080, scheme: str = "http") -> Any:
    """The JSON a pod's test application answers to GET `path`; fails on any other status."""
    url = f"{scheme}://{pod_ip}:{port}{path}"
    if scheme == "https":
        with urllib.request.urlopen(url, timeout=10, context=_INSECURE) as answer:
            return json.loads(answer.read())
    status, body = http(url)
    assert status == 200, f"GET {url}: {status} {body}"
    return json.loads(body)


def echo(pod_ip: str, port: int, protocol: str, payload: bytes = b"ping\n") -> bytes:
    """What the test application's TCP or UDP echo port sends back."""
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(10)
        sock.connect((pod_ip, port))
        sock.send(payload)
        return sock.recv(len(payload) + 64)


def ready_pods(core: client.CoreV1Api, namespace: str, selector: str) -> list[client.V1Pod]:
    """The namespace's pods matching `selector` that run and are Ready, not terminating."""
    pods = core.list_namespaced_pod(namespace, label_selector=selector).items
    return [
        pod
        for pod in pods
        if pod.metadata.deletion_timestamp is None
        and pod.status.pod_ip
        and any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    ]


_STAMPED = re.compile(r"^(\S+) (.*)$")


def log_lines(core: client.CoreV1Api, namespace: str, pod: str, container: str) -> list[str]:
    return str(core.read_namespaced_pod_log(pod, namespace, container=container)).splitlines()


def stamped_log(
    core: client.CoreV1Api, namespace: str, pod: str, container: str
) -> list[tuple[datetime, str]]:
    """A container's log lines with the times the kubelet recorded for them."""
    text = core.read_namespaced_pod_log(pod, namespace, container=container, timestamps=True)
    lines = []
    for line in str(text).splitlines():
        match = _STAMPED.match(line)
        if match:
            stamp = match.group(1).rstrip("Z")[:26]  # microseconds at most, for fromisoformat
            lines.append((datetime.fromisoformat(stamp), match.group(2)))
    return lines


def crane(*args: str) -> str:
    """crane (go-containerregistry), the real node's own, against the local registries."""
    done = subprocess.run(
        [str(built("cluster", "node") / "crane"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"crane {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def registry_secret(name: str, password: str | None = None) -> client.V1Secret:
    """A kubernetes.io/dockerconfigjson Secret for the private registry: its credentials, or
    its user with `password` instead."""
    config = json.loads(PRIVATE_CREDENTIALS.read_text())
    if password is not None:
        user = base64.b64decode(config["auths"][PRIVATE_REGISTRY]["auth"]).decode().split(":")[0]
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        config = {"auths": {PRIVATE_REGISTRY: {"auth": auth}}}
    return client.V1Secret(
        metadata=client.V1ObjectMeta(name=name),
        type="kubernetes.io/dockerconfigjson",
        string_data={".dockerconfigjson": json.dumps(config)},
    )
