"""The containers of a deployment: their image, command, environment and ports."""

import re
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic_core import InitErrorDetails

from lightship.api.bounds import (
    CONTAINER_NAME_PATTERN,
    ENV_NAME_PATTERN,
    HEALTH_CHECK_CONTAINER,
    HEALTH_CHECK_PORT,
    IMAGE_PATTERN,
    MAX_ARG_LENGTH,
    MAX_COMMAND_ARGS,
    MAX_CONTAINER_NAME_LENGTH,
    MAX_ENV_NAME_LENGTH,
    MAX_ENV_VALUE_LENGTH,
    MAX_ENVIRONMENT,
    MAX_IMAGE_LENGTH,
    MAX_PORT,
    MAX_PORTS,
    MAX_SECRET_KEY_LENGTH,
    MAX_SECRET_NAME_LENGTH,
    MIN_PORT,
    SECRET_NAME_PATTERN,
)
from lightship.api.rules import (
    WireModel,
    cel,
    invalid,
    list_map,
    raise_violations,
    repeats,
    violation,
)

_IMAGE_MESSAGE = (
    "must be an image reference, [registry[:port]/]repository[:tag][@digest] with a lowercase "
    'repository, for example "nginx", "nginx:1.27" or "reg.example/app@sha256:<64 hex digits>"'
)

_RESERVED_PORT_MESSAGE = (
    f"port {HEALTH_CHECK_PORT} is reserved: the health check of the public endpoint serves its "
    f"verdict on it (container {HEALTH_CHECK_CONTAINER})"
)
_RESERVED_NAME_MESSAGE = (
    f"{HEALTH_CHECK_CONTAINER} is reserved: it names the container of the public endpoint's "
    "health check in every pod"
)


class Protocol(StrEnum):
    """The protocol a container port speaks."""

    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TCP = "TCP"
    UDP = "UDP"


class Port(WireModel):
    """A port open on a container, reachable on the service's private domain."""

    port: int = Field(
        strict=True,
        ge=MIN_PORT,
        le=MAX_PORT,
        description=f"The port number, {MIN_PORT}..{MAX_PORT}, unique across all containers "
        f"of the service (they share one network); {HEALTH_CHECK_PORT} is reserved for the "
        "health check.",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(f"self != {HEALTH_CHECK_PORT}", message=_RESERVED_PORT_MESSAGE)
            ]
        },
    )
    # Required rather than defaulted: an HTTP server port that silently became TCP could not
    # serve the public endpoint, and the error would point somewhere else.
    protocol: Protocol = Field(
        description="What the port speaks: HTTP, HTTPS, TCP or UDP. Only an HTTP or HTTPS port "
        "can serve the public endpoint."
    )

    @field_validator("port")
    @classmethod
    def _port_not_reserved(cls, port: int) -> int:
        if port == HEALTH_CHECK_PORT:
            raise invalid(_RESERVED_PORT_MESSAGE)
        return port


class SecretKeyRef(WireModel):
    """A key of a Secret in the service's namespace. The kubelet reads it; the operator never
    does."""

    name: str = Field(
        max_length=MAX_SECRET_NAME_LENGTH,
        pattern=SECRET_NAME_PATTERN,
        description="The name of the Secret, in the service's namespace.",
    )
    key: str = Field(
        min_length=1,
        max_length=MAX_SECRET_KEY_LENGTH,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="The key in the Secret whose value the variable takes.",
    )


_ONE_VALUE_MESSAGE = "exactly one of value or secretKeyRef must be set"


