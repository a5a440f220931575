"""The rollout decision (DESIGN §2): observed state in, the next actions and the new status out.

Pure and level-based: it looks only at what is observed now (the object, its ControllerRevisions,
pods, Service and Ingress), so running it again after a crash, a lost event or a restart gives
the same answer, and a half-done step is simply finished. Each step is a function that returns
values: the history (history.py), the activation decision (activation.py), the desired children
(children.py), the status with its conditions and events (lifecycle.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lightship import activation, children, history, lifecycle, render, scaling
from lightship.api import ContainerServiceStatus, VersionState
from lightship.lifecycle import Event
from lightship.observed import Observed
from lightship.render import Manifest
from lightship.settings import Settings

# When to look again while the name of a version to make is held by another owner's object.
HELD_NAME_RETRY_SECONDS = 10.0


@dataclass(frozen=True)
class Plan:
    status: ContainerServiceStatus
    create_revision: Manifest | None = None
    create_pods: list[Manifest] = field(default_factory=list)
    delete_pods: list[str] = field(default_factory=list)
    apply_service: Manifest | None = None  # create or apply this
    delete_service: bool = False
    apply_ingress: Manifest | None = None
    delete_ingress: bool = False
    delete_revisions: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    # When to look again even if nothing changes: the activation deadline, a held name.
    requeue_after: float | None = None
    # A version fails and these containers' logs (pod -> containers) are not observed yet: read
    # them, before the pod is removed, and plan again with them in Observed.logs.
    read_logs: dict[str, tuple[str, ...]] = field(default_factory=dict)


def plan(o: Observed, settings: Settings) -> Plan:
    versions = history.known_versions(o)
    target = history.target(o, versions)
    versions, made = history.created(o, versions, target)
    versions, superseded = (
        history.superseded(versions, target.version) if target.version else (versions, [])
    )
    step = activation.activate_or_fail(o, settings, versions, target.version)
    versions, delete_revisions = history.pruned(o, step.versions)
    active = next((v for v in versions.values() if v.state == VersionState.Active), None)
    serving = serve(o, settings, active.version if active else None)
    running = {v.version for v in versions.values() if v.state in RUNNING}
    unwanted = children.unwanted_pods(o.pods, running)
    newest_first = sorted(versions.values(), key=lambda v: v.version, reverse=True)
    status, told = lifecycle.status(
        o, settings, newest_first, serving.capacity, serving.routes.apply_ingress
    )
    requeue_after = step.requeue_after
    if target.held is not None:
        requeue_after = HELD_NAME_RETRY_SECONDS
    return Plan(
        status=status,
        create_revision=target.revision,
        create_pods=[*step.create_pods, *serving.create_pods],
        delete_pods=list(dict.fromkeys([*step.delete_pods, *serving.delete_pods, *unwanted])),
        apply_service=serving.routes.apply_service,
        delete_service=serving.routes.delete_service,
        apply_ingress=serving.routes.apply_ingress,
        delete_ingress=serving.routes.delete_ingress,
        delete_revisions=delete_revisions,
        events=[*made, *superseded, *step.events, *told],
        requeue_after=requeue_after,
        read_logs=step.read_logs,
    )


RUNNING = frozenset({VersionState.Activating, VersionState.Active})


@dataclass(frozen=True)
class Serving:
    """What keeps the active version serving: its pods, and the Service and Ingress on it."""

    create_pods: list[Manifest] = field(default_factory=list)
    delete_pods: list[str] = field(default_factory=list)
    routes: children.Routes = field(default_factory=children.Routes)
    capacity: lifecycle.Capacity = field(default_factory=lifecycle.Capacity)


def serve(o: Observed, settings: Settings, active: int | None) -> Serving:
    """The active version has its pods as its capacity says (scaling.py: an ended one is
    replaced once it is gone), and the Service and Ingress point at it."""
    spec = o.spec_of(active) if active is not None else None
    if active is None or spec is None:  # its revision is gone: nothing to rebuild it from
        return Serving()
    pods = o.live_pods(active)
    present = {p.name for p in o.pods} | o.held("Pod")
    plan = scaling.plan_pods(o.name, o.uid, spec, active, pods, present, settings, serving=True)
    return Serving(
        create_pods=plan.create,
        delete_pods=plan.delete,
        capacity=lifecycle.Capacity(
            settled=plan.settled,
            replicas=sum(1 for p in pods if not p.ended),
            ready=sum(1 for p in pods if p.ready and not p.ended),
            selector=render.selector(o.name, active),
        ),
        # Custom domains are a setting of the service, not of a version: the current spec's.
        routes=children.routes(
            o.name,
            o.uid,
            spec,
            active,
            (o.service, o.ingress),
            settings,
            o.served_domains(),
        ),
    )
