"""The local gateway as the public-endpoint tests use it (README "The gateway"): the operator's
two publishing modes, the test application behind a public endpoint, and requests to a host
through https://127.0.0.1:8443 (curl --resolve). The fixtures `mode` and `public` are in
conftest.py."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.integration.real_node import container
from tests.integration.support import SESSION, Services

GATEWAY = "127.0.0.1:8443"
MODES = {"ingress": {}, "gateway": {"LIGHTSHIP_GATEWAY": "lightship-gateway/public/https"}}
ROUTE_SECONDS = 30  # a route follows its object through the operator and the gateway


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


def host_of(services: Services, name: str) -> str:
    url: str = services.status(name)["url"]
    return url.removeprefix("https://").rstrip("/")


def prefix(mode: str, module: object) -> str:
    """The namespaces of a test module in a mode: outside "<SESSION>-*", so that the session's
    own operator does not handle them; a module names its own (NAMESPACE_PREFIX)."""
    return f"{getattr(module, 'NAMESPACE_PREFIX', 'pe')}{mode[0]}-{SESSION}"
