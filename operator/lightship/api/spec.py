"""The top-level spec: the deployment (its containers and public endpoint), of which every change
makes a version, and the capacity and settings applied to the running version in place."""

from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from lightship.api.bounds import (
    DEPLOYMENT_FIELDS,
    MAX_CONTAINERS,
    MAX_DOMAINS,
    MAX_IMAGE_PULL_SECRETS,
    MAX_REDEPLOYED_AT_LENGTH,
    MAX_SCALE,
    MAX_SECRET_NAME_LENGTH,
    MIN_CONTAINERS,
    MIN_SCALE,
    SECRET_NAME_PATTERN,
)
from lightship.api.containers import Container
from lightship.api.cross_field import (
    DOMAINS_AT_MOST,
    DOMAINS_NEED_ENDPOINT,
    DOMAINS_UNIQUE,
    ENDPOINT_CONTAINER_EXISTS,
    ENDPOINT_PORT_OPEN,
    PORTS_UNIQUE_ACROSS_CONTAINERS,
    container_violations,
    domain_violations,
    endpoint_violations,
)
from lightship.api.endpoint import DomainNames, PublicEndpoint
from lightship.api.rules import WireModel, list_map, raise_violations


class Power(StrEnum):
    """The capacity of each pod, as the managed service sizes its nodes (DESIGN §1)."""

    nano = "nano"
    micro = "micro"
    small = "small"
    medium = "medium"
    large = "large"
    xlarge = "xlarge"


class ContainerServiceSpec(WireModel):
    """A container service: its deployment (containers, publicEndpoint, redeployedAt), of which
    every change makes a new deployment version, and its capacity and settings (scale, power,
    disabled, publicDomainNames, imagePullSecrets), applied to the running version in place."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                ENDPOINT_CONTAINER_EXISTS,
                ENDPOINT_PORT_OPEN,
                DOMAINS_NEED_ENDPOINT,
            ]
        }
    )

    scale: int = Field(
        1,
        strict=True,
        ge=MIN_SCALE,
        le=MAX_SCALE,
        description=f"Pods serving the service, {MIN_SCALE}..{MAX_SCALE}. Default: 1. A change "
        "applies to the running version in place (no new version): scale up adds pods, scale "
        "down removes pods. The /scale subresource (kubectl scale, a HorizontalPodAutoscaler) "
        "writes it.",
    )
    power: Power = Field(
        Power.nano,
        description="The capacity of each pod: nano (0.25 vCPU, 512Mi), micro (0.25, 1Gi), "
        "small (0.5, 1Gi), medium (1, 2Gi), large (2, 4Gi) or xlarge (4, 8Gi), unless the "
        "cluster admin sized them otherwise (LIGHTSHIP_POWERS). Each pod requests and is "
        "limited to it. Default: nano. A change replaces the running pods one by one, ready "
        "capacity never below the scale; no new version.",
    )
    disabled: bool = Field(
        False,
        strict=True,
        description="true: every pod is stopped; the versions, the URL and the settings are "
        "kept. false again: the active version runs again (no new version). Default: false.",
    )
    image_pull_secrets: list[
        Annotated[str, Field(max_length=MAX_SECRET_NAME_LENGTH, pattern=SECRET_NAME_PATTERN)]
    ] = Field(
        [],
        max_length=MAX_IMAGE_PULL_SECRETS,
        description="Secrets (kubernetes.io/dockerconfigjson) in this namespace holding "
        f"credentials for private registries, at most {MAX_IMAGE_PULL_SECRETS}; every pod "
        "pulls with them. A change applies in place (no new version).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    redeployed_at: str | None = Field(
        None,
        max_length=MAX_REDEPLOYED_AT_LENGTH,
        description="When `lightship redeploy` last asked for the deployment to be deployed "
        "again (RFC 3339). Part of the deployment: any new value makes a new version, even of "
        "an unchanged deployment (new pods, images given by tag pulled again).",
    )
    containers: list[Container] = Field(
        min_length=MIN_CONTAINERS,
        max_length=MAX_CONTAINERS,
        description=f"The containers, {MIN_CONTAINERS}..{MAX_CONTAINERS}, names unique. All run "
        "in each pod and share its network, so a port may be open on one container only.",
        json_schema_extra={
            **list_map("name"),
            "x-kubernetes-validations": [PORTS_UNIQUE_ACROSS_CONTAINERS],
        },
    )
    public_endpoint: PublicEndpoint | None = Field(
        None,
        description="The container port served publicly over HTTPS. Without it the service is "
        "private: reachable only on its private domain inside the cluster.",
    )
    public_domain_names: list[DomainNames] = Field(
        [],
        max_length=MAX_DOMAINS,
        description=f"Custom domains, at most {MAX_DOMAINS} in all, served by the public "
        "endpoint beside its generated host, each with the TLS certificate named with it.",
        json_schema_extra={
            **list_map("certificate"),
            "x-kubernetes-validations": [DOMAINS_AT_MOST, DOMAINS_UNIQUE],
        },
    )

    @model_validator(mode="after")
    def _cross_field_rules(self) -> "ContainerServiceSpec":
        violations = container_violations(self.containers)
        if self.public_endpoint:
            violations += endpoint_violations(self.containers, self.public_endpoint)
        violations += domain_violations(self.public_domain_names, self.public_endpoint)
        raise_violations(ContainerServiceSpec, violations)
        return self

    def deployment(self) -> dict[str, Any]:
        """The deployment, in wire form: what a version is made from and stores."""
        wire: dict[str, Any] = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        return {key: wire[key] for key in DEPLOYMENT_FIELDS if key in wire}

    def with_deployment(self, other: "ContainerServiceSpec") -> "ContainerServiceSpec":
        """This spec's capacity and settings with the deployment of `other` (a version's)."""
        return self.model_copy(
            update={
                "containers": other.containers,
                "public_endpoint": other.public_endpoint,
                "redeployed_at": other.redeployed_at,
            }
        )


def read_deployment(data: Any) -> ContainerServiceSpec:
    """A stored version's deployment, as a spec with the default capacity and settings. Versions
    stored before capacity stopped making versions hold the whole spec (scale included): the
    fields that are not the deployment's are ignored, so they read as the same deployment."""
    if isinstance(data, dict):
        data = {key: value for key, value in data.items() if key in DEPLOYMENT_FIELDS}
    return ContainerServiceSpec.model_validate(data)