class EnvironmentVariable(WireModel):
    """An environment variable of a container: a value, or a key of a Secret."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "has(self.value) != has(self.secretKeyRef)",
                    message=_ONE_VALUE_MESSAGE,
                    field_path=".value",
                )
            ]
        }
    )

    name: str = Field(
        min_length=1,
        max_length=MAX_ENV_NAME_LENGTH,
        pattern=ENV_NAME_PATTERN,
        description="The variable name: letters, digits, '_', '-' and '.', not starting with a "
        f"digit, at most {MAX_ENV_NAME_LENGTH} characters; unique within the container.",
    )
    value: str | None = Field(
        None,
        max_length=MAX_ENV_VALUE_LENGTH,
        description=f"The value, at most {MAX_ENV_VALUE_LENGTH} characters (may be empty). "
        "Exactly one of value or secretKeyRef.",
    )
    secret_key_ref: SecretKeyRef | None = Field(
        None,
        description="The value of a key of a Secret in the service's namespace, read by the "
        "kubelet when the pod starts: a missing Secret or key fails the version "
        "(CreateContainerConfigError). Exactly one of value or secretKeyRef.",
    )

    @model_validator(mode="after")
    def _one_value(self) -> "EnvironmentVariable":
        if (self.value is None) == (self.secret_key_ref is None):
            raise_violations(
                EnvironmentVariable, [violation(("value",), _ONE_VALUE_MESSAGE, self.value)]
            )
        return self


Argument = Annotated[str, Field(max_length=MAX_ARG_LENGTH)]


class Container(WireModel):
    """A container. All containers run in each pod and reach one another on localhost."""

    name: str = Field(
        min_length=1,
        max_length=MAX_CONTAINER_NAME_LENGTH,
        pattern=CONTAINER_NAME_PATTERN,
        description="The container name: lowercase letters, digits and hyphens, not starting or "
        f"ending with a hyphen, at most {MAX_CONTAINER_NAME_LENGTH} characters; unique within "
        f"the service; not {HEALTH_CHECK_CONTAINER}, the health check's.",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(f"self != '{HEALTH_CHECK_CONTAINER}'", message=_RESERVED_NAME_MESSAGE)
            ]
        },
    )
    # A CEL rule rather than a `pattern`, so that the error explains the grammar instead of
    # quoting the regular expression.
    image: str = Field(
        max_length=MAX_IMAGE_LENGTH,
        description="A public image reference, for example nginx, nginx:1.27 or "
        f"registry.example/team/app@sha256:<digest>; at most {MAX_IMAGE_LENGTH} characters.",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    f"self.matches('{IMAGE_PATTERN}')",
                    message=_IMAGE_MESSAGE,
                )
            ]
        },
    )
    command: list[Argument] | None = Field(
        None,
        min_length=1,
        max_length=MAX_COMMAND_ARGS,
        description="The launch command: replaces the image's CMD and keeps its ENTRYPOINT. "
        f"1..{MAX_COMMAND_ARGS} arguments of at most {MAX_ARG_LENGTH} characters. Default: the "
        "image's CMD.",
    )
    environment: list[EnvironmentVariable] = Field(
        [],
        max_length=MAX_ENVIRONMENT,
        description=f"Environment variables, at most {MAX_ENVIRONMENT}, names unique.",
        json_schema_extra=list_map("name"),
    )
    ports: list[Port] = Field(
        [],
        max_length=MAX_PORTS,
        description=f"The ports the container opens, at most {MAX_PORTS}. A port number may be "
        "open on one container only.",
        json_schema_extra=list_map("port"),
    )

    @field_validator("name")
    @classmethod
    def _name_not_reserved(cls, name: str) -> str:
        if name == HEALTH_CHECK_CONTAINER:
            raise invalid(_RESERVED_NAME_MESSAGE)
        return name

    @field_validator("image")
    @classmethod
    def _image_reference(cls, image: str) -> str:
        if not re.fullmatch(IMAGE_PATTERN, image):
            raise invalid(_IMAGE_MESSAGE)
        return image

    @model_validator(mode="after")
    def _names_and_ports_unique(self) -> "Container":
        # The list-map keys of `environment` and `ports` in the CRD.
        violations: list[InitErrorDetails] = [
            violation(
                ("environment", index, "name"),
                f'duplicate environment variable "{name}"; names must be unique within a container',
                name,
            )
            for index, name in repeats(variable.name for variable in self.environment)
        ]
        violations += [
            violation(
                ("ports", index, "port"),
                f"port {port} is already open on this container; ports must be unique",
                port,
            )
            for index, port in repeats(port.port for port in self.ports)
        ]
        raise_violations(Container, violations)
        return self
