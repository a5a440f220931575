"""The rules of a spec that span fields, each written twice: as a CEL rule for the API server and
as a function for the models, both naming the offending field with the same path."""

import json

from pydantic_core import InitErrorDetails

from lightship.api.bounds import MAX_DOMAINS
from lightship.api.containers import Container, Protocol
from lightship.api.endpoint import DomainNames, PublicEndpoint
from lightship.api.rules import cel, in_field_order, repeats, violation

# The CEL twins of ContainerServiceSpec's cross-field validators. `self` is the spec, or for
# the last rule its list of containers; `ports` is always present (it defaults to []).
# Messages use format() rather than join(), whose cost the API server cannot bound; format()
# writes a list as JSON does, e.g. ["web", "cache"].
ENDPOINT_CONTAINER_EXISTS = cel(
    "!has(self.publicEndpoint)"
    " || self.containers.exists(c, c.name == self.publicEndpoint.containerName)",
    message_expression="'\"%s\" is not a container of this spec; its containers: %s'.format("
    "[self.publicEndpoint.containerName, self.containers.map(c, c.name)])",
    field_path=".publicEndpoint.containerName",
)
ENDPOINT_PORT_OPEN = cel(
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
DOMAINS_NEED_ENDPOINT = cel(
    "size(self.publicDomainNames) == 0 || has(self.publicEndpoint)",
    message=_DOMAINS_NEED_ENDPOINT_MESSAGE,
    field_path=".publicDomainNames",
)
_DOMAINS_AT_MOST_MESSAGE = f"at most {MAX_DOMAINS} custom domains in all"
DOMAINS_AT_MOST = cel(
    f"self.map(e, size(e.domains)).sum() <= {MAX_DOMAINS}", message=_DOMAINS_AT_MOST_MESSAGE
)
_DOMAINS_UNIQUE_MESSAGE = "each custom domain may be listed once, with one certificate"
DOMAINS_UNIQUE = cel(
    "self.all(i, e, e.domains.all(d, !self.exists(j, o, j < i && d in o.domains)))",
    message=_DOMAINS_UNIQUE_MESSAGE,
)
PORTS_UNIQUE_ACROSS_CONTAINERS = cel(
    "self.all(i, c, c.ports.all(p,"
    " !self.exists(j, o, j < i && o.ports.exists(q, q.port == p.port))))",
    # Names the first repeated port the way the model does: spec.containers[i].ports[j].port.
    message_expression="self.transformList(i, c, c.ports.transformList(j, p,"
    " self.exists(k, o, k < i && o.ports.exists(q, q.port == p.port)),"
    " 'spec.containers[%d].ports[%d].port: port %d is already open on container %s'.format("
    "[i, j, p.port, self.filter(o, o.ports.exists(q, q.port == p.port))[0].name]))).flatten()[0]"
    " + '; ports must be unique across all containers, which share one network'",
)


def container_violations(containers: list[Container]) -> list[InitErrorDetails]:
    """Container names repeated, and ports open on more than one container."""
    violations = [
        violation(
            ("containers", index, "name"),
            f'duplicate container name "{name}"; names must be unique',
            name,
        )
        for index, name in repeats(container.name for container in containers)
    ]
    owners: dict[int, int] = {}  # port -> index of the first container that opens it
    for index, container in enumerate(containers):
        for port_index, port in enumerate(container.ports):
            # A repeat within one container is that container's error (a list-map key).
            owner = owners.setdefault(port.port, index)
            if owner != index:
                violations.append(
                    violation(
                        ("containers", index, "ports", port_index, "port"),
                        f"port {port.port} is already open on container "
                        f"{containers[owner].name}; ports must be unique across all "
                        "containers, which share one network",
                        port.port,
                    )
                )
    return in_field_order(violations)


def endpoint_violations(
    containers: list[Container], endpoint: PublicEndpoint
) -> list[InitErrorDetails]:
    """The public endpoint's container missing, or its port not an HTTP(S) port open on it."""
    container = next((c for c in containers if c.name == endpoint.container_name), None)
    if container is None:
        names = json.dumps([c.name for c in containers])
        return [
            violation(
                ("publicEndpoint", "containerName"),
                f'"{endpoint.container_name}" is not a container of this spec; '
                f"its containers: {names}",
                endpoint.container_name,
            )
        ]
    web_ports = [p.port for p in container.ports if p.protocol in (Protocol.HTTP, Protocol.HTTPS)]
    if endpoint.container_port not in web_ports:
        return [
            violation(
                ("publicEndpoint", "containerPort"),
                f"port {endpoint.container_port} is not an HTTP or HTTPS port open on "
                f"container {container.name}; its HTTP and HTTPS ports: {web_ports}",
                endpoint.container_port,
            )
        ]
    return []


def domain_violations(
    domain_names: list[DomainNames], endpoint: PublicEndpoint | None
) -> list[InitErrorDetails]:
    """Custom domains without a public endpoint, too many, or listed twice."""
    if domain_names and endpoint is None:
        return [violation(("publicDomainNames",), _DOMAINS_NEED_ENDPOINT_MESSAGE, [])]
    violations = []
    if sum(len(entry.domains) for entry in domain_names) > MAX_DOMAINS:
        violations.append(violation(("publicDomainNames",), _DOMAINS_AT_MOST_MESSAGE, []))
    violations += [  # the list-map key in the CRD
        violation(
            ("publicDomainNames", index, "certificate"),
            f'duplicate certificate "{certificate}"; list its domains once',
            certificate,
        )
        for index, certificate in repeats(entry.certificate for entry in domain_names)
    ]
    places = [
        ("publicDomainNames", index, "domains", position)
        for index, entry in enumerate(domain_names)
        for position in range(len(entry.domains))
    ]
    domains = [domain for entry in domain_names for domain in entry.domains]
    violations += [
        violation(places[at], f'"{domain}" is listed twice; {_DOMAINS_UNIQUE_MESSAGE}', domain)
        for at, domain in repeats(domains)
    ]
    return in_field_order(violations)
