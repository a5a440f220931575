"""Children and the status converge exactly to what is rendered: what the operator no longer
sets goes away (an annotation, the ingress class, a status field), not only what it sets
arrives."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from lightship.children import RENDERED_ANNOTATION
from tests.integration.support import SESSION, Cluster, Operator, Services, create_namespace, shop

BACKEND_PROTOCOL = "nginx.ingress.kubernetes.io/backend-protocol"


def endpoint_on(port: int) -> dict[str, Any]:
    """A spec whose web container opens 443 (HTTPS) and 80 (HTTP), public on `port`."""
    spec = shop()
    spec["containers"][0]["ports"] = [
        {"port": 443, "protocol": "HTTPS"},
        {"port": 80, "protocol": "HTTP"},
    ]
    spec["publicEndpoint"]["containerPort"] = port
    return spec


def ingress_metadata(services: Services, name: str) -> tuple[dict[str, str], str | None]:
    ingress = services.networking.read_namespaced_ingress(name, services.namespace)
    return ingress.metadata.annotations or {}, ingress.spec.ingress_class_name


def test_the_route_follows_the_endpoint_from_https_to_http(services: Services) -> None:
    """The route names the Service port; whether it speaks HTTPS is the port's (appProtocol),
    never a controller's annotation on the route."""
    services.apply("shop", endpoint_on(443))
    services.wait_active("shop", 1)
    assert BACKEND_PROTOCOL not in ingress_metadata(services, "shop")[0]
    services.apply("shop", endpoint_on(80))
    services.wait_active("shop", 2)
    annotations, _ = ingress_metadata(services, "shop")
    assert BACKEND_PROTOCOL not in annotations, annotations
    ingress = services.networking.read_namespaced_ingress("shop", services.namespace)
    assert ingress.spec.rules[0].http.paths[0].backend.service.port.number == 80


def test_a_status_field_no_longer_decided_goes_away(cluster: Cluster, services: Services) -> None:
    """A nested field of the status the operator does not decide (left by an older operator,
    or written by hand) is removed by its next status write."""
    services.apply("shop", shop("nginx:1.26"))
    services.wait_active("shop", 1)
    stale = {"status": {"currentDeployment": {"message": "left by an older operator"}}}
    cluster.kubectl(
        "patch", "csd", "shop", "-n", services.namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps(stale),
    )  # fmt: skip
    services.apply("shop", shop("nginx:1.27"))
    status = services.wait_active("shop", 2)
    assert "message" not in status["currentDeployment"], status["currentDeployment"]


@pytest.fixture
def own_namespace(cluster: Cluster, crd: None) -> Iterator[str]:
    """A namespace no other operator of the session watches."""
    name = f"cv-{SESSION}-{secrets.token_hex(3)}"
    create_namespace(cluster, name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def operator_with(
    cluster: Cluster, log: Path, namespace: str, settings: dict[str, str]
) -> Operator:
    running = Operator(cluster, log, {"LIGHTSHIP_NAMESPACES": namespace, **settings})
    running.start()
    return running


def test_ingress_annotations_and_class_dropped_from_the_settings_go_away(
    cluster: Cluster, api_client: Any, own_namespace: str, tmp_path: Path
) -> None:
    services = Services(api_client, cluster, own_namespace)
    configured = {
        "LIGHTSHIP_INGRESS_ANNOTATIONS": json.dumps({"example.com/team": "shop"}),
        "LIGHTSHIP_INGRESS_CLASS": "nginx",
    }
    first = operator_with(cluster, tmp_path / "first.log", own_namespace, configured)
    try:
        services.apply("shop", shop())
        services.wait_active("shop", 1)
        annotations, ingress_class = ingress_metadata(services, "shop")
        assert (annotations.get("example.com/team"), ingress_class) == ("shop", "nginx")
    finally:
        first.stop()
    second = operator_with(cluster, tmp_path / "second.log", own_namespace, {})
    try:
        services.wait(
            "shop",
            lambda _: ingress_metadata(services, "shop") == ({RENDERED_ANNOTATION: ANY}, None),
            "the Ingress without the annotation and the class",
        )
    finally:
        second.stop()
