"""What must hold, for the integration tests to check: a service at rest is consistent with its
children (`audit_service`), nothing is left behind, a service made again right after an
orphaning delete takes none of the old children (`recreated_after_an_orphaning_delete`), pods
never ask for privileges, and the operator's log reports no reconcile that failed for a reason
other than the ones a test expects (`operator_failures`)."""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

from kubernetes import client

from lightship import children, render
from lightship.api import ContainerServiceSpec, read_deployment
from tests.integration.support import (
    Cluster,
    Services,
    events,
    remove_children,
    shop,
    states,
    wait_conflict,
)

# -- a service at rest --------------------------------------------------------------------------


def audit_service(
    services: Services, name: str, spec: dict[str, Any], versions: list[int]
) -> list[str]:
    """What is wrong with a service that should be at rest: `versions` kept (status and
    ControllerRevisions, no duplicate, none missing), the newest one Active and made from
    `spec`, no condition raised but Ready, exactly `scale` pods of it and no other pod, the
    Service selecting it. An empty list when all holds."""
    obj = services.get(name)
    want = ContainerServiceSpec.model_validate(spec)
    problems = _audit_status(obj, want, versions)
    problems += _audit_revisions(services, obj, want, versions)
    problems += _audit_children(services, obj, want, max(versions))
    return problems


def _audit_status(
    obj: dict[str, Any], want: ContainerServiceSpec, versions: list[int]
) -> list[str]:
    problems: list[str] = []
    generation = obj["metadata"]["generation"]
    status = obj.get("status") or {}
    if ContainerServiceSpec.model_validate(obj["spec"]) != want:
        problems.append("the object's spec is not the last one written")
    if status.get("observedGeneration") != generation:
        problems.append(f"observedGeneration {status.get('observedGeneration')} != {generation}")
    entries = status.get("versions", [])
    listed = [v["version"] for v in entries]
    if listed != sorted(versions, reverse=True):
        problems.append(f"status.versions {listed} != {sorted(versions, reverse=True)}")
    active = [v["version"] for v in entries if v["state"] == "Active"]
    newest = max(versions)
    if active != [newest]:
        entry = [v for v in entries if v["version"] == newest]
        problems.append(f"Active versions {active} != [{newest}]; version {newest}: {entry}")
    others = {v["version"]: v["state"] for v in entries if v["version"] != newest}
    if any(state not in ("Inactive", "Failed") for state in others.values()):
        problems.append(f"older versions not at rest: {others}")
    if (status.get("currentDeployment") or {}).get("version") != newest:
        problems.append(f"currentDeployment {status.get('currentDeployment')}")
    if status.get("state") != "Running" or "nextDeployment" in status:
        problems.append(f"state {status.get('state')}, next {status.get('nextDeployment')}")
    # At rest only Ready is True: not Progressing, nor Conflict, nor one that says it is stuck.
    raised = [c for c in status.get("conditions", []) if c["status"] != "False"]
    if [c["type"] for c in raised] != ["Ready"]:
        problems.append(f"conditions not False at rest: {raised}")
    return problems


def _audit_revisions(
    services: Services, obj: dict[str, Any], want: ContainerServiceSpec, versions: list[int]
) -> list[str]:
    problems: list[str] = []
    name, uid = obj["metadata"]["name"], obj["metadata"]["uid"]
    revisions = services.controller_revisions(name)
    numbers = sorted(r.revision for r in revisions)
    if numbers != sorted(versions):
        problems.append(f"ControllerRevisions {numbers} != {sorted(versions)}")
    generations = [r.metadata.annotations.get(render.GENERATION_ANNOTATION) for r in revisions]
    if len(set(generations)) != len(generations):
        problems.append(f"two versions of one generation: {sorted(generations)}")
    for revision in revisions:
        if not any(o.uid == uid and o.controller for o in revision.metadata.owner_references):
            problems.append(f"revision {revision.metadata.name} is not owned by the object")
        if revision.revision != max(versions):
            continue
        if read_deployment(revision.data).deployment() != want.deployment():
            problems.append(f"revision {revision.metadata.name} is not the last deployment")
        # A capacity change makes a generation but no version: the newest version's revision
        # may be of an earlier generation, never of a later one.
        made_from = revision.metadata.annotations.get(render.GENERATION_ANNOTATION)
        if int(made_from or 0) > obj["metadata"]["generation"]:
            problems.append(f"revision {revision.metadata.name} is of a future generation")
    return problems


