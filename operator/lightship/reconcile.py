"""One reconcile pass over a service: observe, decide (rollout.plan), write the plan in an order
that never lets the status contradict where traffic goes."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from lightship import KIND, lifecycle, metrics, public_route, render, rollout
from lightship.api import VersionState
from lightship.cache import Expectation, IndexView, Key, named
from lightship.cluster import Cluster, api_message, made_from
from lightship.observe import observe
from lightship.observed import Observed
from lightship.render import Manifest
from lightship.settings import Settings

log = logging.getLogger("lightship")


@dataclasses.dataclass
class Pass:
    """The state of one pass: what it read, what it decided, what it wrote."""

    cluster: Cluster
    settings: Settings
    obj: Manifest
    observed: Observed
    plan: rollout.Plan
    wrote: list[Expectation]
    # A pod the API server refused to create (admission): the version it belongs to fails,
    # unless it is the active version, which needs it (then the pass fails and is retried).
    refused: ApiException | None = None
    # Whether the Service was written: traffic may have moved to another version.
    switched: bool = False

    @property
    def namespace(self) -> str:
        namespace: str = self.observed.namespace
        return namespace

    def decide(self, **learned: Any) -> None:
        """Decides again, knowing what a refused write taught (observed.Observed fields)."""
        self.observed = dataclasses.replace(self.observed, **learned)
        self.plan = rollout.plan(self.observed, self.settings)

    def create(self, manifest: Manifest) -> bool:
        if self.cluster.create(self.namespace, manifest):
            self.wrote.append(Expectation(manifest["kind"], manifest["metadata"]["name"]))
            return True
        return False

    def delete(self, kind: str, name: str) -> None:
        self.cluster.delete(kind, self.namespace, name)
        self.wrote.append(Expectation(kind, name, gone=True))


# The custom domains of a service (its manifest) that other services serve (claims.py).
DomainsTaken = Callable[[Manifest], Mapping[str, Key]]


def reconcile(
    cluster: Cluster,
    settings: Settings,
    key: Key,
    view: IndexView | None = None,
    wrote: list[Expectation] | None = None,
    *,
    domains_taken: DomainsTaken = lambda obj: {},
) -> float | None:
    """One level-based pass over a service. Returns when to look again, if it must. Reads what
    `view` shows, else the API server; adds its writes to `wrote`. A pass cut short because the
    service or its namespace is being deleted meanwhile is no failure: nothing is left to do."""
    try:
        return _reconcile(cluster, settings, key, view, wrote, domains_taken)
    except ApiException as error:
        if not _going(cluster, key, error):
            raise
        log.info("%s/%s: being deleted; the pass stops (%s)", *key, api_message(error))
        return None


def _going(cluster: Cluster, key: Key, error: ApiException) -> bool:
    """Whether a write was refused because the service or its namespace is being deleted."""
    if error.status == 403:
        return "NamespaceTerminating" in (error.body or "")
    if error.status != 404:
        return False
    obj = cluster.service_object(*key)
    return obj is None or bool(obj["metadata"].get("deletionTimestamp"))


def _reconcile(
    cluster: Cluster,
    settings: Settings,
    key: Key,
    view: IndexView | None,
    wrote: list[Expectation] | None,
    domains_taken: DomainsTaken,
) -> float | None:
    reader = view or cluster
    obj = reader.service_object(*key)
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return None  # garbage collection removes the children
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        observed = observe(obj, reader, cluster, now, public_route.route_kind(settings))
        observed = dataclasses.replace(observed, domains_taken=domains_taken(obj))
    except ValidationError as error:
        # The API server accepted a spec the models refuse: the CRD and the models disagree.
        # Retrying cannot help; a new spec will be looked at again.
        message = f"the spec cannot be read: {error}"
        kopf.warn(cast(kopf.Body, obj), reason="InvalidSpec", message=message[:1000])
        log.error("%s/%s: %s", *key, message)
        return None
    if observed.lags():  # the queue decides again from the API server
        raise ApiException(409, f"{key[1]}: the object read is older than its stored versions")
    observed, plan = _decide(cluster, settings, observed)
    run = Pass(cluster, settings, obj, observed, plan, [] if wrote is None else wrote)
    _make_version(run)
    _make_pods(run)
    try:
        _route(run, from_index=view is not None)
        _remove(run)
    except Exception:
        if run.switched:  # traffic moved: the status says so, whatever failed after the switch
            _write_status(run)
        raise
    _write_status(run)
    if run.refused is not None and any(
        v.version in run.observed.rejected and v.state != VersionState.Failed
        for v in run.plan.status.versions
    ):
        raise run.refused  # a pod the active version needs: tried again later
    return run.plan.requeue_after


def _decide(
    cluster: Cluster, settings: Settings, observed: Observed
) -> tuple[Observed, rollout.Plan]:
    """The plan, with the last lines of a failing version's containers when it asks for them:
    read before any write (its pods go in this pass), so that its status entry keeps them."""
    plan = rollout.plan(observed, settings)
    if not plan.read_logs:
        return observed, plan
    logs = {
        pod: cluster.container_logs(observed.namespace, pod, containers)
        for pod, containers in plan.read_logs.items()
    }
    observed = dataclasses.replace(observed, logs=logs)
    return observed, rollout.plan(observed, settings)


def _make_version(run: Pass) -> None:
    """Creates the revision of a new version. A name taken already is this version made by an
    earlier attempt, another writer's version of another generation (decide again), or held by
    an object of another owner (reported; the version waits for the name)."""
    revision = run.plan.create_revision
    if revision is None or run.create(revision):
        return
    name = revision["metadata"]["name"]
    found = named(
        run.cluster.children("ControllerRevision", run.namespace, run.observed.name), name
    )
    if found is None or not render.controlled_by(found, run.observed.uid):
        run.decide(foreign=run.observed.foreign | {("ControllerRevision", name)})
    elif made_from(found) != run.observed.generation:
        raise ApiException(409, f"{name} was made from generation {made_from(found)} meanwhile")


def _make_pods(run: Pass) -> None:
    """Creates the pods of the versions that run. One refused at admission (Pod Security, a
    policy, a quota) fails its version; one whose name another owner holds is reported."""
    rejected = dict(run.observed.rejected)
    held = set(run.observed.foreign)
    for pod in run.plan.create_pods:
        name = pod["metadata"]["name"]
        try:
            if run.create(pod):
                continue
        except ApiException as error:
            if error.status not in (403, 422):
                raise
            version = int(pod["metadata"]["labels"][render.VERSION_LABEL])
            rejected.setdefault(version, api_message(error))
            run.refused = error
            continue
        own = run.cluster.children("Pod", run.namespace, run.observed.name)
        found = named(own, name)
        if found is None or not render.controlled_by(found, run.observed.uid):
            held.add(("Pod", name))
    if rejected != run.observed.rejected or held != run.observed.foreign:
        run.decide(rejected=rejected, foreign=frozenset(held))


def _route(run: Pass, *, from_index: bool) -> None:
    """The route (Ingress or HTTPRoute), then the Service (the switch of traffic), then a route
    no longer wanted.
    A Service or Ingress to create is looked up first: the indexes show only the operator's
    own, and one of another owner is reported, never merged into."""
    plan, observed = run.plan, run.observed
    writes = [(plan.apply_ingress, observed.ingress), (plan.apply_service, observed.service)]
    if observed.service is None:
        # A new Service carries no traffic yet: made first, the route never names a missing
        # backend (a gateway would report it refused, BackendNotFound, for a moment).
        writes.reverse()
    for manifest, present in writes:
        if manifest is None:
            continue
        kind = manifest["kind"]
        if present is not None:
            run.cluster.apply(run.namespace, manifest)
        elif (
            from_index and run.cluster.get(kind, run.namespace, observed.name) is not None
        ) or not run.create(manifest):
            raise ApiException(409, f"{kind} {observed.name} exists: decide from the API server")
        run.switched = run.switched or kind == "Service"
        run.wrote.append(Expectation(kind, observed.name, content=manifest))
    if plan.delete_service:
        run.switched = True
        run.delete("Service", observed.name)
    if plan.delete_ingress:
        run.delete(public_route.route_kind(run.settings), observed.name)


def _write_status(run: Pass) -> None:
    """The events that tell the decided changes, then the status. kopf posts events in the
    background: sent first, they are there about when the status is."""
    for event in run.plan.events:
        kopf.event(
            cast(kopf.Body, run.obj), type=event.type, reason=event.reason, message=event.message
        )
        log.info("%s/%s: %s: %s", run.namespace, run.observed.name, event.reason, event.message)
    old = run.obj.get("status") or {}
    new = lifecycle.as_dict(run.plan.status)
    if new != old:
        run.cluster.patch_status(
            run.namespace,
            run.observed.name,
            lifecycle.merge_patch(old, new),
            run.obj["metadata"]["resourceVersion"],
        )
        run.wrote.append(Expectation(KIND, run.observed.name, content=new))
        metrics.status_written((run.namespace, run.observed.name), old, new, datetime.now(UTC))


def _remove(run: Pass) -> None:
    """What no traffic reaches any more: the pods of versions that do not run, and pruned
    revisions. Before the status write, so that a status that says a version went live is
    seen with the old pods gone."""
    plan = run.plan
    for pod in plan.delete_pods:
        run.delete("Pod", pod)
    for revision in plan.delete_revisions:
        run.delete("ControllerRevision", revision)


def report_failure(cluster: Cluster, key: Key, error: Exception, failures: int) -> None:
    """After STALLED_AFTER_FAILURES runs in a row failed, the object says so: Stalled=True
    (ReconcileError) and a Warning event, for a user who never reads the operator's log."""
    if failures < lifecycle.STALLED_AFTER_FAILURES:
        return
    obj = cluster.service_object(*key)
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return
    reason = api_message(error) if isinstance(error, ApiException) else repr(error)
    message = (
        f"reconciles keep failing ({lifecycle.STALLED_AFTER_FAILURES} or more in a row): {reason}"
    )
    previous = (obj.get("status") or {}).get("conditions") or []
    if any(c.get("type") == "Stalled" and c.get("message") == message for c in previous):
        return  # said already
    now = datetime.now(UTC).replace(microsecond=0)
    conditions, new = lifecycle.stalled(previous, message, obj["metadata"].get("generation"), now)
    cluster.patch_status(*key, {"conditions": conditions}, obj["metadata"]["resourceVersion"])
    if new:
        kopf.event(cast(kopf.Body, obj), type="Warning", reason="ReconcileError", message=message)
