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

The modules, by part of the API: `bounds` (limits and grammars), `rules` (the wire form and
its errors), `containers`, `endpoint` (the public endpoint, its health check and domains),
`cross_field` (rules that span fields), `spec` and `status`. Import from this package.
"""

from lightship.api.bounds import *  # noqa: F403 (every bound and grammar is the API's)
from lightship.api.containers import (
    Argument,
    Container,
    EnvironmentVariable,
    Port,
    Protocol,
    SecretKeyRef,
)
from lightship.api.endpoint import (
    Domain,
    DomainNames,
    HealthCheck,
    PublicEndpoint,
)
from lightship.api.rules import (
    Loc,
    error_messages,
    validate_service_name,
)
from lightship.api.spec import (
    ContainerServiceSpec,
    Power,
    read_deployment,
)
from lightship.api.status import (
    Condition,
    ContainerLog,
    ContainerServiceStatus,
    DeploymentVersion,
    ServiceState,
    VersionState,
)

__all__ = [
    "Argument",
    "Condition",
    "Container",
    "ContainerLog",
    "ContainerServiceSpec",
    "ContainerServiceStatus",
    "DeploymentVersion",
    "Domain",
    "DomainNames",
    "EnvironmentVariable",
    "HealthCheck",
    "Loc",
    "Port",
    "Power",
    "Protocol",
    "PublicEndpoint",
    "SecretKeyRef",
    "ServiceState",
    "VersionState",
    "error_messages",
    "read_deployment",
    "validate_service_name",
]
