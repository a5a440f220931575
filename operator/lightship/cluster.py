"""The few Kubernetes API calls the operator makes, on plain JSON manifests."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from lightship import GROUP, PLURAL, VERSION, logs, render
from lightship.render import GATEWAY_GROUP, SERVICE_LABEL, Manifest

log = logging.getLogger("lightship")
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
# Server-side apply's owner of every field the operator sets on a Service or Ingress: a field
# it stops setting is removed (DESIGN §4: children converge exactly to what is rendered).
FIELD_MANAGER = "lightship"


class Cluster:
    """The API server, as the operator reads and writes it."""

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
        """The pods or revisions labelled as the service's, whoever controls them."""
        call: Callable[..., Any] = {
            "Pod": self.core.list_namespaced_pod,
            "ControllerRevision": self.apps.list_namespaced_controller_revision,
        }[kind]
        items: list[Manifest] = self._json(
            call, namespace, label_selector=f"{SERVICE_LABEL}={name}"
        )["items"]
        return items

    def _http_routes(self, call: Callable[..., Any]) -> Callable[..., Any]:
        """A CustomObjectsApi call on HTTPRoutes, taking (name, namespace, ...) as the typed
        calls do."""

        def on_http_route(name: str, namespace: str, *args: Any, **kwargs: Any) -> Any:
            return call(GATEWAY_GROUP, "v1", namespace, "httproutes", name, *args, **kwargs)

        return on_http_route

    def get(self, kind: str, namespace: str, name: str) -> Manifest | None:
        call: Callable[..., Any] = {
            "Service": self.core.read_namespaced_service,
            "Ingress": self.networking.read_namespaced_ingress,
            "HTTPRoute": self._http_routes(self.custom.get_namespaced_custom_object),
        }[kind]
        return self._get_or_none(call, name, namespace)

    def create(self, namespace: str, manifest: Manifest) -> bool:
        """Creates the object; False when one of its name exists already."""
        kind = manifest["kind"]
        try:
            if kind == "Pod":
                self._send(
                    self.core.create_namespaced_pod,
                    namespace,
                    manifest,
                    field_manager=FIELD_MANAGER,
                )
            elif kind == "ControllerRevision":
                self._create_revision(namespace, manifest)
            else:
                self.apply(namespace, manifest, take_over=False)
        except ApiException as error:
            if error.status != 409:  # made already, by an earlier attempt: level-based
                raise
            return False
        return True

    def _create_revision(self, namespace: str, revision: Manifest) -> None:
        """Creates a ControllerRevision from its YAML text (stored_exactly). The typed client
        takes only objects, which it sends as JSON: the request is made by hand."""
        api = self.apps.api_client
        request = api.param_serialize(
            method="POST",
            resource_path="/apis/apps/v1/namespaces/{namespace}/controllerrevisions",
            path_params={"namespace": namespace},
            query_params=[("fieldManager", FIELD_MANAGER)],
            header_params={"Content-Type": "application/yaml", "Accept": "application/json"},
            body=stored_exactly(revision),
            auth_settings=["BearerToken"],
        )
        response = api.call_api(*request)
        response.read()
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=None, data=None)

    def apply(self, namespace: str, manifest: Manifest, *, take_over: bool = True) -> None:
        """Server-side apply of a Service or Ingress: the object becomes `manifest` in every
        field the operator sets, and loses those it set before and sets no more. Without
        `take_over`, a field another manager set to another value is a conflict (409): a
        create never merges into an object someone else made meanwhile."""
        call: Callable[..., Any] = {
            "Service": self.core.patch_namespaced_service,
            "Ingress": self.networking.patch_namespaced_ingress,
            "HTTPRoute": self._http_routes(self.custom.patch_namespaced_custom_object),
        }[manifest["kind"]]
        self._send(
            call,
            manifest["metadata"]["name"],
            namespace,
            manifest,
            field_manager=FIELD_MANAGER,
            force=take_over,
            _content_type=APPLY_PATCH,
        )

    def delete(self, kind: str, namespace: str, name: str) -> None:
        call: Callable[..., Any] = {
            "Pod": self.core.delete_namespaced_pod,
            "Service": self.core.delete_namespaced_service,
            "Ingress": self.networking.delete_namespaced_ingress,
            "HTTPRoute": self._http_routes(self.custom.delete_namespaced_custom_object),
            "ControllerRevision": self.apps.delete_namespaced_controller_revision,
        }[kind]
        try:
            self._send(call, name, namespace)
        except ApiException as error:
            if error.status != 404:
                raise

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
        self, namespace: str, name: str, status: dict[str, Any], resource_version: str | None
    ) -> None:
        """Merge-patches the status. With `resource_version`, the status decided from the
        object at that version: refused (409) when the object changed since, so a decision
        from an old state (a lagging watch, a second operator) never replaces a newer one."""
        metadata = {"resourceVersion": resource_version} if resource_version else {}
        self._send(
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"metadata": metadata, "status": status},
            _content_type=MERGE_PATCH,
        )


def stored_exactly(revision: Manifest) -> str:
    """A ControllerRevision's body, so that the API server stores its `data` as it would
    re-encode it. `data` is kept as the bytes received, and a metadata update (a label, the
    garbage collector's orphaning) decodes it anew and compares bytes: any other spelling is
    refused as a change of the immutable `data`. Sent as YAML, the API server converts the
    body to JSON itself, in the one spelling its updates produce. Characters past ASCII are
    escaped: YAML reads some of them (line separators, C1 controls) differently than JSON."""
    text = json.dumps(revision, ensure_ascii=False)
    return "".join(
        char
        if ord(char) < 0x7F
        else f"\\u{ord(char):04x}"
        if ord(char) <= 0xFFFF
        else f"\\U{ord(char):08x}"
        for char in text
    )


def made_from(revision: Manifest) -> int | None:
    """The spec generation a ControllerRevision was made from; None if it does not say."""
    annotations = revision["metadata"].get("annotations") or {}
    value = annotations.get(render.GENERATION_ANNOTATION, "")
    return int(value) if value.isdigit() else None


def api_message(error: ApiException) -> str:
    """The API server's message of a refusal, bounded."""
    try:
        message = str(json.loads(error.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        message = f"{error.status} {error.reason}"
    return message[:1024]
