"""The kopf handlers: thin. They read the object and its children, ask the rollout decision what
to do next, and write that. One reconcile per service runs at a time."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from lightship import GROUP, PLURAL, VERSION, render, rollout
from lightship.api import ContainerServiceSpec, ContainerServiceStatus
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

    def create(self, namespace: str, manifest: Manifest) -> None:
        calls: dict[str, Callable[..., Any]] = {
            "Pod": self.core.create_namespaced_pod,
            "Service": self.core.create_namespaced_service,
            "Ingress": self.networking.create_namespaced_ingress,
            "ControllerRevision": self.apps.create_namespaced_controller_revision,
        }
        call = calls[manifest["kind"]]
        try:
            call(namespace, manifest, _preload_content=False)
        except ApiException as error:
            if error.status != 409:  # made already, by an earlier attempt: level-based
                raise

    def patch(self, namespace: str, manifest: Manifest) -> None:
        call: Callable[..., Any] = {
            "Service": self.core.patch_namespaced_service,
            "Ingress": self.networking.patch_namespaced_ingress,
        }[manifest["kind"]]
        # A merge patch replaces lists whole (ports, rules) and sets the selector in one write.
        body = {k: manifest[k] for k in ("metadata", "spec")}
        call(
            manifest["metadata"]["name"],
            namespace,
            body,
            _content_type=MERGE_PATCH,
            _preload_content=False,
        )

    def delete(self, kind: str, namespace: str, name: str) -> None:
        call: Callable[..., Any] = {
            "Pod": self.core.delete_namespaced_pod,
            "Service": self.core.delete_namespaced_service,
            "Ingress": self.networking.delete_namespaced_ingress,
            "ControllerRevision": self.apps.delete_namespaced_controller_revision,
        }[kind]
        try:
            call(name, namespace, _preload_content=False)
        except ApiException as error:
            if error.status != 404:
                raise

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": status},
            _content_type=MERGE_PATCH,
            _preload_content=False,
        )


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def observe(obj: Manifest, cluster: Cluster, now: datetime) -> rollout.Observed:
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
        annotations = revision["metadata"].get("annotations") or {}
        generation = annotations.get(render.GENERATION_ANNOTATION, "")
        if not rollout.controlled_by(revision, uid) or not generation.isdigit():
            continue
        revisions[revision["revision"]] = rollout.ObservedRevision(
            version=revision["revision"],
            generation=int(generation),
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


def reconcile(cluster: Cluster, settings: Settings, namespace: str, name: str) -> float | None:
    """One level-based pass over a service. Returns when to look again, if it must."""
    obj = cluster.service_object(namespace, name)
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return None  # garbage collection removes the children
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        observed = observe(obj, cluster, now)
    except ValidationError as error:
        # The API server accepted what the models refuse: the CRD and the models disagree.
        # Retrying cannot help; a new spec will be looked at again.
        message = f"the spec or a stored version cannot be read: {error}"
        kopf.warn(cast(kopf.Body, obj), reason="InvalidSpec", message=message[:1000])
        log.error("%s/%s: %s", namespace, name, message)
        return None
    plan = rollout.plan(observed, settings)

    if plan.create_revision is not None:
        cluster.create(namespace, plan.create_revision)
    for pod in plan.create_pods:
        cluster.create(namespace, pod)
    for manifest, kind in ((plan.apply_service, "Service"), (plan.apply_ingress, "Ingress")):
        if manifest is not None:
            if cluster.get(kind, namespace, name) is None:
                cluster.create(namespace, manifest)
            else:
                cluster.patch(namespace, manifest)
    if plan.delete_ingress:
        cluster.delete("Ingress", namespace, name)
    if plan.delete_service:
        cluster.delete("Service", namespace, name)
    for pod_name in plan.delete_pods:
        cluster.delete("Pod", namespace, pod_name)
    for revision in plan.delete_revisions:
        cluster.delete("ControllerRevision", namespace, revision)
    for event in plan.events:
        kopf.event(
            cast(kopf.Body, obj), type=event.type, reason=event.reason, message=event.message
        )
        log.info("%s/%s: %s: %s", namespace, name, event.reason, event.message)

    old = obj.get("status") or {}
    new = plan.status.model_dump(by_alias=True, exclude_none=True, mode="json")
    if new != old:
        cluster.patch_status(namespace, name, status_patch(old, new))
    return plan.requeue_after


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

    async def run(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        if key in self._waiting:
            return  # the run that waits already will see the latest state
        self._waiting.add(key)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            self._waiting.discard(key)
            try:
                again = await asyncio.to_thread(
                    reconcile, self.cluster, self.settings, namespace, name
                )
            finally:
                if key not in self._waiting:
                    self._locks.pop(key, None)
        self._failures.pop(key, None)
        if again is not None:
            self.later(key, again)

    def trigger(self, namespace: str, name: str) -> None:
        """Reconciles soon, without waiting; a failure is retried with backoff."""
        task = asyncio.create_task(self._run_and_retry((namespace, name)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def later(self, key: Key, delay: float) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.trigger(*key)

    async def _run_and_retry(self, key: Key) -> None:
        try:
            await self.run(*key)
        except Exception as error:
            failures = self._failures[key] = self._failures.get(key, 0) + 1
            delay = min(2.0**failures, 60.0)
            log.warning("%s/%s: reconcile failed (%s); retrying in %.0f s", *key, error, delay)
            self.later(key, delay)


# -- kopf wiring ---------------------------------------------------------------------------


def register(cluster: Cluster, settings: Settings) -> None:
    """Registers the handlers with kopf's default registry."""
    reconciler = Reconciler(cluster, settings)
    managed = {MANAGED_BY_LABEL: MANAGED_BY}

    @kopf.on.startup()
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # kopf's bookkeeping annotations live under this project's prefix.
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=GROUP, key="last-handled-configuration"
        )
        # Watch only what this operator made, filtered by the API server.
        for resource in (("v1", "pods"), ("v1", "services"), ("networking.k8s.io", "ingresses")):
            settings.watching.label_selectors[resource] = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        # kopf's own per-handler Events would be writes per change; keep only its errors.
        settings.posting.level = logging.ERROR
        settings.networking.error_backoffs = [1, 2, 5, 10, 20, 30]
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=16))

    @kopf.on.resume(GROUP, VERSION, PLURAL)
    @kopf.on.create(GROUP, VERSION, PLURAL)
    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
    async def service_changed(*, namespace: str | None, name: str, retry: int, **_: Any) -> None:
        assert namespace is not None  # the resource is namespaced
        try:
            await reconciler.run(namespace, name)
        except ApiException as error:
            raise kopf.TemporaryError(
                f"API error {error.status}: {error.reason}", delay=min(2 ** (retry + 1), 60)
            ) from error

    @kopf.on.event("v1", "pods", labels=managed)
    @kopf.on.event("v1", "services", labels=managed)
    @kopf.on.event("networking.k8s.io", "ingresses", labels=managed)
    async def child_changed(*, namespace: str | None, labels: Mapping[str, str], **_: Any) -> None:
        service = labels.get(SERVICE_LABEL)
        if service and namespace:
            reconciler.trigger(namespace, service)
