"""API-server faults, on a cluster of this module's own (never the shared one): the API server
is paused with SIGSTOP for 15 s, and killed and started again, each time in the middle of
rollouts. The operator is not told anything; it must recover on its own and finish every
rollout correctly.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from kubernetes import client, config

from tests.integration.conftest import (
    CRD_FILE,
    SESSION,
    Cluster,
    Operator,
    Services,
    SideCluster,
    wait_consistent,
    wait_for,
)
from tests.integration.test_reliability import create, spec_of, write_spec

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

# While the API server is away, requests fail (connection refused, reset) or time out.
DOWN = (urllib3.exceptions.HTTPError, OSError, client.ApiException)


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
    side.cluster.kubectl("create", "namespace", name)
    wait_for(
        lambda: (
            side.cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0
        ),
        "the namespace's default ServiceAccount",
        30,
    )
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
    from tests.integration.conftest import audit_service

    return not audit_service(services, name, spec, versions)


def test_api_server_paused_for_15_s_mid_rollout(
    side: SideCluster, side_services: Services, side_operator: Operator
) -> None:
    result = roll_out_through(side, side_services, "pause")
    print(f"SIGSTOP: {result}")
    assert side_operator.process is not None and side_operator.process.poll() is None
    assert "Traceback" not in side_operator.log(), side_operator.log()[-5000:]


def test_api_server_killed_and_restarted_mid_rollout(
    side: SideCluster, side_services: Services, side_operator: Operator
) -> None:
    restarts = side.restarts.get("kube-apiserver", 0)
    result = roll_out_through(side, side_services, "kill")
    print(f"SIGKILL + restart: {result}")
    assert side.restarts["kube-apiserver"] == restarts + 1
    assert side_operator.process is not None and side_operator.process.poll() is None
    assert "Traceback" not in side_operator.log(), side_operator.log()[-5000:]
