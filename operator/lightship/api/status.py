"""The status: what the operator observed and did, the deployment versions and the conditions."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from lightship.api.bounds import (
    MAX_CONTAINER_NAME_LENGTH,
    MAX_CONTAINERS,
    MAX_DOMAINS,
    MAX_LOG_BYTES,
    MAX_LOG_LINES,
    MAX_VERSIONS,
    MAX_VERSIONS_WITH_LOGS,
)
from lightship.api.rules import WireModel, list_map


# Enum member names are their wire values, as in the Kubernetes API.
class VersionState(StrEnum):
    """The state of a deployment version."""

    Activating = "Activating"
    Active = "Active"
    Inactive = "Inactive"
    Failed = "Failed"


class ServiceState(StrEnum):
    """The state of the service as a whole."""

    Ready = "Ready"
    Deploying = "Deploying"
    Running = "Running"
    Updating = "Updating"
    Disabled = "Disabled"


class ContainerLog(WireModel):
    """The last lines one container of a failed version wrote."""

    pod: str = Field(max_length=253, description="The pod the lines were read from.")
    container: str = Field(max_length=MAX_CONTAINER_NAME_LENGTH, description="The container.")
    lines: list[Annotated[str, Field(max_length=MAX_LOG_BYTES)]] = Field(
        max_length=MAX_LOG_LINES,
        description=f"Its last lines, oldest first: at most {MAX_LOG_LINES} lines and "
        f"{MAX_LOG_BYTES} bytes.",
    )


class DeploymentVersion(WireModel):
    """A summary of one deployment version; its full spec is kept in a ControllerRevision."""

    version: int = Field(ge=1, description="The version number: 1, 2, 3, ... per service.")
    state: VersionState = Field(
        description="Activating, Active (serving traffic), Inactive (superseded) or Failed."
    )
    created_at: datetime = Field(description="When the version was created.")
    activated_at: datetime | None = Field(
        None, description="When the version became active, if it did."
    )
    reason: str | None = Field(
        None, description="Why the version is in its state, in one word (e.g. ImagePullBackOff)."
    )
    message: str | None = Field(None, description="Details of the state, for humans.")
    logs: list[ContainerLog] | None = Field(
        None,
        max_length=MAX_CONTAINERS,
        description="For a Failed version: the last lines its failing containers wrote, read "
        f"before their pod was removed. Kept for the {MAX_VERSIONS_WITH_LOGS} newest versions "
        "that have them.",
    )


class Condition(WireModel):
    """An observation of one aspect of the service, as Kubernetes conditions have it."""

    type: str = Field(
        description="The aspect: Ready, Reconciling, Stalled, Progressing, Conflict, "
        "RouteRejected or HistoryUnreadable."
    )
    status: Literal["True", "False", "Unknown"] = Field(
        description="Whether the condition holds: True, False or Unknown."
    )
    reason: str = Field(description="Why, in one CamelCase word.")
    message: str = Field("", description="Details, for humans.")
    observed_generation: int | None = Field(
        None, description="The metadata.generation the condition was set from."
    )
    last_transition_time: datetime = Field(
        description="When the status of the condition last changed."
    )


class ContainerServiceStatus(WireModel):
    """What the operator observed and did. Written by the operator only."""

    observed_generation: int | None = Field(
        None, description="The metadata.generation the operator last acted on."
    )
    state: ServiceState = Field(
        ServiceState.Ready,
        description="Ready (no active deployment), Deploying (a version is activating), "
        "Running (a version is active and none is activating), Updating (a change of capacity "
        "or settings is being applied to the active version) or Disabled (spec.disabled: every "
        "pod stopped).",
    )
    replicas: int | None = Field(
        None, description="The pods of the active version (the /scale subresource reads it)."
    )
    ready_replicas: int | None = Field(None, description="Those of them that are ready.")
    selector: str | None = Field(
        None,
        description="The label selector of the active version's pods (the /scale subresource "
        "reads it, so a HorizontalPodAutoscaler finds the pods).",
    )
    url: str | None = Field(None, description="The public HTTPS URL, with a public endpoint only.")
    domains: list[str] | None = Field(
        None,
        max_length=MAX_DOMAINS,
        description="The custom domains the public route serves, with a public endpoint only.",
    )
    private_domain: str | None = Field(
        None, description="The domain name of the service inside the cluster."
    )
    current_deployment: DeploymentVersion | None = Field(
        None, description="The active version, which receives the traffic."
    )
    next_deployment: DeploymentVersion | None = Field(
        None, description="The version being activated, while one is."
    )
    versions: list[DeploymentVersion] = Field(
        [],
        max_length=MAX_VERSIONS,
        description=f"The kept versions, newest first, at most {MAX_VERSIONS}.",
    )
    conditions: list[Condition] = Field(
        [],
        description="Ready, Reconciling and Stalled (as kstatus reads them), Progressing, "
        "Conflict, RouteRejected and, while stored versions cannot be read, HistoryUnreadable.",
        json_schema_extra=list_map("type"),
    )
