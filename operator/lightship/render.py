"""Renders a service's spec into the manifests the operator makes (DESIGN §4). Pure: no I/O."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from functools import cache
from typing import Any

from lightship import GROUP, KIND, VERSION, health, power
from lightship.api import Container, ContainerServiceSpec, Port, Protocol
from lightship.settings import HealthCheckMode, Settings, load_settings

Manifest = dict[str, Any]

MANAGED_BY = "lightship"
NAME_LABEL = "app.kubernetes.io/name"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
SERVICE_LABEL = f"{GROUP}/service"
VERSION_LABEL = f"{GROUP}/version"
GATEWAY_GROUP = "gateway.networking.k8s.io"
# A deleted pod keeps serving for the drain (each container's preStop sleep) while it leaves the
# endpoints, then has Kubernetes' default grace period to stop on SIGTERM.
STOP_SECONDS = 30
# The generation a ControllerRevision was made from: maps spec generations to versions.
GENERATION_ANNOTATION = f"{GROUP}/generation"


def labels(service: str, version: int | None = None) -> dict[str, str]:
    result = {NAME_LABEL: service, MANAGED_BY_LABEL: MANAGED_BY, SERVICE_LABEL: service}
    if version is not None:
        result[VERSION_LABEL] = str(version)
    return result


def selector(service: str, version: int) -> str:
    """The label selector of a version's pods, as the /scale subresource reports it."""
    return ",".join(f"{key}={value}" for key, value in labels(service, version).items())


def owner_reference(name: str, uid: str) -> dict[str, Any]:
    """The reference that makes the object's children garbage-collected with it."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controlled_by(manifest: Mapping[str, Any], uid: str) -> bool:
    """Whether the object with `uid` is the controller of `manifest`."""
    references = manifest.get("metadata", {}).get("ownerReferences") or []
    return any(r.get("uid") == uid and r.get("controller") for r in references)


def controlled_or_absent(manifest: Mapping[str, Any] | None, uid: str) -> bool:
    return manifest is None or controlled_by(manifest, uid)


def service_id(uid: str) -> str:
    """A random-looking, stable identifier of the object for its public host name."""
    digest = hashlib.sha256(uid.encode()).digest()
    return base64.b32encode(digest).decode().lower()[:12]


def public_host(service: str, uid: str, settings: Settings) -> str:
    return f"{service}.{service_id(uid)}.{settings.region}.{settings.base_domain}"


def public_url(service: str, uid: str, settings: Settings) -> str:
    return f"https://{public_host(service, uid, settings)}/"


def private_domain(service: str, namespace: str) -> str:
    return f"{service}.{namespace}.svc.cluster.local"


def pod_name(service: str, version: int, index: int) -> str:
    return f"{service}-v{version}-{index}"


def revision_name(service: str, version: int) -> str:
    return f"{service}-v{version}"


def object_metadata(
    name: str, service: str, uid: str, version: int | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "labels": labels(service, version),
        "ownerReferences": [owner_reference(service, uid)],
    }


def _transport(protocol: Protocol) -> str:
    return "UDP" if protocol == Protocol.UDP else "TCP"


def _app_protocol(protocol: Protocol) -> str | None:
    return {Protocol.HTTP: "http", Protocol.HTTPS: "https"}.get(protocol)


def _port_name(port: Port) -> str:
    return f"{port.protocol.value.lower()}-{port.port}"


def _container(container: Container, spec: ContainerServiceSpec, settings: Settings) -> Manifest:
    manifest: Manifest = {"name": container.name, "image": container.image}
    # A tag can be moved to other content: resolved again at every pod start (a redeploy runs
    # what it names now). A digest cannot: pulled once per node.
    manifest["imagePullPolicy"] = "IfNotPresent" if "@" in container.image else "Always"
    if container.command is not None:
        # The command replaces the image's CMD and keeps its ENTRYPOINT: that is `args`.
        manifest["args"] = list(container.command)
    if container.environment:
        manifest["env"] = [
            {"name": e.name, "value": e.value}
            if e.secret_key_ref is None
            else {"name": e.name, "valueFrom": {"secretKeyRef": e.secret_key_ref.model_dump()}}
            for e in container.environment
        ]
    if container.ports:
        manifest["ports"] = [
            {"containerPort": p.port, "protocol": _transport(p.protocol)} for p in container.ports
        ]
    if settings.drain_seconds:
        manifest["lifecycle"] = {"preStop": {"sleep": {"seconds": settings.drain_seconds}}}
    endpoint = spec.public_endpoint
    if endpoint is not None and endpoint.container_name == container.name:
        manifest["readinessProbe"] = health.readiness_probe(endpoint, container, settings)
    return manifest


@cache
def _operator_settings() -> Settings:
    """The operator's own settings, read once from its environment (validated at its start)."""
    return load_settings()


def render_pod(
    service: str,
    uid: str,
    spec: ContainerServiceSpec,
    version: int,
    index: int,
    settings: Settings | None = None,
) -> Manifest:
    """One pod of a version; without `settings`, with the operator's own."""
    settings = settings or _operator_settings()
    pod_spec: Manifest = {
        "containers": [_container(c, spec, settings) for c in spec.containers],
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": settings.drain_seconds + STOP_SECONDS,
        **power.pod_capacity(spec, settings),
    }
    if spec.public_endpoint is not None and settings.health_check == HealthCheckMode.exact:
        pod_spec["initContainers"] = [health.prober(spec, spec.public_endpoint, settings)]
    metadata = object_metadata(pod_name(service, version, index), service, uid, version)
    metadata["annotations"] = {power.CAPACITY_ANNOTATION: power.capacity_digest(spec, settings)}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def render_service(
    service: str, uid: str, spec: ContainerServiceSpec, version: int
) -> Manifest | None:
    """The private endpoint; its selector names the active version, so a switch is one patch.
    None when no container opens a port: a ClusterIP Service needs at least one."""
    ports = []
    for container in spec.containers:
        for port in container.ports:
            entry: dict[str, Any] = {
                "name": _port_name(port),
                "port": port.port,
                "targetPort": port.port,
                "protocol": _transport(port.protocol),
            }
            if app_protocol := _app_protocol(port.protocol):
                entry["appProtocol"] = app_protocol
            ports.append(entry)
    if not ports:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_metadata(service, service, uid),
        "spec": {"type": "ClusterIP", "selector": labels(service, version), "ports": ports},
    }


def render_revision(
    service: str, uid: str, spec: ContainerServiceSpec, version: int, generation: int
) -> Manifest:
    """The stored deployment of one version (DESIGN §2: capacity and settings are not part
    of it)."""
    metadata = object_metadata(revision_name(service, version), service, uid, version)
    metadata["annotations"] = {GENERATION_ANNOTATION: str(generation)}
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": metadata,
        "revision": version,
        "data": spec.deployment(),
    }
