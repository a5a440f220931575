"""Two replicas of the operator with leader election (LIGHTSHIP_LEADER_ELECTION): only the holder
of the Lease reconciles; the leader killed (SIGKILL) during rollouts, ten times, is replaced by
the standby, and no version is duplicated or lost, no status rolled back."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.checks import wait_consistent
from tests.integration.own_namespace import operators_of_their_own
from tests.integration.support import (
    Cluster,
    Operator,
    Services,
    create,
    settled_versions,
    spec_of,
    wait_for,
    write_spec,
)

LEASE = "lightship-operator"


@pytest.fixture
def elected(
    cluster: Cluster, crd: None, api_client: client.ApiClient, tmp_path: Path
) -> Iterator[tuple[Services, dict[str, Operator]]]:
    """Two electing operators on a namespace of their own."""
    with operators_of_their_own(
        cluster,
        api_client,
        tmp_path,
        {"LIGHTSHIP_LEADER_ELECTION": "true", "LIGHTSHIP_ACTIVATION_TIMEOUT_SECONDS": "60"},
        names=("replica-a", "replica-b"),
    ) as elected:
        yield elected


def holder(services: Services) -> str | None:
    """The replica that holds the Lease (its POD_NAME), if any."""
    coordination = client.CoordinationV1Api(services.core.api_client)
    try:
        lease = coordination.read_namespaced_lease(LEASE, services.namespace)
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise
    identity = lease.spec.holder_identity or ""
    return identity.rsplit("_", 1)[0] or None


@pytest.mark.chaos
def test_the_standby_takes_over_when_the_leader_is_killed(
    elected: tuple[Services, dict[str, Operator]],
) -> None:
    services, replicas = elected
    names = [f"ha-{i}" for i in range(3)]
    for name in names:
        create(services, name, spec_of(1))
    leader = wait_for(lambda: holder(services), "a leader", 60)
    for name in names:
        settled_versions(services, name)
    # Only the leader reconciles: the standby logged no version.
    standby = next(r for r in replicas if r != leader)
    assert "VersionCreated" in replicas[leader].log()
    assert "VersionCreated" not in replicas[standby].log()

    takeovers: list[float] = []
    for change in range(2, 12):
        for name in names:
            write_spec(services.custom, services.namespace, name, spec_of(change))
        replicas[leader].stop(signal.SIGKILL)  # mid-rollout: the versions are activating
        killed = time.monotonic()
        new = wait_for(
            lambda old=leader: (h := holder(services)) != old and h, "the standby to lead", 60
        )
        takeovers.append(time.monotonic() - killed)
        replicas[leader].start()  # back, as the standby
        leader = new
        for name in names:
            kept = settled_versions(services, name, timeout=120)
            assert kept == list(range(max(1, change - 49), change + 1)), f"{name}: {kept}"
    for name in names:
        wait_consistent(services, name, spec_of(11), list(range(1, 12)), timeout=60)
    print(
        "leader takeovers after SIGKILL (s): "
        + ", ".join(f"{t:.1f}" for t in takeovers)
        + f"; worst {max(takeovers):.1f}"
    )
