"""The public endpoint, served for real: the real node's pods behind the local gateway
(Traefik on https://127.0.0.1:8443, README "The gateway"), in both modes, Ingress and Gateway
API, with the same tests. Requests go to 127.0.0.1 only (curl --resolve).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.integration.real_node import container, create_real_namespace
from tests.integration.support import (
    SESSION,
    Cluster,
    Operator,
    Services,
    wait_conflict,
    wait_for,
)

GATEWAY = "127.0.0.1:8443"
MODES = {"ingress": {}, "gateway": {"LIGHTSHIP_GATEWAY": "lightship-gateway/public/https"}}
ROUTE_SECONDS = 30  # a route follows its object through the operator and the gateway

pytestmark = pytest.mark.realnode


def prefix(mode: str, module: object) -> str:
    # Outside "<SESSION>-*": the session's own operator must not handle these namespaces. A
    # module that uses these fixtures names its own (NAMESPACE_PREFIX).
    return f"{getattr(module, 'NAMESPACE_PREFIX', 'pe')}{mode[0]}-{SESSION}"


@pytest.fixture(scope="module", params=list(MODES))
def mode(
    request: pytest.FixtureRequest,
    cluster: Cluster,
    crd: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The operator publishing through an Ingress, then through Gateway API (with the
    settings of the module's OPERATOR_ENV, if it has one)."""
    name: str = request.param
    log_path = tmp_path_factory.mktemp(f"operator-{name}") / "operator.log"
    env = {
        "LIGHTSHIP_NAMESPACES": f"{prefix(name, request.module)}-*",
        **MODES[name],
        **getattr(request.module, "OPERATOR_ENV", {}),
    }
    running = Operator(cluster, log_path, env)
    running.start()
    yield name
    running.stop()
    assert "Traceback" not in running.log(), running.log()[-5000:]


@pytest.fixture
def public(
    request: pytest.FixtureRequest, mode: str, cluster: Cluster, api_client: client.ApiClient
) -> Iterator[Services]:
    """A namespace whose pods run on the real node, watched by the mode's operator."""
    name = f"{prefix(mode, request.module)}-{secrets.token_hex(3)}"
    create_real_namespace(cluster, name)
    yield Services(api_client, cluster, name)
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def web(
    tag: int = 1, port: int = 8080, protocol: str = "HTTP", env: dict[str, str] | None = None
) -> dict[str, Any]:
    """The test application, public on `port`."""
    return {
        "containers": [container(tag=str(tag), ports=f"{port}/{protocol.lower()}", env=env)],
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


def tls_secret(services: Services, name: str, host: str, folder: Path) -> None:
    """A kubernetes.io/tls Secret with a self-signed certificate for `host` (as cert-manager
    would issue one)."""
    key, cert = folder / f"{name}.key", folder / f"{name}.crt"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    services.cluster.kubectl(
        "create", "secret", "tls", name, "-n", services.namespace,
        "--cert", str(cert), "--key", str(key),
    )  # fmt: skip


def test_custom_domains_are_served_beside_the_generated_host(
    public: Services, mode: str, tmp_path: Path
) -> None:
    domain = f"shop-{secrets.token_hex(3)}.example.test"
    tls_secret(public, "shop-domain", domain, tmp_path)
    domains = [{"certificate": "shop-domain", "domains": [domain]}]
    public.apply("shop", {**web(1), "publicDomainNames": domains})
    assert public.wait_active("shop", 1, timeout=120)["domains"] == [domain]
    host = host_of(public, "shop")
    tls_secret(public, "shop-tls", host, tmp_path)  # LIGHTSHIP_TLS_SECRET's default
    wait_for(lambda: served_version(domain, "1"), f"{domain} served", ROUTE_SECONDS)
    assert served_version(host, "1")
    if mode == "ingress":
        # Each host with its own certificate: the Ingress names each Secret. (In Gateway mode
        # TLS is the Gateway listener's, README "The public endpoint".)
        for name in (domain, host):
            wait_for(
                lambda name=name: f"DNS:{name}" in certificate_names(name),
                f"the certificate of {name} served for it",
                ROUTE_SECONDS,
            )
    # Another service asking for the domain does not take it (README "One service per
    # domain"): the domain goes on answering from the first, until the first lets it go.
    public.apply("rival", {**web(2), "publicDomainNames": domains})
    public.wait_active("rival", 1, timeout=120)
    assert wait_conflict(public, "rival")[1]["reason"] == "DomainInUse"
    assert all(served_version(domain, "1") for _ in range(5))
    public.apply("shop", web(1))
    wait_for(lambda: served_version(domain, "2"), f"{domain} served by the rival", ROUTE_SECONDS)
    assert served_version(host, "1")
    public.apply("rival", web(2))
    wait_for(lambda: get(domain)[0] == 404, f"{domain} no longer served", ROUTE_SECONDS)


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
