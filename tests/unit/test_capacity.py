"""Capacity is not a version (DESIGN §2): scale, power, disabled and registry credentials apply
to the running version in place. A table: each row is a situation and the whole plan expected."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lightship import power
from lightship.api import ContainerServiceSpec, Power, VersionState
from lightship.observed import Observed
from lightship.pods import Failure
from lightship.rollout import plan
from tests.unit.support import (
    ACTIVATING,
    ACTIVE,
    CAPACITY,
    DEPLOYING,
    DISABLED,
    FAILED,
    INACTIVE,
    NOW,
    READY,
    RUNNING,
    SETTINGS,
    UPDATING,
    expect,
    makes_version,
    observed,
    outline,
    pod,
    spec,
    version,
)


def capacity(scale: int = 1, **changes: Any) -> ContainerServiceSpec:
    """spec() with its capacity or settings changed (not its deployment)."""
    return spec(scale=scale).model_copy(update=changes)


MICRO = capacity(power=Power.micro)
MICRO_PODS = power.capacity_digest(MICRO, SETTINGS)
OFF = capacity(disabled=True)
UNSCHEDULABLE = Failure("Unschedulable", "0/2 nodes are available: 2 Insufficient cpu.")


def unschedulable(age: float, waited: float) -> Observed:
    """Version 1 activating for `age` seconds, its one pod unschedulable for `waited` seconds."""
    since = NOW - timedelta(seconds=waited)
    stuck = pod(1, 0, ready=False, unschedulable=UNSCHEDULABLE, unschedulable_since=since)
    return observed(1, spec(), [version(1, ACTIVATING, age=age)], pods=[stuck])


def active(current: ContainerServiceSpec, pods: list[Any], **extra: Any) -> Observed:
    """Version 1 active, made from spec() at generation 1; the spec is now `current`."""
    return observed(
        2,
        current,
        [version(1, ACTIVE)],
        revisions={1: (1, spec())},
        pods=pods,
        selected=1,
        **extra,
    )


TABLE = [
    (
        "scale up adds pods to the active version; no version is made",
        active(capacity(scale=3), [pod(1, 0)]),
        expect({1: ACTIVE}, UPDATING, create_pods=["shop-v1-1", "shop-v1-2"]),
    ),
    (
        "scale up is applied once the new pods are ready",
        active(capacity(scale=3), [pod(1, 0), pod(1, 1), pod(1, 2)]),
        expect({1: ACTIVE}, RUNNING),
    ),
    (
        "scale down removes pods, not ready ones first, then the highest names",
        active(capacity(scale=1), [pod(1, 0), pod(1, 1, ready=False), pod(1, 2)]),
        expect({1: ACTIVE}, UPDATING, delete_pods=["shop-v1-1", "shop-v1-2"]),
    ),
    (
        "a power change surges one pod beside the ready ones",
        active(MICRO.model_copy(update={"scale": 2}), [pod(1, 0), pod(1, 1)]),
        expect({1: ACTIVE}, UPDATING, create_pods=["shop-v1-2"]),
    ),
    (
        "a new pod not ready yet: nothing more is made, no ready pod removed",
        active(
            MICRO.model_copy(update={"scale": 2}),
            [pod(1, 0), pod(1, 1), pod(1, 2, ready=False, capacity=MICRO_PODS)],
        ),
        expect({1: ACTIVE}, UPDATING),
    ),
    (
        "a new pod ready: one old pod goes, the next new one is made",
        active(
            MICRO.model_copy(update={"scale": 2}),
            [pod(1, 0), pod(1, 1), pod(1, 2, capacity=MICRO_PODS)],
        ),
        expect({1: ACTIVE}, UPDATING, create_pods=["shop-v1-3"], delete_pods=["shop-v1-0"]),
    ),
    (
        "the last old pod goes once the new ones are all ready",
        active(
            MICRO.model_copy(update={"scale": 2}),
            [pod(1, 1), pod(1, 2, capacity=MICRO_PODS), pod(1, 3, capacity=MICRO_PODS)],
        ),
        expect({1: ACTIVE}, UPDATING, delete_pods=["shop-v1-1"]),
    ),
    (
        "an old pod that is not ready goes at once",
        active(MICRO, [pod(1, 0, ready=False)]),
        expect({1: ACTIVE}, UPDATING, create_pods=["shop-v1-1"], delete_pods=["shop-v1-0"]),
    ),
    (
        "a capacity change while a version activates applies to it at once",
        observed(
            1,
            MICRO.model_copy(update={"scale": 2}),
            [version(1, ACTIVATING)],
            revisions={1: (1, spec())},
            pods=[pod(1, 0, ready=False)],
        ),
        expect(
            {1: ACTIVATING},
            DEPLOYING,
            create_pods=["shop-v1-1", "shop-v1-2"],
            delete_pods=["shop-v1-0"],
            requeue_after=600.5,
        ),
    ),
    (
        "registry credentials are a setting: the pods are replaced, no version is made",
        active(capacity(image_pull_secrets=["regcred"]), [pod(1, 0)]),
        expect({1: ACTIVE}, UPDATING, create_pods=["shop-v1-1"]),
    ),
    (
        "disabled: every pod stops, the history and the routes stay",
        active(OFF, [pod(1, 0)]),
        expect({1: ACTIVE}, DISABLED, delete_pods=["shop-v1-0"]),
    ),
    (
        "disabled, no pod left: nothing to do",
        active(OFF, []),
        expect({1: ACTIVE}, DISABLED),
    ),
    (
        "disabled while a version activates: its pods stop, it waits",
        observed(
            2,
            OFF,
            [version(1, ACTIVATING)],
            revisions={1: (1, spec())},
            pods=[pod(1, 0, ready=False)],
        ),
        expect({1: ACTIVATING}, DISABLED, delete_pods=["shop-v1-0"]),
    ),
    (
        "a deployment changed while disabled makes no version until enabled",
        active(spec("nginx:1.28").model_copy(update={"disabled": True}), []),
        expect({1: ACTIVE}, DISABLED),
    ),
    (
        "enabled again: the active version runs again, no version is made",
        active(spec(), []),
        expect({1: ACTIVE}, UPDATING, create_pods=["shop-v1-0"]),
    ),
    (
        "enabled again after a deployment change: it becomes a version beside the active one",
        active(spec("nginx:1.28"), []),
        makes_version(
            {2: ACTIVATING, 1: ACTIVE},
            create_pods=["shop-v2-0", "shop-v1-0"],
        ),
    ),
    (
        "a redeploy of an unchanged deployment makes a version",
        active(spec().model_copy(update={"redeployed_at": "2026-11-29T21:00:00Z"}), [pod(1, 0)]),
        makes_version({2: ACTIVATING, 1: ACTIVE}),
    ),
    (
        "a change back to an older deployment makes a version",
        observed(
            3,
            spec("nginx:1.26"),
            [version(2, ACTIVE), version(1, INACTIVE)],
            revisions={1: (1, spec("nginx:1.26")), 2: (2, spec("nginx:1.27"))},
            pods=[pod(2, 0)],
            selected=2,
        ),
        makes_version({3: ACTIVATING, 2: ACTIVE, 1: INACTIVE}),
    ),
    (
        "a scale change after a failed version keeps it failed: no retry without a redeploy",
        observed(
            3,
            capacity(scale=2),
            [version(2, FAILED), version(1, ACTIVE)],
            revisions={1: (1, spec("nginx:1.26")), 2: (2, spec())},
            pods=[pod(1, 0)],
            selected=1,
        ),
        expect({2: FAILED, 1: ACTIVE}, UPDATING, create_pods=["shop-v1-1"]),
    ),
    (
        "a pod unschedulable within the grace period: the version waits for it",
        unschedulable(age=10, waited=10),
        expect({1: ACTIVATING}, DEPLOYING, requeue_after=20.5),
    ),
    (
        "a pod unschedulable beyond the grace period fails the version",
        unschedulable(age=40, waited=30),
        expect({1: FAILED}, READY, delete_pods=["shop-v1-0"], events=["VersionFailed"]),
    ),
]


@pytest.mark.parametrize(("case", "current", "expected"), TABLE, ids=[c[0] for c in TABLE])
def test_plan(case: str, current: Observed, expected: dict[str, Any]) -> None:
    assert outline(plan(current, SETTINGS)) == expected


def test_capacity_digest_is_the_default_pods() -> None:
    assert power.capacity_digest(capacity(scale=5), SETTINGS) == CAPACITY
    assert MICRO_PODS != CAPACITY


def conditions(current: Observed) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in plan(current, SETTINGS).status.conditions}


CONDITIONS = [
    (
        "running",
        active(spec(), [pod(1, 0)]),
        {"Ready": ("True", "VersionActive"), "Reconciling": ("False", "Settled")},
    ),
    (
        "updating",
        active(capacity(scale=2), [pod(1, 0)]),
        {"Ready": ("False", "Updating"), "Reconciling": ("True", "Updating")},
    ),
    (
        "activating",
        observed(1, spec(), [version(1, ACTIVATING)], pods=[pod(1, 0, ready=False)]),
        {"Ready": ("False", "VersionActivating"), "Reconciling": ("True", "VersionActivating")},
    ),
    (
        "disabled",
        active(OFF, []),
        {"Ready": ("True", "Disabled"), "Reconciling": ("False", "Disabled")},
    ),
    (
        "disabling",
        active(OFF, [pod(1, 0)]),
        {"Ready": ("False", "Disabling"), "Reconciling": ("True", "Disabling")},
    ),
]


@pytest.mark.parametrize(
    ("case", "current", "expected"), CONDITIONS, ids=[c[0] for c in CONDITIONS]
)
def test_conditions(case: str, current: Observed, expected: dict[str, tuple[str, str]]) -> None:
    found = conditions(current)
    assert {t: found[t] for t in expected} == expected
    assert found["Stalled"] == ("False", "NoFailure")


def test_the_newest_version_failed_is_stalled_with_its_reason() -> None:
    current = unschedulable(age=40, waited=31)
    result = plan(current, SETTINGS)
    found = {c.type: c for c in result.status.conditions}
    assert (found["Stalled"].status, found["Stalled"].reason) == ("True", "Unschedulable")
    assert "Insufficient cpu" in found["Stalled"].message
    assert (found["Ready"].status, found["Reconciling"].status) == ("False", "False")
    assert all(c.observed_generation == 1 for c in result.status.conditions)


def test_status_reports_the_scale_of_the_active_version() -> None:
    result = plan(active(capacity(scale=3), [pod(1, 0), pod(1, 1, ready=False)]), SETTINGS)
    assert (result.status.replicas, result.status.ready_replicas) == (2, 1)
    assert result.status.selector == (
        "app.kubernetes.io/name=shop,app.kubernetes.io/managed-by=lightship,"
        "lightship.dev/service=shop,lightship.dev/version=1"
    )
    assert [v.state for v in result.status.versions] == [VersionState.Active]


def test_a_lagging_view_of_the_object_makes_no_version() -> None:
    """A second operator whose watch lags: the object as of generation 1 (version 1's
    deployment), the children as they are (version 2, made from generation 2, serves). A
    version made from a later generation than the object read says the view lags: no version
    is made from it (its status write is refused by the API server)."""
    lagging = observed(
        1,
        spec("nginx:1.26"),
        [version(1, ACTIVE)],
        revisions={1: (1, spec("nginx:1.26")), 2: (2, spec("nginx:1.27"))},
        pods=[pod(2, 0)],
        selected=2,
    )
    result = plan(lagging, SETTINGS)
    assert result.create_revision is None and result.create_pods == []
    assert result.delete_pods == []
