"""A custom domain is served by one service only (README "Custom domains"): a second service
that asks for a domain another serves gets a Conflict and a route without it, and gets it, with
no action of its user, once the first lets it go. On the local cluster, across namespaces."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.integration.support import (
    Cluster,
    Operator,
    Services,
    create_namespace,
    shop,
    wait_conflict,
    wait_event,
    wait_for,
)


@pytest.fixture
def neighbour(
    api_client: client.ApiClient, cluster: Cluster, namespace: str, operator: Operator
) -> Iterator[Services]:
    """The services of a second namespace of the session (another team)."""
    name = f"{namespace[:50]}-b"
    create_namespace(cluster, name)
    yield Services(api_client, cluster, name)
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def hosts(services: Services, name: str) -> list[str]:
    ingress = services.networking.read_namespaced_ingress(name, services.namespace)
    return [rule.host for rule in ingress.spec.rules]


def with_domains(*domains: str) -> dict[str, object]:
    return {
        **shop(),
        "publicDomainNames": [{"certificate": "shop-tls-c", "domains": list(domains)}],
    }


def test_a_domain_served_by_another_service_is_a_conflict_until_it_is_let_go(
    services: Services, neighbour: Services
) -> None:
    shared, own = f"shop-{secrets.token_hex(3)}.example.test", "mine.example.test"
    services.apply("shop", with_domains(shared))
    services.wait_active("shop", 1)
    assert services.status("shop")["domains"] == [shared]

    neighbour.apply("shop", with_domains(shared, own))
    status, conflict = wait_conflict(neighbour, "shop")
    first = f"{services.namespace}/shop"
    assert conflict["reason"] == "DomainInUse"
    assert shared in conflict["message"] and first in conflict["message"]
    assert shared in wait_event(neighbour, "shop", "Warning", "DomainInUse")
    # Not taken: its route serves its generated host and its other domain, not the shared one.
    wait_for(lambda: own in hosts(neighbour, "shop"), "the neighbour's own domain routed", 30)
    assert shared not in hosts(neighbour, "shop")
    assert neighbour.wait_active("shop", 1)["domains"] == [own]
    assert shared in hosts(services, "shop")

    # The first lets it go: the second gets it, without any change of its own.
    services.apply("shop", shop())
    wait_for(lambda: shared in hosts(neighbour, "shop"), "the domain routed to its new holder", 30)
    status = neighbour.wait(
        "shop",
        lambda s: any(
            c["type"] == "Conflict" and c["status"] == "False" for c in s.get("conditions", [])
        ),
        "no conflict any more",
    )
    assert sorted(status["domains"]) == sorted([shared, own])
    wait_for(lambda: shared not in hosts(services, "shop"), "the domain left the first route", 30)
