"""The public endpoint: the container port served over HTTPS, its health check, and the custom
domains it serves."""

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from lightship.api.bounds import (
    DOMAIN_PATTERN,
    MAX_CONTAINER_NAME_LENGTH,
    MAX_DOMAIN_LENGTH,
    MAX_DOMAINS,
    MAX_INTERVAL_SECONDS,
    MAX_PATH_LENGTH,
    MAX_PORT,
    MAX_SECRET_NAME_LENGTH,
    MAX_SUCCESS_CODE,
    MAX_SUCCESS_CODES_LENGTH,
    MAX_THRESHOLD,
    MAX_TIMEOUT_SECONDS,
    MIN_INTERVAL_SECONDS,
    MIN_PORT,
    MIN_SUCCESS_CODE,
    MIN_THRESHOLD,
    MIN_TIMEOUT_SECONDS,
    PATH_PATTERN,
    SECRET_NAME_PATTERN,
    SUCCESS_CODES_PART,
)
from lightship.api.rules import WireModel, cel, invalid

_SUCCESS_CODES_MESSAGE = (
    f"must list HTTP codes from {MIN_SUCCESS_CODE} to {MAX_SUCCESS_CODE}, separated by commas, "
    'each a code or an ascending range, for example "200", "200-299" or "200,300-399"'
)


_DOMAIN_MESSAGE = (
    f"must be a domain name such as shop.example.com: at most {MAX_DOMAIN_LENGTH} characters, "
    "two or more dot-separated labels of lowercase letters, digits and hyphens (no hyphen "
    "first or last in a label, at most 63 characters each), no wildcard"
)


def _is_success_codes(value: str) -> bool:
    for part in value.split(","):
        if not re.fullmatch(SUCCESS_CODES_PART, part):
            return False
        codes = [int(code) for code in part.split("-")]
        in_bounds = all(MIN_SUCCESS_CODE <= code <= MAX_SUCCESS_CODE for code in codes)
        if not in_bounds or codes != sorted(codes):
            return False
    return True


def _bounded(what: str, default: int, low: int, high: int) -> Any:
    """A strict integer field from `low` to `high`, its description ending with its bounds and
    default as every field's does."""
    return Field(
        default,
        strict=True,
        ge=low,
        le=high,
        description=f"{what}, {low}..{high}. Default: {default}.",
    )


class HealthCheck(WireModel):
    """How the public endpoint checks that its container is healthy, before and while it serves."""

    path: str = Field(
        "/",
        max_length=MAX_PATH_LENGTH,
        pattern=PATH_PATTERN,
        description="The URL path requested: starts with /, printable ASCII without spaces, at "
        f"most {MAX_PATH_LENGTH} characters. Default: /.",
    )
    interval_seconds: int = _bounded(
        "Seconds between checks", 5, MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS
    )
    timeout_seconds: int = _bounded(
        "Seconds to wait for a response before the check fails",
        2,
        MIN_TIMEOUT_SECONDS,
        MAX_TIMEOUT_SECONDS,
    )
    success_codes: str = Field(
        "200-499",
        max_length=MAX_SUCCESS_CODES_LENGTH,
        description=f"HTTP codes that count as healthy, {MIN_SUCCESS_CODE}..{MAX_SUCCESS_CODE}: "
        'a list ("200,202"), an ascending range ("200-299") or both ("200,300-399"). '
        'Default: "200-499". The code is the path\'s own (a redirect is not followed). Counted '
        "exactly as written by the default health check (operator setting "
        "LIGHTSHIP_HEALTH_CHECK=exact); with LIGHTSHIP_HEALTH_CHECK=kubelet the kubelet's probe "
        "counts 200..399 as healthy and every other code as unhealthy, whatever this lists.",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    f"self.split(',').all(r, r.matches('{SUCCESS_CODES_PART}')"
                    f" && r.split('-').all(code, int(code) >= {MIN_SUCCESS_CODE}"
                    f" && int(code) <= {MAX_SUCCESS_CODE})"
                    " && r.split('-').map(code, int(code)).isSorted())",
                    message=_SUCCESS_CODES_MESSAGE,
                )
            ]
        },
    )
    healthy_threshold: int = _bounded(
        "Consecutive successful checks before a container counts as healthy",
        2,
        MIN_THRESHOLD,
        MAX_THRESHOLD,
    )
    unhealthy_threshold: int = _bounded(
        "Consecutive failed checks before a container counts as unhealthy",
        2,
        MIN_THRESHOLD,
        MAX_THRESHOLD,
    )

    @field_validator("success_codes")
    @classmethod
    def _success_codes_grammar(cls, value: str) -> str:
        if not _is_success_codes(value):
            raise invalid(_SUCCESS_CODES_MESSAGE)
        return value


class PublicEndpoint(WireModel):
    """The container port that is served publicly over HTTPS, at the service URL."""

    container_name: str = Field(
        max_length=MAX_CONTAINER_NAME_LENGTH,
        description="The container that serves the endpoint: the name of one of spec.containers.",
    )
    container_port: int = Field(
        strict=True,
        ge=MIN_PORT,
        le=MAX_PORT,
        description="The port that serves the endpoint: an HTTP or HTTPS port open on that "
        "container.",
    )
    health_check: HealthCheck = Field(
        HealthCheck(),
        description="The health check of the endpoint: its container receives traffic only while "
        "it passes, and a new version goes live only when every pod passes. A check succeeds "
        "when the path answers within timeoutSeconds with one of successCodes; a timeout or a "
        "refused connection fails. Which codes count depends on the operator's "
        "LIGHTSHIP_HEALTH_CHECK setting: see successCodes. Every field is optional.",
    )


def _domain_name(domain: str) -> str:
    if not re.fullmatch(DOMAIN_PATTERN, domain):
        raise invalid(_DOMAIN_MESSAGE)
    return domain


Domain = Annotated[
    str,
    Field(
        max_length=MAX_DOMAIN_LENGTH,
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(f"self.matches('{DOMAIN_PATTERN}')", message=_DOMAIN_MESSAGE)
            ]
        },
    ),
    AfterValidator(_domain_name),
]


class DomainNames(WireModel):
    """Custom domains served by the public endpoint with one TLS certificate."""

    certificate: str = Field(
        max_length=MAX_SECRET_NAME_LENGTH,
        pattern=SECRET_NAME_PATTERN,
        description="The name of the kubernetes.io/tls Secret, in this namespace, whose "
        "certificate covers these domains (cert-manager can issue it). The operator never "
        "reads it: the gateway does.",
    )
    domains: list[Domain] = Field(
        min_length=1,
        max_length=MAX_DOMAINS,
        description="The domains this certificate serves, for example shop.example.com; each "
        "needs a DNS record pointing at the cluster's gateway.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
