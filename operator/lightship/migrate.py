"""`lightship import`: a ContainerServiceDeployment from a Lightsail container service deployment.

Users moving from Amazon Lightsail hold the files they pass to `aws lightsail
create-container-service-deployment --containers file://containers.json --public-endpoint
file://public-endpoint.json`. Lightsail keys containers, environment variables and ports by name
in JSON objects where the spec has lists; the settings are otherwise the same. So the import only
reshapes the input and lets the API models judge the values, then names each problem the way
the input file spells it (`containers.json: web.ports."99999": ...`), not as a spec path.
"""

import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lightship import GROUP, KIND, VERSION
from lightship.api import MAX_PORT, MIN_PORT, ContainerServiceSpec, Loc, validate_service_name

# Lightsail's documented fields. Anything else is an error: dropping it would deploy something
# other than what the user had.
CONTAINER_FIELDS = ("image", "command", "environment", "ports")
ENDPOINT_FIELDS = ("containerName", "containerPort", "healthCheck")
HEALTH_CHECK_FIELDS = (
    "healthyThreshold",
    "unhealthyThreshold",
    "timeoutSeconds",
    "intervalSeconds",
    "path",
    "successCodes",
)


# What `lightship import --service` takes of `aws lightsail get-container-services`: the
# service's capacity and settings. The rest of that output (arn, state, url, ...) is what
# Lightsail observed, not settings, and is left out.
SERVICE_FIELDS = ("power", "scale", "isDisabled", "publicDomainNames", "privateRegistryAccess")


def registry_secret(name: str) -> str:
    """The Secret that replaces Lightsail's private registry access (an ECR puller role)."""
    return f"{name}-registry"


def the_service(name: str, given: object) -> object:
    """The entry of service `name` in `get-container-services` output, or `given` itself when it
    is one entry already."""
    if isinstance(given, dict) and isinstance(given.get("containerServices"), list):
        for entry in given["containerServices"]:
            if isinstance(entry, dict) and entry.get("containerServiceName") == name:
                return entry
        raise MigrationError([f"no container service named {name} in containerServices"])
    return given


class MigrationError(ValueError):
    """The input cannot be imported. The message lists every problem, one a line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def import_service(
    name: str,
    containers: object,
    public_endpoint: object | None,
    namespace: str | None = None,
    scale: int | None = None,
    *,
    service: object | None = None,
    containers_file: str = "containers.json",
    public_endpoint_file: str = "public-endpoint.json",
    service_file: str = "service.json",
) -> dict[str, Any]:
    """The ContainerServiceDeployment manifest of service `name`, from Lightsail's parsed JSON:
    the deployment's containers and public endpoint, and the container service's settings
    (`service`: one entry of `get-container-services`). `scale` overrides the service's.

    The *_file arguments are how errors name the inputs.
    Raises MigrationError listing every problem found."""
    problems: list[str] = []
    try:
        validate_service_name(name)
    except ValueError as error:
        problems.append(str(error))
    reshape = _Reshape(containers_file, public_endpoint_file, service_file)
    spec = reshape.spec(containers, public_endpoint)
    if service is not None:
        spec |= reshape.settings(name, service)
    if scale is not None or "scale" not in spec:
        spec["scale"] = 1 if scale is None else scale
        reshape.origins[("scale",)] = ("--scale", "")
    try:
        wire = ContainerServiceSpec.model_validate(spec).model_dump(
            by_alias=True, exclude_none=True, mode="json"
        )
    except ValidationError as error:
        reshape.model_problems(error)
    problems += reshape.problems
    if problems:
        raise MigrationError(problems)
    metadata = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": metadata, "spec": wire}


def read_json(path: Path) -> Any:
    """The parsed content of an input file; MigrationError if it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise MigrationError([f"{path}: cannot read: {reason}"]) from None
    try:
        return json.loads(text, object_pairs_hook=_without_duplicates)
    except json.JSONDecodeError as error:
        raise MigrationError(
            [f"{path}: invalid JSON: {error.msg} (line {error.lineno}, column {error.colno})"]
        ) from None
    except ValueError as error:
        raise MigrationError([f"{path}: {error}"]) from None


def _without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of repeated keys: a container given twice would silently vanish.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {json.dumps(key)}")
        result[key] = value
    return result


def _key(key: object) -> str:
    """A key of the input as a path segment, quoted unless it reads as a plain name."""
    text = str(key)
    return text if re.fullmatch(r"[A-Za-z_][-A-Za-z0-9_]*", text) else json.dumps(text)


def _join(path: str, rest: Loc) -> str:
    for part in rest:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else part
    return path


