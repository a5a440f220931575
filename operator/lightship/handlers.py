"""The kopf handlers: thin. They read the object and its children, ask the rollout decision what
to do next, and write that. One reconcile per service runs at a time."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import inspect
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from kopf._core.reactor import queueing
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from lightship import GROUP, KIND, PLURAL, VERSION, logs, render, rollout
from lightship.api import ContainerServiceSpec, ContainerServiceStatus, VersionState
from lightship.render import MANAGED_BY, MANAGED_BY_LABEL, SERVICE_LABEL, Manifest
from lightship.settings import Settings

log = logging.getLogger("lightship")
MERGE_PATCH = "application/merge-patch+json"
Key = tuple[str, str]  # namespace, name


class Cluster:
    """The few Kubernetes calls the operator makes, on plain JSON manifests."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.networking = client.NetworkingV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    @staticmethod
    def _json(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        response = call(*args, _preload_content=False, **kwargs)
        return json.loads(response.data)

    @staticmethod
    def _send(call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """A write. Its response is read, which puts the connection back into the pool: an
        unread one is dropped, and the next request pays for a new TLS handshake."""
        response = call(*args, _preload_content=False, **kwargs)
        response.read()
        response.release_conn()

    @classmethod
    def _get_or_none(cls, call: Callable[..., Any], *args: Any) -> Manifest | None:
        try:
            result: Manifest = cls._json(call, *args)
            return result
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def service_object(self, namespace: str, name: str) -> Manifest | None:
        return self._get_or_none(
            self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name
        )

    def children(self, kind: str, namespace: str, name: str) -> list[Manifest]:
        call: Callable[..., Any] = {
            "Pod": self.core.list_namespaced_pod,
            "ControllerRevision": self.apps.list_namespaced_controller_revision,
        }[kind]
        items: list[Manifest] = self._json(
            call, namespace, label_selector=f"{SERVICE_LABEL}={name}"
        )["items"]
        return items

    def get(self, kind: str, namespace: str, name: str) -> Manifest | None:
        call: Callable[..., Any] = {
            "Service": self.core.read_namespaced_service,
            "Ingress": self.networking.read_namespaced_ingress,
        }[kind]
        return self._get_or_none(call, name, namespace)

    def create(self, namespace: str, manifest: Manifest) -> bool:
        """Creates the object; False when one of its name exists already."""
        calls: dict[str, Callable[..., Any]] = {
            "Pod": self.core.create_namespaced_pod,
            "Service": self.core.create_namespaced_service,
            "Ingress": self.networking.create_namespaced_ingress,
            "ControllerRevision": self.apps.create_namespaced_controller_revision,
        }
        call = calls[manifest["kind"]]
        try:
            self._send(call, namespace, manifest)
        except ApiException as error:
            if error.status != 409:  # made already, by an earlier attempt: level-based
                raise
            return False
        return True

    def patch(self, namespace: str, manifest: Manifest) -> None:
        call: Callable[..., Any] = {
            "Service": self.core.patch_namespaced_service,
            "Ingress": self.networking.patch_namespaced_ingress,
        }[manifest["kind"]]
        # A merge patch replaces lists whole (ports, rules) and sets the selector in one write.
        body = {k: manifest[k] for k in ("metadata", "spec")}
        self._send(call, manifest["metadata"]["name"], namespace, body, _content_type=MERGE_PATCH)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        call: Callable[..., Any] = {
            "Pod": self.core.delete_namespaced_pod,
            "Service": self.core.delete_namespaced_service,
            "Ingress": self.networking.delete_namespaced_ingress,
            "ControllerRevision": self.apps.delete_namespaced_controller_revision,
        }[kind]
        try:
            self._send(call, name, namespace)
        except ApiException as error:
            if error.status != 404:
                raise

    def generation_of(self, namespace: str, revision: str) -> int | None:
        """The generation a ControllerRevision was made from, as the API server has it."""
        found = self._get_or_none(
            self.apps.read_namespaced_controller_revision, revision, namespace
        )
        return made_from(found) if found is not None else None

    def container_logs(
        self, namespace: str, pod: str, containers: tuple[str, ...]
    ) -> dict[str, list[str]]:
        """The last lines (bounded) of each container's log; a log that cannot be read (the
        kubelet has none, the pod is gone) is left out: it only adds to a failure report."""
        found = {}
        for container in containers:
            try:
                found[container] = logs.read_tail(self.core, namespace, pod, container)
            except Exception as error:
                reason = error.reason if isinstance(error, ApiException) else error
                log.warning(
                    "%s/%s: cannot read the log of %s: %s", namespace, pod, container, reason
                )
        return found

    def patch_status(
        self, namespace: str, name: str, status: dict[str, Any], resource_version: str
    ) -> None:
        """Writes the status decided from the object at `resource_version`: refused (409) when
        the object changed since, so a decision from an old state (a lagging watch, a second
        operator) never replaces a newer status."""
        self._send(
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"metadata": {"resourceVersion": resource_version}, "status": status},
            _content_type=MERGE_PATCH,
        )


def made_from(revision: Manifest) -> int | None:
    """The spec generation a ControllerRevision was made from; None if it does not say."""
    annotations = revision["metadata"].get("annotations") or {}
    value = annotations.get(render.GENERATION_ANNOTATION, "")
    return int(value) if value.isdigit() else None


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def observe(obj: Manifest, cluster: Cluster | Seen, now: datetime) -> rollout.Observed:
    """Reads everything the rollout decision looks at. Children not controlled by this object
    are left out (pods, revisions) or passed on for the decision to report (Service, Ingress)."""
    metadata = obj["metadata"]
    namespace, name, uid = metadata["namespace"], metadata["name"], metadata["uid"]
    try:
        status = ContainerServiceStatus.model_validate(obj.get("status") or {})
    except ValidationError:
        log.warning("%s/%s: unreadable status, rebuilding it from the children", namespace, name)
        status = None
    revisions = {}
    for revision in cluster.children("ControllerRevision", namespace, name):
        generation = made_from(revision)
        if not rollout.controlled_by(revision, uid) or generation is None:
            continue
        revisions[revision["revision"]] = rollout.ObservedRevision(
            version=revision["revision"],
            generation=generation,
            spec=ContainerServiceSpec.model_validate(revision["data"]),
            created_at=_timestamp(revision["metadata"]["creationTimestamp"]),
        )
    pods = [
        rollout.observe_pod(pod)
        for pod in cluster.children("Pod", namespace, name)
        if rollout.controlled_by(pod, uid)
    ]
    return rollout.Observed(
        name=name,
        namespace=namespace,
        uid=uid,
        generation=metadata["generation"],
        spec=ContainerServiceSpec.model_validate(obj["spec"]),
        status=status,
        revisions=revisions,
        pods=pods,
        service=cluster.get("Service", namespace, name),
        ingress=cluster.get("Ingress", namespace, name),
        now=now,
    )


def status_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch from the old status to the new: fields that went away are nulled."""
    return {**{key: None for key in old if key not in new}, **new}


# -- reading what the watches showed --------------------------------------------------------
#
# kopf watches the objects and every child kind (pods, Services and Ingresses for their events,
# ControllerRevisions for the index alone) and keeps each one's latest state in an index
# (`kopf.index`), so a reconcile reads nothing from the API server. A watch lags behind the
# operator's own writes, though: the next reconcile of a service first waits until the indexes
# show every write of the one before (`Wrote`), else it reads from the API server as before.
# kopf starts no handler before every index holds its initial listing.

# The index of each kind, by (namespace, service).
INDEXES = {
    KIND: "lightship_objects",
    "ControllerRevision": "lightship_revisions",
    "Pod": "lightship_pods",
    "Service": "lightship_services",
    "Ingress": "lightship_ingresses",
}
# How long a reconcile waits for the watches to show the previous one's writes.
CATCH_UP_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class Wrote:
    """A write of a reconcile, as the next one must see it: the object is there (created; or
    patched, then `content` is a subset of it; the status: equal to it), or it is going or gone
    (`gone`: deleted)."""

    kind: str
    name: str
    gone: bool = False
    content: Manifest | None = None


# What a reconcile reads of an object's metadata (owner, labels, the revision's generation
# annotation, kopf's event reference, ...): the indexes keep only this, for thousands of objects.
_METADATA = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "generation",
        "labels",
        "annotations",
        "ownerReferences",
        "creationTimestamp",
        "deletionTimestamp",
        "resourceVersion",  # the object's: its status write names the state it decided from
    }
)
# ... and of a pod's status (rollout.observe_pod).
_POD_STATUS = frozenset({"phase", "reason", "message", "conditions", "containerStatuses"})


def slim(body: Mapping[str, Any], *, drop: tuple[str, ...] = ()) -> Manifest:
    """The object as an index keeps it: the metadata the reconcile reads, and the rest but
    `drop`; of a pod, the status fields that tell its state. Keys and short strings are
    interned: thousands of objects repeat them, and each parsed event has copies of its own."""
    obj = {k: v for k, v in body.items() if k not in drop}
    obj["metadata"] = {k: v for k, v in body["metadata"].items() if k in _METADATA}
    if body.get("kind") == "Pod" and "status" in obj:
        obj["status"] = {k: v for k, v in obj["status"].items() if k in _POD_STATUS}
    compact: Manifest = _interned(obj)
    return compact


def _interned(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {sys.intern(k): _interned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interned(v) for v in value]
    if isinstance(value, str) and len(value) <= 64:
        return sys.intern(value)
    return value


def _named(objects: list[Manifest], name: str) -> Manifest | None:
    return next((o for o in objects if o["metadata"]["name"] == name), None)


def shows(objects: Mapping[str, list[Manifest]], wrote: Wrote) -> bool:
    """Whether the objects of a service, as the indexes have them, show a write."""
    found = _named(objects[wrote.kind], wrote.name)
    if wrote.kind == KIND:  # the status (the object may have gone since)
        return found is None or rollout.is_subset(wrote.content, found.get("status") or {})
    if wrote.gone:
        return found is None or found["metadata"].get("deletionTimestamp") is not None
    return found is not None and (wrote.content is None or rollout.is_subset(wrote.content, found))


class Seen:
    """One service and its children as the indexes show them, read like `Cluster`. The
    watches see only this operator's children: a Service or Ingress of another owner that
    holds the name is not shown, and is found when its create is refused (reconcile)."""

    def __init__(self, objects: Mapping[str, list[Manifest]]) -> None:
        self.objects = objects

    def service_object(self, namespace: str, name: str) -> Manifest | None:
        return _named(self.objects[KIND], name)

    def children(self, kind: str, namespace: str, name: str) -> list[Manifest]:
        return self.objects[kind]

    def get(self, kind: str, namespace: str, name: str) -> Manifest | None:
        return _named(self.objects[kind], name)


def reconcile(
    cluster: Cluster,
    settings: Settings,
    namespace: str,
    name: str,
    seen: Seen | None = None,
    wrote: list[Wrote] | None = None,
) -> float | None:
    """One level-based pass over a service. Returns when to look again, if it must. Reads what
    `seen` shows, else the API server; adds its writes to `wrote`."""
    reader = seen or cluster
    wrote = [] if wrote is None else wrote
    obj = reader.service_object(namespace, name)
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return None  # garbage collection removes the children
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        observed = observe(obj, reader, now)
    except ValidationError as error:
        # The API server accepted what the models refuse: the CRD and the models disagree.
        # Retrying cannot help; a new spec will be looked at again.
        message = f"the spec or a stored version cannot be read: {error}"
        kopf.warn(cast(kopf.Body, obj), reason="InvalidSpec", message=message[:1000])
        log.error("%s/%s: %s", namespace, name, message)
        return None
    plan = rollout.plan(observed, settings)
    if plan.read_logs:
        # A version fails: read its failing containers' last lines before its pods go, and
        # decide again with them, so that its status entry keeps them.
        read = {
            pod: cluster.container_logs(namespace, pod, containers)
            for pod, containers in plan.read_logs.items()
        }
        observed = dataclasses.replace(observed, logs=read)
        plan = rollout.plan(observed, settings)

    def create(manifest: Manifest) -> bool:
        if cluster.create(namespace, manifest):
            wrote.append(Wrote(manifest["kind"], manifest["metadata"]["name"]))
            return True
        return False

    def delete(kind: str, child: str) -> None:
        cluster.delete(kind, namespace, child)
        wrote.append(Wrote(kind, child, gone=True))

    if plan.create_revision is not None and not create(plan.create_revision):
        made = cluster.generation_of(namespace, plan.create_revision["metadata"]["name"])
        if made != observed.generation:
            # Another writer (a second operator) made this version number from another
            # generation since this state was read: decide again from what is there now.
            raise ApiException(
                409, f"version made from generation {made}, not {observed.generation}"
            )
    refused: ApiException | None = None
    for pod in plan.create_pods:
        try:
            create(pod)
        except ApiException as error:
            # Refused at admission (Pod Security, a policy, a quota): the version cannot start
            # here. Decided again with the reason, it fails like a pod that cannot start.
            if error.status not in (403, 422):
                raise
            refused = error
            version = int(pod["metadata"]["labels"][render.VERSION_LABEL])
            rejected = {version: api_message(error), **observed.rejected}
            observed = dataclasses.replace(observed, rejected=rejected)
    if refused is not None:
        plan = rollout.plan(observed, settings)
    for manifest, present in (
        (plan.apply_service, observed.service),
        (plan.apply_ingress, observed.ingress),
    ):
        if manifest is None:
            continue
        if present is not None:
            cluster.patch(namespace, manifest)
            wrote.append(Wrote(manifest["kind"], name, content=manifest))
        elif not create(manifest) and seen is not None:
            # The indexes do not show it, yet it is there: another owner's. Decide again from
            # the API server, which reads it, so that the plan reports it.
            raise ApiException(409, f"{manifest['kind']} {name} exists, not indexed")
    if plan.delete_ingress:
        delete("Ingress", name)
    if plan.delete_service:
        delete("Service", name)
    for pod_name in plan.delete_pods:
        delete("Pod", pod_name)
    for revision in plan.delete_revisions:
        delete("ControllerRevision", revision)
    for event in plan.events:
        kopf.event(
            cast(kopf.Body, obj), type=event.type, reason=event.reason, message=event.message
        )
        log.info("%s/%s: %s: %s", namespace, name, event.reason, event.message)

    old = obj.get("status") or {}
    new = plan.status.model_dump(by_alias=True, exclude_none=True, mode="json")
    if new != old:
        cluster.patch_status(
            namespace, name, status_patch(old, new), obj["metadata"]["resourceVersion"]
        )
        wrote.append(Wrote(KIND, name, content=new))
    if refused is not None and any(
        v.version in observed.rejected and v.state != VersionState.Failed
        for v in plan.status.versions
    ):
        raise refused  # a pod the active version needs: tried again later
    return plan.requeue_after


def api_message(error: ApiException) -> str:
    """The API server's message of a refusal, bounded."""
    try:
        message = str(json.loads(error.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        message = f"{error.status} {error.reason}"
    return message[:1024]


class Reconciler:
    """Runs reconciles: one at a time per service, a burst of requests folded into one run,
    the activation deadline and failed runs looked at again later."""

    def __init__(self, cluster: Cluster, settings: Settings) -> None:
        self.cluster = cluster
        self.settings = settings
        self._locks: dict[Key, asyncio.Lock] = {}
        self._waiting: set[Key] = set()
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._failures: dict[Key, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # kopf's indexes (INDEXES), handed over by the first handler call.
        self.indexes: Mapping[str, Any] | None = None
        # The writes of each service's last run, and the runs waiting for the indexes.
        self._wrote: dict[Key, list[Wrote]] = {}
        self._changed: dict[Key, asyncio.Event] = {}

    def use(self, handler_kwargs: Mapping[str, Any]) -> None:
        """Takes kopf's indexes from a handler's arguments."""
        if self.indexes is None:
            self.indexes = {index: handler_kwargs[index] for index in INDEXES.values()}

    def saw(self, key: Key) -> None:
        """A watch showed a change of the service or one of its children."""
        changed = self._changed.get(key)
        if changed is not None:
            changed.set()

    async def _catch_up(self, key: Key) -> Seen | None:
        """The service as the indexes show it, once they show the last run's writes; None, to
        read from the API server, without indexes or when they lag by CATCH_UP_SECONDS."""
        if self.indexes is None:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CATCH_UP_SECONDS
        while True:
            objects = {
                kind: list(self.indexes[index].get(key, ())) for kind, index in INDEXES.items()
            }
            unseen = [wrote for wrote in self._wrote.get(key, ()) if not shows(objects, wrote)]
            if not unseen:
                return Seen(objects)
            changed = self._changed[key] = asyncio.Event()
            try:
                await asyncio.wait_for(changed.wait(), deadline - loop.time())
            except TimeoutError:
                writes = ", ".join(f"{wrote.kind} {wrote.name}" for wrote in unseen)
                log.info("%s/%s: the watches do not show %s yet; reading the API", *key, writes)
                return None
            finally:
                self._changed.pop(key, None)

    async def run(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        if key in self._waiting:
            return  # the run that waits already will see the latest state
        self._waiting.add(key)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            # Requests meanwhile fold into this run. After a failed run, read the API server:
            # the indexes still hold what a deleted namespace held (kopf stops its watches).
            seen = None if key in self._failures else await self._catch_up(key)
            self._waiting.discard(key)
            wrote: list[Wrote] = []
            try:
                try:
                    again = await asyncio.to_thread(
                        reconcile, self.cluster, self.settings, namespace, name, seen, wrote
                    )
                except ApiException as error:
                    if error.status != 409:
                        raise
                    # Decided from a state that changed meanwhile (a new spec, another writer):
                    # decide again from what the API server has now, unless a waiting run will.
                    again = None
                    if key not in self._waiting:
                        again = await asyncio.to_thread(
                            reconcile, self.cluster, self.settings, namespace, name, None, wrote
                        )
            finally:
                # What the next run waits to see; a failed run may have written some.
                if wrote:
                    self._wrote[key] = wrote
                else:
                    self._wrote.pop(key, None)
                if key not in self._waiting:
                    self._locks.pop(key, None)
        self._failures.pop(key, None)
        self.later(key, again)

    def trigger(self, namespace: str, name: str) -> None:
        """Reconciles soon, without waiting; a failure is retried with backoff."""
        task = asyncio.create_task(self._run_and_retry((namespace, name)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def later(self, key: Key, delay: float | None) -> None:
        """Looks at the service again in `delay` seconds; None: only when something changes.
        A pending look is dropped either way: it keeps the context of the event that set it,
        the object's whole body with it, until it fires."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if delay is not None:
            self._timers[key] = asyncio.get_running_loop().call_later(delay, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.trigger(*key)

    async def _run_and_retry(self, key: Key) -> None:
        try:
            await self.run(*key)
        except Exception as error:
            failures = self._failures[key] = self._failures.get(key, 0) + 1
            # Capped low: after an API server outage every service is looked at again within
            # seconds of its return, not after minutes of doubled waits.
            delay = min(2.0**failures, 10.0)
            log.warning("%s/%s: reconcile failed (%s); retrying in %.0f s", *key, error, delay)
            self.later(key, delay)


# -- kopf wiring ---------------------------------------------------------------------------


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


def _releasing_index_hold(run: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """`run`, a watch of one kind in one namespace or one object's worker, releases its hold on
    the operator's readiness when it ends, however it ends."""

    @functools.wraps(run)
    async def ended(*args: Any, **kwargs: Any) -> None:
        try:
            await run(*args, **kwargs)
        finally:
            readiness, hold = kwargs.get("operator_indexed"), kwargs.get("resource_indexed")
            if readiness is not None and hold is not None:
                await readiness.drop_toggle(hold)

    ended.releases_index_hold = True  # type: ignore[attr-defined]
    return ended


def release_index_holds_of_ended_watches() -> bool:
    """kopf 1.45 calls no handler until every watched namespace has been listed once, and
    only a finished listing releases a namespace's hold. A watch that ends before that (its
    namespace deleted meanwhile, its listing refused) held every handler of the operator
    forever. Returns whether kopf's watch and worker release their holds now."""
    for name in ("watcher", "worker"):
        run = getattr(queueing, name, None)
        if getattr(run, "releases_index_hold", False):
            continue
        if run is None or not {"operator_indexed", "resource_indexed"} <= set(
            inspect.signature(run).parameters
        ):
            log.warning("kopf's %s has changed: index holds of ended watches stay", name)
            return False
        setattr(queueing, name, _releasing_index_hold(run))
    return True


def register(cluster: Cluster, settings: Settings) -> None:
    """Registers the handlers with kopf's default registry."""
    release_index_holds_of_ended_watches()
    reconciler = Reconciler(cluster, settings)
    managed = {MANAGED_BY_LABEL: MANAGED_BY}

    @kopf.on.startup()
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # kopf's bookkeeping annotations, if a handler ever needs them, live under this
        # project's prefix (the event handlers and indexes below keep none).
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = SpecDigestStorage(
            prefix=GROUP, key="last-handled-configuration"
        )
        # Watch only what this operator made, filtered by the API server.
        for resource in (
            ("v1", "pods"),
            ("v1", "services"),
            ("networking.k8s.io", "ingresses"),
            ("apps", "controllerrevisions"),
        ):
            settings.watching.label_selectors[resource] = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        # kopf's own per-handler Events would be writes per change; keep only its errors.
        settings.posting.level = logging.ERROR
        settings.networking.error_backoffs = [1, 2, 5, 10, 10, 10]
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=16))

    # The indexes the reconcile reads (INDEXES): each object by (namespace, service). Coroutines:
    # kopf would run plain functions in a thread pool, behind the reconciles, and lag.
    def _by_service(
        namespace: str | None, labels: Mapping[str, str], body: kopf.Body, drop: tuple[str, ...]
    ) -> dict[Key, Manifest]:
        service = labels.get(SERVICE_LABEL)
        return {(namespace, service): slim(body, drop=drop)} if namespace and service else {}

    @kopf.index(GROUP, VERSION, PLURAL, id=INDEXES[KIND])
    async def objects(
        namespace: str | None, name: str, body: kopf.Body, **_: Any
    ) -> dict[Key, Manifest]:
        return {(namespace, name): slim(body)} if namespace else {}

    @kopf.index("v1", "pods", labels=managed, id=INDEXES["Pod"])
    async def pods(
        namespace: str | None, labels: Mapping[str, str], body: kopf.Body, **_: Any
    ) -> Any:
        return _by_service(namespace, labels, body, drop=("spec",))  # never read

    @kopf.index("v1", "services", labels=managed, id=INDEXES["Service"])
    async def services(
        namespace: str | None, labels: Mapping[str, str], body: kopf.Body, **_: Any
    ) -> Any:
        return _by_service(namespace, labels, body, drop=("status",))  # never read

    @kopf.index("networking.k8s.io", "ingresses", labels=managed, id=INDEXES["Ingress"])
    async def ingresses(
        namespace: str | None, labels: Mapping[str, str], body: kopf.Body, **_: Any
    ) -> Any:
        return _by_service(namespace, labels, body, drop=("status",))  # never read

    @kopf.index("apps", "controllerrevisions", labels=managed, id=INDEXES["ControllerRevision"])
    async def revisions(
        namespace: str | None, labels: Mapping[str, str], body: kopf.Body, **_: Any
    ) -> Any:
        return _by_service(namespace, labels, body, drop=("status",))  # never read

    # The object: a spec generation that its status has not caught up with is a version to
    # make, whether it comes from a create, an update, a lost status or the operator's start
    # (kopf's initial listing, type None, when every object is looked at again). Plain events
    # rather than kopf's create/update/resume handlers, which keep a copy of the last handled
    # spec in an annotation: one more write per version.
    @kopf.on.event(GROUP, VERSION, PLURAL)
    async def service_changed(
        *, type: str | None, namespace: str | None, name: str, body: kopf.Body, **kwargs: Any
    ) -> None:
        reconciler.use(kwargs)
        if not namespace or type == "DELETED":
            return  # garbage collection removes the children
        reconciler.saw((namespace, name))
        observed = (body.get("status") or {}).get("observedGeneration")
        if type in (None, "ADDED") or observed != body["metadata"].get("generation"):
            reconciler.trigger(namespace, name)

    @kopf.on.event("apps", "controllerrevisions", labels=managed)
    async def revision_seen(
        *, namespace: str | None, labels: Mapping[str, str], **kwargs: Any
    ) -> None:
        reconciler.use(kwargs)
        service = labels.get(SERVICE_LABEL)
        if service and namespace:
            reconciler.saw((namespace, service))

    @kopf.on.event("v1", "pods", labels=managed)
    @kopf.on.event("v1", "services", labels=managed)
    @kopf.on.event("networking.k8s.io", "ingresses", labels=managed)
    async def child_changed(
        *, namespace: str | None, labels: Mapping[str, str], **kwargs: Any
    ) -> None:
        reconciler.use(kwargs)
        service = labels.get(SERVICE_LABEL)
        if service and namespace:
            reconciler.saw((namespace, service))
            reconciler.trigger(namespace, service)
