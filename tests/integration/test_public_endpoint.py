"""The public endpoint, served for real: the real node's pods behind the local gateway
(Traefik on https://127.0.0.1:8443, README "The gateway"), in both modes, Ingress and Gateway
API, with the same tests. Requests go to 127.0.0.1 only (curl --resolve).

These need the default cluster, which has the real node and the gateway; a side cluster
(LIGHTSHIP_CLUSTER=<name>) has neither, and skips them.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.integration.conftest import SESSION, Cluster, Operator, Services, wait_for

GATEWAY = "127.0.0.1:8443"
IMAGE = "127.0.0.1:5000/lightship/testapp"
MODES = {"ingress": {}, "gateway": {"LIGHTSHIP_GATEWAY": "lightship-gateway/public/https"}}
# Pods of these namespaces run on the real node (LOCAL-CLUSTER.md: the node's taint and label).
REAL_NODE = {
    "scheduler.alpha.kubernetes.io/node-selector": "lightship.dev/node=real",
    "scheduler.alpha.kubernetes.io/defaultTolerations": json.dumps(
        [{"key": "lightship.dev/node", "operator": "Exists", "effect": "NoSchedule"}]
    ),
}
ROUTE_SECONDS = 30  # a route follows its object through the operator and the gateway

pytestmark = pytest.mark.skipif(
    os.environ.get("LIGHTSHIP_CLUSTER", "lightship") != "lightship",
    reason="the real node and the gateway run on the default cluster only",
)


def prefix(mode: str) -> str:
    # Outside "<SESSION>-*": the session's own operator must not handle these namespaces.
    return f"pe{mode[0]}-{SESSION}"


@pytest.fixture(scope="module", params=list(MODES))
def mode(
    request: pytest.FixtureRequest,
    cluster: Cluster,
    crd: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The operator publishing through an Ingress, then through Gateway API."""
    name: str = request.param
    log_path = tmp_path_factory.mktemp(f"operator-{name}") / "operator.log"
    env = {"LIGHTSHIP_NAMESPACES": f"{prefix(name)}-*", **MODES[name]}
    running = Operator(cluster, log_path, env)
    running.start()
    yield name
    running.stop()
    assert "Traceback" not in running.log(), running.log()[-5000:]


@pytest.fixture
def public(mode: str, cluster: Cluster, api_client: client.ApiClient) -> Iterator[Services]:
    """A namespace whose pods run on the real node, watched by the mode's operator."""
    name = f"{prefix(mode)}-{secrets.token_hex(3)}"
    annotations = [f"{key}={value}" for key, value in REAL_NODE.items()]
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("annotate", "namespace", name, *annotations)
    wait_for(
        lambda: cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0,
        f"the default ServiceAccount of {name}",
        30,
    )
    yield Services(api_client, cluster, name)
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def web(tag: int = 1, port: int = 8080, protocol: str = "HTTP") -> dict[str, Any]:
    ports = f"{port}/{protocol.lower()}"
    return {
        "containers": [
            {
                "name": "web",
                "image": f"{IMAGE}:{tag}",
                "environment": [{"name": "PORTS", "value": ports}],
                "ports": [{"port": port, "protocol": protocol}],
            }
        ],
        "publicEndpoint": {
            "containerName": "web",
            "containerPort": port,
            "healthCheck": {"path": "/healthz"},
        },
    }


