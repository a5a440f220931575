"""No request dropped by a switch (README "No request dropped by a switch"): continuous
requests through the real gateway to the real node's pods while one service switches versions,
is superseded, scales down and fails, with the operator in Ingress mode, then Gateway API mode.

The operator here uses the kubelet's health check (LIGHTSHIP_HEALTH_CHECK=kubelet): a version is
ready about 2 s after its pods start instead of after two intervals of the prober (10 s), which
keeps 20 switches short; what is under test, the Service's switch and the drain of the old
pods, is the same in both health-check modes.
"""

from __future__ import annotations

import time

import pytest

from tests.integration.gateway import ROUTE_SECONDS, host_of, served_version, web
from tests.integration.support import Services, states, wait_for
from tests.integration.traffic import (
    Switch,
    Traffic,
    answered_after_settling,
    switch_of,
    traffic,
)

pytestmark = pytest.mark.realnode
OPERATOR_ENV = {"LIGHTSHIP_HEALTH_CHECK": "kubelet"}
NAMESPACE_PREFIX = "sw"


SWITCHES = 20
# How long the test waits, once a version is Active, for only that version to answer.
SWITCH_SECONDS = 30


def move(services: Services, client: Traffic, tag: int, version: int) -> Switch:
    """Applies the application's `tag`, which becomes `version`, and waits until only it
    answers."""
    old, new = client.answers()[-1].version or "", str(tag)
    applied = time.monotonic()
    services.apply("shop", web(tag))
    services.wait_active("shop", version, timeout=120)
    wait_for(
        lambda: client.serves_only(new, since=applied),
        f"only version {new} of the application answering",
        SWITCH_SECONDS,
    )
    return switch_of(client, old, new, applied, time.monotonic())


def pods_left(services: Services, count: int) -> None:
    """Waits until the namespace has `count` pods, those terminating included."""
    wait_for(
        lambda: len(services.core.list_namespaced_pod(services.namespace).items) == count,
        f"{count} pods left",
        120,
    )


def test_no_request_fails_while_versions_switch(public: Services) -> None:
    """Continuous requests while traffic switches 20 times, a rollout is superseded, the service
    scales up and down and a version fails: not one fails, and after each switch only the new
    version answers (README "No request dropped by a switch")."""
    public.apply("shop", web(1))
    public.wait_active("shop", 1, timeout=120)
    host = host_of(public, "shop")
    wait_for(lambda: served_version(host, "1"), f"{host} served", ROUTE_SECONDS)
    switches, version = [], 1
    with traffic(host) as client:
        wait_for(lambda: client.serves_only("1", since=0), "the first answers", ROUTE_SECONDS)
        for change in range(SWITCHES):  # to 2, to 1, ..., to 1
            version += 1
            switches.append(move(public, client, 2 - change % 2, version))
        # A version still activating (unhealthy for 30 s) is superseded by the next one.
        public.apply("shop", web(2, env={"READY_AFTER_SECONDS": "30"}))
        public.wait(
            "shop",
            lambda s: (s.get("nextDeployment") or {}).get("version") == version + 1,
            "a version activating",
        )
        version += 2
        switches.append(move(public, client, 2, version))
        # Scale up, then down: one pod goes, drained, and is gone while the requests go on.
        public.apply("shop", {**web(2), "scale": 2})
        public.wait("shop", lambda s: s.get("readyReplicas") == 2, "two pods ready", 60)
        public.apply("shop", web(2))
        public.wait("shop", lambda s: s.get("replicas") == 1, "one pod", 60)
        pods_left(public, 1)
        # A version that fails (its program refuses a setting and exits): the serving one goes on.
        version += 1
        public.apply("shop", web(1, env={"DRAIN_SECONDS": "not-a-duration"}))
        public.wait("shop", lambda s: states(s).get(version) == "Failed", "failed", 120)
        pods_left(public, 1)
    answers, failures = client.answers(), client.failures()
    seconds = sorted(s.seconds for s in switches)
    print(
        f"{len(answers)} requests, {len(failures)} failed; {len(switches)} switches, apply to "
        f"the last answer of the old version: p50 {seconds[len(seconds) // 2]:.1f} s, longest "
        f"{seconds[-1]:.1f} s"
    )
    assert not failures, [f.error for f in failures[:10]]
    assert not answered_after_settling(client, switches)
