"""The rollout decision: every transition of DESIGN §2, from observed state to the next step."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lightship import render
from lightship.api import (
    Condition,
    ContainerServiceSpec,
    ContainerServiceStatus,
    DeploymentVersion,
    ServiceState,
    VersionState,
)
from lightship.children import stamped
from lightship.observed import Observed, ObservedRevision
from lightship.pods import Failure, ObservedPod, observe_pod
from lightship.rollout import plan
from lightship.settings import Settings

UID = "5d0e6c1e-0000-4000-8000-000000000001"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SETTINGS = Settings(activation_timeout_seconds=600)
ACTIVE, INACTIVE, FAILED = VersionState.Active, VersionState.Inactive, VersionState.Failed
ACTIVATING = VersionState.Activating


def spec(image: str = "nginx:1.27", scale: int = 1, public: bool = True) -> ContainerServiceSpec:
    wire: dict[str, Any] = {
        "scale": scale,
        "containers": [
            {"name": "web", "image": image, "ports": [{"port": 80, "protocol": "HTTP"}]}
        ],
    }
    if public:
        wire["publicEndpoint"] = {"containerName": "web", "containerPort": 80}
    return ContainerServiceSpec.model_validate(wire)


def version(number: int, state: VersionState, age: float = 60) -> DeploymentVersion:
    return DeploymentVersion(version=number, state=state, created_at=NOW - timedelta(seconds=age))


def pod(number: int, index: int = 0, ready: bool = True, **extra: Any) -> ObservedPod:
    return ObservedPod(name=f"shop-v{number}-{index}", version=number, ready=ready, **extra)


def observed(
    generation: int,
    current: ContainerServiceSpec,
    versions: list[DeploymentVersion] = (),  # type: ignore[assignment]
    revisions: dict[int, tuple[int, ContainerServiceSpec]] | None = None,
    pods: list[ObservedPod] = (),  # type: ignore[assignment]
    selected: int | None = None,
    service: dict[str, Any] | None = None,
    ingress: dict[str, Any] | None = None,
    status: ContainerServiceStatus | None = None,
    now: datetime = NOW,
) -> Observed:
    revisions = (
        revisions if revisions is not None else {v.version: (v.version, current) for v in versions}
    )
    if service is None and selected is not None:
        service = stamped(render.render_service("shop", UID, revisions[selected][1], selected))
    if ingress is None and selected is not None:
        ingress = stamped(render.render_ingress("shop", UID, revisions[selected][1], SETTINGS))
    return Observed(
        name="shop",
        namespace="default",
        uid=UID,
        generation=generation,
        spec=current,
        status=status if status is not None else ContainerServiceStatus(versions=list(versions)),
        revisions={
            n: ObservedRevision(
                version=n, generation=g, spec=s, created_at=NOW - timedelta(minutes=1)
            )
            for n, (g, s) in revisions.items()
        },
        pods=list(pods),
        service=service,
        ingress=ingress,
        now=now,
    )


def states(result: Any) -> dict[int, VersionState]:
    return {v.version: v.state for v in result.status.versions}


def reasons(result: Any) -> list[str]:
    return [e.reason for e in result.events]


def test_first_spec_creates_version_1_and_its_pods() -> None:
    result = plan(observed(1, spec(scale=2), revisions={}), SETTINGS)
    assert result.create_revision is not None
    assert result.create_revision["metadata"]["name"] == "shop-v1"
    assert [p["metadata"]["name"] for p in result.create_pods] == ["shop-v1-0", "shop-v1-1"]
    assert states(result) == {1: ACTIVATING}
    assert result.status.state == ServiceState.Deploying
    assert result.status.next_deployment is not None and result.status.current_deployment is None
    assert reasons(result) == ["VersionCreated"]


def test_activating_version_gets_its_missing_pods() -> None:
    result = plan(
        observed(1, spec(scale=3), [version(1, ACTIVATING)], pods=[pod(1, 0, ready=False)]),
        SETTINGS,
    )
    assert [p["metadata"]["name"] for p in result.create_pods] == ["shop-v1-1", "shop-v1-2"]
    # The deadline runs once all its pods exist: the two made now get all of it.
    assert result.requeue_after == pytest.approx(600.5)
    assert result.status.versions[0].message == "0 of 3 pods ready"


def test_all_pods_ready_activates_and_switches_the_service() -> None:
    result = plan(observed(1, spec(), [version(1, ACTIVATING)], pods=[pod(1)]), SETTINGS)
    assert states(result) == {1: ACTIVE}
    assert result.apply_service is not None
    assert result.apply_service["spec"]["selector"]["lightship.dev/version"] == "1"
    assert result.apply_ingress is not None
    assert result.status.state == ServiceState.Running
    assert result.status.current_deployment is not None
    assert result.status.current_deployment.activated_at == NOW
    assert result.status.url == render.public_url("shop", UID, SETTINGS)
    assert result.status.private_domain == "shop.default.svc.cluster.local"
    assert reasons(result) == ["VersionActivated"]
    assert result.delete_pods == []


def test_new_spec_starts_beside_the_active_version() -> None:
    old, new = spec("nginx:1.26"), spec("nginx:1.27")
    result = plan(
        observed(2, new, [version(1, ACTIVE)], revisions={1: (1, old)}, pods=[pod(1)], selected=1),
        SETTINGS,
    )
    assert result.create_revision is not None and result.create_revision["revision"] == 2
    assert states(result) == {2: ACTIVATING, 1: ACTIVE}
    assert result.apply_service is None and result.delete_pods == []
    assert result.status.state == ServiceState.Deploying
    assert result.status.current_deployment is not None
    assert result.status.current_deployment.version == 1


def test_switch_makes_old_version_inactive_and_removes_its_pods() -> None:
    old, new = spec("nginx:1.26"), spec("nginx:1.27")
    result = plan(
        observed(
            2,
            new,
            [version(2, ACTIVATING), version(1, ACTIVE)],
            revisions={1: (1, old), 2: (2, new)},
            pods=[pod(1), pod(2)],
            selected=1,
        ),
        SETTINGS,
    )
    assert states(result) == {2: ACTIVE, 1: INACTIVE}
    assert result.apply_service is not None
    assert result.apply_service["spec"]["selector"]["lightship.dev/version"] == "2"
    assert result.delete_pods == ["shop-v1-0"]
    assert result.status.versions[1].message == "replaced by version 2"


@pytest.mark.parametrize(
    "failure",
    [
        Failure("ImagePullBackOff", "container web: Back-off pulling image"),
        Failure("CrashLoopBackOff", "container web: back-off restarting"),
        Failure("CreateContainerConfigError", "container web: secret not found"),
    ],
)
def test_failed_version_keeps_the_previous_one_serving(failure: Failure) -> None:
    old, new = spec("nginx:1.26"), spec("sim.invalid/pull-error")
    result = plan(
        observed(
            2,
            new,
            [version(2, ACTIVATING), version(1, ACTIVE)],
            revisions={1: (1, old), 2: (2, new)},
            pods=[pod(1), pod(2, ready=False, failure=failure)],
            selected=1,
        ),
        SETTINGS,
    )
    assert states(result) == {2: FAILED, 1: ACTIVE}
    assert result.status.versions[0].reason == failure.reason
    assert result.status.versions[0].message == failure.message
    assert result.delete_pods == ["shop-v2-0"]
    assert result.apply_service is None and result.create_pods == []
    assert result.status.state == ServiceState.Running
    assert reasons(result) == ["VersionFailed"]
    progressing = next(c for c in result.status.conditions if c.type == "Progressing")
    assert (progressing.status, progressing.reason) == ("False", "VersionFailed")


def test_activation_deadline_fails_the_version() -> None:
    result = plan(
        observed(
            1,
            spec("sim.invalid/never-ready"),
            [version(1, ACTIVATING, age=601)],
            pods=[pod(1, ready=False)],
        ),
        SETTINGS,
    )
    assert states(result) == {1: FAILED}
    assert result.status.versions[0].reason == "ActivationTimeout"
    assert result.status.versions[0].message == "0 of 1 pods ready after 600 s"


def test_failure_without_a_previous_version_leaves_no_active_deployment() -> None:
    failure = Failure("ImagePullBackOff", "container web: no such image")
    result = plan(
        observed(1, spec(), [version(1, ACTIVATING)], pods=[pod(1, ready=False, failure=failure)]),
        SETTINGS,
    )
    assert result.status.state == ServiceState.Ready
    assert result.status.current_deployment is None and result.status.next_deployment is None
    assert result.status.url is None
    ready = next(c for c in result.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "NoActiveVersion")


def test_spec_change_while_activating_supersedes() -> None:
    v1, v2, v3 = spec("a"), spec("b"), spec("c")
    result = plan(
        observed(
            3,
            v3,
            [version(2, ACTIVATING), version(1, ACTIVE)],
            revisions={1: (1, v1), 2: (2, v2)},
            pods=[pod(1), pod(2, ready=False)],
            selected=1,
        ),
        SETTINGS,
    )
    assert states(result) == {3: ACTIVATING, 2: INACTIVE, 1: ACTIVE}
    assert result.status.versions[1].message == "superseded by version 3"
    assert result.delete_pods == ["shop-v2-0"]
    assert "VersionSuperseded" in reasons(result)


def test_history_keeps_50_versions_and_prunes_older_revisions() -> None:
    current = spec()
    versions = [version(n, INACTIVE) for n in range(50, 1, -1)] + [version(1, INACTIVE)]
    versions[0] = version(50, ACTIVE)
    result = plan(observed(51, current, versions, pods=[pod(50)], selected=50), SETTINGS)
    kept = [v.version for v in result.status.versions]
    assert kept == list(range(51, 1, -1))
    assert result.delete_revisions == ["shop-v1"]


def test_an_old_active_version_is_never_pruned() -> None:
    current = spec()
    versions = [version(n, FAILED) for n in range(50, 1, -1)] + [version(1, ACTIVE)]
    result = plan(observed(51, current, versions, pods=[pod(1)], selected=1), SETTINGS)
    kept = [v.version for v in result.status.versions]
    assert kept == [*range(51, 2, -1), 1]
    assert result.delete_revisions == ["shop-v2"]


def test_missing_or_ended_pods_of_the_active_version_are_replaced() -> None:
    result = plan(
        observed(
            1,
            spec(scale=3),
            [version(1, ACTIVE)],
            pods=[pod(1, 0), pod(1, 1, ended=True)],
            selected=1,
        ),
        SETTINGS,
    )
    assert result.delete_pods == ["shop-v1-1"]
    assert [p["metadata"]["name"] for p in result.create_pods] == ["shop-v1-2"]


def test_foreign_service_is_reported_and_not_overwritten() -> None:
    foreign = {"metadata": {"name": "shop", "ownerReferences": []}, "spec": {"selector": {}}}
    result = plan(
        observed(1, spec(), [version(1, ACTIVATING)], pods=[pod(1)], service=foreign), SETTINGS
    )
    assert states(result) == {1: ACTIVATING}  # traffic cannot move: the version keeps activating
    assert result.apply_service is None
    conflict = next(c for c in result.status.conditions if c.type == "Conflict")
    assert (conflict.status, conflict.reason) == ("True", "ForeignObject")
    assert "ForeignObject" in reasons(result)


def test_lost_status_is_rebuilt_from_revisions_and_the_service() -> None:
    v1, v2 = spec("a"), spec("b")
    result = plan(
        observed(2, v2, [], revisions={1: (1, v1), 2: (2, v2)}, pods=[pod(1), pod(2)], selected=1),
        SETTINGS,
    )
    assert result.create_revision is None
    assert states(result) == {2: ACTIVE, 1: INACTIVE}


def test_revision_made_before_a_crash_is_not_made_again() -> None:
    v1, v2 = spec("a"), spec("b")
    result = plan(
        observed(
            2,
            v2,
            [version(1, ACTIVE)],
            revisions={1: (1, v1), 2: (2, v2)},
            pods=[pod(1)],
            selected=1,
        ),
        SETTINGS,
    )
    assert result.create_revision is None
    assert states(result) == {2: ACTIVATING, 1: ACTIVE}
    assert [p["metadata"]["name"] for p in result.create_pods] == ["shop-v2-0"]


def test_removing_the_public_endpoint_removes_the_ingress_and_url() -> None:
    public, private = spec(public=True), spec(public=False)
    result = plan(
        observed(
            2,
            private,
            [version(2, ACTIVATING), version(1, ACTIVE)],
            revisions={1: (1, public), 2: (2, private)},
            pods=[pod(1), pod(2)],
            selected=1,
        ),
        SETTINGS,
    )
    assert states(result) == {2: ACTIVE, 1: INACTIVE}
    assert result.delete_ingress is True and result.apply_ingress is None
    assert result.status.url is None


def test_steady_state_plans_nothing() -> None:
    first = plan(observed(1, spec(), [version(1, ACTIVE)], pods=[pod(1)], selected=1), SETTINGS)
    again = plan(
        observed(
            1,
            spec(),
            [version(1, ACTIVE)],
            pods=[pod(1)],
            selected=1,
            status=first.status,
            now=NOW + timedelta(minutes=5),
        ),
        SETTINGS,
    )
    assert (again.create_pods, again.delete_pods, again.events) == ([], [], [])
    assert again.apply_service is None and again.apply_ingress is None
    assert again.status == first.status  # conditions keep their lastTransitionTime


def test_condition_transition_time_changes_only_when_status_flips() -> None:
    earlier = NOW - timedelta(hours=1)
    status = ContainerServiceStatus(
        versions=[version(1, ACTIVATING)],
        conditions=[
            Condition(
                type="Ready", status="False", reason="NoActiveVersion", last_transition_time=earlier
            ),
            Condition(
                type="Progressing",
                status="True",
                reason="VersionActivating",
                last_transition_time=earlier,
            ),
        ],
    )
    result = plan(
        observed(1, spec(), [version(1, ACTIVATING)], pods=[pod(1)], status=status), SETTINGS
    )
    times = {c.type: c.last_transition_time for c in result.status.conditions}
    assert times["Ready"] == NOW and times["Progressing"] == NOW
    waiting = plan(
        observed(1, spec(), [version(1, ACTIVATING)], pods=[pod(1, ready=False)], status=status),
        SETTINGS,
    )
    times = {c.type: c.last_transition_time for c in waiting.status.conditions}
    assert times["Ready"] == earlier and times["Progressing"] == earlier


def pod_manifest(status: dict[str, Any], deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "shop-v3-0", "labels": {"lightship.dev/version": "3"}}
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-26T12:00:00Z"
    return {"metadata": metadata, "status": status}


@pytest.mark.parametrize(
    ("status", "ready", "failure", "ended"),
    [
        (
            {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
            True,
            None,
            False,
        ),
        (
            {
                "phase": "Pending",
                "containerStatuses": [
                    {
                        "name": "web",
                        "state": {
                            "waiting": {
                                "reason": "ImagePullBackOff",
                                "message": "Back-off pulling image",
                            }
                        },
                    }
                ],
            },
            False,
            Failure("ImagePullBackOff", "container web: Back-off pulling image"),
            False,
        ),
        (
            {
                "phase": "Pending",
                "containerStatuses": [
                    {"name": "web", "state": {"waiting": {"reason": "ErrImagePull"}}}
                ],
            },
            False,
            None,
            False,
        ),
        (
            {
                "phase": "Running",
                "containerStatuses": [
                    {"name": "db", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                ],
            },
            False,
            Failure("CrashLoopBackOff", "container db: CrashLoopBackOff"),
            False,
        ),
        (
            {"phase": "Failed", "reason": "Evicted", "message": "low on memory"},
            False,
            Failure("Evicted", "low on memory"),
            True,
        ),
        ({"phase": "Succeeded"}, False, None, True),
        ({}, False, None, False),
    ],
)
def test_observe_pod(
    status: dict[str, Any], ready: bool, failure: Failure | None, ended: bool
) -> None:
    observed_pod = observe_pod(pod_manifest(status))
    assert (observed_pod.version, observed_pod.ready) == (3, ready)
    assert observed_pod.failure == failure
    assert observed_pod.ended == ended
    assert observe_pod(pod_manifest(status, deleting=True)).terminating


def test_a_version_without_ports_has_no_service_and_no_private_domain() -> None:
    worker = ContainerServiceSpec.model_validate(
        {"containers": [{"name": "worker", "image": "busybox:1.36"}]}
    )
    web = spec()
    result = plan(
        observed(
            2,
            worker,
            [version(2, ACTIVATING), version(1, ACTIVE)],
            revisions={1: (1, web), 2: (2, worker)},
            pods=[pod(1), pod(2)],
            selected=1,
        ),
        SETTINGS,
    )
    assert states(result) == {2: ACTIVE, 1: INACTIVE}
    assert result.apply_service is None and result.delete_service is True
    assert result.delete_ingress is True
    assert result.status.private_domain is None and result.status.url is None


def test_activation_deadline_does_not_count_time_before_the_first_pod() -> None:
    # The operator made version 1 and died before making its pods; it comes back after more
    # than the deadline. Its pods never had a chance: they are made now, and the clock starts.
    result = plan(observed(1, spec(scale=2), [version(1, ACTIVATING, age=3600)], pods=[]), SETTINGS)
    assert states(result) == {1: ACTIVATING}
    assert [p["metadata"]["name"] for p in result.create_pods] == ["shop-v1-0", "shop-v1-1"]
    assert result.requeue_after == pytest.approx(600.5)


def test_activation_deadline_runs_once_all_pods_of_the_version_exist() -> None:
    # One pod was made 30 s ago, before the operator died; the other is made now: the clock
    # has not started, both get the whole deadline.
    first = pod(1, 0, ready=False, created_at=NOW - timedelta(seconds=30))
    result = plan(
        observed(1, spec(scale=2), [version(1, ACTIVATING, age=3600)], pods=[first]), SETTINGS
    )
    assert states(result) == {1: ACTIVATING}
    assert [p["metadata"]["name"] for p in result.create_pods] == ["shop-v1-1"]
    assert result.requeue_after == pytest.approx(600.5)

    # Both exist, the last made 30 s ago: 570 s to go.
    second = pod(1, 1, ready=False, created_at=NOW - timedelta(seconds=30))
    early = replace(first, created_at=NOW - timedelta(seconds=900))
    result = plan(
        observed(1, spec(scale=2), [version(1, ACTIVATING, age=3600)], pods=[early, second]),
        SETTINGS,
    )
    assert states(result) == {1: ACTIVATING}
    assert result.requeue_after == pytest.approx(570.5)

    # Both had the whole deadline and are not ready: the version fails.
    late = replace(second, created_at=NOW - timedelta(seconds=601))
    result = plan(
        observed(1, spec(scale=2), [version(1, ACTIVATING, age=3600)], pods=[early, late]),
        SETTINGS,
    )
    assert states(result) == {1: FAILED}
    assert result.status.versions[0].reason == "ActivationTimeout"


def test_observed_pod_knows_when_it_was_made() -> None:
    manifest = render.render_pod("shop", UID, spec(), 3, 0)
    manifest["metadata"]["creationTimestamp"] = "2026-11-26T11:59:30Z"
    assert observe_pod(manifest).created_at == NOW - timedelta(seconds=30)


def test_pods_refused_at_admission_fail_the_version_and_the_active_one_serves() -> None:
    refused = 'pods "shop-v2-0" is forbidden: violates PodSecurity "restricted:latest": ...'
    current = observed(
        2,
        spec("nginx:1.28"),
        [version(2, ACTIVATING), version(1, ACTIVE)],
        revisions={1: (1, spec()), 2: (2, spec("nginx:1.28"))},
        pods=[pod(1)],
        selected=1,
    )
    result = plan(replace(current, rejected={2: refused}), SETTINGS)
    assert states(result) == {2: FAILED, 1: ACTIVE}
    assert (result.status.versions[0].reason, result.status.versions[0].message) == (
        "PodRejected",
        refused,
    )
    assert result.create_pods == [] and result.apply_service is None
    assert reasons(result) == ["VersionFailed"]