def _audit_children(
    services: Services, obj: dict[str, Any], want: ContainerServiceSpec, newest: int
) -> list[str]:
    problems: list[str] = []
    name, uid = obj["metadata"]["name"], obj["metadata"]["uid"]
    pods = services.core.list_namespaced_pod(
        services.namespace, label_selector=f"{render.SERVICE_LABEL}={name}"
    ).items
    names = sorted(p.metadata.name for p in pods)
    expected = sorted(render.pod_name(name, newest, k) for k in range(want.scale))
    if names != expected:
        problems.append(f"pods {names} != {expected}")
    desired = render.render_pod(name, uid, want, newest, 0)
    for key in ("apiVersion", "kind"):  # not in the items of a list
        desired.pop(key)
    desired["metadata"].pop("name")
    for pod in pods:
        manifest = client.ApiClient().sanitize_for_serialization(pod)
        if pod.metadata.deletion_timestamp is not None:
            problems.append(f"pod {pod.metadata.name} is terminating")
        elif not children.is_subset(desired, manifest):
            problems.append(f"pod {pod.metadata.name} is not rendered from the last spec")
    try:
        service = services.core.read_namespaced_service(name, services.namespace)
    except client.ApiException as error:
        problems.append(f"the Service cannot be read: {error.reason}")
    else:
        if service.spec.selector != render.labels(name, newest):
            problems.append(f"Service selector {service.spec.selector}")
    return problems


def wait_consistent(
    services: Services,
    name: str,
    spec: dict[str, Any],
    versions: list[int],
    timeout: float = 60,
) -> None:
    """Waits until `audit_service` finds nothing wrong, and fails with what it found."""
    deadline = time.monotonic() + timeout
    while problems := audit_service(services, name, spec, versions):
        if time.monotonic() > deadline:
            raise AssertionError(f"{services.namespace}/{name} after {timeout} s: {problems}")
        time.sleep(0.5)


def leftovers(services: Services, selector: str = "lightship.dev/service") -> list[str]:
    """Pods, Services, Ingresses and ControllerRevisions of the namespace that carry a label of
    Lightship (`selector`), as kind/name."""
    return services.cluster.kubectl(
        "get",
        "pods,services,ingresses,controllerrevisions",
        "-n",
        services.namespace,
        "-l",
        selector,
        "-o",
        "name",
    ).stdout.split()


def no_orphans(services: Services, names: set[str]) -> None:
    """Every Lightship child of the namespace belongs to one of `names`."""
    for item in leftovers(services):
        kind, _, child = item.partition("/")
        owner = child if kind.startswith(("service", "ingress")) else child.rsplit("-v", 1)[0]
        assert owner in names, f"orphaned child {item}"


# -- a service made again under its name -----------------------------------------------------


def recreated_after_an_orphaning_delete(cluster: Cluster, services: Services, name: str) -> None:
    """The object is deleted while its children stay (an orphaning delete forces what a slow
    garbage collection does by chance) and made again at once: the new object takes none of
    the old children, reports the names they hold, and gets version 1 once they are gone."""
    ns = services.namespace
    services.apply(name, shop())
    services.wait_active(name, 1)
    cluster.kubectl("delete", "csd", name, "-n", ns, "--cascade=orphan", "--timeout=60s")
    services.apply(name, shop())
    status, conflict = wait_conflict(services, name)
    assert f"ControllerRevision {ns}/{name}-v1" in conflict["message"], conflict
    assert status.get("versions", []) == []
    remove_children(cluster, ns, name)
    status = services.wait_active(name, 1)
    assert states(status) == {1: "Active"}
    assert services.revision_owners(name) == {f"{name}-v1": [services.get(name)["metadata"]["uid"]]}
    created = [m for _, reason, m in events(services, name) if reason == "VersionCreated"]
    assert created == ["version 1 created from generation 1"] * len(created)


