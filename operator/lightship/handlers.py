"""The kopf wiring: builds the cache, the work queue and the reconcile, registers the indexes
and event handlers, configures kopf. Everything else lives in its own module."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf

from lightship import GROUP, KIND, PLURAL, VERSION, kopf_compat, leadership, metrics
from lightship.cache import INDEXES, Cache, Key, pack
from lightship.claims import INDEX as CLAIMS_INDEX
from lightship.claims import DomainClaims
from lightship.claims import index as claims_index
from lightship.cluster import Cluster
from lightship.public_route import route_kind
from lightship.queue import WORKERS, WorkQueue
from lightship.reconcile import reconcile, report_failure
from lightship.render import (
    GATEWAY_GROUP,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SERVICE_LABEL,
)
from lightship.settings import Settings


class SpecDigestStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's record of the last handled spec (its diff-base), kept as a digest. kopf would keep
    the whole spec in an annotation, and the annotations of an object hold 256 KiB in all: a
    large spec, which the API allows (ten containers with a hundred 4 KiB variables each), could
    not be recorded, and kopf would fail on the object again and again. The reconcile is
    level-based: it needs to know that the spec changed, not how. Labels and annotations are
    left out too: no handler looks at them."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None
    ) -> kopf.BodyEssence:
        essence = dict(super().build(body=body, extra_fields=extra_fields))
        essence.pop("metadata", None)
        spec = json.dumps(essence.get("spec"), sort_keys=True, separators=(",", ":"))
        essence["spec"] = {"sha256": hashlib.sha256(spec.encode()).hexdigest()}
        return cast(kopf.BodyEssence, essence)


# The kinds of children, as kopf names them, and what their index leaves out (never read). A
# route's status is read: its controller's answer (routes.route_status).
CHILDREN = (
    ("v1", "pods", "Pod", ("spec",)),
    ("v1", "services", "Service", ("status",)),
    ("apps", "controllerrevisions", "ControllerRevision", ("status",)),
)
ROUTES = {
    "Ingress": ("networking.k8s.io", "ingresses", "Ingress", ()),
    "HTTPRoute": (GATEWAY_GROUP, "httproutes", "HTTPRoute", ()),
}


def watched_children(settings: Settings) -> tuple[tuple[str, str, str, tuple[str, ...]], ...]:
    """The child kinds watched: the public route's is the one the settings choose, so that a
    cluster without Gateway API's CRDs needs none in Ingress mode, nor Ingress rights in
    Gateway mode."""
    return (*CHILDREN, ROUTES[route_kind(settings)])


def _index_by_service(drop: tuple[str, ...]) -> Callable[..., Awaitable[dict[Key, bytes]]]:
    """An index of one child kind: each child by (namespace, service), packed. A coroutine:
    kopf would run a plain function in its thread pool, behind the reconciles, and lag."""

    async def index(
        namespace: str | None, labels: Mapping[str, str], body: kopf.Body, **_: Any
    ) -> dict[Key, bytes]:
        service = labels.get(SERVICE_LABEL)
        return {(namespace, service): pack(body, drop=drop)} if namespace and service else {}

    return index


async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """kopf's settings, at the operator's start."""
    # kopf's bookkeeping annotations, if a handler ever needs them, live under this project's
    # prefix (the event handlers and indexes keep none).
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = SpecDigestStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # Watch only what this operator made, filtered by the API server (of the route kinds, the
    # one the settings choose is watched).
    for group, plural, _kind, _drop in (*CHILDREN, *ROUTES.values()):
        settings.watching.label_selectors[group, plural] = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
    # kopf's own per-handler Events would be writes per change; keep only its errors.
    settings.posting.level = logging.ERROR
    # Events say they come from Lightship (`kubectl describe`'s From, reportingComponent),
    # and which replica wrote them.
    settings.posting.reporting_component = "lightship"
    settings.posting.reporting_instance = leadership.identity()
    settings.posting.event_name_prefix = "lightship-"
    settings.networking.error_backoffs = [1, 2, 5, 10, 10, 10]
    # kopf keeps a worker for each object that had an event, for this long after its last
    # one, and the worker holds that event's whole body meanwhile: after a burst of 1,000
    # services, 5,000 bodies for 5 s (kopf's default), the operator's peak memory. A worker is
    # cheap to start again.
    settings.queueing.idle_timeout = 0.5
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=WORKERS))


async def objects(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Key, bytes]:
    """The index of the objects, by (namespace, name)."""
    return {(namespace, name): pack(body)} if namespace else {}


def _work_queue(
    cluster: Cluster, settings: Settings, cache: Cache, claims: DomainClaims
) -> WorkQueue:
    """The queue of reconciles: each pass reads the cache and the domains other services hold."""
    return WorkQueue(
        cache,
        functools.partial(reconcile, cluster, settings, domains_taken=claims.taken),
        lambda key, error, failures: asyncio.to_thread(
            report_failure, cluster, key, error, failures
        ),
    )


def _register_indexes(
    children: tuple[tuple[str, str, str, tuple[str, ...]], ...], managed: Mapping[str, str]
) -> None:
    """The indexes the reconcile reads (INDEXES): each object by (namespace, service), and the
    custom domains each service claims."""
    kopf.index(GROUP, VERSION, PLURAL, id=INDEXES[KIND])(objects)
    kopf.index(GROUP, VERSION, PLURAL, id=CLAIMS_INDEX)(claims_index)
    for group, plural, kind, drop in children:
        kopf.index(group, plural, labels=managed, id=INDEXES[kind])(_index_by_service(drop))


def register(cluster: Cluster, settings: Settings) -> None:
    """Registers the handlers with kopf's default registry."""
    kopf_compat.release_index_holds_of_ended_watches()
    cache = Cache()
    claims = DomainClaims()
    queue = _work_queue(cluster, settings, cache, claims)
    managed = {MANAGED_BY_LABEL: MANAGED_BY}
    children = watched_children(settings)
    kopf.on.startup()(configure)
    _register_indexes(children, managed)

    # The object: a spec generation that its status has not caught up with is a version to
    # make, whether it comes from a create, an update, a lost status or the operator's start
    # (kopf's initial listing, type None, when every object is looked at again). Plain events
    # rather than kopf's create/update/resume handlers, which keep a copy of the last handled
    # spec in an annotation: one more write per version.
    @kopf.on.event(GROUP, VERSION, PLURAL)
    async def service_changed(
        *, type: str | None, namespace: str | None, name: str, body: kopf.Body, **kwargs: Any
    ) -> None:
        cache.use(kwargs)
        claims.use(kwargs)
        if not namespace:
            return
        # A change of the domains this service claims or serves (or its deletion) may give
        # one of them to another service that waits for it.
        for rival in claims.rivals(body):
            queue.trigger(rival)
        if type == "DELETED":
            metrics.SERVICES.forget((namespace, name))
            queue.forget((namespace, name))
            return  # garbage collection removes the children
        cache.saw((namespace, name))
        observed = (body.get("status") or {}).get("observedGeneration")
        generation = body["metadata"].get("generation")
        if type in (None, "ADDED") or observed != generation:
            queue.trigger((namespace, name), generation)

    # A child: its service is looked at again (a pod got ready or failed, a Service was edited,
    # a revision of another owner that held a name went away).
    async def child_changed(
        *, namespace: str | None, labels: Mapping[str, str], **kwargs: Any
    ) -> None:
        cache.use(kwargs)
        claims.use(kwargs)
        service = labels.get(SERVICE_LABEL)
        if service and namespace:
            cache.saw((namespace, service))
            queue.trigger((namespace, service))

    for group, plural, _kind, _drop in children:
        kopf.on.event(group, plural, labels=managed)(child_changed)