def get(host: str) -> tuple[int, str]:
    """GET https://<host>:8443/ through the gateway on 127.0.0.1: status code and body."""
    done = subprocess.run(
        [
            "curl",
            "-sk",
            "--max-time",
            "5",
            "--resolve",
            f"{host}:8443:127.0.0.1",
            "-w",
            "\n%{http_code}",
            f"https://{host}:8443/",
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    body, _, code = done.stdout.rpartition("\n")
    return int(code or 0), body


def served_version(host: str, version: str) -> bool:
    code, body = get(host)
    return code == 200 and json.loads(body).get("version") == version


def certificate_names(host: str) -> str:
    """The subjectAltName of the certificate the gateway serves for `host` (SNI)."""
    served = subprocess.run(
        ["openssl", "s_client", "-connect", GATEWAY, "-servername", host],
        input="",
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout
    names = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName"],
        input=served,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return names.stdout


def host_of(services: Services, name: str) -> str:
    url: str = services.status(name)["url"]
    return url.removeprefix("https://").rstrip("/")


def test_the_generated_host_serves_the_active_version(public: Services) -> None:
    public.apply("shop", web(1))
    public.wait_active("shop", 1, timeout=120)
    host = host_of(public, "shop")
    wait_for(lambda: served_version(host, "1"), f"{host} served by version 1", ROUTE_SECONDS)
    public.apply("shop", web(2))
    public.wait_active("shop", 2, timeout=120)
    wait_for(lambda: served_version(host, "2"), f"{host} served by version 2", ROUTE_SECONDS)
    # Another host under the same domain is not this service's.
    assert get(f"other.{host}")[0] == 404
    status = public.wait(
        "shop",
        lambda s: any(
            c["type"] == "RouteRejected" and c["reason"] == "RouteAccepted"
            for c in s.get("conditions", [])
        ),
        "the gateway's acceptance of the route in the conditions",
        ROUTE_SECONDS,
    )
    assert status["state"] == "Running"


def test_an_https_container_port_is_reached_over_https(public: Services) -> None:
    public.apply("secure", web(1, port=8443, protocol="HTTPS"))
    public.wait_active("secure", 1, timeout=120)
    host = host_of(public, "secure")
    # The container speaks nothing but HTTPS on that port: an answer is an HTTPS exchange.
    wait_for(lambda: served_version(host, "1"), f"{host} served over HTTPS", ROUTE_SECONDS)


def test_custom_domains_are_served_beside_the_generated_host(
    public: Services, mode: str, tmp_path: Path
) -> None:
    domain = f"shop-{secrets.token_hex(3)}.example.test"
    key, cert = tmp_path / "tls.key", tmp_path / "tls.crt"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={domain}",
            "-addext",
            f"subjectAltName=DNS:{domain}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    public.cluster.kubectl(
        "create",
        "secret",
        "tls",
        "shop-domain",
        "-n",
        public.namespace,
        "--cert",
        str(cert),
        "--key",
        str(key),
    )
    public.apply(
        "shop",
        {**web(1), "publicDomainNames": [{"certificate": "shop-domain", "domains": [domain]}]},
    )
    assert public.wait_active("shop", 1, timeout=120)["domains"] == [domain]
    wait_for(lambda: served_version(domain, "1"), f"{domain} served", ROUTE_SECONDS)
    assert served_version(host_of(public, "shop"), "1")
    if mode == "ingress":
        # Its own certificate: the Ingress names the domain's Secret (in Gateway mode TLS is the
        # Gateway listener's, README "The public endpoint").
        assert f"DNS:{domain}" in certificate_names(domain)
    public.apply("shop", web(1))
    wait_for(lambda: get(domain)[0] == 404, f"{domain} no longer served", ROUTE_SECONDS)
    assert served_version(host_of(public, "shop"), "1")


def test_removing_the_public_endpoint_removes_the_route(public: Services, mode: str) -> None:
    public.apply("shop", web(1))
    public.wait_active("shop", 1, timeout=120)
    host = host_of(public, "shop")
    wait_for(lambda: served_version(host, "1"), f"{host} served", ROUTE_SECONDS)
    private = {"containers": web(1)["containers"]}
    public.apply("shop", private)
    public.wait_active("shop", 2, timeout=120)
    kind = "httproute" if mode == "gateway" else "ingress"
    wait_for(
        lambda: (
            public.cluster.kubectl(
                "get", kind, "shop", "-n", public.namespace, check=False
            ).returncode
            != 0
        ),
        f"the {kind} removed",
        ROUTE_SECONDS,
    )
    deadline = time.monotonic() + ROUTE_SECONDS
    while get(host)[0] != 404:
        assert time.monotonic() < deadline, f"{host} still served after its route went"
        time.sleep(0.2)
