"""The ContainerServiceDeployment API: the single source of truth for its wire form and rules.

The CRD under crds/ is generated from these models (lightship.crd). Bounds, patterns and
defaults are written once, in `Field(...)`, and become the CRD's OpenAPI constraints. Every other
rule is written twice, side by side: as a pydantic validator, for the operator and the command
line, and as the CEL rule (`x-kubernetes-validations`) that the API server enforces. Both name
the offending field with the same path, for example `spec.containers[1].ports[0].port`, so a bad
object reads the same wherever it is caught.

The models read the wire form as the API server does: integers are strict (no "80" for 80),
and a null field counts as absent. Unknown fields are errors (`extra="forbid"`); the API server
prunes them from its structural schema, and rejects them when the client asks for strict field
validation, which `kubectl` does by default.
"""

import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict
from pydantic_core import InitErrorDetails, PydanticCustomError

# Bounds of the API. The models, the generated CRD and the property tests all read these.
MIN_SCALE, MAX_SCALE = 1, 20
MIN_CONTAINERS, MAX_CONTAINERS = 1, 10
MAX_CONTAINER_NAME_LENGTH = 53
MAX_IMAGE_LENGTH = 512
MAX_COMMAND_ARGS = 64
MAX_ARG_LENGTH = 4096
MAX_ENVIRONMENT = 100
MAX_ENV_NAME_LENGTH = 128
MAX_ENV_VALUE_LENGTH = 4096
MAX_PORTS = 20  # per container; the CEL rule that keeps ports unique is quadratic in them
MIN_PORT, MAX_PORT = 1, 65535
MAX_PATH_LENGTH = 1024
MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS = 5, 300
MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS = 2, 60
MIN_THRESHOLD, MAX_THRESHOLD = 2, 10
MIN_SUCCESS_CODE, MAX_SUCCESS_CODE = 200, 499
MAX_SUCCESS_CODES_LENGTH = 128
MAX_VERSIONS = 50
# The last lines of a failing container kept in its version's status entry, and how many of the
# newest versions keep theirs: bounded, so the status stays far below etcd's object size limit.
MAX_LOG_LINES = 20
MAX_LOG_BYTES = 2048
MAX_VERSIONS_WITH_LOGS = 5
MAX_SERVICE_NAME_LENGTH = 63
# The health-check prober that every pod with a public endpoint carries (a native sidecar,
# hack/prober) takes this container name and serves its verdict on this port: a user's container
# may use neither. The port is outside Linux's ephemeral range (32768-60999), so no outgoing
# connection of the pod holds it.
HEALTH_CHECK_CONTAINER = "lightship-health-check"
HEALTH_CHECK_PORT = 63990
MAX_DOMAINS = 4  # custom domains of a service, in all
MAX_DOMAIN_LENGTH = 253
MAX_SECRET_NAME_LENGTH = 253
MAX_SECRET_KEY_LENGTH = 253
MAX_IMAGE_PULL_SECRETS = 10
MAX_REDEPLOYED_AT_LENGTH = 64
# The spec fields that make a deployment version (DESIGN §2), in wire form. Every other field
# is capacity or a setting of the service, applied to the running version in place.
DEPLOYMENT_FIELDS = ("containers", "publicEndpoint", "redeployedAt")

# A DNS-1035 label: the service name becomes the name of a Service and an Ingress.
SERVICE_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
SERVICE_NAME_RULE = (
    f"at most {MAX_SERVICE_NAME_LENGTH} characters of lowercase letters, digits and hyphens, "
    "starting with a letter and not ending with a hyphen"
)
CONTAINER_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
# An absolute URL path: printable ASCII without spaces. An explicit range rather than \S,
# because Go's RE2 (API server) and Rust's regex (pydantic) disagree on Unicode whitespace.
PATH_PATTERN = r"^/[!-~]*$"

# An image reference as the distribution/reference grammar has it:
# [registry[:port]/]path[:tag][@digest]. Only constructs that Go's RE2 (CEL) and Python read
# alike, and no backslash, which a CEL string literal would take for an escape.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST_COMPONENT = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_REGISTRY = rf"{_HOST_COMPONENT}(?:[.]{_HOST_COMPONENT})*(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_PATTERN = (
    rf"^(?:{_REGISTRY}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$"
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
# A fully qualified domain name: two or more labels of lowercase letters, digits and hyphens,
# no hyphen first or last in a label. No wildcard: each domain is served as it is written.
_DOMAIN_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DOMAIN_PATTERN = rf"^{_DOMAIN_LABEL}([.]{_DOMAIN_LABEL})+$"
_DOMAIN_MESSAGE = (
    f"must be a domain name such as shop.example.com: at most {MAX_DOMAIN_LENGTH} characters, "
    "two or more dot-separated labels of lowercase letters, digits and hyphens (no hyphen "
    "first or last in a label, at most 63 characters each), no wildcard"
)
# A Secret's name: a DNS-1123 subdomain.
SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

