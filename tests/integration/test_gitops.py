"""GitOps: the object's spec belongs to its author (a person, a GitOps tool). The operator only
ever writes the status (and kopf, if ever, its own annotations), and applying the same manifest
again, client-side or server-side, changes nothing and makes no version."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import ROOT, Services
from tests.integration.test_operator import shop, states

CLUSTER_NAME = os.environ.get("LIGHTSHIP_CLUSTER", "lightship")  # hack/cluster/cluster.sh
AUDIT_LOG = ROOT / ".cluster" / "kwok" / "clusters" / CLUSTER_NAME / "logs" / "audit.log"
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
# The field managers of kubectl, whom the tests play: `kubectl apply` client-side is
# "kubectl-client-side-apply", server-side "kubectl".
AUTHORS = {"kubectl", "kubectl-client-side-apply"}


def manifest_file(services: Services, directory: Path, spec: dict[str, Any]) -> Path:
    path = directory / "shop.yaml"
    manifest = {
        "apiVersion": "lightship.dev/v1alpha1",
        "kind": "ContainerServiceDeployment",
        "metadata": {"name": "shop", "namespace": services.namespace},
        "spec": spec,
    }
    path.write_text(yaml.safe_dump(manifest))
    return path


def apply(services: Services, path: Path, mode: str) -> str:
    args = ["apply", "-f", str(path)]
    if mode == "server-side":
        args.insert(1, "--server-side")
    return services.cluster.kubectl(*args).stdout


def assert_no_new_version(services: Services) -> None:
    time.sleep(2)  # time for an operator that would react
    obj = services.get("shop")
    assert obj["metadata"]["generation"] == 1
    status = obj["status"]
    assert [v["version"] for v in status["versions"]] == [1]
    assert status["state"] == "Running" and status["observedGeneration"] == 1
    assert services.revisions("shop") == [1]


@pytest.mark.parametrize(
    ("first", "again"),
    [
        ("client-side", "client-side"),
        ("server-side", "server-side"),
        ("client-side", "server-side"),  # a GitOps tool that moves to server-side apply
    ],
)
def test_applying_the_same_manifest_again_makes_no_version(
    services: Services, tmp_path: Path, first: str, again: str
) -> None:
    path = manifest_file(services, tmp_path, shop())
    apply(services, path, first)
    services.wait_active("shop", 1)
    before = _authored(services.get("shop"))
    for _ in range(2):
        apply(services, path, again)
    assert_no_new_version(services)
    if first == again:
        # Not even a write: the object is as it was. (Client-side apply sends a patch all the
        # same, since it replaces lists whole and the API server filled in defaults inside the
        # containers list; the patched object is the stored one, so nothing is stored.) Moving
        # to server-side apply does write once: kubectl's new managedFields entry.
        assert _authored(services.get("shop")) == before


def _authored(obj: dict[str, Any]) -> dict[str, Any]:
    """The object but its status: what an apply could write. The operator's status writes
    (the gateway answering for the route, meanwhile) change the resourceVersion, not this;
    an apply that writes changes its managedFields entry's time at least."""
    metadata = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    metadata["managedFields"] = [
        entry for entry in _managed_fields(obj) if entry.get("subresource") != "status"
    ]
    return {"metadata": metadata, "spec": obj["spec"]}


def _managed_fields(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(obj["metadata"].get("managedFields", []))


def _keys(fields: dict[str, Any], prefix: str = "") -> set[str]:
    """The field paths of a managedFields fieldsV1 tree, e.g. `.metadata.annotations.x`."""
    found = set()
    for key, child in fields.items():
        if key == ".":
            continue
        path = f"{prefix}.{key.split(':', 1)[1] if ':' in key else key}"
        found.add(path)
        found |= _keys(child, path)
    return found


def test_the_operator_never_writes_the_spec(services: Services, tmp_path: Path) -> None:
    offset = AUDIT_LOG.stat().st_size
    path = manifest_file(services, tmp_path, shop("nginx:1.26"))
    apply(services, path, "client-side")
    services.wait_active("shop", 1)
    path = manifest_file(services, tmp_path, shop("nginx:1.27", scale=2))
    apply(services, path, "server-side")
    services.wait_active("shop", 2)
    path = manifest_file(services, tmp_path, shop("sim.invalid/pull-error:gitops"))
    apply(services, path, "client-side")
    status = services.wait("shop", lambda s: states(s).get(3) == "Failed", "version 3 Failed")
    assert status["currentDeployment"]["version"] == 2
    time.sleep(2)  # whatever the operator (or kopf) writes after the status, let it come
    obj = services.get("shop")
    # Three specs applied, three generations: nothing else changed the spec.
    assert obj["metadata"]["generation"] == 3

    # Who owns which fields: only the authors own spec fields; the operator (field manager
    # "lightship", its user agent) owns the status, through the status subresource; kopf, if it
    # writes at all (its bookkeeping annotations: not with event handlers only), owns only
    # annotations under the lightship.dev/ prefix.
    owners: dict[str, set[str]] = {}
    for entry in _managed_fields(obj):
        keys = _keys(entry.get("fieldsV1", {}))
        owners.setdefault(entry["manager"], set()).update(keys)
        if entry["manager"] in AUTHORS:
            continue
        if entry["manager"] == "lightship":
            assert entry.get("subresource") == "status", entry
            assert all(key.startswith(".status") for key in keys), keys
        elif entry["manager"] == "kopf":
            assert "subresource" not in entry, entry
            assert keys and all(
                key in (".metadata", ".metadata.annotations")
                or key.startswith(".metadata.annotations.lightship.dev/")
                for key in keys
            ), keys
        else:
            raise AssertionError(f"an unexpected field manager: {entry}")
    assert any(key.startswith(".spec") for m in AUTHORS for key in owners.get(m, ()))
    fields = json.dumps(_managed_fields(obj), indent=1)
    assert ".status.versions" in owners.get("lightship", set()), fields

    # Every write of the object in the API server's audit log: spec writes come from kubectl
    # only; the operator writes the status subresource; kopf may patch the object (its
    # annotations, checked above).
    writes = []
    with AUDIT_LOG.open("rb") as log:
        log.seek(offset)
        for line in log:
            if services.namespace.encode() not in line:
                continue
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            if (
                ref.get("resource") == "containerservicedeployments"
                and ref.get("namespace") == services.namespace
                and event["verb"] in WRITES
            ):
                writes.append(
                    (event["userAgent"].split("/")[0], event["verb"], ref.get("subresource"))
                )
    assert writes, "no writes of the object in the audit log"
    for agent, verb, subresource in writes:
        if agent == "kubectl":
            continue
        allowed = {("lightship", "patch", "status"), ("kopf", "patch", None)}
        assert (agent, verb, subresource) in allowed, (agent, verb, subresource)
    assert ("lightship", "patch", "status") in writes
