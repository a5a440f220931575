"""Operator settings, read from LIGHTSHIP_* environment variables (DESIGN §5)."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from importlib.metadata import version
from typing import Annotated, NamedTuple

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from lightship.api import IMAGE_PATTERN, Power

ENV_PREFIX = "LIGHTSHIP_"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Where the project publishes the health-check prober (hack/prober/Dockerfile), tagged with the
# project's version, as the operator's own image is.
PROBE_REPOSITORY = "ghcr.io/lightship-dev/prober"


def published_probe_image() -> str:
    return f"{PROBE_REPOSITORY}:{version('lightship')}"


class HealthCheckMode(StrEnum):
    """Who checks a public endpoint's health (README, "The health check")."""

    # The prober sidecar: every field of the health check, the success codes as listed.
    exact = "exact"
    # The kubelet's httpGet probe alone: it counts 200..399 as healthy, whatever is listed.
    kubelet = "kubelet"


# Gateway and listener names: DNS-1123 subdomains (Gateway API's ObjectName and SectionName).
_DNS_SUBDOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)


class GatewayRef(NamedTuple):
    """The Gateway (and optionally its listener) that every HTTPRoute attaches to."""

    namespace: str
    name: str
    listener: str | None = None


# A Kubernetes resource quantity, as the cluster admin would write one: "250m", "0.5", "1Gi".
_QUANTITY = re.compile(r"^([0-9]+([.][0-9]+)?|[.][0-9]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")


class PowerSize(NamedTuple):
    """What each pod of a power requests and is limited to."""

    cpu: str
    memory: str


# The managed service's published table (DESIGN §1).
DEFAULT_POWERS = {
    Power.nano: PowerSize("250m", "512Mi"),
    Power.micro: PowerSize("250m", "1Gi"),
    Power.small: PowerSize("500m", "1Gi"),
    Power.medium: PowerSize("1", "2Gi"),
    Power.large: PowerSize("2", "4Gi"),
    Power.xlarge: PowerSize("4", "8Gi"),
}


