"""The API's edge cases, in wire form: one table for the models and the API server alike.

Each invalid case names the field its error must name, by its exact path. tests/unit/test_api.py
runs the tables against the models, tests/integration/test_api_server.py against the API server;
the two must agree case by case. One difference is the API server's own: its check of list-map
keys names the duplicate item (`spec.containers[1]`), where the models name its key field
(`spec.containers[1].name`), so those cases say both.
"""

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

from lightship import GROUP, KIND, VERSION
from lightship.api import (
    HEALTH_CHECK_CONTAINER,
    HEALTH_CHECK_PORT,
    MAX_ARG_LENGTH,
    MAX_COMMAND_ARGS,
    MAX_CONTAINER_NAME_LENGTH,
    MAX_CONTAINERS,
    MAX_DOMAINS,
    MAX_ENV_NAME_LENGTH,
    MAX_ENV_VALUE_LENGTH,
    MAX_ENVIRONMENT,
    MAX_IMAGE_LENGTH,
    MAX_IMAGE_PULL_SECRETS,
    MAX_INTERVAL_SECONDS,
    MAX_PATH_LENGTH,
    MAX_PORT,
    MAX_PORTS,
    MAX_REDEPLOYED_AT_LENGTH,
    MAX_SCALE,
    MAX_SERVICE_NAME_LENGTH,
    MAX_SUCCESS_CODE,
    MAX_SUCCESS_CODES_LENGTH,
    MAX_THRESHOLD,
    MAX_TIMEOUT_SECONDS,
    MIN_INTERVAL_SECONDS,
    MIN_PORT,
    MIN_SCALE,
    MIN_SUCCESS_CODE,
    MIN_THRESHOLD,
    MIN_TIMEOUT_SECONDS,
    Power,
)

Spec = dict[str, Any]


class Case(NamedTuple):
    id: str
    spec: Spec
    field: str  # the field path the error must name; empty for a valid case
    server_field: str = ""  # the path the API server names instead, where it differs

    @property
    def field_on_server(self) -> str:
        return self.server_field or self.field


ABSENT = object()  # as a value: remove the field
DIGEST = "sha256:" + "0123456789abcdef" * 4


def base_spec() -> Spec:
    """A valid spec: `web` (HTTP 80, the public endpoint) and `cache` (TCP 6379)."""
    return {
        "containers": [
            {"name": "web", "image": "nginx:1.27", "ports": [{"port": 80, "protocol": "HTTP"}]},
            {"name": "cache", "image": "redis:7", "ports": [{"port": 6379, "protocol": "TCP"}]},
        ],
        "publicEndpoint": {"containerName": "web", "containerPort": 80, "healthCheck": {}},
    }


def changed(path: str, value: Any) -> Spec:
    """The base spec with the field at `path` ("containers[1].ports[0].port") set to `value`."""
    spec = base_spec()
    *parents, last = [int(key) if key.isdigit() else key for key in re.findall(r"\w+", path)]
    node: Any = spec
    for key in parents:
        node = node[key]
    if value is ABSENT:
        del node[last]
    else:
        node[last] = value
    return spec


def invalid(id: str, path: str, value: Any, field: str | None = None) -> Case:
    return Case(id, changed(path, value), f"spec.{field or path}")


def duplicate(id: str, path: str, value: Any, item: str, key: str) -> Case:
    """A list item whose key field `key` repeats an earlier item's: the models name the key
    field, the API server the item."""
    return Case(id, changed(path, value), f"spec.{item}.{key}", f"spec.{item}")


def valid(id: str, path: str, value: Any) -> Case:
    return Case(id, changed(path, value), "")


