"""The CRD is generated from the models, committed as generated, and structural."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from lightship.api import HealthCheck
from lightship.cli import app
from lightship.crd import FILE, crd_yaml, custom_resource_definition

ROOT = Path(__file__).parents[2]


def _version() -> dict[str, Any]:
    (version,) = custom_resource_definition()["spec"]["versions"]
    return dict(version)


def _schema() -> dict[str, Any]:
    return dict(_version()["schema"]["openAPIV3Schema"])


def _schemas(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node, with its path."""
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _schemas(child, f"{path}.{name}")
    if "items" in schema:
        yield from _schemas(schema["items"], f"{path}[]")


def test_committed_crd_is_the_generated_one() -> None:
    assert (ROOT / FILE).read_text() == crd_yaml(), (
        f"{FILE} is out of date with the models: run `lightship crd > {FILE}`"
    )


def test_crd_command_prints_it() -> None:
    result = CliRunner().invoke(app, ["crd"])
    assert result.exit_code == 0
    assert result.output == crd_yaml()
    assert yaml.safe_load(result.output) == custom_resource_definition()


def test_schema_is_structural() -> None:
    for path, schema in _schemas(_schema()):
        assert not {"$ref", "$defs", "anyOf", "allOf", "oneOf", "title", "uniqueItems"} & set(
            schema
        ), path
        assert "additionalProperties" not in schema, path
        assert "type" in schema, f"{path} has no type"
        assert "nullable" not in schema, path


def test_every_field_is_described() -> None:
    for path, schema in _schemas(_schema()):
        scalar_item = path.endswith("[]") and schema["type"] != "object"
        if path != ".metadata" and not scalar_item:
            assert schema.get("description"), f"{path} has no description"


def test_names_and_scope() -> None:
    spec = custom_resource_definition()["spec"]
    assert spec["group"] == "lightship.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "ContainerServiceDeployment",
        "listKind": "ContainerServiceDeploymentList",
        "plural": "containerservicedeployments",
        "singular": "containerservicedeployment",
        "shortNames": ["csd"],
    }
    version = _version()
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.scale",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }


def test_printer_columns() -> None:
    columns = {c["name"]: c["jsonPath"] for c in _version()["additionalPrinterColumns"]}
    assert (
        columns.items()
        >= {
            "State": ".status.state",
            "Active": ".status.currentDeployment.version",
            "URL": ".status.url",
            "Age": ".metadata.creationTimestamp",
        }.items()
    )


def test_list_map_keys() -> None:
    spec = _schema()["properties"]["spec"]["properties"]
    containers = spec["containers"]
    container = containers["items"]["properties"]
    keys = {
        "containers": containers["x-kubernetes-list-map-keys"],
        "environment": container["environment"]["x-kubernetes-list-map-keys"],
        "ports": container["ports"]["x-kubernetes-list-map-keys"],
    }
    assert keys == {"containers": ["name"], "environment": ["name"], "ports": ["port"]}
    # A list-map key must be required (or defaulted) in its items.
    assert "name" in containers["items"]["required"]
    assert "name" in container["environment"]["items"]["required"]
    assert "port" in container["ports"]["items"]["required"]


def test_defaults_are_the_models() -> None:
    spec = _schema()["properties"]["spec"]["properties"]
    check = spec["publicEndpoint"]["properties"]["healthCheck"]
    assert check["default"] == HealthCheck().model_dump(by_alias=True, mode="json")
    assert spec["scale"]["default"] == 1


def test_cel_rules_name_their_fields() -> None:
    validations = {
        path: [v.get("fieldPath") for v in schema["x-kubernetes-validations"]]
        for path, schema in _schemas(_schema())
        if "x-kubernetes-validations" in schema
    }
    assert validations == {
        "": [".metadata.name"],
        ".spec": [
            ".publicEndpoint.containerName",
            ".publicEndpoint.containerPort",
            ".publicDomainNames",
        ],
        ".spec.containers": [None],
        ".spec.containers[].image": [None],
        ".spec.containers[].name": [None],
        ".spec.containers[].ports[].port": [None],
        ".spec.containers[].environment[]": [".value"],
        ".spec.publicEndpoint.healthCheck.successCodes": [None],
        ".spec.publicDomainNames": [None, None],
        ".spec.publicDomainNames[].domains[]": [None],
    }