_SUCCESS_CODES_PART = r"^[0-9]{3}(-[0-9]{3})?$"
_SUCCESS_CODES_MESSAGE = (
    f"must list HTTP codes from {MIN_SUCCESS_CODE} to {MAX_SUCCESS_CODE}, separated by commas, "
    'each a code or an ascending range, for example "200", "200-299" or "200,300-399"'
)


def _list_map(*keys: str) -> JsonDict:
    """Schema extension: a list whose items are unique by `keys` (the API server checks it)."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


def _cel(
    rule: str, *, message: str = "", message_expression: str = "", field_path: str = ""
) -> JsonDict:
    """Schema extension entry: a CEL rule, with the message (or the CEL expression that makes
    it) naming what is allowed. The API server prints the value of a scalar itself."""
    validation: JsonDict = {"rule": rule}
    if message:
        validation["message"] = message
    if message_expression:
        validation["messageExpression"] = message_expression
    if field_path:
        validation["fieldPath"] = field_path
    return validation


Loc = tuple[str | int, ...]


def _invalid(message: str) -> PydanticCustomError:
    """The error of a rule, its message as is (a ValueError's would start "Value error, ")."""
    return PydanticCustomError("invalid", "{message}", {"message": message})


def _violation(loc: Loc, message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=_invalid(message), loc=loc, input=value)


def _raise_violations(model: type[BaseModel], violations: list[InitErrorDetails]) -> None:
    # A ValidationError raised in a validator keeps its locations, prefixed with the location
    # of the model: cross-field errors then name the exact field, as the API server does.
    if violations:
        raise ValidationError.from_exception_data(model.__name__, violations)


def error_messages(error: ValidationError, root: str = "spec") -> list[str]:
    """One line per error, each naming its field: `spec.containers[1].ports[0].port: ...`."""
    lines = []
    for detail in error.errors():
        path = root + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in detail["loc"]
        )
        lines.append(f"{path}: {detail['msg']}")
    return lines


def validate_service_name(name: str) -> str:
    """Returns `name` if it can name a service (and so its Service and Ingress), else raises."""
    if len(name) > MAX_SERVICE_NAME_LENGTH or not re.fullmatch(SERVICE_NAME_PATTERN, name):
        raise ValueError(
            f'metadata.name: "{name}" is not a valid service name: {SERVICE_NAME_RULE}'
        )
    return name


def _is_success_codes(value: str) -> bool:
    for part in value.split(","):
        if not re.fullmatch(_SUCCESS_CODES_PART, part):
            return False
        codes = [int(code) for code in part.split("-")]
        in_bounds = all(MIN_SUCCESS_CODE <= code <= MAX_SUCCESS_CODE for code in codes)
        if not in_bounds or codes != sorted(codes):
            return False
    return True


class _WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        # As on the API server, which prunes null fields (none is nullable) before defaulting.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class Protocol(StrEnum):
    """The protocol a container port speaks."""

    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TCP = "TCP"
    UDP = "UDP"


class Port(_WireModel):
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
                _cel(f"self != {HEALTH_CHECK_PORT}", message=_RESERVED_PORT_MESSAGE)
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
            raise _invalid(_RESERVED_PORT_MESSAGE)
        return port


class SecretKeyRef(_WireModel):
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


