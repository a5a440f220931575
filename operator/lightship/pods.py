"""What the rollout needs to know of one pod: ready, failing (and why), ended, when it was made."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lightship import power, render

# Container reasons that mean a version cannot start. ErrImagePull is left out: the kubelet
# retries it and reports ImagePullBackOff once the pull keeps failing.
CONTAINER_FAILURES = frozenset(
    {
        "ImagePullBackOff",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class Failure:
    reason: str
    message: str


@dataclass(frozen=True)
class ObservedPod:
    name: str
    version: int
    ready: bool
    terminating: bool = False
    failure: Failure | None = None
    # The pod ended (phase Failed or Succeeded): in the active version it is replaced.
    ended: bool = False
    # Containers that ran and are not ready: when the version fails, their last lines say why.
    log_containers: tuple[str, ...] = ()
    # When the pod was made: the activation deadline runs from its version's last pod.
    created_at: datetime | None = None
    # The digest of the capacity it was made with (power.capacity_digest); None: made before.
    capacity: str | None = None
    # Why the scheduler cannot place it, and since when (PodScheduled=False, Unschedulable).
    unschedulable: Failure | None = None
    unschedulable_since: datetime | None = None


def observe_pod(pod: Mapping[str, Any]) -> ObservedPod:
    """What the rollout needs to know of one pod, from its manifest."""
    metadata, status = pod["metadata"], pod.get("status") or {}
    conditions = status.get("conditions") or []
    containers = status.get("containerStatuses") or []
    # The health-check prober is a native sidecar, an init container: one it cannot pull or
    # start fails the version as the endpoint's own container would.
    sidecars = status.get("initContainerStatuses") or []
    phase = status.get("phase")
    failure = next(filter(None, map(container_failure, [*containers, *sidecars])), None)
    if failure is None and phase == "Failed":
        failure = Failure(
            status.get("reason") or "PodFailed", status.get("message") or "the pod failed"
        )
    return ObservedPod(
        name=metadata["name"],
        version=int(metadata["labels"][render.VERSION_LABEL]),
        ready=any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions),
        terminating=metadata.get("deletionTimestamp") is not None,
        failure=failure,
        ended=phase in ("Failed", "Succeeded"),
        log_containers=tuple(c["name"] for c in containers if not c.get("ready") and _has_run(c)),
        created_at=_time(metadata.get("creationTimestamp")),
        capacity=(metadata.get("annotations") or {}).get(power.CAPACITY_ANNOTATION),
        **_unschedulable(conditions),
    )


def _unschedulable(conditions: list[Mapping[str, Any]]) -> dict[str, Any]:
    scheduled = next((c for c in conditions if c.get("type") == "PodScheduled"), {})
    if scheduled.get("status") != "False" or scheduled.get("reason") != "Unschedulable":
        return {}
    return {
        "unschedulable": Failure("Unschedulable", scheduled.get("message") or "Unschedulable"),
        "unschedulable_since": _time(scheduled.get("lastTransitionTime")),
    }


def container_failure(container: Mapping[str, Any]) -> Failure | None:
    """Why a container cannot start, if it cannot. A crash loop is seen as the kubelet reports
    it: the waiting reason CrashLoopBackOff lasts an instant on a real kubelet, between
    restarts the container is mostly `terminated` with a non-zero exit code and a rising
    restart count. One that exited non-zero, was restarted and exited non-zero again is
    failing."""
    state = container.get("state") or {}
    waiting = state.get("waiting") or {}
    name = container["name"]
    if waiting.get("reason") in CONTAINER_FAILURES:
        return Failure(
            waiting["reason"], f"container {name}: {waiting.get('message') or waiting['reason']}"
        )
    last = (container.get("lastState") or {}).get("terminated") or {}
    now = state.get("terminated") or {}
    restarts = container.get("restartCount") or 0
    if restarts > 0 and last.get("exitCode") and now.get("exitCode"):
        return Failure(
            "CrashLoopBackOff",
            f"container {name}: keeps exiting: exit code {now['exitCode']}"
            f" ({now.get('reason') or 'Error'}), restarted {restarts} times",
        )
    return None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _has_run(container: Mapping[str, Any]) -> bool:
    """Whether a container started at least once, so that it may have written a log."""
    state, last = container.get("state") or {}, container.get("lastState") or {}
    return bool(
        container.get("restartCount")
        or "terminated" in last
        or {"running", "terminated"} & set(state)
    )
