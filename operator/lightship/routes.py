"""What the public route's controller says of it (DESIGN §4): an HTTPRoute's acceptance by its
Gateway, an Ingress's load-balancer address. Pure: the observed manifest in, a summary out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lightship.settings import GatewayRef

# The conditions a Gateway API implementation sets on each parent of an HTTPRoute.
ROUTE_CONDITIONS = ("Accepted", "ResolvedRefs")


@dataclass(frozen=True)
class RouteStatus:
    """accepted: True or False as the controller reports it, None while it has not (yet)."""

    accepted: bool | None
    reason: str = ""
    message: str = ""
    addresses: tuple[str, ...] = ()


def route_status(route: Mapping[str, Any] | None, gateway: GatewayRef | None) -> RouteStatus:
    """The controller's view of the observed route (Ingress or HTTPRoute); None: no route."""
    if route is None:
        return RouteStatus(accepted=None)
    if route.get("kind") == "HTTPRoute" and gateway is not None:
        return _http_route_status(route, gateway)
    balancer = (route.get("status") or {}).get("loadBalancer") or {}
    addresses = tuple(
        entry.get("ip") or entry.get("hostname", "") for entry in balancer.get("ingress") or []
    )
    # An Ingress has no acceptance condition: an address is the controller's only answer.
    return RouteStatus(accepted=True if addresses else None, addresses=addresses)


def _http_route_status(route: Mapping[str, Any], gateway: GatewayRef) -> RouteStatus:
    metadata = route.get("metadata") or {}
    for parent in (route.get("status") or {}).get("parents") or []:
        if not _is_parent(parent.get("parentRef") or {}, gateway, metadata.get("namespace")):
            continue
        conditions = {c.get("type"): c for c in parent.get("conditions") or []}
        for kind in ROUTE_CONDITIONS:
            condition = conditions.get(kind) or {}
            # A condition set for an older generation says nothing of the route as it is.
            current = condition.get("observedGeneration") == metadata.get("generation")
            if condition.get("status") == "False" and current:
                reason = condition.get("reason") or kind
                return RouteStatus(
                    accepted=False,
                    reason=reason,
                    message=f"HTTPRoute {metadata.get('name')}: {kind} is False for Gateway "
                    f"{gateway.namespace}/{gateway.name}: {reason}: {condition.get('message', '')}",
                )
            if condition.get("status") != "True" or not current:
                return RouteStatus(accepted=None)
        return RouteStatus(accepted=True)
    return RouteStatus(accepted=None)


def _is_parent(reference: Mapping[str, Any], gateway: GatewayRef, namespace: str | None) -> bool:
    return (
        reference.get("name") == gateway.name
        and (reference.get("namespace") or namespace) == gateway.namespace
        and reference.get("sectionName") == gateway.listener
    )
