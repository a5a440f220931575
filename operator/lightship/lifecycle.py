"""What the status says: the service's state, its conditions, and the events that tell their
changes. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lightship import render, scaling
from lightship.api import (
    Condition,
    ContainerServiceStatus,
    DeploymentVersion,
    ServiceState,
    VersionState,
)
from lightship.observed import Observed
from lightship.render import Manifest
from lightship.routes import route_status
from lightship.settings import Settings

# A condition as decided: type, status, reason, message.
Mark = tuple[str, str, str, str]
# Runs in a row that failed before the status says the operator cannot make progress.
STALLED_AFTER_FAILURES = 3
# The longest message of a condition or an event the operator writes.
MAX_MESSAGE = 1024


@dataclass(frozen=True)
class Capacity:
    """The active version's pods as observed: for the state (Updating), and for /scale."""

    settled: bool = True  # made with the current capacity, `scale` of them, all ready
    replicas: int = 0
    ready: int = 0
    selector: str | None = None


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


def status(
    o: Observed,
    settings: Settings,
    versions: list[DeploymentVersion],
    capacity: Capacity = Capacity(),
    applied_route: Manifest | None = None,
) -> tuple[ContainerServiceStatus, list[Event]]:
    """The status of the decided versions (newest first), and the events of its conditions;
    `applied_route`: the public route this pass writes, if it does."""
    active = next((v for v in versions if v.state == VersionState.Active), None)
    activating = next((v for v in versions if v.state == VersionState.Activating), None)
    newest = versions[0] if versions else None
    active_spec = o.spec_of(active.version) if active else None
    url = private_domain = domains = None
    if active_spec is not None and active_spec.public_endpoint is not None:
        url = render.public_url(o.name, o.uid, settings)
        domains = [d for entry in o.served_domains() for d in entry.domains] or None
    # The private domain is the Service's name, which exists while some container of the
    # serving (or else the coming) version opens a port.
    if any(container.ports for container in (active_spec or o.spec).containers):
        private_domain = render.private_domain(o.name, o.namespace)
    marks = [
        *outcome(o, active, activating, newest, capacity),
        progressing(activating, newest),
        conflict(o),
        route_rejected(o, settings, applied_route),
        *history_unreadable(o),
    ]
    previous = o.status.conditions if o.status else []
    conditions, events = conditions_of(marks, previous, o.generation, o.now)
    return ContainerServiceStatus(
        observed_generation=o.generation,
        state=service_state(o, active, activating, capacity),
        replicas=capacity.replicas,
        ready_replicas=capacity.ready,
        selector=capacity.selector,
        url=url,
        domains=domains,
        private_domain=private_domain,
        current_deployment=active,
        next_deployment=activating,
        versions=versions,
        conditions=conditions,
    ), events


def service_state(
    o: Observed,
    active: DeploymentVersion | None,
    activating: DeploymentVersion | None,
    capacity: Capacity,
) -> ServiceState:
    if o.spec.disabled:
        return ServiceState.Disabled
    if activating is not None:
        return ServiceState.Deploying
    if active is None:
        return ServiceState.Ready
    return ServiceState.Running if capacity.settled else ServiceState.Updating


def outcome(
    o: Observed,
    active: DeploymentVersion | None,
    activating: DeploymentVersion | None,
    newest: DeploymentVersion | None,
    capacity: Capacity,
) -> list[Mark]:
    """Ready, Reconciling and Stalled, as kstatus, kubectl wait, Flux and Argo CD read them:
    Ready when the newest deployment serves with every setting applied; Reconciling while a
    version activates or settings are applied; Stalled when the newest deployment failed."""
    if newest is not None and newest.state == VersionState.Failed:
        message = f"version {newest.version} failed: {newest.reason}: {newest.message}"
        if active is not None:
            message += f"; version {active.version} keeps serving"
        return [
            ("Ready", "False", "VersionFailed", message),
            ("Reconciling", "False", "VersionFailed", message),
            ("Stalled", "True", newest.reason or "VersionFailed", message),
        ]
    ready, reconciling = _progress(o, active, activating, capacity)
    return [
        ready,
        reconciling,
        ("Stalled", "False", "NoFailure", "the newest version has not failed"),
    ]


def _progress(
    o: Observed,
    active: DeploymentVersion | None,
    activating: DeploymentVersion | None,
    capacity: Capacity,
) -> tuple[Mark, Mark]:
    """Ready and Reconciling, when the newest version has not failed."""
    if o.spec.disabled and capacity.settled:
        message = "the service is disabled: no pod runs"
        return ("Ready", "True", "Disabled", message), ("Reconciling", "False", "Disabled", message)
    if activating is not None and not o.spec.disabled:
        message = f"version {activating.version} is activating: {activating.message}"
        reason = "VersionActivating"
    elif not capacity.settled:
        reason = "Disabling" if o.spec.disabled else "Updating"
        message = (
            f"{capacity.ready} of {scaling.wanted(o.spec)} pods ready with the current capacity, "
            f"{capacity.replicas} in all"
        )
    elif active is not None:
        message = f"version {active.version} serves the service with every setting applied"
        return ("Ready", "True", "VersionActive", message), (
            "Reconciling",
            "False",
            "Settled",
            message,
        )
    else:
        message = "no version is active"
        return ("Ready", "False", "NoActiveVersion", message), (
            "Reconciling",
            "False",
            "NoActiveVersion",
            message,
        )
    return ("Ready", "False", reason, message), ("Reconciling", "True", reason, message)


