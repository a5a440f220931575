"""Renders the public endpoint's route (DESIGN §4): an Ingress, or a Gateway API HTTPRoute
with LIGHTSHIP_GATEWAY. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from lightship.api import ContainerServiceSpec, DomainNames
from lightship.render import GATEWAY_GROUP, Manifest, object_metadata, public_host
from lightship.settings import GatewayRef, Settings


def public_hosts(
    service: str, uid: str, settings: Settings, domains: Sequence[DomainNames] = ()
) -> list[str]:
    """Every host the public endpoint serves: the generated one, then the custom domains."""
    return [public_host(service, uid, settings)] + [d for entry in domains for d in entry.domains]


class _Route(NamedTuple):
    """What both kinds of route say: the Service they send to, its port, the hosts and the
    metadata."""

    service: str
    port: int
    hosts: list[str]
    metadata: dict[str, Any]


def _ingress(
    route: _Route, uid: str, settings: Settings, domains: Sequence[DomainNames]
) -> Manifest:
    """An Ingress. An HTTPS container is reached over HTTPS by what the Service port says (name
    https-<port>, appProtocol https), with no controller-specific annotation."""
    backend = {"service": {"name": route.service, "port": {"number": route.port}}}
    ingress_spec: dict[str, Any] = {
        "tls": [
            {
                "hosts": [public_host(route.service, uid, settings)],
                "secretName": settings.tls_secret_for(route.service),
            }
        ]
        + [{"hosts": list(entry.domains), "secretName": entry.certificate} for entry in domains],
        "rules": [
            {
                "host": host,
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
            }
            for host in route.hosts
        ],
    }
    if settings.ingress_class:
        ingress_spec["ingressClassName"] = settings.ingress_class
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": route.metadata,
        "spec": ingress_spec,
    }


def _http_route(route: _Route, gateway: GatewayRef) -> Manifest:
    """A Gateway API HTTPRoute attached to the gateway. TLS is the Gateway's listeners' (README:
    custom domains); an HTTPS container is reached over HTTPS by the Service port's
    appProtocol."""
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
        "metadata": route.metadata,
        "spec": {
            "parentRefs": [parent],
            "hostnames": route.hosts,
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": route.service, "port": route.port}],
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
    """The public endpoint's route, or None when the spec has none: an HTTPRoute with
    LIGHTSHIP_GATEWAY, else an Ingress."""
    if spec.public_endpoint is None:
        return None
    metadata = object_metadata(service, service, uid)
    if settings.ingress_annotations:
        metadata["annotations"] = dict(settings.ingress_annotations)
    route = _Route(
        service,
        spec.public_endpoint.container_port,
        public_hosts(service, uid, settings, domains),
        metadata,
    )
    if settings.gateway:
        return _http_route(route, settings.gateway)
    return _ingress(route, uid, settings, domains)
