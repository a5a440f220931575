"""Security: the pods Lightship renders are admitted under the baseline Pod Security Standard;
the API gives users no way to ask for privileges, host namespaces or host paths; the
operator's own Deployment is admitted under the restricted standard."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from lightship import GROUP, VERSION, render
from lightship.api import HEALTH_CHECK_CONTAINER, ContainerServiceSpec
from lightship.settings import Settings
from tests.integration.checks import PRIVILEGED, assert_unprivileged
from tests.integration.support import CRD_FILE, PLURAL, ROOT, Services, spec_of

pytestmark = [pytest.mark.integration]

SAMPLES = sorted((ROOT / "manifests" / "samples").glob("*.yaml"))


def label_namespace(services: Services, level: str) -> None:
    services.cluster.kubectl(
        "label",
        "namespace",
        services.namespace,
        f"pod-security.kubernetes.io/enforce={level}",
        f"pod-security.kubernetes.io/warn={level}",
        "--overwrite",
    )


def dry_run(services: Services, manifest: dict[str, Any], check: bool = False) -> Any:
    return services.cluster.kubectl(
        "create",
        "--dry-run=server",
        "-n",
        services.namespace,
        "-f",
        "-",
        stdin=json.dumps(manifest),
        check=check,
    )


def widest_spec() -> dict[str, Any]:
    """Every feature of the API at once: 10 containers, commands, environments, ports of all
    protocols, a public endpoint with a health check."""
    protocols = ["HTTP", "HTTPS", "TCP", "UDP"]
    containers = [
        {
            "name": f"c{i}",
            "image": f"registry.example:5000/team/app-{i}:1.{i}",
            "command": ["serve", "--port", str(8000 + i)],
            "environment": [{"name": f"V{j}", "value": "x" * 100} for j in range(20)],
            "ports": [{"port": 8000 + i, "protocol": protocols[i % 4]}],
        }
        for i in range(10)
    ]
    return {
        "scale": 3,
        "containers": containers,
        "publicEndpoint": {
            "containerName": "c1",
            "containerPort": 8001,
            "healthCheck": {"path": "/healthz", "successCodes": "200-299"},
        },
    }


def test_rendered_pods_are_admitted_under_baseline(services: Services) -> None:
    label_namespace(services, "baseline")
    specs = [widest_spec(), spec_of(1)]
    for sample in SAMPLES:
        for document in yaml.safe_load_all(sample.read_text()):
            if document and document.get("kind") == "ContainerServiceDeployment":
                specs.append(document["spec"])
    assert len(specs) >= 3
    for spec in specs:
        pod = render.render_pod("shop", "uid", ContainerServiceSpec.model_validate(spec), 1, 0)
        pod["metadata"].pop("ownerReferences")  # its owner does not exist
        result = dry_run(services, pod)
        assert result.returncode == 0, result.stderr
        assert "PodSecurity" not in result.stderr, result.stderr
    # And for real, through the operator.
    services.apply("shop", widest_spec())
    services.wait_active("shop", 1)
    assert len(services.pods("shop", 1)) == 3


def test_rendered_pods_are_refused_under_restricted(services: Services) -> None:
    """The control for the test above: the namespace label is enforced. Lightship's pods meet
    baseline, not restricted (which needs runAsNonRoot, which many public images break)."""
    label_namespace(services, "restricted")
    pod = render.render_pod("shop", "uid", ContainerServiceSpec.model_validate(spec_of(1)), 1, 0)
    pod["metadata"].pop("ownerReferences")
    result = dry_run(services, pod)
    assert result.returncode != 0 and "violates PodSecurity" in result.stderr, result.stderr


def test_the_health_check_prober_meets_restricted(services: Services) -> None:
    """The prober sidecar never lowers the level at which a pod is admitted: under restricted,
    the server names the user's containers only, and admits the pod once they comply."""
    label_namespace(services, "restricted")
    spec = ContainerServiceSpec.model_validate(widest_spec())
    pod = render.render_pod("shop", "uid", spec, 1, 0, Settings(health_check="exact"))
    pod["metadata"].pop("ownerReferences")
    assert [c["name"] for c in pod["spec"]["initContainers"]] == [HEALTH_CHECK_CONTAINER]
    refused = dry_run(services, pod)
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr
    assert '"c1"' in refused.stderr and HEALTH_CHECK_CONTAINER not in refused.stderr
    for container in pod["spec"]["containers"]:
        container["securityContext"] = {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }
    admitted = dry_run(services, pod)
    assert admitted.returncode == 0, admitted.stderr
    assert "PodSecurity" not in admitted.stderr, admitted.stderr


