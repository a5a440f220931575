"""The models enforce every rule of the API and name the offending field."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from lightship import GROUP, KIND, VERSION
from lightship.api import (
    ContainerServiceSpec,
    ContainerServiceStatus,
    HealthCheck,
    error_messages,
    validate_service_name,
)
from tests.cases import INVALID_NAMES, INVALID_SPECS, VALID_NAMES, VALID_SPECS, Case

SAMPLES = sorted((Path(__file__).parents[2] / "manifests" / "samples").glob("*.yaml"))


def _params(cases: list[Case]) -> list[Any]:
    return [pytest.param(case, id=case.id) for case in cases]


@pytest.mark.parametrize("case", _params(INVALID_SPECS))
def test_invalid_spec_is_rejected_naming_the_field(case: Case) -> None:
    with pytest.raises(ValidationError) as raised:
        ContainerServiceSpec.model_validate(case.spec)
    named = [message.split(": ", 1)[0] for message in error_messages(raised.value)]
    assert case.field in named


@pytest.mark.parametrize("case", _params(VALID_SPECS))
def test_valid_spec_is_accepted(case: Case) -> None:
    ContainerServiceSpec.model_validate(case.spec)


@pytest.mark.parametrize("case", _params(VALID_SPECS))
def test_wire_form_round_trips(case: Case) -> None:
    spec = ContainerServiceSpec.model_validate(case.spec)
    wire = spec.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert ContainerServiceSpec.model_validate(wire) == spec
    # Only defaults were added: every field given is there, as given (nulls mean absent).
    assert _contains(wire, _without_nulls(case.spec))


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _contains(wire: Any, given: Any) -> bool:
    """Whether `wire` holds everything of `given` (a spec without nulls), and maybe defaults."""
    if isinstance(given, dict):
        return all(_contains(wire.get(key), value) for key, value in given.items())
    if isinstance(given, list):
        return len(wire) == len(given) and all(map(_contains, wire, given))
    return bool(wire == given)


def test_defaults() -> None:
    spec = ContainerServiceSpec.model_validate(
        {
            "containers": [
                {"name": "web", "image": "nginx", "ports": [{"port": 80, "protocol": "HTTP"}]}
            ],
            "publicEndpoint": {"containerName": "web", "containerPort": 80},
        }
    )
    assert spec.scale == 1
    assert spec.containers[0].command is None
    assert spec.containers[0].environment == []
    assert spec.public_endpoint is not None
    assert spec.public_endpoint.health_check == HealthCheck(
        path="/",
        interval_seconds=5,
        timeout_seconds=2,
        success_codes="200-499",
        healthy_threshold=2,
        unhealthy_threshold=2,
    )


def test_error_names_the_field_and_what_is_allowed() -> None:
    spec = {
        "containers": [
            {"name": "web", "image": "nginx", "ports": [{"port": 80, "protocol": "HTTP"}]},
            {"name": "api", "image": "nginx", "ports": [{"port": 80, "protocol": "TCP"}]},
        ],
        "publicEndpoint": {"containerName": "web", "containerPort": 8080},
    }
    with pytest.raises(ValidationError) as raised:
        ContainerServiceSpec.model_validate(spec)
    assert error_messages(raised.value) == [
        "spec.containers[1].ports[0].port: port 80 is already open on container web; ports must "
        "be unique across all containers, which share one network",
        "spec.publicEndpoint.containerPort: port 8080 is not an HTTP or HTTPS port open on "
        "container web; its HTTP and HTTPS ports: [80]",
    ]


@pytest.mark.parametrize("name", [pytest.param(name, id=id) for id, name in INVALID_NAMES])
def test_invalid_service_name_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match=r"^metadata\.name: "):
        validate_service_name(name)


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_service_name_is_accepted(name: str) -> None:
    assert validate_service_name(name) == name


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample.stem for sample in SAMPLES])
def test_sample_passes_the_models(sample: Path) -> None:
    manifest = yaml.safe_load(sample.read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == (f"{GROUP}/{VERSION}", KIND)
    validate_service_name(manifest["metadata"]["name"])
    ContainerServiceSpec.model_validate(manifest["spec"])


def test_samples_cover_public_private_and_sidecar() -> None:
    assert {sample.stem for sample in SAMPLES} >= {"nginx-public", "nginx-redis", "private-worker"}


def test_status_round_trips() -> None:
    wire = {
        "observedGeneration": 7,
        "state": "Running",
        "url": "https://shop.abc.local.cs.localhost/",
        "privateDomain": "shop.default.svc.cluster.local",
        "currentDeployment": {
            "version": 6,
            "state": "Active",
            "createdAt": "2025-01-01T00:00:00Z",
            "activatedAt": "2025-01-01T00:01:00Z",
        },
        "versions": [
            {
                "version": 6,
                "state": "Active",
                "createdAt": "2025-01-01T00:00:00Z",
                "activatedAt": "2025-01-01T00:01:00Z",
            },
            {
                "version": 5,
                "state": "Failed",
                "createdAt": "2024-12-31T00:00:00Z",
                "reason": "ImagePullBackOff",
                "message": "container web: image not found",
            },
        ],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Running",
                "message": "version 6 is active",
                "observedGeneration": 7,
                "lastTransitionTime": "2025-01-01T00:01:00Z",
            }
        ],
    }
    status = ContainerServiceStatus.model_validate(wire)
    assert status.model_dump(by_alias=True, exclude_none=True, mode="json") == wire


def test_status_of_a_new_object() -> None:
    assert ContainerServiceStatus.model_validate({}).state == "Ready"