class EnvironmentVariable(_WireModel):
    """An environment variable of a container: a value, or a key of a Secret."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
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
            _raise_violations(
                EnvironmentVariable, [_violation(("value",), _ONE_VALUE_MESSAGE, self.value)]
            )
        return self


Argument = Annotated[str, Field(max_length=MAX_ARG_LENGTH)]


class Container(_WireModel):
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
                _cel(f"self != '{HEALTH_CHECK_CONTAINER}'", message=_RESERVED_NAME_MESSAGE)
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
                _cel(
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
        json_schema_extra=_list_map("name"),
    )
    ports: list[Port] = Field(
        [],
        max_length=MAX_PORTS,
        description=f"The ports the container opens, at most {MAX_PORTS}. A port number may be "
        "open on one container only.",
        json_schema_extra=_list_map("port"),
    )

    @field_validator("name")
    @classmethod
    def _name_not_reserved(cls, name: str) -> str:
        if name == HEALTH_CHECK_CONTAINER:
            raise _invalid(_RESERVED_NAME_MESSAGE)
        return name

    @field_validator("image")
    @classmethod
    def _image_reference(cls, image: str) -> str:
        if not re.fullmatch(IMAGE_PATTERN, image):
            raise _invalid(_IMAGE_MESSAGE)
        return image

    @model_validator(mode="after")
    def _names_and_ports_unique(self) -> "Container":
        # The list-map keys of `environment` and `ports` in the CRD.
        violations: list[InitErrorDetails] = []
        names: set[str] = set()
        for index, variable in enumerate(self.environment):
            if variable.name in names:
                violations.append(
                    _violation(
                        ("environment", index, "name"),
                        f'duplicate environment variable "{variable.name}"; names must be unique '
                        "within a container",
                        variable.name,
                    )
                )
            names.add(variable.name)
        ports: set[int] = set()
        for index, port in enumerate(self.ports):
            if port.port in ports:
                violations.append(
                    _violation(
                        ("ports", index, "port"),
                        f"port {port.port} is already open on this container; ports must be unique",
                        port.port,
                    )
                )
            ports.add(port.port)
        _raise_violations(Container, violations)
        return self


class HealthCheck(_WireModel):
    """How the public endpoint checks that its container is healthy, before and while it serves."""

    path: str = Field(
        "/",
        max_length=MAX_PATH_LENGTH,
        pattern=PATH_PATTERN,
        description="The URL path requested: starts with /, printable ASCII without spaces, at "
        f"most {MAX_PATH_LENGTH} characters. Default: /.",
    )
    interval_seconds: int = Field(
        5,
        strict=True,
        ge=MIN_INTERVAL_SECONDS,
        le=MAX_INTERVAL_SECONDS,
        description=f"Seconds between checks, {MIN_INTERVAL_SECONDS}..{MAX_INTERVAL_SECONDS}. "
        "Default: 5.",
    )
    timeout_seconds: int = Field(
        2,
        strict=True,
        ge=MIN_TIMEOUT_SECONDS,
        le=MAX_TIMEOUT_SECONDS,
        description="Seconds to wait for a response before the check fails, "
        f"{MIN_TIMEOUT_SECONDS}..{MAX_TIMEOUT_SECONDS}. Default: 2.",
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
                _cel(
                    f"self.split(',').all(r, r.matches('{_SUCCESS_CODES_PART}')"
                    f" && r.split('-').all(code, int(code) >= {MIN_SUCCESS_CODE}"
                    f" && int(code) <= {MAX_SUCCESS_CODE})"
                    " && r.split('-').map(code, int(code)).isSorted())",
                    message=_SUCCESS_CODES_MESSAGE,
                )
            ]
        },
    )
    healthy_threshold: int = Field(
        2,
        strict=True,
        ge=MIN_THRESHOLD,
        le=MAX_THRESHOLD,
        description="Consecutive successful checks before a container counts as healthy, "
        f"{MIN_THRESHOLD}..{MAX_THRESHOLD}. Default: 2.",
    )
    unhealthy_threshold: int = Field(
        2,
        strict=True,
        ge=MIN_THRESHOLD,
        le=MAX_THRESHOLD,
        description="Consecutive failed checks before a container counts as unhealthy, "
        f"{MIN_THRESHOLD}..{MAX_THRESHOLD}. Default: 2.",
    )

    @field_validator("success_codes")
    @classmethod
    def _success_codes_grammar(cls, value: str) -> str:
        if not _is_success_codes(value):
            raise _invalid(_SUCCESS_CODES_MESSAGE)
        return value


class PublicEndpoint(_WireModel):
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
        raise _invalid(_DOMAIN_MESSAGE)
    return domain


Domain = Annotated[
    str,
    Field(
        max_length=MAX_DOMAIN_LENGTH,
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(f"self.matches('{DOMAIN_PATTERN}')", message=_DOMAIN_MESSAGE)
            ]
        },
    ),
    AfterValidator(_domain_name),
]


class DomainNames(_WireModel):
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


# The CEL twins of ContainerServiceSpec's cross-field validators. `self` is the spec, or for
# the last rule its list of containers; `ports` is always present (it defaults to []).
# Messages use format() rather than join(), whose cost the API server cannot bound; format()
# writes a list as JSON does, e.g. ["web", "cache"].
_ENDPOINT_CONTAINER_EXISTS = _cel(
    "!has(self.publicEndpoint)"
    " || self.containers.exists(c, c.name == self.publicEndpoint.containerName)",
    message_expression="'\"%s\" is not a container of this spec; its containers: %s'.format("
    "[self.publicEndpoint.containerName, self.containers.map(c, c.name)])",
    field_path=".publicEndpoint.containerName",
)
_ENDPOINT_PORT_OPEN = _cel(
    "!has(self.publicEndpoint)"
    " || !self.containers.exists(c, c.name == self.publicEndpoint.containerName)"
    " || self.containers.exists(c, c.name == self.publicEndpoint.containerName"
    " && c.ports.exists(p, p.port == self.publicEndpoint.containerPort"
    " && p.protocol in ['HTTP', 'HTTPS']))",
    message_expression="'port %d is not an HTTP or HTTPS port open on container %s;"
    " its HTTP and HTTPS ports: %s'.format(["
    "self.publicEndpoint.containerPort,"
    " self.publicEndpoint.containerName,"
    " self.containers.map(c, c.ports.filter(p, c.name == self.publicEndpoint.containerName"
    " && p.protocol in ['HTTP', 'HTTPS']).map(p, p.port)).flatten()])",
    field_path=".publicEndpoint.containerPort",
)
_DOMAINS_NEED_ENDPOINT_MESSAGE = (
    "custom domains are served by the public endpoint: set spec.publicEndpoint, or remove them"
)
_DOMAINS_NEED_ENDPOINT = _cel(
    "size(self.publicDomainNames) == 0 || has(self.publicEndpoint)",
    message=_DOMAINS_NEED_ENDPOINT_MESSAGE,
    field_path=".publicDomainNames",
)
_DOMAINS_AT_MOST_MESSAGE = f"at most {MAX_DOMAINS} custom domains in all"
_DOMAINS_AT_MOST = _cel(
    f"self.map(e, size(e.domains)).sum() <= {MAX_DOMAINS}", message=_DOMAINS_AT_MOST_MESSAGE
)
_DOMAINS_UNIQUE_MESSAGE = "each custom domain may be listed once, with one certificate"
_DOMAINS_UNIQUE = _cel(
    "self.all(i, e, e.domains.all(d, !self.exists(j, o, j < i && d in o.domains)))",
    message=_DOMAINS_UNIQUE_MESSAGE,
)
_PORTS_UNIQUE_ACROSS_CONTAINERS = _cel(
    "self.all(i, c, c.ports.all(p,"
    " !self.exists(j, o, j < i && o.ports.exists(q, q.port == p.port))))",
    # Names the first repeated port the way the model does: spec.containers[i].ports[j].port.
    message_expression="self.transformList(i, c, c.ports.transformList(j, p,"
    " self.exists(k, o, k < i && o.ports.exists(q, q.port == p.port)),"
    " 'spec.containers[%d].ports[%d].port: port %d is already open on container %s'.format("
    "[i, j, p.port, self.filter(o, o.ports.exists(q, q.port == p.port))[0].name]))).flatten()[0]"
    " + '; ports must be unique across all containers, which share one network'",
)


class Power(StrEnum):
    """The capacity of each pod, as the managed service sizes its nodes (DESIGN §1)."""

    nano = "nano"
    micro = "micro"
    small = "small"
    medium = "medium"
    large = "large"
    xlarge = "xlarge"


class ContainerServiceSpec(_WireModel):
    """A container service: its deployment (containers, publicEndpoint, redeployedAt), of which
    every change makes a new deployment version, and its capacity and settings (scale, power,
    disabled, publicDomainNames, imagePullSecrets), applied to the running version in place."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _ENDPOINT_CONTAINER_EXISTS,
                _ENDPOINT_PORT_OPEN,
                _DOMAINS_NEED_ENDPOINT,
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
            **_list_map("name"),
            "x-kubernetes-validations": [_PORTS_UNIQUE_ACROSS_CONTAINERS],
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
            **_list_map("certificate"),
            "x-kubernetes-validations": [_DOMAINS_AT_MOST, _DOMAINS_UNIQUE],
        },
    )

    @model_validator(mode="after")
    def _cross_field_rules(self) -> "ContainerServiceSpec":
        violations: list[InitErrorDetails] = []
        names: set[str] = set()
        owners: dict[int, int] = {}  # port -> index of the first container that opens it
        for index, container in enumerate(self.containers):
            if container.name in names:
                violations.append(
                    _violation(
                        ("containers", index, "name"),
                        f'duplicate container name "{container.name}"; names must be unique',
                        container.name,
                    )
                )
            names.add(container.name)
            for port_index, port in enumerate(container.ports):
                # A repeat within one container is that container's error (a list-map key).
                owner = owners.setdefault(port.port, index)
                if owner != index:
                    violations.append(
                        _violation(
                            ("containers", index, "ports", port_index, "port"),
                            f"port {port.port} is already open on container "
                            f"{self.containers[owner].name}; ports must be unique across all "
                            "containers, which share one network",
                            port.port,
                        )
                    )
        if self.public_endpoint:
            violations += self._endpoint_violations(self.public_endpoint)
        violations += self._domain_violations()
        _raise_violations(ContainerServiceSpec, violations)
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

    def _endpoint_violations(self, endpoint: PublicEndpoint) -> list[InitErrorDetails]:
        container = next((c for c in self.containers if c.name == endpoint.container_name), None)
        if container is None:
            names = json.dumps([c.name for c in self.containers])
            return [
                _violation(
                    ("publicEndpoint", "containerName"),
                    f'"{endpoint.container_name}" is not a container of this spec; '
                    f"its containers: {names}",
                    endpoint.container_name,
                )
            ]
        web_ports = [
            p.port for p in container.ports if p.protocol in (Protocol.HTTP, Protocol.HTTPS)
        ]
        if endpoint.container_port not in web_ports:
            return [
                _violation(
                    ("publicEndpoint", "containerPort"),
                    f"port {endpoint.container_port} is not an HTTP or HTTPS port open on "
                    f"container {container.name}; its HTTP and HTTPS ports: {web_ports}",
                    endpoint.container_port,
                )
            ]
        return []

    def _domain_violations(self) -> list[InitErrorDetails]:
        if self.public_domain_names and self.public_endpoint is None:
            return [_violation(("publicDomainNames",), _DOMAINS_NEED_ENDPOINT_MESSAGE, [])]
        violations = []
        if sum(len(entry.domains) for entry in self.public_domain_names) > MAX_DOMAINS:
            violations.append(_violation(("publicDomainNames",), _DOMAINS_AT_MOST_MESSAGE, []))
        seen: set[str] = set()
        certificates: set[str] = set()
        for index, entry in enumerate(self.public_domain_names):
            if entry.certificate in certificates:  # the list-map key in the CRD
                violations.append(
                    _violation(
                        ("publicDomainNames", index, "certificate"),
                        f'duplicate certificate "{entry.certificate}"; list its domains once',
                        entry.certificate,
                    )
                )
            certificates.add(entry.certificate)
            for position, domain in enumerate(entry.domains):
                if domain in seen:
                    violations.append(
                        _violation(
                            ("publicDomainNames", index, "domains", position),
                            f'"{domain}" is listed twice; {_DOMAINS_UNIQUE_MESSAGE}',
                            domain,
                        )
                    )
                seen.add(domain)
        return violations