def _powers(value: object) -> dict[Power, PowerSize]:
    """The sizes of LIGHTSHIP_POWERS over the defaults: a JSON object such as
    {"nano": {"cpu": "100m", "memory": "256Mi"}}; a power it leaves out keeps its size."""
    overrides = json.loads(value) if isinstance(value, str) else value
    if not isinstance(overrides, dict):
        raise ValueError(
            'must be a JSON object such as {"nano": {"cpu": "250m", "memory": "512Mi"}}'
        )
    sizes = dict(DEFAULT_POWERS)
    for name, size in overrides.items():
        if name not in Power.__members__:
            raise ValueError(f"{name!r} is not a power; powers: {', '.join(Power)}")
        if isinstance(size, PowerSize):
            sizes[Power(name)] = size
            continue
        if not isinstance(size, dict) or set(size) != {"cpu", "memory"}:
            raise ValueError(f"{name}: must be an object with exactly cpu and memory")
        for resource, quantity in size.items():
            if not isinstance(quantity, str) or not _QUANTITY.match(quantity):
                raise ValueError(
                    f"{name}.{resource}: {quantity!r} is not a quantity such as 250m, 1 or 512Mi"
                )
        sizes[Power(name)] = PowerSize(size["cpu"], size["memory"])
    return sizes


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True)

    region: str = Field("local", description="the region part of public URLs")
    base_domain: str = Field("cs.localhost", description="the domain of public URLs")
    ingress_class: str | None = Field(None, description="ingressClassName of every Ingress")
    ingress_annotations: dict[str, str] = Field(
        default_factory=dict,
        description="annotations added to every Ingress or HTTPRoute (a JSON object)",
    )
    gateway: Annotated[GatewayRef | None, NoDecode] = Field(
        None,
        description="<namespace>/<name>[/<listener>]: publish HTTPRoutes attached to this "
        "Gateway instead of Ingresses",
    )
    tls_secret: str = Field(
        "{service}-tls", description="TLS secret of every Ingress; {service} is replaced"
    )
    activation_timeout_seconds: int = Field(
        600, ge=1, le=86400, description="how long a version may be Activating"
    )
    unschedulable_grace_seconds: int = Field(
        30,
        ge=0,
        le=3600,
        description="how long a pod of an activating version may stay unschedulable before "
        "the version fails (Unschedulable)",
    )
    drain_seconds: int = Field(
        10,
        ge=0,
        le=600,
        description="how long a pod keeps serving after it is deleted, while the gateway "
        "stops sending to it and requests in flight finish (a preStop sleep)",
    )
    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="namespaces to watch, comma-separated; empty: all"
    )
    health_check: HealthCheckMode = Field(
        HealthCheckMode.exact,
        description="exact (the prober sidecar) or kubelet (plain httpGet, codes 200..399)",
    )
    powers: Annotated[dict[Power, PowerSize], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_POWERS),
        description="JSON object of power sizes over the defaults of DESIGN §1",
    )
    probe_image: str = Field(
        default_factory=published_probe_image, description="the image of the prober sidecar"
    )
    metrics_address: str | None = Field(
        None, description="host:port of the Prometheus /metrics endpoint; unset: none"
    )
    leader_election: bool = Field(
        False, description="only the holder of a Lease in the operator's namespace reconciles"
    )

    @field_validator("metrics_address")
    @classmethod
    def _metrics_address_is_host_port(cls, value: str | None) -> str | None:
        if value is None:
            return value
        _, colon, port = value.rpartition(":")
        if not colon or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, e.g. 0.0.0.0:8081 or 127.0.0.1:9090")
        return value

    @field_validator("probe_image")
    @classmethod
    def _probe_image_is_a_reference(cls, value: str) -> str:
        if not re.fullmatch(IMAGE_PATTERN, value):
            raise ValueError("must be an image reference such as registry.example/prober:1.0")
        return value

    @field_validator("region")
    @classmethod
    def _region_is_a_dns_label(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError("must be a DNS label: lowercase letters, digits and hyphens")
        return value

    @field_validator("base_domain")
    @classmethod
    def _base_domain_is_a_dns_name(cls, value: str) -> str:
        if len(value) > 200 or not all(_DNS_LABEL.match(part) for part in value.split(".")):
            raise ValueError("must be a DNS name such as cs.example.com")
        return value

    @field_validator("tls_secret")
    @classmethod
    def _tls_secret_is_a_name(cls, value: str) -> str:
        if not _DNS_LABEL.match(value.replace("{service}", "x")):
            raise ValueError("must be a Secret name, optionally with {service} in it")
        return value

    @field_validator("ingress_annotations", mode="before")
    @classmethod
    def _annotations_from_json(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"must be a JSON object of strings: {error}") from None
        return value

    @field_validator("gateway", mode="before")
    @classmethod
    def _gateway_reference(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        parts = value.split("/")
        if len(parts) not in (2, 3) or not _DNS_LABEL.match(parts[0]):
            raise ValueError(
                "must be <namespace>/<name> or <namespace>/<name>/<listener>, "
                "e.g. lightship-gateway/public/https"
            )
        if not all(_DNS_SUBDOMAIN.match(part) for part in parts[1:]):
            raise ValueError("the Gateway and listener names must be DNS subdomains")
        return GatewayRef(*parts)

    @field_validator("powers", mode="before")
    @classmethod
    def _powers_over_defaults(cls, value: object) -> object:
        try:
            return _powers(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"must be a JSON object: {error}") from None

    @field_validator("namespaces", mode="before")
    @classmethod
    def _namespaces_from_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def tls_secret_for(self, service: str) -> str:
        return self.tls_secret.replace("{service}", service)


class SettingsError(Exception):
    """A setting is invalid; the message names the environment variable."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = [
            f"{ENV_PREFIX}{str(e['loc'][0]).upper()}: {e['msg']}" if e["loc"] else e["msg"]
            for e in error.errors()
        ]
        raise SettingsError("invalid setting: " + "; ".join(problems)) from None
