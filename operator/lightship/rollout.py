"""The rollout decision (DESIGN §2): observed state in, the next actions and the new status out.

Pure and level-based: it looks only at what is observed now (the object, its ControllerRevisions,
pods, Service and Ingress), so running it again after a crash, a lost event or a restart gives
the same answer, and a half-done step is simply finished.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lightship import render
from lightship.api import (
    MAX_VERSIONS,
    MAX_VERSIONS_WITH_LOGS,
    Condition,
    ContainerLog,
    ContainerServiceSpec,
    ContainerServiceStatus,
    DeploymentVersion,
    ServiceState,
    VersionState,
)
from lightship.render import Manifest
from lightship.settings import Settings

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
    # When the pod was made: the activation deadline runs from its version's first pod.
    created_at: datetime | None = None


@dataclass(frozen=True)
class ObservedRevision:
    version: int
    generation: int
    spec: ContainerServiceSpec
    created_at: datetime


@dataclass(frozen=True)
class Observed:
    name: str
    namespace: str
    uid: str
    generation: int
    spec: ContainerServiceSpec
    status: ContainerServiceStatus | None
    revisions: Mapping[int, ObservedRevision]
    pods: Sequence[ObservedPod]
    service: Manifest | None  # the Service named after the object, as observed
    ingress: Manifest | None
    now: datetime
    # The last lines of containers of a failing pod, read because an earlier plan asked
    # (Plan.read_logs): pod -> container -> lines. A pod read without result maps to {}.
    logs: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)
    # Versions whose pods the API server refused to create (admission: Pod Security, a policy,
    # a quota), with its message: found when an earlier plan's pods were created.
    rejected: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass
class Plan:
    status: ContainerServiceStatus
    create_revision: Manifest | None = None
    create_pods: list[Manifest] = field(default_factory=list)
    delete_pods: list[str] = field(default_factory=list)
    apply_service: Manifest | None = None  # create or patch to this
    delete_service: bool = False
    apply_ingress: Manifest | None = None
    delete_ingress: bool = False
    delete_revisions: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    # When to look again even if nothing changes: the activation deadline.
    requeue_after: float | None = None
    # A version fails and these containers' logs (pod -> containers) are not observed yet: read
    # them, before the pod is removed, and plan again with them in Observed.logs.
    read_logs: dict[str, tuple[str, ...]] = field(default_factory=dict)


def observe_pod(pod: Mapping[str, Any]) -> ObservedPod:
    """What the rollout needs to know of one pod, from its manifest."""
    metadata, status = pod["metadata"], pod.get("status") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    phase = status.get("phase")
    failure = None
    log_containers = tuple(
        container["name"]
        for container in status.get("containerStatuses") or []
        if not container.get("ready") and _has_run(container)
    )
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in CONTAINER_FAILURES:
            detail = waiting.get("message") or waiting["reason"]
            failure = Failure(waiting["reason"], f"container {container['name']}: {detail}")
            break
    if failure is None and phase == "Failed":
        failure = Failure(
            status.get("reason") or "PodFailed", status.get("message") or "the pod failed"
        )
    return ObservedPod(
        name=metadata["name"],
        version=int(metadata["labels"][render.VERSION_LABEL]),
        ready=ready,
        terminating=metadata.get("deletionTimestamp") is not None,
        failure=failure,
        ended=phase in ("Failed", "Succeeded"),
        log_containers=log_containers,
        created_at=_time(metadata.get("creationTimestamp")),
    )


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


def controlled_by(manifest: Mapping[str, Any], uid: str) -> bool:
    references = manifest.get("metadata", {}).get("ownerReferences") or []
    return any(r.get("uid") == uid and r.get("controller") for r in references)


def is_subset(desired: Any, observed: Any) -> bool:
    """Whether every field set in `desired` has the same value in `observed` (which may hold
    more: defaults filled in by the API server)."""
    if isinstance(desired, Mapping):
        return isinstance(observed, Mapping) and all(
            key in observed and is_subset(value, observed[key]) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(observed, list)
            and len(desired) == len(observed)
            and all(is_subset(d, o) for d, o in zip(desired, observed, strict=True))
        )
    return bool(desired == observed)


def converge(desired: Manifest | None, observed: Manifest | None) -> tuple[Manifest | None, bool]:
    """How an owned child comes to match `desired` (None: it should not exist): the manifest
    to create or patch it to, and whether to delete it."""
    if desired is None:
        return None, observed is not None
    if observed is None or not is_subset(desired, observed):
        return desired, False
    return None, False


def plan(observed: Observed, settings: Settings) -> Plan:
    return _Planner(observed, settings).plan()


class _Planner:
    def __init__(self, observed: Observed, settings: Settings) -> None:
        self.o = observed
        self.settings = settings
        self.now = observed.now
        self.events: list[Event] = []
        self.versions: dict[int, DeploymentVersion] = {
            v.version: v.model_copy() for v in (observed.status.versions if observed.status else [])
        }
        self.result = Plan(status=ContainerServiceStatus())

    # -- helpers -------------------------------------------------------------------------

    def event(self, type_: str, reason: str, message: str) -> None:
        self.events.append(Event(type_, reason, message))

    def spec_of(self, version: int) -> ContainerServiceSpec | None:
        revision = self.o.revisions.get(version)
        return revision.spec if revision else None

    def live_pods(self, version: int) -> list[ObservedPod]:
        return [p for p in self.o.pods if p.version == version and not p.terminating]

    def missing_pods(self, version: int, spec: ContainerServiceSpec) -> list[Manifest]:
        present = {p.name for p in self.o.pods if p.version == version}
        return [
            render.render_pod(self.o.name, self.o.uid, spec, version, index)
            for index in range(spec.scale)
            if render.pod_name(self.o.name, version, index) not in present
        ]

    def owned(self, manifest: Manifest | None) -> bool:
        return manifest is None or controlled_by(manifest, self.o.uid)

    # -- the decision --------------------------------------------------------------------

    def plan(self) -> Plan:
        target = self.target_version()
        self.supersede_others(target)
        active = self.activate_or_fail(target)
        self.keep_serving(active)
        self.remove_unwanted_pods(target, active)
        self.prune()
        self.result.status = self.status(active)  # may add events: status before events
        self.result.events = self.events
        return self.result

    def target_version(self) -> DeploymentVersion:
        """The version of the current spec generation, made now if it does not exist yet."""
        for revision in self.o.revisions.values():
            if revision.generation == self.o.generation:
                if revision.version not in self.versions:
                    # Made before a crash that lost the status write: pick it up again.
                    self.versions[revision.version] = DeploymentVersion(
                        version=revision.version,
                        state=VersionState.Activating,
                        created_at=revision.created_at,
                    )
                self.recover_lost_versions()
                return self.versions[revision.version]
        self.recover_lost_versions()
        number = max([*self.versions, *self.o.revisions, 0]) + 1
        self.result.create_revision = render.render_revision(
            self.o.name, self.o.uid, self.o.spec, number, self.o.generation
        )
        self.versions[number] = DeploymentVersion(
            version=number, state=VersionState.Activating, created_at=self.now
        )
        self.event(
            "Normal",
            "VersionCreated",
            f"version {number} created from generation {self.o.generation}",
        )
        return self.versions[number]

    def recover_lost_versions(self) -> None:
        """Versions kept as ControllerRevisions but missing from the status (status lost):
        the one the Service selects was Active, the others are history."""
        selected = self.selected_version()
        for version, revision in self.o.revisions.items():
            if version not in self.versions:
                self.versions[version] = DeploymentVersion(
                    version=version,
                    state=VersionState.Active if version == selected else VersionState.Inactive,
                    created_at=revision.created_at,
                )

    def selected_version(self) -> int | None:
        if self.o.service is None or not self.owned(self.o.service):
            return None
        selector = self.o.service.get("spec", {}).get("selector") or {}
        value = selector.get(render.VERSION_LABEL)
        return int(value) if value and value.isdigit() else None

    def supersede_others(self, target: DeploymentVersion) -> None:
        for version in self.versions.values():
            if version.state == VersionState.Activating and version.version != target.version:
                version.state = VersionState.Inactive
                version.message = f"superseded by version {target.version}"
                self.event(
                    "Normal",
                    "VersionSuperseded",
                    f"version {version.version} superseded by version {target.version}",
                )

    def active_version(self) -> DeploymentVersion | None:
        active = sorted(
            (v for v in self.versions.values() if v.state == VersionState.Active),
            key=lambda v: v.version,
        )
        for older in active[:-1]:  # at most one is Active; a stale extra one is history
            older.state = VersionState.Inactive
        return active[-1] if active else None

    def activate_or_fail(self, target: DeploymentVersion) -> DeploymentVersion | None:
        """Moves an Activating target on: to Active when all its pods are ready, to Failed when
        one cannot start or the deadline passed. Returns the version that serves afterwards."""
        active = self.active_version()
        if target.state != VersionState.Activating:
            return active
        spec = self.o.spec
        pods = self.live_pods(target.version)
        failing = next((p for p in pods if p.failure), None)
        ready = sum(1 for p in pods if p.ready and not p.failure)
        elapsed = self.activation_elapsed(target, pods, spec.scale)
        timeout = self.settings.activation_timeout_seconds
        if failing is not None and failing.failure is not None:
            self.fail(target, failing.failure, failing)
            return active
        if target.version in self.o.rejected:
            self.fail(target, Failure("PodRejected", self.o.rejected[target.version]))
            return active
        if ready >= spec.scale and self.owned(self.o.service):
            target.state = VersionState.Active
            target.activated_at = self.now
            target.message = None
            if active is not None:
                active.state = VersionState.Inactive
                active.message = f"replaced by version {target.version}"
            self.event("Normal", "VersionActivated", f"version {target.version} is active")
            return target
        if elapsed >= timeout:
            self.fail(
                target,
                Failure(
                    "ActivationTimeout", f"{ready} of {spec.scale} pods ready after {timeout} s"
                ),
                next((p for p in pods if not p.ready), None),
            )
            return active
        target.message = f"{ready} of {spec.scale} pods ready"
        self.result.create_pods.extend(self.missing_pods(target.version, spec))
        self.result.requeue_after = max(timeout - elapsed, 0.0) + 0.5
        return active

    def activation_elapsed(
        self, target: DeploymentVersion, pods: list[ObservedPod], scale: int
    ) -> float:
        """How long the version's pods have all had to become ready: since the last of them
        was made. Until all exist the clock has not started: time the operator was down (it
        made the version, or some of its pods, not yet the others) is not held against it."""
        if len(pods) < scale:
            return 0.0
        made = [p.created_at for p in pods if p.created_at is not None]
        started = max(made) if made else target.created_at
        return (self.now - started).total_seconds()

    def fail(
        self, version: DeploymentVersion, failure: Failure, pod: ObservedPod | None = None
    ) -> None:
        """Marks the version Failed, with the last lines of the failing pod's containers that
        ran: asked for (Plan.read_logs) when they are not observed yet."""
        version.state = VersionState.Failed
        version.reason = failure.reason
        version.message = failure.message
        if pod is not None and pod.log_containers:
            logs = self.o.logs.get(pod.name)
            if logs is None:
                self.result.read_logs[pod.name] = pod.log_containers
            else:
                version.logs = [
                    ContainerLog(pod=pod.name, container=name, lines=list(logs[name]))
                    for name in pod.log_containers
                    if logs.get(name)
                ] or None
        self.event(
            "Warning",
            "VersionFailed",
            f"version {version.version} failed: {failure.reason}: {failure.message}",
        )

    def keep_serving(self, active: DeploymentVersion | None) -> None:
        """The active version has all its pods, and the Service (and Ingress) point at it."""
        if active is None:
            return
        spec = self.spec_of(active.version)
        if spec is None:  # its revision is gone; nothing to rebuild its pods from
            return
        for pod in self.live_pods(active.version):
            if pod.ended:
                self.result.delete_pods.append(pod.name)  # recreated once it is gone
        self.result.create_pods.extend(self.missing_pods(active.version, spec))
        # A foreign Service or Ingress is left alone: the Conflict condition reports it.
        service = render.render_service(self.o.name, self.o.uid, spec, active.version)
        if self.owned(self.o.service):
            self.result.apply_service, self.result.delete_service = converge(
                service, self.o.service
            )
        ingress = render.render_ingress(self.o.name, self.o.uid, spec, self.settings)
        if self.owned(self.o.ingress):
            self.result.apply_ingress, self.result.delete_ingress = converge(
                ingress, self.o.ingress
            )

    def foreign(self, kind: str) -> str:
        return (
            f"{kind} {self.o.namespace}/{self.o.name} exists and is not managed by this "
            f"service; Lightship leaves it alone: delete or rename it"
        )

    def remove_unwanted_pods(
        self, target: DeploymentVersion, active: DeploymentVersion | None
    ) -> None:
        wanted = {
            v.version
            for v in (target, active)
            if v is not None and v.state in (VersionState.Activating, VersionState.Active)
        }
        for pod in self.o.pods:
            if pod.terminating or pod.name in self.result.delete_pods:
                continue
            spec = self.spec_of(pod.version)
            beyond_scale = spec is not None and pod.name not in {
                render.pod_name(self.o.name, pod.version, i) for i in range(spec.scale)
            }
            if pod.version not in wanted or beyond_scale:
                self.result.delete_pods.append(pod.name)

    def prune(self) -> None:
        """Keeps the newest versions, and always the active one, MAX_VERSIONS in all."""
        newest = sorted(self.versions, reverse=True)
        kept = newest[:MAX_VERSIONS]
        active = next((v for v in newest if self.versions[v].state == VersionState.Active), None)
        if active is not None and active not in kept:
            kept = [*kept[: MAX_VERSIONS - 1], active]
        for version in newest:
            if version not in kept:
                del self.versions[version]
        # Logs only on the newest few versions that have them: the status stays small.
        logged = [v for v in sorted(self.versions, reverse=True) if self.versions[v].logs]
        for version in logged[MAX_VERSIONS_WITH_LOGS:]:
            self.versions[version].logs = None
        for version in self.o.revisions:
            if version not in kept:
                self.result.delete_revisions.append(render.revision_name(self.o.name, version))

    def status(self, active: DeploymentVersion | None) -> ContainerServiceStatus:
        versions = sorted(self.versions.values(), key=lambda v: v.version, reverse=True)
        activating = next((v for v in versions if v.state == VersionState.Activating), None)
        if activating is not None:
            state = ServiceState.Deploying
        elif active is not None:
            state = ServiceState.Running
        else:
            state = ServiceState.Ready
        active_spec = self.spec_of(active.version) if active else None
        url = private_domain = None
        if active_spec is not None and active_spec.public_endpoint is not None:
            url = render.public_url(self.o.name, self.o.uid, self.settings)
        # The private domain is the Service's name, which exists while some container of the
        # serving (or else the coming) version opens a port.
        shown_spec = active_spec or self.o.spec
        if any(container.ports for container in shown_spec.containers):
            private_domain = render.private_domain(self.o.name, self.o.namespace)
        return ContainerServiceStatus(
            observed_generation=self.o.generation,
            state=state,
            url=url,
            private_domain=private_domain,
            current_deployment=active,
            next_deployment=activating,
            versions=versions,
            conditions=self.conditions(active, activating, versions),
        )

    def conditions(
        self,
        active: DeploymentVersion | None,
        activating: DeploymentVersion | None,
        versions: list[DeploymentVersion],
    ) -> list[Condition]:
        if active is not None:
            ready = ("True", "VersionActive", f"version {active.version} serves the service")
        else:
            ready = ("False", "NoActiveVersion", "no version is active")
        newest = versions[0] if versions else None
        if activating is not None:
            progressing = (
                "True",
                "VersionActivating",
                f"version {activating.version} is activating: {activating.message}",
            )
        elif newest is not None and newest.state == VersionState.Failed:
            progressing = (
                "False",
                "VersionFailed",
                f"version {newest.version} failed: {newest.reason}: {newest.message}",
            )
        else:
            progressing = ("False", "RolloutComplete", "no version is activating")
        foreign = [
            kind
            for kind, child in (("Service", self.o.service), ("Ingress", self.o.ingress))
            if not self.owned(child)
        ]
        if foreign:
            conflict = ("True", "ForeignObject", "; ".join(self.foreign(k) for k in foreign))
        else:
            conflict = ("False", "NoConflict", "every child is managed by this service")
        previous = {c.type: c for c in (self.o.status.conditions if self.o.status else [])}
        result = []
        for type_, (value, reason, message) in (
            ("Ready", ready),
            ("Progressing", progressing),
            ("Conflict", conflict),
        ):
            before = previous.get(type_)
            changed = before is None or before.status != value
            if type_ == "Conflict" and value == "True" and changed:
                self.event("Warning", "ForeignObject", message)
            result.append(
                Condition(
                    type=type_,
                    status=value,
                    reason=reason,
                    message=message,
                    observed_generation=self.o.generation,
                    last_transition_time=self.now
                    if changed or before is None
                    else before.last_transition_time,
                )
            )
        return result