def read_deployment(data: Any) -> ContainerServiceSpec:
    """A stored version's deployment, as a spec with the default capacity and settings. Versions
    stored before capacity stopped making versions hold the whole spec (scale included): the
    fields that are not the deployment's are ignored, so they read as the same deployment."""
    if isinstance(data, dict):
        data = {key: value for key, value in data.items() if key in DEPLOYMENT_FIELDS}
    return ContainerServiceSpec.model_validate(data)


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


class ContainerLog(_WireModel):
    """The last lines one container of a failed version wrote."""

    pod: str = Field(max_length=253, description="The pod the lines were read from.")
    container: str = Field(max_length=MAX_CONTAINER_NAME_LENGTH, description="The container.")
    lines: list[Annotated[str, Field(max_length=MAX_LOG_BYTES)]] = Field(
        max_length=MAX_LOG_LINES,
        description=f"Its last lines, oldest first: at most {MAX_LOG_LINES} lines and "
        f"{MAX_LOG_BYTES} bytes.",
    )


class DeploymentVersion(_WireModel):
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


class Condition(_WireModel):
    """An observation of one aspect of the service, as Kubernetes conditions have it."""

    type: str = Field(description="The aspect: Ready or Progressing.")
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


class ContainerServiceStatus(_WireModel):
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
        description="Ready and Progressing, as Kubernetes conditions.",
        json_schema_extra=_list_map("type"),
    )