def progressing(activating: DeploymentVersion | None, newest: DeploymentVersion | None) -> Mark:
    if activating is not None:
        message = f"version {activating.version} is activating: {activating.message}"
        return ("Progressing", "True", "VersionActivating", message)
    if newest is not None and newest.state == VersionState.Failed:
        message = f"version {newest.version} failed: {newest.reason}: {newest.message}"
        return ("Progressing", "False", "VersionFailed", message)
    return ("Progressing", "False", "RolloutComplete", "no version is activating")


def conflict(o: Observed) -> Mark:
    """Children of the service's names that another owner holds, and custom domains another
    service serves: left alone, reported."""
    held = [
        f"{kind} {o.namespace}/{o.name}"
        for kind, child in (("Service", o.service), (_kind_of(o.ingress, "Ingress"), o.ingress))
        if not render.controlled_or_absent(child, o.uid)
    ]
    held += sorted(f"{kind} {o.namespace}/{name}" for kind, name in o.foreign)
    messages = [
        f"{child} exists and is not managed by this service; Lightship leaves it alone: "
        "delete or rename it"
        for child in held
    ] + [
        f"the domain {domain} is served by the service {namespace}/{name}; this service "
        "serves it once that one no longer does"
        for domain, (namespace, name) in sorted(o.domains_taken.items())
    ]
    if not messages:
        return ("Conflict", "False", "NoConflict", "every child and domain is this service's")
    return ("Conflict", "True", "ForeignObject" if held else "DomainInUse", "; ".join(messages))


def route_rejected(o: Observed, settings: Settings, applied: Manifest | None = None) -> Mark:
    """The public route as its controller reports it: a route the gateway refuses is a visible
    problem (True, with the gateway's reason), not a silent one. A route this pass creates
    (`applied`) is one no controller has answered yet, said now rather than in a status write
    of its own."""
    own = o.ingress if o.ingress is not None and render.controlled_by(o.ingress, o.uid) else None
    if own is None and o.ingress is None:
        own = applied
    if own is None:
        return ("RouteRejected", "False", "NoRoute", "the service has no public route")
    answer = route_status(own, settings.gateway)
    if answer.accepted is False:
        return ("RouteRejected", "True", answer.reason, answer.message)
    kind = own.get("kind", "route")
    if answer.accepted is None:
        return (
            "RouteRejected",
            "False",
            "NoAnswer",
            f"no controller has answered for {kind} {o.name} yet",
        )
    where = f" at {', '.join(answer.addresses)}" if answer.addresses else ""
    return ("RouteRejected", "False", "RouteAccepted", f"{kind} {o.name} is served{where}")


def _kind_of(child: Manifest | None, default: str) -> str:
    """A child's kind as observed (the route is an Ingress or an HTTPRoute)."""
    return str((child or {}).get("kind") or default)


def history_unreadable(o: Observed) -> list[Mark]:
    """Stored versions the models refuse: reported while they are kept (they age out)."""
    if not o.unreadable:
        return []
    message = "; ".join(
        f"version {r.version} cannot be read and is not used: {r.error}"
        for r in sorted(o.unreadable.values(), key=lambda r: r.version)
    )
    return [("HistoryUnreadable", "True", "UnreadableVersion", message[:4096])]


def conditions_of(
    marks: list[Mark], previous: list[Condition], generation: int, now: datetime
) -> tuple[list[Condition], list[Event]]:
    """The conditions, each keeping its transition time while its status stays; a Warning
    event for each abnormal condition that turns True or changes its message."""
    before = {c.type: c for c in previous}
    conditions, events = [], []
    for type_, value, reason, message in marks:
        old = before.get(type_)
        flipped = old is None or old.status != value
        # A failed version (Stalled) is told by its own VersionFailed event.
        abnormal = value == "True" and type_ not in (
            "Ready",
            "Progressing",
            "Reconciling",
            "Stalled",
        )
        if abnormal and (flipped or (old is not None and old.message != message)):
            events.append(Event("Warning", reason, message[:MAX_MESSAGE]))
        conditions.append(
            Condition(
                type=type_,
                status=value,
                reason=reason,
                message=message,
                observed_generation=generation,
                last_transition_time=now if flipped or old is None else old.last_transition_time,
            )
        )
    return conditions, events


def stalled(
    previous: list[dict[str, Any]], message: str, generation: int | None, now: datetime
) -> tuple[list[dict[str, Any]], bool]:
    """The conditions with Stalled=True (ReconcileError): the operator cannot make progress.
    Whether it is new (then a Warning event tells it). The next successful pass writes the
    conditions without it."""
    old = next((c for c in previous if c.get("type") == "Stalled"), None)
    changed = old is None or old.get("status") != "True"
    condition = Condition(
        type="Stalled",
        status="True",
        reason="ReconcileError",
        message=message[:MAX_MESSAGE],
        observed_generation=generation,
        last_transition_time=now if changed or old is None else old["lastTransitionTime"],
    )
    kept = [c for c in previous if c.get("type") != "Stalled"]
    return [*kept, as_dict(condition)], changed


def as_dict(model: Condition | ContainerServiceStatus) -> dict[str, Any]:
    """A status model as the API stores it."""
    result: dict[str, Any] = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    return result


def merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) from `old` to `new`: a field that went away, at any
    depth, is nulled; lists are replaced whole."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old or old[key] != value:
            patch[key] = merge_patch(old.get(key), value)
    return patch
