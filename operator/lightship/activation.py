"""The activation decision: an Activating version becomes Active when all its pods are ready,
Failed when one cannot start or its deadline passes; meanwhile its missing pods are made. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lightship import render, scaling
from lightship.api import ContainerLog, DeploymentVersion, VersionState
from lightship.history import Versions
from lightship.lifecycle import Event
from lightship.observed import Observed
from lightship.pods import Failure, ObservedPod
from lightship.render import Manifest
from lightship.settings import Settings


@dataclass(frozen=True)
class Activation:
    versions: Versions
    create_pods: list[Manifest] = field(default_factory=list)
    delete_pods: list[str] = field(default_factory=list)
    # When to look again even if nothing changes: the activation deadline.
    requeue_after: float | None = None
    # The failing pod's containers whose last lines are not observed yet: read them before
    # the pod goes, and decide again with them in Observed.logs.
    read_logs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


def activate_or_fail(
    o: Observed, settings: Settings, versions: Versions, target: int | None
) -> Activation:
    """Moves an Activating target on, or makes its missing pods and waits (until its
    deadline). A disabled service runs no pods: its version waits, its deadline too."""
    version = versions.get(target) if target is not None else None
    if version is None or version.state != VersionState.Activating:
        return Activation(versions)
    pods = o.live_pods(version.version)
    spec = o.spec_of(version.version) or o.spec
    present = {p.name for p in o.pods} | o.held("Pod")
    plan = scaling.plan_pods(
        o.name, o.uid, spec, version.version, pods, present, settings, serving=False
    )
    if o.spec.disabled:
        waiting = version.model_copy(update={"message": "waits: the service is disabled"})
        return Activation({**versions, version.version: waiting}, delete_pods=plan.delete)
    failure = _failure(o, version.version, pods, settings)
    if failure is not None:
        return failed(o, versions, version, *failure)
    scale = o.spec.scale
    if plan.ready >= scale and render.controlled_or_absent(o.service, o.uid):
        return activated(o, versions, version)
    timeout = settings.activation_timeout_seconds
    elapsed = (o.now - deadline_start(version, pods)).total_seconds() if plan.all_made else 0.0
    if elapsed >= timeout:
        message = timeout_message(o, version.version, plan.ready, timeout)
        unready = next((p for p in pods if not p.ready), None)
        return failed(o, versions, version, Failure("ActivationTimeout", message), unready)
    waiting = version.model_copy(update={"message": f"{plan.ready} of {scale} pods ready"})
    return Activation(
        versions={**versions, version.version: waiting},
        create_pods=plan.create,
        delete_pods=plan.delete,
        requeue_after=min(
            [timeout - elapsed, *(left for _, left in _unschedulable(o, pods, settings))]
        )
        + 0.5,
    )


def _failure(
    o: Observed, version: int, pods: list[ObservedPod], settings: Settings
) -> tuple[Failure, ObservedPod | None] | None:
    """Why the version cannot start, if it cannot: a failing container, pods refused at
    admission, or a pod the scheduler could not place for longer than the grace period."""
    failing = next((p for p in pods if p.failure is not None), None)
    if failing is not None and failing.failure is not None:
        return failing.failure, failing
    if version in o.rejected:
        return Failure("PodRejected", o.rejected[version]), None
    for failure, left in _unschedulable(o, pods, settings):
        if left <= 0:
            return failure, None
    return None


def _unschedulable(
    o: Observed, pods: list[ObservedPod], settings: Settings
) -> list[tuple[Failure, float]]:
    """Each unschedulable pod's reason, and the seconds left before it fails its version: the
    scheduler may place it once other pods end (or a cluster autoscaler adds a node)."""
    return [
        (pod.unschedulable, settings.unschedulable_grace_seconds - (o.now - since).total_seconds())
        for pod in pods
        if pod.unschedulable is not None
        and (since := pod.unschedulable_since or pod.created_at) is not None
    ]


def deadline_start(version: DeploymentVersion, pods: list[ObservedPod]) -> datetime:
    """When the version's clock started: when it was made, or when its last pod was made if
    later (a pod made now starts it anew: time the operator was down before making them is
    not held against it). It ends whatever happens to the pods: a name held by another owner
    or by a pod stuck terminating is never made again, and everything counted is a time the
    API server keeps, so a restart of the operator does not reset it."""
    made = [p.created_at for p in pods if p.created_at is not None]
    return max([version.created_at, *made])


def timeout_message(o: Observed, version: int, ready: int, timeout: int) -> str:
    message = f"{ready} of {o.spec.scale} pods ready after {timeout} s"
    held = sorted(
        name
        for name in o.held("Pod")
        if name in {render.pod_name(o.name, version, i) for i in range(o.spec.scale)}
    )
    if held:
        message += f"; held by another owner: {', '.join(held)}"
    return message


def activated(o: Observed, versions: Versions, version: DeploymentVersion) -> Activation:
    """The version serves; the one that served before is history."""
    result = dict(versions)
    for number, other in versions.items():
        if other.state == VersionState.Active:
            replaced = f"replaced by version {version.version}"
            result[number] = other.model_copy(
                update={"state": VersionState.Inactive, "message": replaced}
            )
    result[version.version] = version.model_copy(
        update={"state": VersionState.Active, "activated_at": o.now, "message": None}
    )
    event = Event("Normal", "VersionActivated", f"version {version.version} is active")
    return Activation(result, events=[event])


def failed(
    o: Observed,
    versions: Versions,
    version: DeploymentVersion,
    failure: Failure,
    pod: ObservedPod | None = None,
) -> Activation:
    """The version is Failed, with the last lines of the failing pod's containers that ran:
    asked for (Activation.read_logs) when they are not observed yet."""
    logs: list[ContainerLog] | None = None
    read_logs = {}
    if pod is not None and pod.log_containers:
        lines = o.logs.get(pod.name)
        if lines is None:
            read_logs[pod.name] = pod.log_containers
        else:
            logs = [
                ContainerLog(pod=pod.name, container=name, lines=list(lines[name]))
                for name in pod.log_containers
                if lines.get(name)
            ] or None
    update = {
        "state": VersionState.Failed,
        "reason": failure.reason,
        "message": failure.message,
        "logs": logs,
    }
    message = f"version {version.version} failed: {failure.reason}: {failure.message}"
    return Activation(
        versions={**versions, version.version: version.model_copy(update=update)},
        read_logs=read_logs,
        events=[Event("Warning", "VersionFailed", message)],
    )
