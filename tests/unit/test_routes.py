"""What the public route's controller says of it: one row per situation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lightship import lifecycle, render
from lightship.api import ContainerServiceSpec
from lightship.observed import Observed
from lightship.routes import RouteStatus, route_status
from lightship.settings import GatewayRef, Settings

UID = "0b5c7a55-8f1e-4d4e-a7a1-7d3f0d5c9e21"

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


def _observed(route: dict[str, Any] | None) -> Observed:
    return Observed(
        name="shop",
        namespace="team",
        uid=UID,
        generation=2,
        spec=ContainerServiceSpec.model_validate({"containers": [{"name": "a", "image": "x"}]}),
        status=None,
        revisions={},
        pods=[],
        service=None,
        ingress=route,
        now=datetime(2026, 11, 29, tzinfo=UTC),
    )


def _owned(route: dict[str, Any]) -> dict[str, Any]:
    metadata = {**route["metadata"], "ownerReferences": [render.owner_reference("shop", UID)]}
    return {**route, "metadata": metadata}


ROUTE_MARKS = [
    ("no route", None, ("False", "NoRoute")),
    ("accepted", _owned(_http_route(_parent(ACCEPTED, RESOLVED))), ("False", "RouteAccepted")),
    ("not answered", _owned(_http_route()), ("False", "NoAnswer")),
    (
        "refused",
        _owned(_http_route(_parent(_condition("Accepted", "False", "NotAllowedByListeners")))),
        ("True", "NotAllowedByListeners"),
    ),
    # Another owner's route of that name is the Conflict condition's, not the gateway's answer.
    ("foreign", _http_route(_parent(_condition("Accepted", "False"))), ("False", "NoRoute")),
]


@pytest.mark.parametrize(
    ("route", "expected"), [m[1:] for m in ROUTE_MARKS], ids=[m[0] for m in ROUTE_MARKS]
)
def test_route_rejected_condition(route: dict[str, Any] | None, expected: tuple[str, str]) -> None:
    settings = Settings(gateway=GATEWAY)
    kind, status, reason, message = lifecycle.route_rejected(_observed(route), settings)
    assert kind == "RouteRejected"
    assert (status, reason) == expected
    assert message


def test_a_route_this_pass_creates_is_reported_unanswered_at_once() -> None:
    """The status written with the route's creation already says NoAnswer, so the next pass
    has no condition to change (one status write fewer per first version)."""
    settings = Settings(gateway=GATEWAY)
    created = _owned(_http_route())
    _, status, reason, message = lifecycle.route_rejected(_observed(None), settings, created)
    assert (status, reason) == ("False", "NoAnswer")
    assert "HTTPRoute shop" in message
    # A name another owner holds is not this pass's to create: still no route of its own.
    foreign = _http_route(_parent(_condition("Accepted", "False")))
    assert lifecycle.route_rejected(_observed(foreign), settings, created)[2] == "NoRoute"
