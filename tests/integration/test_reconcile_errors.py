"""What a user sees when the operator cannot do what it decided: a reconcile the API server keeps
refusing stalls the service visibly, without the status ever contradicting where traffic goes;
a version whose pods cannot all exist still ends at its deadline, saying why."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.integration.checks import RACES
from tests.integration.support import (
    Cluster,
    Services,
    events,
    selected_version,
    shop,
    states,
    wait_conflict,
    wait_for,
)

HOLD = "example.com/hold"


def frozen_ingresses(namespace: str) -> list[dict[str, object]]:
    """An admission policy that refuses every Ingress write in `namespace`."""
    name = f"freeze-{namespace}"
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["networking.k8s.io"],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["ingresses"],
                        }
                    ]
                },
                "validations": [{"expression": "false", "message": "ingresses are frozen"}],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                },
            },
        },
    ]


@pytest.fixture
def ingress_freeze(cluster: Cluster, namespace: str) -> Iterator[list[dict[str, object]]]:
    policy = frozen_ingresses(namespace)
    yield policy
    for manifest in policy:
        cluster.kubectl(
            "delete", str(manifest["kind"]), str(manifest["metadata"]["name"]),  # type: ignore[index]
            "--ignore-not-found",
        )  # fmt: skip


def stalled(status: dict[str, object]) -> dict[str, str] | None:
    conditions: list[dict[str, str]] = status.get("conditions", [])  # type: ignore[assignment]
    return next((c for c in conditions if c["type"] == "Stalled"), None)


def test_a_refused_write_stalls_the_service_visibly_and_traffic_matches_the_status(
    cluster: Cluster, services: Services, ingress_freeze: list[dict[str, object]]
) -> None:
    # The frozen Ingress writes, refused at admission, are the failures this test is about.
    services.expected_failures = re.compile(rf"{RACES.pattern}|\A\(?422\b")
    ns = services.namespace
    services.apply("shop", shop(public=False))
    services.wait_active("shop", 1)
    policy = json.dumps({"apiVersion": "v1", "kind": "List", "items": ingress_freeze})
    cluster.kubectl("apply", "-f", "-", stdin=policy)
    probe = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "probe"},
        "spec": {"defaultBackend": {"service": {"name": "x", "port": {"number": 80}}}},
    }
    wait_for(
        lambda: (
            cluster.kubectl(
                "create",
                "--dry-run=server",
                "-n",
                ns,
                "-f",
                "-",
                stdin=json.dumps(probe),
                check=False,
            ).returncode
        ),
        "the admission policy in effect",
        timeout=30,
    )
    # Version 2 needs an Ingress, which is refused: it can never go live.
    services.apply("shop", shop(public=True))

    def stalled_and_consistent() -> dict[str, str] | None:
        status = services.status("shop")
        serving = (status.get("currentDeployment") or {}).get("version")
        assert str(serving) == selected_version(services, "shop"), status
        condition = stalled(status)
        return condition if condition and condition["status"] == "True" else None

    condition = wait_for(stalled_and_consistent, "Stalled=True", timeout=60)
    assert condition["reason"] == "ReconcileError"
    assert "ingresses are frozen" in condition["message"], condition
    wait_for(
        lambda: ("Warning", "ReconcileError") in {(t, r) for t, r, _ in events(services, "shop")},
        "the ReconcileError event",
        timeout=30,
    )
    assert services.networking.list_namespaced_ingress(ns).items == []
    for manifest in ingress_freeze:
        cluster.kubectl("delete", str(manifest["kind"]), str(manifest["metadata"]["name"]))  # type: ignore[index]
    status = services.wait(
        "shop",
        lambda s: (
            (s.get("currentDeployment") or {}).get("version") == 2
            and (stalled(s) or {}).get("status") == "False"
        ),
        "version 2 Active and Stalled=False",
        timeout=60,
    )
    assert states(status) == {2: "Active", 1: "Inactive"}
    assert selected_version(services, "shop") == "2"


def test_a_foreign_pod_holding_a_name_is_reported_and_the_deadline_ends(
    cluster: Cluster, services: Services
) -> None:
    ns = services.namespace
    foreign = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "shop-v1-0"},
        "spec": {"containers": [{"name": "other", "image": "busybox:1.36"}]},
    }
    cluster.kubectl("create", "-n", ns, "-f", "-", stdin=json.dumps(foreign))
    services.apply("shop", shop())
    _, conflict = wait_conflict(services, "shop")
    assert f"Pod {ns}/shop-v1-0" in conflict["message"], conflict
    status = services.wait(
        "shop", lambda s: states(s) == {1: "Failed"}, "version 1 Failed", timeout=90
    )
    failed = status["versions"][0]
    assert failed["reason"] == "ActivationTimeout"
    assert "held by another owner: shop-v1-0" in failed["message"], failed
    pod = services.core.read_namespaced_pod("shop-v1-0", ns)
    assert pod.spec.containers[0].name == "other"  # left alone


def test_a_pod_stuck_terminating_does_not_postpone_the_deadline(
    cluster: Cluster, services: Services
) -> None:
    ns = services.namespace
    services.apply("shop", shop("sim.invalid/never-ready:stuck"))
    wait_for(lambda: services.pods("shop", 1), "the pod of version 1", timeout=30)
    hold = json.dumps({"metadata": {"finalizers": [HOLD]}})
    cluster.kubectl("patch", "pod", "shop-v1-0", "-n", ns, "--type=merge", "-p", hold)
    try:
        cluster.kubectl("delete", "pod", "shop-v1-0", "-n", ns, "--wait=false")
        status = services.wait(
            "shop", lambda s: states(s) == {1: "Failed"}, "version 1 Failed", timeout=90
        )
        assert status["versions"][0]["reason"] == "ActivationTimeout"
        stuck = services.core.read_namespaced_pod("shop-v1-0", ns)
        assert stuck.metadata.deletion_timestamp is not None  # still there, still terminating
    finally:
        release = json.dumps({"metadata": {"finalizers": None}})
        cluster.kubectl(
            "patch", "pod", "shop-v1-0", "-n", ns, "--type=merge", "-p", release, check=False
        )
