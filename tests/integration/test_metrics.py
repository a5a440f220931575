"""The operator's /metrics during a rollout and a failure: the counts move as they should, and
its Events say they come from Lightship."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.own_namespace import operators_of_their_own
from tests.integration.support import Cluster, Services, shop, wait_for

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def metered(
    cluster: Cluster, crd: None, api_client: client.ApiClient, tmp_path: Path
) -> Iterator[tuple[Services, str]]:
    address = f"127.0.0.1:{free_port()}"
    env = {"LIGHTSHIP_METRICS_ADDRESS": address, "LIGHTSHIP_ACTIVATION_TIMEOUT_SECONDS": "60"}
    with operators_of_their_own(cluster, api_client, tmp_path, env) as (services, _):
        yield services, f"http://{address}/metrics"


def scrape(url: str) -> Samples:
    def read() -> str:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return str(answer.read().decode())

    text = wait_for(read, f"{url} to answer", 30, transient=(OSError,))
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_follow_a_rollout_and_a_failure(metered: tuple[Services, str]) -> None:
    services, url = metered
    before = scrape(url)
    assert value(before, "lightship_services", state="Running") == 0

    services.apply("shop", shop())
    services.wait_active("shop", 1)
    active = scrape(url)
    assert value(active, "lightship_activation_duration_seconds_count", outcome="Active") == 1
    assert value(active, "lightship_services", state="Running") == 1
    assert value(active, "lightship_versions", state="Active") == 1
    assert value(active, "lightship_reconcile_total", result="success") > 0
    assert value(active, "lightship_workqueue_adds_total") > 0
    assert value(active, "lightship_reconcile_time_seconds_count") > 0
    assert value(active, "lightship_workqueue_work_duration_seconds_count") > 0
    assert value(active, "lightship_workqueue_queue_duration_seconds_count") > 0

    services.apply("shop", shop(image="sim.invalid/pull-error/shop:2"))
    services.wait(
        "shop", lambda s: s["versions"][0]["state"] == "Failed", "version 2 Failed", timeout=90
    )
    failed = wait_for(
        lambda: (
            (s := scrape(url))
            and value(s, "lightship_version_failures_total", reason="ImagePullBackOff") == 1
            and s
        ),
        "the failure counted",
        30,
    )
    assert value(failed, "lightship_activation_duration_seconds_count", outcome="Failed") == 1
    assert value(failed, "lightship_activation_duration_seconds_count", outcome="Active") == 1
    assert value(failed, "lightship_versions", state="Failed") == 1
    assert value(failed, "lightship_versions", state="Active") == 1
    assert value(failed, "lightship_reconcile_errors_total") == 0

    # Events name Lightship as their source, not kopf.
    events = services.core.list_namespaced_event(
        services.namespace, field_selector="involvedObject.name=shop"
    ).items
    reasons = {e.reason for e in events}
    assert {"VersionCreated", "VersionFailed"} <= reasons, reasons
    assert {(e.reporting_component, e.source.component) for e in events} == {
        ("lightship", "lightship")
    }
    # The replica that wrote them: its pod's name (POD_NAME) and its process.
    assert all(e.reporting_instance.startswith("operator_") for e in events)
