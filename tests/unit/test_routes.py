"""What the public route's controller says of it: one row per situation."""

from __future__ import annotations

from typing import Any

import pytest

from lightship.routes import RouteStatus, route_status
from lightship.settings import GatewayRef

GATEWAY = GatewayRef("infra", "public", "https")
PARENT = {
    "group": "gateway.networking.k8s.io",
    "kind": "Gateway",
    "namespace": "infra",
    "name": "public",
    "sectionName": "https",
}


def _condition(kind: str, status: str, reason: str = "", generation: int = 2) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason or kind,
        "message": f"{kind} says {status}",
        "observedGeneration": generation,
    }


def _http_route(*parents: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "HTTPRoute",
        "metadata": {"name": "shop", "namespace": "team", "generation": 2},
        "status": {"parents": list(parents)},
    }


def _parent(*conditions: dict[str, Any], reference: dict[str, Any] = PARENT) -> dict[str, Any]:
    return {"parentRef": reference, "controllerName": "x", "conditions": list(conditions)}


ACCEPTED = _condition("Accepted", "True")
RESOLVED = _condition("ResolvedRefs", "True")

CASES = [
    ("no route", None, RouteStatus(accepted=None)),
    ("no status yet", _http_route(), RouteStatus(accepted=None)),
    ("accepted and resolved", _http_route(_parent(ACCEPTED, RESOLVED)), RouteStatus(True)),
    ("accepted, refs pending", _http_route(_parent(ACCEPTED)), RouteStatus(accepted=None)),
    (
        "not accepted",
        _http_route(_parent(_condition("Accepted", "False", "NotAllowedByListeners"), RESOLVED)),
        RouteStatus(
            accepted=False,
            reason="NotAllowedByListeners",
            message="HTTPRoute shop: Accepted is False for Gateway infra/public: "
            "NotAllowedByListeners: Accepted says False",
        ),
    ),
    (
        "backend not found",
        _http_route(_parent(ACCEPTED, _condition("ResolvedRefs", "False", "BackendNotFound"))),
        RouteStatus(
            accepted=False,
            reason="BackendNotFound",
            message="HTTPRoute shop: ResolvedRefs is False for Gateway infra/public: "
            "BackendNotFound: ResolvedRefs says False",
        ),
    ),
    (
        "refusal of an older generation",
        _http_route(_parent(_condition("Accepted", "False", generation=1), RESOLVED)),
        RouteStatus(accepted=None),
    ),
    (
        "another Gateway's answer",
        _http_route(
            _parent(_condition("Accepted", "False"), reference={**PARENT, "name": "other"})
        ),
        RouteStatus(accepted=None),
    ),
    (
        "ingress with an address",
        {"kind": "Ingress", "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}},
        RouteStatus(accepted=True, addresses=("127.0.0.1",)),
    ),
    ("ingress without an address", {"kind": "Ingress", "status": {}}, RouteStatus(None)),
]


@pytest.mark.parametrize(("route", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_route_status(route: dict[str, Any] | None, expected: RouteStatus) -> None:
    assert route_status(route, GATEWAY) == expected


def test_parent_namespace_defaults_to_the_route_namespace() -> None:
    reference = {"name": "public", "sectionName": "https"}
    route = _http_route(_parent(ACCEPTED, RESOLVED, reference=reference))
    assert route_status(route, GatewayRef("team", "public", "https")).accepted is True
    assert route_status(route, GATEWAY).accepted is None