class _Reshape:
    """Turns Lightsail's shape into the spec's, remembering where each spec field came from."""

    def __init__(self, containers_file: str, public_endpoint_file: str, service_file: str) -> None:
        self.containers_file = containers_file
        self.public_endpoint_file = public_endpoint_file
        self.service_file = service_file
        self.problems: list[str] = []
        # Spec location -> (input file, path in it). A model error is named by the longest
        # prefix of its location found here, plus the rest of its location.
        self.origins: dict[Loc, tuple[str, str]] = {
            ("containers",): (containers_file, ""),
            ("publicEndpoint",): (public_endpoint_file, ""),
        }
        # Spec locations already reported here, whose model errors would only repeat them.
        self.reported: list[Loc] = []

    def problem(self, file: str, path: str, message: str) -> None:
        self.problems.append(f"{file}: {path}: {message}" if path else f"{file}: {message}")

    def model_problems(self, error: ValidationError) -> None:
        for detail in error.errors():
            loc = tuple(detail["loc"])
            if any(loc[: len(done)] == done for done in self.reported):
                continue
            end = max((n for n in range(len(loc) + 1) if loc[:n] in self.origins), default=0)
            file, path = self.origins.get(loc[:end], ("spec", ""))
            self.problem(file, _join(path, loc[end:]), detail["msg"])

    def known(
        self, given: dict[Any, Any], fields: tuple[str, ...], file: str, path: str
    ) -> dict[str, Any]:
        """The fields of `given` that Lightsail has, reporting the others."""
        for field in [field for field in given if field not in fields]:
            self.problem(
                file, _join(path, (_key(field),)), f"unknown field; expected {', '.join(fields)}"
            )
        return {field: given[field] for field in fields if field in given}

    def settings(self, name: str, given: object) -> dict[str, Any]:
        """The spec fields of the container service's capacity and settings."""
        file = self.service_file
        if not isinstance(given, dict):
            self.problem(file, "", f"expected a JSON object with {', '.join(SERVICE_FIELDS)}")
            return {}
        found = {field: given[field] for field in SERVICE_FIELDS if field in given}
        spec: dict[str, Any] = {}
        for field, key in (("power", "power"), ("scale", "scale"), ("isDisabled", "disabled")):
            if field in found:
                spec[key] = found[field]
                self.origins[(key,)] = (file, field)
        domains = found.get("publicDomainNames")
        if isinstance(domains, dict):
            spec["publicDomainNames"] = []
            for index, (certificate, names) in enumerate(domains.items()):
                where = f"publicDomainNames.{_key(certificate)}"
                for part in ((), ("certificate",), ("domains",)):
                    self.origins[("publicDomainNames", index, *part)] = (file, where)
                spec["publicDomainNames"].append({"certificate": certificate, "domains": names})
        elif domains is not None:
            self.problem(
                file, "publicDomainNames", "expected a JSON object of certificate name to domains"
            )
        role = (found.get("privateRegistryAccess") or {}).get("ecrImagePullerRole") or {}
        if isinstance(role, dict) and role.get("isActive"):
            spec["imagePullSecrets"] = [registry_secret(name)]
            self.origins[("imagePullSecrets",)] = (file, "privateRegistryAccess")
        return spec

    def spec(self, containers: object, public_endpoint: object | None) -> dict[str, Any]:
        spec: dict[str, Any] = {"containers": []}
        if isinstance(containers, dict):
            spec["containers"] = [
                self.container(index, name, given)
                for index, (name, given) in enumerate(containers.items())
            ]
        else:
            self.problem(
                self.containers_file, "", "expected a JSON object of container name to container"
            )
            self.reported.append(("containers",))
        if isinstance(public_endpoint, dict):
            endpoint = self.known(public_endpoint, ENDPOINT_FIELDS, self.public_endpoint_file, "")
            if isinstance(endpoint.get("healthCheck"), dict):
                endpoint["healthCheck"] = self.known(
                    endpoint["healthCheck"],
                    HEALTH_CHECK_FIELDS,
                    self.public_endpoint_file,
                    "healthCheck",
                )
            spec["publicEndpoint"] = endpoint
        elif public_endpoint is not None:
            self.problem(
                self.public_endpoint_file,
                "",
                f"expected a JSON object with {', '.join(ENDPOINT_FIELDS)}",
            )
        return spec

    def container(self, index: int, name: object, given: object) -> dict[str, Any]:
        file, path, loc = self.containers_file, _key(name), ("containers", index)
        self.origins[loc] = self.origins[(*loc, "name")] = (file, path)
        if not isinstance(given, dict):
            self.problem(file, path, f"expected a JSON object with {', '.join(CONTAINER_FIELDS)}")
            self.reported.append(loc)
            return {"name": name}
        container = {"name": name} | self.known(given, CONTAINER_FIELDS, file, path)
        image = container.get("image")
        if isinstance(image, str) and image.startswith(":"):
            # ":service.label.N" is an image pushed to the Lightsail service itself.
            self.problem(
                file,
                f"{path}.image",
                f'"{image}" is an image pushed to the Lightsail container service, which a '
                "cluster cannot pull; push the image to a registry the cluster can pull from "
                "and use that reference instead",
            )
            self.reported.append((*loc, "image"))
            del container["image"]
        if container.get("environment") is not None:
            container["environment"] = self.environment(loc, path, container["environment"])
        if container.get("ports") is not None:
            container["ports"] = self.ports(loc, path, container["ports"])
        return container

    def environment(self, loc: Loc, path: str, given: object) -> list[dict[str, Any]]:
        file = self.containers_file
        if not isinstance(given, dict):
            self.problem(file, f"{path}.environment", "expected a JSON object of name to value")
            return []
        for index, name in enumerate(given):
            # The variable's name and value are both named by its key.
            for field in ((), ("name",), ("value",)):
                self.origins[(*loc, "environment", index, *field)] = (
                    file,
                    f"{path}.environment.{_key(name)}",
                )
        return [{"name": name, "value": value} for name, value in given.items()]

    def ports(self, loc: Loc, path: str, given: object) -> list[dict[str, Any]]:
        file = self.containers_file
        if not isinstance(given, dict):
            self.problem(file, f"{path}.ports", 'expected a JSON object like {"80": "HTTP"}')
            return []
        ports: list[dict[str, Any]] = []
        for key, protocol in given.items():
            where = f"{path}.ports.{_key(key)}"
            if not re.fullmatch(r"[0-9]{1,5}", str(key)) or not MIN_PORT <= int(key) <= MAX_PORT:
                self.problem(file, where, f"port must be a number {MIN_PORT}..{MAX_PORT}")
                continue
            for field in ((), ("port",), ("protocol",)):
                self.origins[(*loc, "ports", len(ports), *field)] = (file, where)
            ports.append({"port": int(key), "protocol": protocol})
        return ports
