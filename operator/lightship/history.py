"""The versions of a service: which exist, which one the current spec generation is (made when
new), which are superseded, which are kept. Pure; each function returns new values."""

from __future__ import annotations

from dataclasses import dataclass

from lightship import render
from lightship.api import MAX_VERSIONS, MAX_VERSIONS_WITH_LOGS, DeploymentVersion, VersionState
from lightship.lifecycle import Event
from lightship.observed import Observed
from lightship.render import Manifest

Versions = dict[int, DeploymentVersion]


def known_versions(o: Observed) -> Versions:
    """The versions of the status, and those kept as revisions but missing from it (a status
    write lost): the one the Service selects was Active, the current deployment's is
    Activating, the others are history."""
    versions = {v.version: v for v in (o.status.versions if o.status else [])}
    selected = selected_version(o)
    current = o.current_revision()
    for revision in sorted(o.stored(), key=lambda revision: revision.version):
        number = revision.version
        if number in versions:
            continue
        if number == selected:
            state = VersionState.Active
        elif number == current:
            state = VersionState.Activating
        else:
            state = VersionState.Inactive
        versions[number] = DeploymentVersion(
            version=number, state=state, created_at=revision.created_at
        )
    return versions


def selected_version(o: Observed) -> int | None:
    """The version the service's own Service sends traffic to."""
    if o.service is None or not render.controlled_by(o.service, o.uid):
        return None
    value = (o.service.get("spec", {}).get("selector") or {}).get(render.VERSION_LABEL)
    return int(value) if value and value.isdigit() else None


@dataclass(frozen=True)
class Target:
    """The version of the current deployment: known, to make (`revision`), waiting for its
    revision's name (`held`), which another owner's object holds, or none (a deployment
    changed while the service is disabled becomes a version when it is enabled)."""

    version: int | None
    revision: Manifest | None = None
    held: str | None = None


def target(o: Observed, versions: Versions) -> Target:
    """The current deployment's version. A new one's number follows every number the status
    and the API server's revisions know, so one deployment never gets two numbers."""
    current = o.current_revision()
    if current is not None:
        return Target(current)
    if o.spec.disabled or o.lags():
        # Disabled: the deployment becomes a version when enabled. A version made from a later
        # generation than the object read: a lagging view, which must not make one.
        return Target(None)
    number = max([*versions, *(revision.version for revision in o.stored()), 0]) + 1
    name = render.revision_name(o.name, number)
    if name in o.held("ControllerRevision"):
        return Target(None, held=name)
    return Target(number, render.render_revision(o.name, o.uid, o.spec, number, o.generation))


def created(o: Observed, versions: Versions, target: Target) -> tuple[Versions, list[Event]]:
    """The versions with the target's, when it is made now."""
    if target.revision is None or target.version is None:
        return versions, []
    new = DeploymentVersion(version=target.version, state=VersionState.Activating, created_at=o.now)
    message = f"version {target.version} created from generation {o.generation}"
    return {**versions, target.version: new}, [Event("Normal", "VersionCreated", message)]


def superseded(versions: Versions, target: int | None) -> tuple[Versions, list[Event]]:
    """Versions still Activating that are not the target become Inactive; of several Active
    ones (a stale status) only the newest stays Active."""
    result, events = dict(versions), []
    active = sorted(n for n, v in versions.items() if v.state == VersionState.Active)
    for number in active[:-1]:
        result[number] = versions[number].model_copy(update={"state": VersionState.Inactive})
    for number, version in versions.items():
        if version.state == VersionState.Activating and number != target:
            message = f"superseded by version {target}"
            update = {"state": VersionState.Inactive, "message": message}
            result[number] = version.model_copy(update=update)
            events.append(Event("Normal", "VersionSuperseded", f"version {number} {message}"))
    return result, events


def pruned(o: Observed, versions: Versions) -> tuple[Versions, list[str]]:
    """The newest versions, and always the active one, MAX_VERSIONS in all; logs only on the
    newest few that have them (the status stays small); the revisions of the others, to
    delete (unreadable ones too: they age out like the rest)."""
    newest = sorted(versions, reverse=True)
    kept = newest[:MAX_VERSIONS]
    active = next((v for v in newest if versions[v].state == VersionState.Active), None)
    if active is not None and active not in kept:
        kept = [*kept[: MAX_VERSIONS - 1], active]
    logged = [n for n in sorted(kept, reverse=True) if versions[n].logs]
    result = {
        n: versions[n].model_copy(update={"logs": None})
        if n in logged[MAX_VERSIONS_WITH_LOGS:]
        else versions[n]
        for n in kept
    }
    gone = [
        render.revision_name(o.name, n)
        for n in sorted({revision.version for revision in o.stored()})
        if n not in kept
    ]
    return result, gone
