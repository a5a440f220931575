"""Builders shared by the unit tests of the rollout decision: a service observed in a given
situation, and the whole plan expected of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lightship import power, public_route, render
from lightship.api import (
    ContainerServiceSpec,
    ContainerServiceStatus,
    DeploymentVersion,
    ServiceState,
    VersionState,
)
from lightship.children import stamped
from lightship.observed import Observed, ObservedRevision
from lightship.pods import ObservedPod
from lightship.rollout import Plan
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


# The capacity digest of pods made for spec() (power nano, no registry credentials).
CAPACITY = power.capacity_digest(spec(), SETTINGS)


def pod(number: int, index: int = 0, ready: bool = True, **extra: Any) -> ObservedPod:
    extra.setdefault("capacity", CAPACITY)
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
        ingress = stamped(public_route.render_route("shop", UID, revisions[selected][1], SETTINGS))
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


def outline(result: Plan) -> dict[str, Any]:
    """Everything a plan does, in short: a case lists all of it, so an extra action fails."""
    service = result.apply_service
    return {
        "revision": result.create_revision["metadata"]["name"] if result.create_revision else None,
        "create_pods": [p["metadata"]["name"] for p in result.create_pods],
        "delete_pods": result.delete_pods,
        "service": (
            f"v{service['spec']['selector'][render.VERSION_LABEL]}"
            if service
            else ("delete" if result.delete_service else None)
        ),
        "ingress": "apply"
        if result.apply_ingress
        else ("delete" if result.delete_ingress else None),
        "delete_revisions": result.delete_revisions,
        "events": reasons(result),
        "versions": {v.version: v.state for v in result.status.versions},
        "state": result.status.state,
        "abnormal": sorted(
            c.type
            for c in result.status.conditions
            if c.status == "True" and c.type not in ("Ready", "Progressing", "Reconciling")
        ),
        "requeue_after": result.requeue_after,
        "read_logs": result.read_logs,
    }


def expect(
    versions: dict[int, VersionState], state: ServiceState, **actions: Any
) -> dict[str, Any]:
    """A whole plan: the versions and the service's state, and the actions named; every
    action not named is expected not to happen."""
    nothing: dict[str, Any] = {
        "revision": None,
        "create_pods": [],
        "delete_pods": [],
        "service": None,
        "ingress": None,
        "delete_revisions": [],
        "events": [],
        "abnormal": [],
        "requeue_after": None,
        "read_logs": {},
    }
    # The newest version failed: Stalled says so (DESIGN §3), whatever else the case is about.
    if versions and versions[max(versions)] == VersionState.Failed:
        nothing["abnormal"] = ["Stalled"]
    unknown = set(actions) - set(nothing)
    assert not unknown, f"not a plan field: {unknown}"
    return {**nothing, **actions, "versions": versions, "state": state}


DEPLOYING, RUNNING, READY = ServiceState.Deploying, ServiceState.Running, ServiceState.Ready
UPDATING, DISABLED = ServiceState.Updating, ServiceState.Disabled


def rolling_out(
    old: ContainerServiceSpec, new: ContainerServiceSpec, *new_pods: ObservedPod
) -> Observed:
    """Version 1 (from `old`) active with its pod and serving; version 2 (from `new`, the spec
    now, generation 2) activating with `new_pods`."""
    return observed(
        2,
        new,
        [version(2, ACTIVATING), version(1, ACTIVE)],
        revisions={1: (1, old), 2: (2, new)},
        pods=[pod(1), *new_pods],
        selected=1,
    )


def makes_version(versions: dict[int, VersionState], **actions: Any) -> dict[str, Any]:
    """The whole plan that makes the newest of `versions` (Activating): its revision, its first
    pod, the event, and a wake-up at its activation deadline; `actions` adds to it or changes
    it."""
    number = max(versions)
    made: dict[str, Any] = {
        "revision": f"shop-v{number}",
        "create_pods": [f"shop-v{number}-0"],
        "events": ["VersionCreated"],
        "requeue_after": SETTINGS.activation_timeout_seconds + 0.5,
    }
    return expect(versions, DEPLOYING, **{**made, **actions})


def switches_to_version_2(**actions: Any) -> dict[str, Any]:
    """The whole plan that makes version 2 active in place of version 1: the Service sends
    traffic to it, version 1's pod goes, the event; `actions` adds to it or changes it."""
    switched: dict[str, Any] = {
        "service": "v2",
        "delete_pods": ["shop-v1-0"],
        "events": ["VersionActivated"],
    }
    return expect({2: ACTIVE, 1: INACTIVE}, RUNNING, **{**switched, **actions})
