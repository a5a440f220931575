"""The few Kubernetes API calls the operator makes, on plain JSON manifests."""

from __future__ import annotations

import json
import logging
from typing import Any

from kubernetes.client.api_client import ApiClient
from kubernetes.client.exceptions import ApiException

from lightship import GROUP, KIND, PLURAL, VERSION, logs, render
from lightship.render import GATEWAY_GROUP, SERVICE_LABEL, Manifest

log = logging.getLogger("lightship")
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
# Server-side apply's owner of every field the operator sets on a Service or Ingress: a field
# it stops setting is removed (DESIGN §4: children converge exactly to what is rendered).
FIELD_MANAGER = "lightship"


# Where each kind lives in the API: its collection under a namespace.
_COLLECTIONS = {
    "Pod": "/api/v1/namespaces/{namespace}/pods",
    "Service": "/api/v1/namespaces/{namespace}/services",
    "ControllerRevision": "/apis/apps/v1/namespaces/{namespace}/controllerrevisions",
    "Ingress": "/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses",
    "HTTPRoute": f"/apis/{GATEWAY_GROUP}/v1/namespaces/{{namespace}}/httproutes",
    KIND: f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/{PLURAL}",
}


class Cluster:
    """The API server, as the operator reads and writes it: plain JSON requests on the
    client's connection pool. The client's generated API classes are not used: importing them
    builds a pydantic model for every kind they name, about 30 MiB of the operator's memory."""

    def __init__(self, api_client: ApiClient) -> None:
        self.api = api_client
        self.pod_logs = _PodLogs(self)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: tuple[float, float] | None = None,
        **path_params: str,
    ) -> Any:
        """The urllib3 response of one request, its body unread; a refusal raises the
        client's ApiException, as the generated calls do."""
        request = self.api.param_serialize(
            method=method,
            resource_path=path,
            path_params=path_params,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*request, _request_timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return json.loads(self.request(method, path, **kwargs).data)

    def _send(self, method: str, path: str, **kwargs: Any) -> None:
        """A write. Its response is read, which puts the connection back into the pool: an
        unread one is dropped, and the next request pays for a new TLS handshake."""
        response = self.request(method, path, **kwargs)
        response.read()
        response.release_conn()

    def _get_or_none(self, kind: str, namespace: str, name: str) -> Manifest | None:
        try:
            result: Manifest = self._json(
                "GET", _COLLECTIONS[kind] + "/{name}", namespace=namespace, name=name
            )
            return result
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def service_object(self, namespace: str, name: str) -> Manifest | None:
        return self._get_or_none(KIND, namespace, name)

    def children(self, kind: str, namespace: str, name: str) -> list[Manifest]:
        """The pods or revisions labelled as the service's, whoever controls them."""
        items: list[Manifest] = self._json(
            "GET",
            _COLLECTIONS[kind],
            query=[("labelSelector", f"{SERVICE_LABEL}={name}")],
            namespace=namespace,
        )["items"]
        return items

    def get(self, kind: str, namespace: str, name: str) -> Manifest | None:
        return self._get_or_none(kind, namespace, name)

    def create(self, namespace: str, manifest: Manifest) -> bool:
        """Creates the object; False when one of its name exists already."""
        kind = manifest["kind"]
        try:
            if kind == "Pod":
                self._send(
                    "POST",
                    _COLLECTIONS[kind],
                    query=[("fieldManager", FIELD_MANAGER)],
                    body=manifest,
                    namespace=namespace,
                )
            elif kind == "ControllerRevision":
                # Its YAML text (stored_exactly), which the API server converts itself.
                self._send(
                    "POST",
                    _COLLECTIONS[kind],
                    query=[("fieldManager", FIELD_MANAGER)],
                    body=stored_exactly(manifest),
                    content_type="application/yaml",
                    namespace=namespace,
                )
            else:
                self.apply(namespace, manifest, take_over=False)
        except ApiException as error:
            if error.status != 409:  # made already, by an earlier attempt: level-based
                raise
            return False
        return True

    def apply(self, namespace: str, manifest: Manifest, *, take_over: bool = True) -> None:
        """Server-side apply of a Service or Ingress: the object becomes `manifest` in every
        field the operator sets, and loses those it set before and sets no more. Without
        `take_over`, a field another manager set to another value is a conflict (409): a
        create never merges into an object someone else made meanwhile."""
        self._send(
            "PATCH",
            _COLLECTIONS[manifest["kind"]] + "/{name}",
            query=[("fieldManager", FIELD_MANAGER), ("force", take_over)],
            body=manifest,
            content_type=APPLY_PATCH,
            namespace=namespace,
            name=manifest["metadata"]["name"],
        )

    def delete(self, kind: str, namespace: str, name: str) -> None:
        try:
            self._send("DELETE", _COLLECTIONS[kind] + "/{name}", namespace=namespace, name=name)
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
                found[container] = logs.read_tail(self.pod_logs, namespace, pod, container)
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
            "PATCH",
            _COLLECTIONS[KIND] + "/{name}/status",
            body={"metadata": metadata, "status": status},
            content_type=MERGE_PATCH,
            namespace=namespace,
            name=name,
        )


class _PodLogs:
    """A pod's log, read as logs.read_tail asks for it (the generated CoreV1Api's call)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def read_namespaced_pod_log(
        self,
        name: str,
        namespace: str,
        *,
        container: str,
        tail_lines: int,
        _preload_content: bool,
        _request_timeout: tuple[float, float],
    ) -> Any:
        return self.cluster.request(
            "GET",
            _COLLECTIONS["Pod"] + "/{name}/log",
            query=[("container", container), ("tailLines", tail_lines)],
            timeout=_request_timeout,
            namespace=namespace,
            name=name,
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
