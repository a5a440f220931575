"""Rendered pods never ask for privileges: no privileged or escalating containers, no added
capabilities, no host namespaces, host paths or host ports, whatever the spec says. The pod spec
is built from a closed set of fields, so these tests pin that set and check the values. The
health-check prober that a pod with a public endpoint carries meets the restricted Pod Security
Standard, so it never lowers the level at which a pod is admitted.
(tests/integration/test_least_privilege.py runs them under the baseline Pod Security Standard.)"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightship import render
from lightship.api import HEALTH_CHECK_CONTAINER, HEALTH_CHECK_PORT, ContainerServiceSpec
from lightship.settings import Settings
from tests.cases import VALID_SPECS

UID = "5d0e6c1e-0000-4000-8000-000000000001"
POD_FIELDS = {
    "containers",
    "initContainers",
    "automountServiceAccountToken",
    "enableServiceLinks",
    "restartPolicy",
    "resources",  # the power: requests equal to limits
    "imagePullSecrets",
    "terminationGracePeriodSeconds",  # the drain, then the stop
}
# lifecycle: a preStop sleep only (the drain), run by the kubelet, nothing in the container.
CONTAINER_FIELDS = {
    "name",
    "image",
    "imagePullPolicy",
    "args",
    "env",
    "ports",
    "readinessProbe",
    "lifecycle",
}
PROBER_FIELDS = {
    "name",
    "image",
    "restartPolicy",
    "args",
    "env",
    "ports",
    "resources",
    "securityContext",
}
HOST_FIELDS = {"hostNetwork", "hostPID", "hostIPC", "hostUsers", "hostAliases", "volumes"}
MODES = [Settings(health_check="exact"), Settings(health_check="kubelet")]


def assert_unprivileged(pod: dict[str, Any]) -> None:
    spec = pod["spec"]
    assert set(spec) <= POD_FIELDS, set(spec) - POD_FIELDS
    assert not HOST_FIELDS & set(spec)
    assert "securityContext" not in spec and "serviceAccountName" not in spec
    assert spec["automountServiceAccountToken"] is False  # no API credentials in the pod
    assert spec["enableServiceLinks"] is False
    for container in spec["containers"]:
        assert set(container) <= CONTAINER_FIELDS, set(container) - CONTAINER_FIELDS
        assert "securityContext" not in container  # so never privileged, never added caps
        assert "volumeMounts" not in container and "volumeDevices" not in container
        for port in container.get("ports", []):
            assert set(port) == {"containerPort", "protocol"}  # never a hostPort or hostIP
        if "lifecycle" in container:  # the kubelet sleeps; no command runs in the container
            assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": 10}}}
        probe = container.get("readinessProbe")
        if probe is not None:
            assert set(probe) == {
                "httpGet",
                "timeoutSeconds",
                "periodSeconds",
                "successThreshold",
                "failureThreshold",
            }
            assert "host" not in probe["httpGet"]  # the probe targets the pod itself
    for prober in spec.get("initContainers", []):
        assert_restricted(prober)


def assert_restricted(prober: dict[str, Any]) -> None:
    """The prober as the restricted Pod Security Standard wants a container."""
    assert prober["name"] == HEALTH_CHECK_CONTAINER
    assert set(prober) <= PROBER_FIELDS, set(prober) - PROBER_FIELDS
    assert prober["restartPolicy"] == "Always"  # a native sidecar
    context = prober["securityContext"]
    assert context["runAsNonRoot"] is True
    assert isinstance(context["runAsUser"], int) and context["runAsUser"] > 0
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert context["readOnlyRootFilesystem"] is True
    assert "privileged" not in context and "procMount" not in context
    for port in prober["ports"]:
        assert set(port) == {"containerPort", "protocol"}
    # Its only variable is the pod's IP, from the downward API.
    assert prober["env"] == [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
    ]


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.health_check)
@pytest.mark.parametrize("case", VALID_SPECS, ids=lambda case: case.id)
def test_pods_of_every_valid_spec_are_unprivileged(case: Any, mode: Settings) -> None:
    spec = ContainerServiceSpec.model_validate(case.spec)
    for index in range(min(spec.scale, 3)):
        assert_unprivileged(render.render_pod("shop", UID, spec, 7, index, mode))


def test_a_spec_that_names_privileges_gets_none() -> None:
    """Names, commands and variables are data: they never become pod settings."""
    spec = ContainerServiceSpec.model_validate(
        {
            "containers": [
                {
                    "name": "privileged",
                    "image": "host-network/hostpath:privileged",
                    "command": ["--privileged", "--net=host", "-v", "/:/host"],
                    "environment": [
                        {"name": "hostNetwork", "value": "true"},
                        {"name": "securityContext", "value": '{"privileged": true}'},
                    ],
                    "ports": [{"port": 22, "protocol": "TCP"}, {"port": 443, "protocol": "HTTPS"}],
                },
                {"name": "host-pid", "image": "docker.io/library/busybox"},
            ],
            "publicEndpoint": {"containerName": "privileged", "containerPort": 443},
        }
    )
    pod = render.render_pod("shop", UID, spec, 1, 0, MODES[0])
    assert_unprivileged(pod)
    (web, _) = pod["spec"]["containers"]
    assert web["args"] == ["--privileged", "--net=host", "-v", "/:/host"]
    assert web["env"][1] == {"name": "securityContext", "value": '{"privileged": true}'}


_names = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
_containers = st.lists(
    st.fixed_dictionaries(
        {"name": _names, "image": st.sampled_from(["nginx", "redis:7", "reg.example/x/y:1"])},
        optional={
            "command": st.lists(st.text(max_size=12), min_size=1, max_size=4),
            "environment": st.lists(
                st.fixed_dictionaries(
                    {
                        "name": st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True),
                        "value": st.text(max_size=12),
                    },
                ),
                max_size=4,
                unique_by=lambda e: e["name"],
            ),
        },
    ),
    min_size=1,
    max_size=10,
    unique_by=lambda c: c["name"],
)


@settings(max_examples=100, deadline=None)
@given(
    containers=_containers,
    ports=st.data(),
    scale=st.integers(1, 20),
    public=st.booleans(),
    mode=st.sampled_from(MODES),
)
def test_pods_of_generated_specs_are_unprivileged(
    containers: list[dict[str, Any]],
    ports: st.DataObject,
    scale: int,
    public: bool,
    mode: Settings,
) -> None:
    # Unique ports across containers, with a protocol each.
    numbers = ports.draw(
        st.lists(
            st.integers(1, 65535).filter(lambda n: n != HEALTH_CHECK_PORT), max_size=12, unique=True
        )
    )
    for offset, number in enumerate(numbers):
        protocol = ports.draw(st.sampled_from(["HTTP", "HTTPS", "TCP", "UDP"]))
        containers[offset % len(containers)].setdefault("ports", []).append(
            {"port": number, "protocol": protocol}
        )
    wire: dict[str, Any] = {"scale": scale, "containers": containers}
    http = [
        (c["name"], p["port"])
        for c in containers
        for p in c.get("ports", [])
        if p["protocol"] in ("HTTP", "HTTPS")
    ]
    if public and http:
        wire["publicEndpoint"] = {"containerName": http[0][0], "containerPort": http[0][1]}
    spec = ContainerServiceSpec.model_validate(wire)
    assert_unprivileged(render.render_pod("shop", UID, spec, 1, scale - 1, mode))
