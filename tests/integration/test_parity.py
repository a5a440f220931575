"""Property: the models and the API server draw the same line.

Specs generated from the models' own bounds and patterns are accepted by both; the same spec
with one field pushed just out of its range is rejected by both, each naming that field.
"""

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lightship.api import (
    CONTAINER_NAME_PATTERN,
    ENV_NAME_PATTERN,
    IMAGE_PATTERN,
    MAX_CONTAINER_NAME_LENGTH,
    MAX_CONTAINERS,
    MAX_ENV_NAME_LENGTH,
    MAX_IMAGE_LENGTH,
    MAX_INTERVAL_SECONDS,
    MAX_PORT,
    MAX_SCALE,
    MAX_SUCCESS_CODE,
    MAX_THRESHOLD,
    MAX_TIMEOUT_SECONDS,
    MIN_CONTAINERS,
    MIN_INTERVAL_SECONDS,
    MIN_PORT,
    MIN_SCALE,
    MIN_SUCCESS_CODE,
    MIN_THRESHOLD,
    MIN_TIMEOUT_SECONDS,
    ContainerServiceSpec,
    Power,
    Protocol,
    error_messages,
)
from tests.integration.dry_run import Kubectl, dry_run, fields_named

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd")]

Spec = dict[str, Any]


def _bounded(pattern: str, max_length: int) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True).filter(lambda text: len(text) <= max_length)


container_names = _bounded(CONTAINER_NAME_PATTERN, MAX_CONTAINER_NAME_LENGTH)
images = _bounded(IMAGE_PATTERN, MAX_IMAGE_LENGTH)
_secret_names = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)
environments = st.lists(
    st.fixed_dictionaries(
        {"name": _bounded(ENV_NAME_PATTERN, MAX_ENV_NAME_LENGTH)},
        # exactly one of value or secretKeyRef
        optional={
            "value": st.text(max_size=20),
            "secretKeyRef": st.fixed_dictionaries(
                {
                    "name": _secret_names,
                    "key": st.from_regex(r"[-._a-zA-Z0-9]{1,12}", fullmatch=True),
                }
            ),
        },
    ).filter(lambda variable: ("value" in variable) != ("secretKeyRef" in variable)),
    max_size=3,
    unique_by=lambda variable: variable["name"],
)
codes = st.integers(MIN_SUCCESS_CODE, MAX_SUCCESS_CODE)
success_codes = st.lists(
    codes.map(str) | st.tuples(codes, codes).map(lambda r: f"{min(r)}-{max(r)}"),
    min_size=1,
    max_size=5,
).map(",".join)
health_checks = st.fixed_dictionaries(
    {},
    optional={
        "path": st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20).map(
            lambda rest: "/" + rest
        ),
        "intervalSeconds": st.integers(MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS),
        "timeoutSeconds": st.integers(MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS),
        "successCodes": success_codes,
        "healthyThreshold": st.integers(MIN_THRESHOLD, MAX_THRESHOLD),
        "unhealthyThreshold": st.integers(MIN_THRESHOLD, MAX_THRESHOLD),
    },
)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    """A valid spec: any number of containers, ports unique across them, maybe an endpoint."""
    count = draw(st.integers(MIN_CONTAINERS, MAX_CONTAINERS))
    names = draw(st.lists(container_names, min_size=count, max_size=count, unique=True))
    ports = draw(st.lists(st.integers(MIN_PORT, MAX_PORT), max_size=2 * count, unique=True))
    image = draw(images)  # one per spec: generating them is the slow part
    containers = []
    for index, name in enumerate(names):
        container = {
            "name": name,
            "image": image,
            "environment": draw(environments),
            "ports": [
                {"port": port, "protocol": draw(st.sampled_from(Protocol)).value}
                for port in ports[index::count]
            ],
        }
        if draw(st.booleans()):
            container["command"] = draw(st.lists(st.text(max_size=10), min_size=1, max_size=3))
        containers.append(container)
    spec: Spec = {
        "scale": draw(st.integers(MIN_SCALE, MAX_SCALE)),
        "power": draw(st.sampled_from(Power)).value,
        "disabled": draw(st.booleans()),
        "containers": containers,
    }
    web_ports = [
        (c["name"], p["port"])
        for c in containers
        for p in c["ports"]
        if p["protocol"] in (Protocol.HTTP, Protocol.HTTPS)
    ]
    if web_ports and draw(st.booleans()):
        name, port = draw(st.sampled_from(web_ports))
        spec["publicEndpoint"] = {
            "containerName": name,
            "containerPort": port,
            "healthCheck": draw(health_checks),
        }
    return spec


# Integer fields and their ranges, by path in the spec.
RANGES = {
    "scale": (MIN_SCALE, MAX_SCALE),
    "containers[0].ports[0].port": (MIN_PORT, MAX_PORT),
    "publicEndpoint.containerPort": (MIN_PORT, MAX_PORT),
    "publicEndpoint.healthCheck.intervalSeconds": (MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS),
    "publicEndpoint.healthCheck.timeoutSeconds": (MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS),
    "publicEndpoint.healthCheck.healthyThreshold": (MIN_THRESHOLD, MAX_THRESHOLD),
    "publicEndpoint.healthCheck.unhealthyThreshold": (MIN_THRESHOLD, MAX_THRESHOLD),
}


def _parent(spec: Spec, path: str) -> tuple[Any, str] | None:
    """The object holding the field at `path`, and the field's name; None if there is none."""
    *keys, field = re.findall(r"\w+", path)
    node: Any = spec
    for key in keys:
        try:
            node = node[int(key)] if key.isdigit() else node[key]
        except (KeyError, IndexError):
            return None
    return node, field


@settings(
    max_examples=25,
    deadline=None,
    # The namespace is only read by dry runs, so one per test serves every example.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=specs(), data=st.data())
def test_models_and_server_agree(
    kubectl: Kubectl, namespace: str, spec: Spec, data: st.DataObject
) -> None:
    ContainerServiceSpec.model_validate(spec)
    accepted = dry_run(kubectl, namespace, spec)
    assert accepted.returncode == 0, accepted.stderr

    parents = {path: parent for path in RANGES if (parent := _parent(spec, path))}
    path = data.draw(st.sampled_from(sorted(parents)))
    low, high = RANGES[path]
    node, name = parents[path]
    node[name] = data.draw(st.sampled_from([low - 1, high + 1]))
    field = f"spec.{path}"
    with pytest.raises(ValidationError) as raised:
        ContainerServiceSpec.model_validate(spec)
    assert any(message.startswith(f"{field}: ") for message in error_messages(raised.value))
    rejected = dry_run(kubectl, namespace, spec)
    assert rejected.returncode != 0
    assert field in fields_named(rejected.stderr), rejected.stderr
