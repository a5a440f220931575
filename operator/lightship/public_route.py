"""Renders the public endpoint's route (DESIGN §4): an Ingress, or a Gateway API HTTPRoute
with LIGHTSHIP_GATEWAY. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lightship.api import ContainerServiceSpec, DomainNames
from lightship.render import GATEWAY_GROUP, Manifest, object_metadata, public_host
from lightship.settings import Settings


def _endpoint_port(spec: ContainerServiceSpec) -> int | None:
    return spec.public_endpoint.container_port if spec.public_endpoint else None


def public_hosts(
    service: str, uid: str, settings: Settings, domains: Sequence[DomainNames] = ()
) -> list[str]:
    """Every host the public endpoint serves: the generated one, then the custom domains."""
    return [public_host(service, uid, settings)] + [d for entry in domains for d in entry.domains]


def _route_metadata(service: str, uid: str, settings: Settings) -> dict[str, Any]:
    metadata = object_metadata(service, service, uid)
    if settings.ingress_annotations:
        metadata["annotations"] = dict(settings.ingress_annotations)
    return metadata


def render_ingress(
    service: str,
    uid: str,
    spec: ContainerServiceSpec,
    settings: Settings,
    domains: Sequence[DomainNames] = (),
) -> Manifest | None:
    """The public endpoint as an Ingress, or None when the spec has none. An HTTPS container
    is reached over HTTPS by what the Service port says (name https-<port>, appProtocol
    https), with no controller-specific annotation."""
    port = _endpoint_port(spec)
    if port is None:
        return None
    backend = {"service": {"name": service, "port": {"number": port}}}
    ingress_spec: dict[str, Any] = {
        "tls": [
            {
                "hosts": [public_host(service, uid, settings)],
                "secretName": settings.tls_secret_for(service),
            }
        ]
        + [{"hosts": list(entry.domains), "secretName": entry.certificate} for entry in domains],
        "rules": [
            {
                "host": host,
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
            }
            for host in public_hosts(service, uid, settings, domains)
        ],
    }
    if settings.ingress_class:
        ingress_spec["ingressClassName"] = settings.ingress_class
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _route_metadata(service, uid, settings),
        "spec": ingress_spec,
    }


def render_http_route(
    service: str,
    uid: str,
    spec: ContainerServiceSpec,
    settings: Settings,
    domains: Sequence[DomainNames] = (),
) -> Manifest | None:
    """The public endpoint as a Gateway API HTTPRoute attached to LIGHTSHIP_GATEWAY, or None
    when the spec has none. TLS is the Gateway's listeners' (README: custom domains); an HTTPS
    container is reached over HTTPS by the Service port's appProtocol."""
    port = _endpoint_port(spec)
    if port is None or settings.gateway is None:
        return None
    gateway = settings.gateway
    parent = {
        "group": GATEWAY_GROUP,
        "kind": "Gateway",
        "namespace": gateway.namespace,
        "name": gateway.name,
    }
    if gateway.listener:
        parent["sectionName"] = gateway.listener
    return {
        "apiVersion": f"{GATEWAY_GROUP}/v1",
        "kind": "HTTPRoute",
        "metadata": _route_metadata(service, uid, settings),
        "spec": {
            "parentRefs": [parent],
            "hostnames": public_hosts(service, uid, settings, domains),
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": service, "port": port}],
                }
            ],
        },
    }


def route_kind(settings: Settings) -> str:
    """The kind of the public route: HTTPRoute with LIGHTSHIP_GATEWAY, else Ingress."""
    return "HTTPRoute" if settings.gateway else "Ingress"


def render_route(
    service: str,
    uid: str,
    spec: ContainerServiceSpec,
    settings: Settings,
    domains: Sequence[DomainNames] = (),
) -> Manifest | None:
    """The public route of the mode the settings choose: an HTTPRoute with LIGHTSHIP_GATEWAY,
    else an Ingress."""
    render = render_http_route if settings.gateway else render_ingress
    return render(service, uid, spec, settings, domains)
