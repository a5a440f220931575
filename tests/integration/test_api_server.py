"""The API server enforces the models' rules: the same table of cases, the same verdicts.

Objects are checked with server-side dry runs (`kubectl apply --dry-run=server`): the whole
admission chain, OpenAPI schema and CEL rules included, without storing anything.
"""

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from lightship.api import (
    Container,
    ContainerServiceSpec,
    ContainerServiceStatus,
    EnvironmentVariable,
    HealthCheck,
    Port,
    PublicEndpoint,
    error_messages,
)
from tests.cases import (
    INVALID_NAMES,
    INVALID_SPECS,
    INVALID_SUCCESS_CODES,
    VALID_NAMES,
    VALID_SPECS,
    VALID_SUCCESS_CODES,
    Case,
    base_spec,
    changed,
)
from tests.integration.dry_run import Kubectl, dry_run, fields_named

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd")]
_CHECK = "publicEndpoint.healthCheck"

SAMPLES = sorted((Path(__file__).parents[2] / "manifests" / "samples").glob("*.yaml"))

# Cases caught by CEL rules, whose messages the models repeat word for word.
CEL_CASES = {
    "port-open-on-two-containers",
    "endpoint-container-missing",
    "endpoint-on-tcp-port",
    "endpoint-on-closed-port",
    "endpoint-on-port-of-other-container",
    "image-empty",
    "image-uppercase",
    "image-empty-tag",
    "image-short-digest",
    "image-space",
    "container-name-of-the-health-check",
    "port-of-the-health-check",
    *(case.id for case in INVALID_SPECS if case.id.startswith("success-codes-")),
} - {"success-codes-too-long"}


@pytest.fixture(scope="module")
def dry_run_namespace(kubectl: Kubectl) -> Iterator[str]:
    """One namespace for all the dry runs of this module. A dry run stores nothing, so the cases
    need no fresh namespace each, which would cost half a second per case."""
    name = f"t-api-server-{secrets.token_hex(3)}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def _params(cases: list[Case]) -> list[Any]:
    return [pytest.param(case, id=case.id) for case in cases]


@pytest.mark.parametrize("case", _params(INVALID_SPECS))
def test_invalid_spec_is_rejected_naming_the_field(
    kubectl: Kubectl, dry_run_namespace: str, case: Case
) -> None:
    result = dry_run(kubectl, dry_run_namespace, case.spec)
    assert result.returncode != 0, f"accepted: {result.stdout}"
    assert case.field_on_server in fields_named(result.stderr), result.stderr
    if case.id in CEL_CASES:
        with pytest.raises(ValidationError) as raised:
            ContainerServiceSpec.model_validate(case.spec)
        for message in error_messages(raised.value):
            assert message.split(": ", 1)[1] in result.stderr


@pytest.mark.parametrize("case", _params(VALID_SPECS))
def test_valid_spec_is_accepted_with_the_models_defaults(
    kubectl: Kubectl, dry_run_namespace: str, case: Case
) -> None:
    result = dry_run(kubectl, dry_run_namespace, case.spec)
    assert result.returncode == 0, result.stderr
    defaulted = ContainerServiceSpec.model_validate(case.spec)
    assert json.loads(result.stdout)["spec"] == defaulted.model_dump(
        by_alias=True, exclude_none=True, mode="json"
    )


@pytest.mark.parametrize(
    ("codes", "accepted"),
    [(codes, True) for codes in VALID_SUCCESS_CODES]
    + [(codes, False) for codes in INVALID_SUCCESS_CODES],
)
def test_success_codes_as_the_prober_reads_them(
    kubectl: Kubectl, dry_run_namespace: str, codes: str, accepted: bool
) -> None:
    """The prober's table of the grammar (hack/prober/testdata/success-codes.json)."""
    result = dry_run(kubectl, dry_run_namespace, changed(f"{_CHECK}.successCodes", codes))
    assert (result.returncode == 0) == accepted, result.stderr or result.stdout


@pytest.mark.parametrize("name", [pytest.param(name, id=id) for id, name in INVALID_NAMES])
def test_invalid_name_is_rejected(kubectl: Kubectl, dry_run_namespace: str, name: str) -> None:
    result = dry_run(kubectl, dry_run_namespace, base_spec(), name=name)
    assert result.returncode != 0, f"accepted: {result.stdout}"
    assert fields_named(result.stderr) == {"metadata.name"}, result.stderr


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_name_is_accepted(kubectl: Kubectl, dry_run_namespace: str, name: str) -> None:
    result = dry_run(kubectl, dry_run_namespace, base_spec(), name=name)
    assert result.returncode == 0, result.stderr


def test_unknown_fields_are_rejected_strictly_and_pruned_otherwise(
    kubectl: Kubectl, dry_run_namespace: str
) -> None:
    spec = changed("containers[1].restartPolicy", "Always")
    strict = dry_run(kubectl, dry_run_namespace, spec)  # kubectl's default: --validate=strict
    assert strict.returncode != 0
    assert fields_named(strict.stderr) == {"spec.containers[1].restartPolicy"}, strict.stderr
    assert "unknown field" in strict.stderr
    lenient = dry_run(kubectl, dry_run_namespace, spec, "--validate=ignore")
    assert lenient.returncode == 0, lenient.stderr
    assert "restartPolicy" not in json.loads(lenient.stdout)["spec"]["containers"][1]


def _normalized(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("csd.spec", ContainerServiceSpec),
        ("csd.spec.containers", Container),
        ("csd.spec.containers.environment", EnvironmentVariable),
        ("csd.spec.containers.ports", Port),
        ("csd.spec.publicEndpoint", PublicEndpoint),
        ("csd.spec.publicEndpoint.healthCheck", HealthCheck),
        ("csd.status", ContainerServiceStatus),
    ],
)
def test_explain_explains_every_field(kubectl: Kubectl, path: str, model: type[BaseModel]) -> None:
    # The server publishes the schema of a new CRD a moment after it is established.
    deadline = time.monotonic() + 30
    while (result := kubectl("explain", path, check=False)).returncode:
        assert time.monotonic() < deadline, result.stderr
        time.sleep(1)
    explained = _normalized(result.stdout)
    for name, field in model.model_fields.items():
        assert f"{field.alias or name} <" in explained, f"{path}.{field.alias} is not explained"
        assert _normalized(field.description or "") in explained


def test_samples_apply_and_show_the_printer_columns(kubectl: Kubectl, namespace: str) -> None:
    for sample in SAMPLES:
        kubectl("apply", "-n", namespace, "-f", str(sample))
    table = kubectl("get", "csd", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "STATE", "ACTIVE", "NEXT", "URL", "AGE"]
    assert sorted(line.split()[0] for line in table[1:]) == sorted(s.stem for s in SAMPLES)
    wide = kubectl("get", "csd", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == [
        "NAME",
        "STATE",
        "ACTIVE",
        "NEXT",
        "URL",
        "SCALE",
        "POWER",
        "READY",
        "AGE",
    ]
