"""The public endpoint, served for real: the real node's pods behind the local gateway
(Traefik on https://127.0.0.1:8443, README "The gateway"), in both modes, Ingress and Gateway
API, with the same tests. Requests go to 127.0.0.1 only (curl --resolve).
"""

from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.gateway import (
    GATEWAY,
    ROUTE_SECONDS,
    get,
    host_of,
    served_version,
    web,
)
from tests.integration.support import Services, wait_conflict, wait_for

pytestmark = pytest.mark.realnode


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