# -- privileges ---------------------------------------------------------------------------------

# Fields the API must never let through to a pod: privileges, host namespaces, host paths.
PRIVILEGED = [
    ("spec", "hostNetwork", True),
    ("spec", "hostPID", True),
    ("spec", "hostIPC", True),
    ("spec", "volumes", [{"name": "root", "hostPath": {"path": "/"}}]),
    ("spec", "securityContext", {"runAsUser": 0}),
    ("container", "securityContext", {"privileged": True, "capabilities": {"add": ["ALL"]}}),
    ("container", "volumeMounts", [{"name": "root", "mountPath": "/host"}]),
    ("container", "hostPort", 80),
    ("port", "hostPort", 80),
]


def assert_unprivileged(pod: client.V1Pod) -> None:
    spec = pod.spec
    assert not (spec.host_network or spec.host_pid or spec.host_ipc), pod.metadata.name
    assert not any(v.host_path for v in spec.volumes or []), pod.metadata.name
    assert spec.security_context is None or spec.security_context.run_as_user is None
    for container in spec.containers:
        context = container.security_context
        assert context is None or not (context.privileged or context.capabilities)
        assert not container.volume_mounts, pod.metadata.name
        assert not any(p.host_port for p in container.ports or []), pod.metadata.name


# -- the operator's log -------------------------------------------------------------------------

# A record of the operator's log (kopf's format, `[time] logger [LEVEL] message`, which the
# operator's own logger shares); a message may go on over several lines (an API error's
# headers and body, a traceback).
_RECORD = re.compile(r"^\[\d{4}-\d\d-\d\d [^\]]*\] \S+\s+\[(?P<level>[A-Z]+)\s*\] ", re.M)
# How the operator reports a reconcile that failed and will be retried (handlers.WorkQueue).
_FAILED_RUN = re.compile(r"reconcile failed \((?P<error>.*)\); retrying in", re.S)
# Failures that writers racing explain, and a retry settles or the end of a namespace ends: a
# write refused because the object changed since it was read (409), by another writer or by
# the user; a write to an object deleted since it was read (404: the service being deleted, a
# child collected); a write into a namespace being deleted.
_RACES = r"\A\(?(409|404)\b|NamespaceTerminating"
RACES = re.compile(_RACES)
# ... and, while the API server is away or starting again: refused and broken connections,
# time-outs, and the errors of an API server that is not ready yet (5xx, 429), as the
# Kubernetes client reports them in a failed reconcile, and kopf's client (aiohttp) in a
# request it retries.
OUTAGE = re.compile(
    rf"{_RACES}|\A\(?(429|5\d\d)\b|Connection (aborted|refused|reset)|Max retries exceeded"
    r"|timed out|RemoteDisconnected|ProtocolError"
    r"|ClientConnectorError|ServerDisconnectedError|ClientOSError|TimeoutError|APIServerError"
    r"|APITooManyRequestsError"
)


def operator_failures(
    log: str, namespace: str | None = None, expected: re.Pattern[str] = RACES
) -> list[str]:
    """The reports in an operator's log of something that went wrong, unless `expected`
    matches their error: a reconcile that failed, a record at level ERROR or CRITICAL (kopf's,
    of a request it retries, too), and an exception's traceback. Only those about
    `namespace`, if given."""
    # What comes before the first record (a crash before logging was set up) is one too.
    starts = sorted({0, len(log), *(match.start() for match in _RECORD.finditer(log))})
    found = []
    for start, end in itertools.pairwise(starts):
        record = log[start:end]
        if namespace is not None and f"{namespace}/" not in record:
            continue
        level = _RECORD.match(record)
        failed_run = _FAILED_RUN.search(record)
        if failed_run is not None:
            error = failed_run["error"]
        elif "Traceback (most recent call last)" in record or (
            level is not None and level["level"] in ("ERROR", "CRITICAL")
        ):
            error = record[level.end() :] if level is not None else record
        else:
            continue
        if not expected.search(error):
            found.append(record.strip()[:1500])
    return found