def resource(name: str, spec: Spec) -> dict[str, Any]:
    """A ContainerServiceDeployment object with this name and spec."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": name},
        "spec": spec,
    }


def _containers(count: int) -> list[dict[str, Any]]:
    """`web` and `cache` of the base spec, then more, up to `count` containers."""
    extra = [
        {"name": f"side{i}", "image": "busybox", "ports": [{"port": 9000 + i, "protocol": "UDP"}]}
        for i in range(count - 2)
    ]
    return [*base_spec()["containers"], *extra]


_ENDPOINT = "publicEndpoint"
_CHECK = "publicEndpoint.healthCheck"
_CODES = f"{_CHECK}.successCodes"
_DOMAINS = "publicDomainNames"
_LONGEST_DOMAIN = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters


def _domains(*groups: list[str]) -> list[dict[str, Any]]:
    """Custom domains: one certificate per group."""
    return [{"certificate": f"cert-{i}", "domains": group} for i, group in enumerate(groups)]


_ENV = "containers[1].environment"
_SECRET = {"name": "db", "key": "password"}

INVALID_SPECS = [
    invalid("scale-0", "scale", MIN_SCALE - 1),
    invalid("power-unknown", "power", "huge"),
    invalid("power-uppercase", "power", "Nano"),
    invalid("disabled-string", "disabled", "yes"),
    invalid("image-pull-secret-uppercase", "imagePullSecrets", ["RegCred"], "imagePullSecrets[0]"),
    invalid(
        "image-pull-secrets-11",
        "imagePullSecrets",
        [f"reg-{i}" for i in range(MAX_IMAGE_PULL_SECRETS + 1)],
    ),
    invalid("redeployed-at-too-long", "redeployedAt", "x" * (MAX_REDEPLOYED_AT_LENGTH + 1)),
    invalid("environment-neither-value-nor-secret", _ENV, [{"name": "A"}], f"{_ENV}[0].value"),
    invalid(
        "environment-value-and-secret",
        _ENV,
        [{"name": "A", "value": "x", "secretKeyRef": _SECRET}],
        f"{_ENV}[0].value",
    ),
    invalid(
        "environment-secret-without-key",
        _ENV,
        [{"name": "A", "secretKeyRef": {"name": "db"}}],
        f"{_ENV}[0].secretKeyRef.key",
    ),
    invalid(
        "environment-secret-name-uppercase",
        _ENV,
        [{"name": "A", "secretKeyRef": {"name": "DB", "key": "k"}}],
        f"{_ENV}[0].secretKeyRef.name",
    ),
    invalid("scale-21", "scale", MAX_SCALE + 1),
    invalid("scale-string", "scale", "2"),
    invalid("containers-missing", "containers", ABSENT),
    invalid("containers-empty", "containers", []),
    invalid("containers-11", "containers", _containers(MAX_CONTAINERS + 1)),
    invalid("container-name-uppercase", "containers[1].name", "Cache"),
    invalid("container-name-leading-hyphen", "containers[1].name", "-cache"),
    invalid("container-name-trailing-hyphen", "containers[1].name", "cache-"),
    invalid("container-name-underscore", "containers[1].name", "redis_cache"),
    invalid("container-name-54-chars", "containers[1].name", "c" * (MAX_CONTAINER_NAME_LENGTH + 1)),
    invalid("container-name-empty", "containers[1].name", ""),
    invalid("container-name-missing", "containers[1].name", ABSENT),
    invalid("container-name-of-the-health-check", "containers[1].name", HEALTH_CHECK_CONTAINER),
    duplicate("container-names-duplicate", "containers[1].name", "web", "containers[1]", "name"),
    invalid("image-missing", "containers[1].image", ABSENT),
    invalid("image-empty", "containers[1].image", ""),
    invalid("image-uppercase", "containers[1].image", "Redis:7"),
    invalid("image-empty-tag", "containers[1].image", "redis:"),
    invalid("image-short-digest", "containers[1].image", "redis@sha256:abc"),
    invalid("image-space", "containers[1].image", "redis 7"),
    invalid("image-513-chars", "containers[1].image", "r" * (MAX_IMAGE_LENGTH + 1)),
    invalid("command-empty", "containers[1].command", []),
    invalid("command-65-args", "containers[1].command", ["redis"] * (MAX_COMMAND_ARGS + 1)),
    invalid(
        "command-arg-too-long",
        "containers[1].command",
        ["x" * (MAX_ARG_LENGTH + 1)],
        field="containers[1].command[0]",
    ),
    duplicate(
        "environment-names-duplicate",
        "containers[1].environment",
        [{"name": "MODE", "value": "a"}, {"name": "MODE", "value": "b"}],
        "containers[1].environment[1]",
        "name",
    ),
    invalid(
        "environment-name-starts-with-digit",
        "containers[1].environment",
        [{"name": "1MODE"}],
        field="containers[1].environment[0].name",
    ),
    invalid(
        "environment-name-with-equals",
        "containers[1].environment",
        [{"name": "MODE=a"}],
        field="containers[1].environment[0].name",
    ),
    invalid(
        "environment-name-missing",
        "containers[1].environment",
        [{"value": "a"}],
        field="containers[1].environment[0].name",
    ),
    invalid(
        "environment-value-too-long",
        "containers[1].environment",
        [{"name": "MODE", "value": "a" * (MAX_ENV_VALUE_LENGTH + 1)}],
        field="containers[1].environment[0].value",
    ),
    invalid(
        "environment-101-variables",
        "containers[1].environment",
        [{"name": f"V{i}"} for i in range(MAX_ENVIRONMENT + 1)],
    ),
    invalid("port-0", "containers[1].ports[0].port", MIN_PORT - 1),
    invalid("port-65536", "containers[1].ports[0].port", MAX_PORT + 1),
    invalid("port-string", "containers[1].ports[0].port", "6379"),
    invalid("port-missing", "containers[1].ports[0].port", ABSENT),
    invalid("protocol-unknown", "containers[1].ports[0].protocol", "SCTP"),
    invalid("protocol-lowercase", "containers[1].ports[0].protocol", "tcp"),
    invalid("protocol-missing", "containers[1].ports[0].protocol", ABSENT),
    duplicate(
        "ports-duplicate-in-container",
        "containers[1].ports",
        [{"port": 6379, "protocol": "TCP"}, {"port": 6379, "protocol": "UDP"}],
        "containers[1].ports[1]",
        "port",
    ),
    invalid("port-of-the-health-check", "containers[1].ports[0].port", HEALTH_CHECK_PORT),
    invalid("port-open-on-two-containers", "containers[1].ports[0].port", 80),
    invalid(
        "ports-21",
        "containers[1].ports",
        [{"port": 7000 + i, "protocol": "TCP"} for i in range(MAX_PORTS + 1)],
    ),
    invalid("endpoint-container-missing", f"{_ENDPOINT}.containerName", "api"),
    invalid("endpoint-container-name-missing", f"{_ENDPOINT}.containerName", ABSENT),
    invalid(
        "endpoint-on-tcp-port",
        _ENDPOINT,
        {"containerName": "cache", "containerPort": 6379},
        field=f"{_ENDPOINT}.containerPort",
    ),
    invalid("endpoint-on-closed-port", f"{_ENDPOINT}.containerPort", 8080),
    invalid("endpoint-on-port-of-other-container", f"{_ENDPOINT}.containerPort", 6379),
    invalid("endpoint-port-missing", f"{_ENDPOINT}.containerPort", ABSENT),
    invalid("endpoint-port-0", f"{_ENDPOINT}.containerPort", MIN_PORT - 1),
    invalid("interval-4", f"{_CHECK}.intervalSeconds", MIN_INTERVAL_SECONDS - 1),
    invalid("interval-301", f"{_CHECK}.intervalSeconds", MAX_INTERVAL_SECONDS + 1),
    invalid("timeout-1", f"{_CHECK}.timeoutSeconds", MIN_TIMEOUT_SECONDS - 1),
    invalid("timeout-61", f"{_CHECK}.timeoutSeconds", MAX_TIMEOUT_SECONDS + 1),
    invalid("healthy-threshold-1", f"{_CHECK}.healthyThreshold", MIN_THRESHOLD - 1),
    invalid("healthy-threshold-11", f"{_CHECK}.healthyThreshold", MAX_THRESHOLD + 1),
    invalid("unhealthy-threshold-1", f"{_CHECK}.unhealthyThreshold", MIN_THRESHOLD - 1),
    invalid("unhealthy-threshold-11", f"{_CHECK}.unhealthyThreshold", MAX_THRESHOLD + 1),
    invalid("path-relative", f"{_CHECK}.path", "healthz"),
    invalid("path-empty", f"{_CHECK}.path", ""),
    invalid("path-space", f"{_CHECK}.path", "/health check"),
    invalid("path-too-long", f"{_CHECK}.path", "/" * (MAX_PATH_LENGTH + 1)),
    invalid("success-codes-199", _CODES, str(MIN_SUCCESS_CODE - 1)),
    invalid("success-codes-500", _CODES, str(MAX_SUCCESS_CODE + 1)),
    invalid("success-codes-range-199", _CODES, f"{MIN_SUCCESS_CODE - 1}-299"),
    invalid("success-codes-range-500", _CODES, f"200-{MAX_SUCCESS_CODE + 1}"),
    invalid("success-codes-descending", _CODES, "300-200"),
    invalid("success-codes-abc", _CODES, "abc"),
    invalid("success-codes-open-range", _CODES, "200-"),
    invalid("success-codes-empty", _CODES, ""),
    invalid("success-codes-empty-item", _CODES, "200,,300"),
    invalid("success-codes-space", _CODES, "200, 300"),
    invalid("success-codes-double-range", _CODES, "200-299-399"),
    invalid("success-codes-four-digits", _CODES, "0200"),
    invalid(
        "success-codes-too-long", _CODES, ",".join(["200"] * (MAX_SUCCESS_CODES_LENGTH // 4 + 1))
    ),
    invalid(
        "domain-uppercase", _DOMAINS, _domains(["Shop.example.com"]), f"{_DOMAINS}[0].domains[0]"
    ),
    invalid("domain-wildcard", _DOMAINS, _domains(["*.example.com"]), f"{_DOMAINS}[0].domains[0]"),
    invalid("domain-one-label", _DOMAINS, _domains(["shop"]), f"{_DOMAINS}[0].domains[0]"),
    invalid(
        "domain-label-hyphen",
        _DOMAINS,
        _domains(["-shop.example.com"]),
        f"{_DOMAINS}[0].domains[0]",
    ),
    invalid(
        "domain-label-64", _DOMAINS, _domains(["s" * 64 + ".com"]), f"{_DOMAINS}[0].domains[0]"
    ),
    invalid("domain-254", _DOMAINS, _domains(["e" + _LONGEST_DOMAIN]), f"{_DOMAINS}[0].domains[0]"),
    invalid(
        "domain-trailing-dot",
        _DOMAINS,
        _domains(["shop.example.com."]),
        f"{_DOMAINS}[0].domains[0]",
    ),
    invalid("domains-empty", _DOMAINS, _domains([]), f"{_DOMAINS}[0].domains"),
    invalid(
        "domains-5-in-all",
        _DOMAINS,
        _domains([f"a{i}.example.com" for i in range(3)], ["b0.example.com", "b1.example.com"]),
    ),
    # The models name the repeated item's field; the API server the list (a CEL rule on the
    # domains) or the item (the list-map keyed by certificate).
    Case(
        "domain-twice",
        changed(_DOMAINS, _domains(["shop.example.com"], ["shop.example.com"])),
        f"spec.{_DOMAINS}[1].domains[0]",
        f"spec.{_DOMAINS}",
    ),
    Case(
        "certificate-twice",
        changed(
            _DOMAINS,
            [{"certificate": "c", "domains": [d]} for d in ("a.example.com", "b.example.com")],
        ),
        f"spec.{_DOMAINS}[1].certificate",
        f"spec.{_DOMAINS}[1]",
    ),
    invalid(
        "certificate-bad-name",
        f"{_DOMAINS}",
        [{"certificate": "C_1", "domains": ["a.example.com"]}],
        f"{_DOMAINS}[0].certificate",
    ),
    Case(
        "domains-without-endpoint",
        {**changed(_ENDPOINT, ABSENT), _DOMAINS: _domains(["shop.example.com"])},
        f"spec.{_DOMAINS}",
    ),
    invalid("unknown-field", "replicas", 2),
    invalid("unknown-field-in-container", "containers[1].restartPolicy", "Always"),
    invalid("unknown-field-in-health-check", f"{_CHECK}.port", 80),
]

VALID_SPECS = [
    Case("minimal", {"containers": [{"name": "a", "image": "nginx"}]}, ""),
    valid("base", "scale", MIN_SCALE),
    valid("scale-20", "scale", MAX_SCALE),
    *(valid(f"power-{power}", "power", power.value) for power in Power),
    valid("disabled", "disabled", True),
    valid(
        "image-pull-secrets-10",
        "imagePullSecrets",
        [f"reg-{i}.example" for i in range(MAX_IMAGE_PULL_SECRETS)],
    ),
    valid("redeployed-at", "redeployedAt", "2026-11-29T21:00:00Z"),
    valid("no-public-endpoint", _ENDPOINT, ABSENT),
    valid("no-health-check", f"{_CHECK}", ABSENT),
    valid("endpoint-on-https-port", "containers[0].ports[0].protocol", "HTTPS"),
    valid("nulls-are-absent", "scale", None),
    valid("null-public-endpoint", _ENDPOINT, None),
    valid("containers-10", "containers", _containers(MAX_CONTAINERS)),
    valid(
        "containers-10-with-20-ports-each",  # the CEL rules' worst case, within their cost limits
        "containers",
        [
            {
                "name": "web" if c == 0 else f"c{c}",
                "image": "nginx",
                "ports": [
                    {"port": 80 if c == p == 0 else 1000 * (c + 1) + p, "protocol": "HTTP"}
                    for p in range(MAX_PORTS)
                ],
            }
            for c in range(MAX_CONTAINERS)
        ],
    ),
    valid("container-name-53-chars", "containers[1].name", "c" * MAX_CONTAINER_NAME_LENGTH),
    valid("container-name-digits-and-hyphens", "containers[1].name", "0-redis-7"),
    valid("image-latest", "containers[1].image", "redis:latest"),
    valid("image-registry-digest", "containers[1].image", f"reg.example/x/y@{DIGEST}"),
    valid("image-registry-port-tag", "containers[1].image", "localhost:5000/team/redis_7:v7.2-rc1"),
    valid("image-tag-and-digest", "containers[1].image", f"ghcr.io/org/redis:7@{DIGEST}"),
    valid("image-512-chars", "containers[1].image", "r" * MAX_IMAGE_LENGTH),
    valid("command-1-arg", "containers[1].command", ["redis-server"]),
    valid("command-64-args", "containers[1].command", ["--verbose"] * MAX_COMMAND_ARGS),
    valid("command-arg-4096-chars", "containers[1].command", ["x" * MAX_ARG_LENGTH, ""]),
    valid(
        "environment-100-variables",
        "containers[1].environment",
        [{"name": f"V{i}", "value": str(i)} for i in range(MAX_ENVIRONMENT)],
    ),
    valid(
        "environment-edges",
        "containers[1].environment",
        [
            {"name": "N" * MAX_ENV_NAME_LENGTH, "value": "v" * MAX_ENV_VALUE_LENGTH},
            {"name": "_private.setting-1", "value": "x"},
            {"name": "EMPTY", "value": ""},
            {"name": "FROM_SECRET", "secretKeyRef": {"name": "db.credentials", "key": "pass_1"}},
        ],
    ),
    valid(
        "ports-20",
        "containers[1].ports",
        [{"port": 7000 + i, "protocol": "TCP"} for i in range(MAX_PORTS)],
    ),
    valid(
        "ports-1-and-65535",
        "containers[1].ports",
        [{"port": MIN_PORT, "protocol": "UDP"}, {"port": MAX_PORT, "protocol": "HTTPS"}],
    ),
    valid(
        "health-check-minima",
        _CHECK,
        {
            "intervalSeconds": MIN_INTERVAL_SECONDS,
            "timeoutSeconds": MIN_TIMEOUT_SECONDS,
            "healthyThreshold": MIN_THRESHOLD,
            "unhealthyThreshold": MIN_THRESHOLD,
        },
    ),
    valid(
        "health-check-maxima",
        _CHECK,
        {
            "path": "/" + "p" * (MAX_PATH_LENGTH - 1),
            "intervalSeconds": MAX_INTERVAL_SECONDS,
            "timeoutSeconds": MAX_TIMEOUT_SECONDS,
            "healthyThreshold": MAX_THRESHOLD,
            "unhealthyThreshold": MAX_THRESHOLD,
        },
    ),
    valid("path-with-query", f"{_CHECK}.path", "/healthz?verbose=1&x=%20"),
    valid("domains-none", _DOMAINS, []),
    valid(
        "domains-4-with-one-certificate",
        _DOMAINS,
        _domains([f"s{i}.example.com" for i in range(MAX_DOMAINS)]),
    ),
    valid(
        "domains-4-with-two-certificates",
        _DOMAINS,
        _domains(["shop.example.com", "www.shop.example.com"], ["shop.example.org", "x-1.io"]),
    ),
    valid("domain-253-chars", _DOMAINS, _domains([_LONGEST_DOMAIN])),
    valid("domain-digits-and-hyphens", _DOMAINS, _domains(["0-shop.example-1.co.uk"])),
    valid("success-codes-200", _CODES, str(MIN_SUCCESS_CODE)),
    valid("success-codes-499", _CODES, str(MAX_SUCCESS_CODE)),
    valid("success-codes-full-range", _CODES, f"{MIN_SUCCESS_CODE}-{MAX_SUCCESS_CODE}"),
    valid("success-codes-one-code-range", _CODES, "200-200"),
    valid("success-codes-list-and-range", _CODES, "200,202,300-399"),
    # 127 characters: a list of codes is never exactly 128 long.
    valid("success-codes-longest", _CODES, ",".join(["200"] * (MAX_SUCCESS_CODES_LENGTH // 4))),
]

INVALID_NAMES = [
    ("uppercase", "Shop"),
    ("starts-with-digit", "1shop"),
    ("starts-with-hyphen", "-shop"),
    ("ends-with-hyphen", "shop-"),
    ("dot", "shop.v1"),
    ("underscore", "shop_1"),
    ("64-chars", "s" * (MAX_SERVICE_NAME_LENGTH + 1)),
]

VALID_NAMES = ["s", "shop-2", "s" * MAX_SERVICE_NAME_LENGTH]

# The successCodes grammar as the health-check prober reads it: its Go tests read this file too,
# with the codes each valid string counts as healthy and as unhealthy.
SUCCESS_CODES_TABLE: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "hack" / "prober" / "testdata" / "success-codes.json").read_text()
)
VALID_SUCCESS_CODES: list[str] = [row["codes"] for row in SUCCESS_CODES_TABLE["valid"]]
INVALID_SUCCESS_CODES: list[str] = SUCCESS_CODES_TABLE["invalid"]