def schema_nodes(schema: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(schema, dict):
        found.append(schema)
        for value in schema.values():
            found += schema_nodes(value)
    elif isinstance(schema, list):
        for value in schema:
            found += schema_nodes(value)
    return found


def test_the_api_has_no_way_to_ask_for_privileges(services: Services) -> None:
    """Privileged settings, host namespaces, host paths and host ports are not in the API:
    the schema keeps no unknown field anywhere, strict clients are refused, and lenient ones
    see the fields pruned before they reach anything."""
    crd = yaml.safe_load(CRD_FILE.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for node in schema_nodes(schema["properties"]["spec"]):
        assert not node.get("x-kubernetes-preserve-unknown-fields"), node
        assert "additionalProperties" not in node, node
    names = {key for node in schema_nodes(schema) for key in (node.get("properties") or {})}
    for forbidden in (
        "securityContext",
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "volumes",
        "hostPath",
        "hostPort",
        "privileged",
        "capabilities",
        "volumeMounts",
    ):
        assert forbidden not in names

    hostile = spec_of(1)
    for where, field, value in PRIVILEGED:
        target = {
            "spec": hostile,
            "container": hostile["containers"][0],
            "port": hostile["containers"][0]["ports"][0],
        }[where]
        target[field] = value
        single = json.loads(json.dumps(spec_of(1)))
        {
            "spec": single,
            "container": single["containers"][0],
            "port": single["containers"][0]["ports"][0],
        }[where][field] = value
        manifest = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ContainerServiceDeployment",
            "metadata": {"name": "strict", "namespace": services.namespace},
            "spec": single,
        }
        refused = services.cluster.kubectl(
            "apply", "--server-side", "-f", "-", stdin=json.dumps(manifest), check=False
        )
        assert refused.returncode != 0, f"{where}.{field} was accepted"
        assert field in refused.stderr, refused.stderr

    # A lenient client (field validation Ignore): accepted, with the fields pruned.
    services.custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        services.namespace,
        PLURAL,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ContainerServiceDeployment",
            "metadata": {"name": "lenient"},
            "spec": hostile,
        },
        field_validation="Ignore",
    )
    stored = services.get("lenient")["spec"]
    assert ContainerServiceSpec.model_validate(stored) == ContainerServiceSpec.model_validate(
        spec_of(1)
    ), stored
    services.wait_active("lenient", 1)
    pods = services.core.list_namespaced_pod(
        services.namespace, label_selector="lightship.dev/service=lenient"
    ).items
    assert pods
    for pod in pods:
        assert_unprivileged(pod)
    revision = services.apps.read_namespaced_controller_revision("lenient-v1", services.namespace)
    text = json.dumps(revision.data)
    assert all(field not in text for _, field, _ in PRIVILEGED), text


def operator_manifests(services: Services) -> list[dict[str, Any]]:
    """What `kubectl apply -k manifests/` applies."""
    rendered = services.cluster.kubectl("kustomize", str(ROOT / "manifests")).stdout
    return [d for d in yaml.safe_load_all(rendered) if d]


def test_the_operator_deployment_is_admitted_under_restricted(services: Services) -> None:
    label_namespace(services, "restricted")
    documents = operator_manifests(services)
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    (account,) = [d for d in documents if d["kind"] == "ServiceAccount"]
    (namespace,) = [d for d in documents if d["kind"] == "Namespace"]
    # The manifests enforce restricted on the operator's own namespace too.
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for document in (deployment, account):
        document["metadata"]["namespace"] = services.namespace
    services.cluster.kubectl("create", "-f", "-", stdin=json.dumps(account))

    # A Deployment is only warned about; its pods are what the standard is enforced on.
    result = dry_run(services, deployment)
    assert result.returncode == 0, result.stderr
    assert "PodSecurity" not in result.stderr, result.stderr
    template = deployment["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "lightship-operator", **template["metadata"]},
        "spec": template["spec"],
    }
    result = dry_run(services, pod)
    assert result.returncode == 0, result.stderr
    assert "PodSecurity" not in result.stderr, result.stderr
    spec = pod["spec"]
    container = spec["containers"][0]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_a_version_whose_pods_the_namespace_refuses_fails_and_the_old_one_serves(
    services: Services,
) -> None:
    """An admin tightens the namespace to restricted while version 1 runs: version 2's pods
    are refused at admission. Version 2 is Failed with the API server's reason, version 1
    keeps serving, untouched (admission does not evict running pods)."""
    services.apply("shop", spec_of(1, scale=2))
    services.wait_active("shop", 1)
    serving = {p["metadata"]["uid"] for p in services.pods("shop", 1)}
    label_namespace(services, "restricted")
    services.apply("shop", spec_of(2, scale=2))
    status = services.wait(
        "shop", lambda s: s["versions"][0]["state"] == "Failed", "version 2 Failed", timeout=60
    )
    failed = status["versions"][0]
    assert (failed["version"], failed["reason"]) == (2, "PodRejected"), failed
    assert "violates PodSecurity" in failed["message"], failed
    assert status["state"] == "Running" and status["currentDeployment"]["version"] == 1
    assert {p["metadata"]["uid"] for p in services.pods("shop", 1)} == serving
    assert services.pods("shop", 2) == []
    # Once the namespace allows them again, a new version rolls out.
    label_namespace(services, "baseline")
    services.apply("shop", spec_of(3, scale=2))
    services.wait_active("shop", 3)
