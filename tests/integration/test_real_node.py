"""Lightship on the real node: real containers, a real kubelet's health checks and failures,
real logs, pod networking, cluster DNS and Service routing (hack/cluster/node.sh).

The namespaces here are annotated to put their pods on the real node, and watched by an
operator of this module with a longer activation deadline than the session's (real pods pull
and start, and their health check needs `healthyThreshold` intervals), a short grace for
unschedulable pods, and a power (xlarge) sized beyond any node.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.integration.real_node import (
    ask,
    container,
    create_real_namespace,
    echo,
    endpoint,
    http,
    ready_pods,
    stamped_log,
)
from tests.integration.support import SESSION, Cluster, Operator, Services, wait_for

pytestmark = pytest.mark.realnode

DEADLINE = 40  # the activation deadline of this module's operator, seconds
UNSCHEDULABLE_GRACE = 5  # and its grace for unschedulable pods, seconds
PREFIX = f"{SESSION}r"  # its namespaces (the session's operator watches f"{SESSION}-*")


@pytest.fixture(scope="module")
def real_operator(
    cluster: Cluster, crd: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    log_path = tmp_path_factory.mktemp("real-operator") / "operator.log"
    running = Operator(
        cluster,
        log_path,
        {
            "LIGHTSHIP_ACTIVATION_TIMEOUT_SECONDS": str(DEADLINE),
            "LIGHTSHIP_UNSCHEDULABLE_GRACE_SECONDS": str(UNSCHEDULABLE_GRACE),
            "LIGHTSHIP_POWERS": json.dumps({"xlarge": {"cpu": "1000", "memory": "8Gi"}}),
            "LIGHTSHIP_NAMESPACES": f"{PREFIX}-*",
        },
    )
    running.start()
    yield running
    if running.process is not None:
        running.stop()
    assert "Traceback" not in running.log(), running.log()[-5000:]


@pytest.fixture
def real(
    request: pytest.FixtureRequest,
    cluster: Cluster,
    api_client: client.ApiClient,
    real_operator: Operator,
) -> Iterator[Services]:
    """The services of a fresh namespace whose pods run on the real node."""
    nodes = client.CoreV1Api(api_client).list_node(label_selector="lightship.dev/node=real")
    assert nodes.items, "the cluster has no real node: hack/cluster/cluster.sh up starts it"
    stem = "".join(c for c in request.node.name.lower() if c.isalnum())[:30]
    name = f"{PREFIX}-{stem}-{secrets.token_hex(3)}"
    create_real_namespace(cluster, name)
    yield Services(api_client, cluster, name)
    if not os.environ.get("LIGHTSHIP_KEEP_NAMESPACES"):
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def version_entry(status: dict[str, Any], version: int) -> dict[str, Any]:
    return next((v for v in status.get("versions", []) if v["version"] == version), {})


def wait_failed(real: Services, name: str, version: int, timeout: float) -> dict[str, Any]:
    status = real.wait(
        name,
        lambda s: version_entry(s, version).get("state") == "Failed",
        f"version {version} Failed",
        timeout,
    )
    return version_entry(status, version)


def serving(real: Services, name: str, version: int) -> list[client.V1Pod]:
    selector = f"lightship.dev/service={name},lightship.dev/version={version}"
    return ready_pods(real.core, real.namespace, selector)


def serving_pods(real: Services, name: str, version: int, count: int) -> list[client.V1Pod]:
    """Waits until exactly `count` Ready pods of the version run, and returns them."""
    return wait_for(
        lambda: len(pods := serving(real, name, version)) == count and pods,
        f"{count} ready pods of {name} v{version}",
        timeout=60,
    )


def test_version_goes_active_only_after_its_health_check_passed(real: Services) -> None:
    check, threshold, interval = "/check", 3, 5
    # Unhealthy for its first seconds: the successes come at the check's own pace.
    env = {"HEALTH_PATH": check, "READY_AFTER_SECONDS": "4"}
    spec = {
        "containers": [container(env=env)],
        "publicEndpoint": endpoint(check, interval, threshold),
    }
    real.apply("shop", spec)

    def passed_checks() -> list[datetime]:
        pods = real.pods("shop", 1)
        if not pods or not (pods[0].get("status") or {}).get("podIP"):
            return []
        log = stamped_log(real.core, real.namespace, pods[0]["metadata"]["name"], "web")
        return [at for at, line in log if line.startswith(f"GET {check} 200 ")]

    seen_while_activating: set[int] = set()
    deadline = time.monotonic() + DEADLINE
    while (real.status("shop").get("currentDeployment") or {}).get("version") != 1:
        assert time.monotonic() < deadline, f"not Active: {real.status('shop')}"
        with contextlib.suppress(client.ApiException):  # the container is not started yet
            seen_while_activating.add(len(passed_checks()))
        time.sleep(0.3)
    passed = passed_checks()
    assert len(passed) >= threshold
    # It was Activating while its health check had passed, but fewer times than needed.
    assert seen_while_activating & set(range(1, threshold)), seen_while_activating
    # The kubelet's requests came at the configured interval.
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(passed)]
    assert all(interval - 0.5 <= gap <= interval + 1.5 for gap in gaps), gaps


def test_failing_health_check_never_activates_and_the_previous_version_keeps_serving(
    real: Services, cluster: Cluster
) -> None:
    real.apply("shop", {"containers": [container()], "publicEndpoint": endpoint()})
    real.wait_active("shop", 1, timeout=DEADLINE)
    before = {p.metadata.uid: p.status.pod_ip for p in serving_pods(real, "shop", 1, 1)}

    failing = container(tag="2", env={"HEALTH_STATUS": "503", "LOG_EVERY_SECONDS": "1"})
    real.apply("shop", {"containers": [failing], "publicEndpoint": endpoint()})
    entry = wait_failed(real, "shop", 2, timeout=DEADLINE + 30)
    assert entry["reason"] == "ActivationTimeout", entry
    assert "activatedAt" not in entry
    # The failed version's real last lines: the program's ticks and the refused health checks.
    kept = "\n".join(line for log in entry.get("logs", []) for line in log["lines"])
    assert "tick " in kept and "GET /healthz 503 " in kept, entry

    status = real.status("shop")
    assert status["currentDeployment"]["version"] == 1
    after = {p.metadata.uid: p.status.pod_ip for p in serving_pods(real, "shop", 1, 1)}
    assert after == before
    for ip in after.values():
        assert ask(ip)["version"] == "1"
    shown = cluster.run_lightship("logs", "shop", "--version", "2", "-n", real.namespace)
    assert "tick " in shown.stdout, shown


def test_container_that_keeps_exiting_fails_its_version(real: Services) -> None:
    real.apply("shop", {"containers": [container()], "publicEndpoint": endpoint()})
    real.wait_active("shop", 1, timeout=DEADLINE)
    # It exits a second after each start, before its health check could ever pass.
    crashing = container(tag="2", env={"CRASH_AFTER_SECONDS": "1", "READY_AFTER_SECONDS": "60"})
    real.apply("shop", {"containers": [crashing], "publicEndpoint": endpoint()})
    entry = wait_failed(real, "shop", 2, timeout=DEADLINE + 30)
    # Found failing by its exits, not merely by the deadline.
    assert entry["reason"] != "ActivationTimeout", entry
    assert "web" in entry["message"], entry
    kept = "\n".join(line for log in entry.get("logs", []) for line in log["lines"])
    assert "testapp 2 args" in kept, entry
    assert real.status("shop")["currentDeployment"]["version"] == 1


def test_missing_image_fails_with_the_pull_error(real: Services) -> None:
    missing = container(image="127.0.0.1:5000/lightship/testapp:no-such-tag")
    real.apply("shop", {"containers": [missing]})
    entry = wait_failed(real, "shop", 1, timeout=DEADLINE + 30)
    assert entry["reason"] in ("ImagePullBackOff", "ErrImagePull"), entry
    assert "no-such-tag" in entry["message"], entry


def test_logs_show_the_programs_output_of_every_pod_and_follow_it(
    real: Services, cluster: Cluster
) -> None:
    web = container(env={"LOG_EVERY_SECONDS": "0.5"}, command=["hello", "world"])
    real.apply("shop", {"scale": 2, "containers": [web]})
    real.wait_active("shop", 1, timeout=DEADLINE)
    pods = sorted(p.metadata.name for p in serving_pods(real, "shop", 1, 2))

    shown = cluster.run_lightship("logs", "shop", "-n", real.namespace)
    assert shown.returncode == 0, shown
    for pod in pods:
        assert f'[{pod}] testapp 1 args: ["hello","world"]' in shown.stdout, shown.stdout
        assert f"[{pod}] tick " in shown.stdout, shown.stdout
    ticks = [line for line in shown.stdout.splitlines() if "] tick " in line]
    last = max(int(line.rsplit(" ", 1)[1]) for line in ticks)

    follow = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("lightship")),
            "logs",
            "shop",
            "-f",
            "-n",
            real.namespace,
        ],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        newer: set[str] = set()
        deadline = time.monotonic() + 30
        assert follow.stdout is not None
        while newer != set(pods):
            assert time.monotonic() < deadline, f"followed no new ticks of {set(pods) - newer}"
            pod, _, text = follow.stdout.readline().strip().partition("] ")
            if text.startswith("tick ") and int(text.split()[1]) > last + 2:
                newer.add(pod.lstrip("["))
    finally:
        follow.terminate()
        follow.wait(timeout=10)


def test_containers_of_a_version_share_localhost_and_get_their_settings(real: Services) -> None:
    web = container(env={"GREETING": "hello"}, command=["--flag", "value"])
    side = container("side", ports="9090/http,9091/tcp,9092/udp,9443/https")
    real.apply("shop", {"containers": [web, side], "publicEndpoint": endpoint()})
    real.wait_active("shop", 1, timeout=DEADLINE)
    ip = serving_pods(real, "shop", 1, 1)[0].status.pod_ip

    root = ask(ip)
    assert (root["container"], root["args"]) == ("web", ["--flag", "value"])
    assert ask(ip, "/env")["GREETING"] == "hello"
    peer = ask(ip, "/peer?url=http://localhost:9090/")
    assert peer["status"] == 200 and json.loads(peer["body"])["container"] == "side", peer
    # Every declared port answers with its protocol.
    assert ask(ip, port=9090)["container"] == "side"
    assert ask(ip, port=9443, scheme="https")["container"] == "side"
    assert echo(ip, 9091, "tcp") == b"ping\n"
    assert echo(ip, 9092, "udp") == b"ping\n"


def test_another_service_reaches_this_one_by_its_private_domain(real: Services) -> None:
    real.apply("api", {"containers": [container(tag="2")]})
    real.apply("front", {"containers": [container()]})
    real.wait_active("api", 1, timeout=DEADLINE)
    real.wait_active("front", 1, timeout=DEADLINE)
    front = serving_pods(real, "front", 1, 1)[0].status.pod_ip
    domain = real.status("api")["privateDomain"]
    assert domain == f"api.{real.namespace}.svc.cluster.local"

    # Cluster DNS and the Service IP, from inside the pod; the first try may meet a cold cache.
    url = f"/peer?url=http://{domain}:8080/"
    answer = wait_for(
        lambda: (found := http(f"http://{front}:8080{url}")) and found[0] == 200 and found,
        f"front reaching {domain}",
        timeout=30,
    )
    assert json.loads(json.loads(answer[1])["body"])["version"] == "2", answer


def test_scale_three_runs_three_serving_pods_and_replaces_a_deleted_one(real: Services) -> None:
    real.apply("shop", {"scale": 3, "containers": [container()], "publicEndpoint": endpoint()})
    real.wait_active("shop", 1, timeout=DEADLINE)
    pods = serving_pods(real, "shop", 1, 3)
    assert sorted(ask(p.status.pod_ip)["pod"] for p in pods) == sorted(
        p.metadata.name for p in pods
    )

    gone = pods[0]
    real.core.delete_namespaced_pod(gone.metadata.name, real.namespace)
    replaced = wait_for(
        lambda: (
            len(now := serving(real, "shop", 1)) == 3
            and gone.metadata.uid not in {p.metadata.uid for p in now}
            and now
        ),
        "the deleted pod replaced",
        timeout=60,
    )
    for pod in replaced:
        assert ask(pod.status.pod_ip)["pod"] == pod.metadata.name
