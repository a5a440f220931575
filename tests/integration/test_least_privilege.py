"""Least privilege: the operator needs no more than manifests/clusterrole.yaml grants, and that
role grants nothing it does not need.

The RBAC objects of manifests/ (Namespace, ServiceAccount, ClusterRole, ClusterRoleBinding; not
the Deployment, which cannot run here) are applied to the local cluster, and the operator runs
as that ServiceAccount: with a token of it (TokenRequest), as it would in the cluster. The
Python clients (kubernetes, kopf) ignore a kubeconfig's impersonation (`as:`), so a token is the
way to be the account for real. Any request the role does not allow is a 403 in the operator's
log, and the scenario does not complete.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.integration import simulated_logs
from tests.integration.checks import (
    leftovers,
    operator_failures,
    recreated_after_an_orphaning_delete,
)
from tests.integration.support import (
    CLUSTER_NAME,
    ROOT,
    SESSION,
    Cluster,
    Operator,
    Services,
    audit_log_of,
    create_namespace,
    events,
    selected_version,
    service_account_kubeconfig,
    shop,
    states,
    wait_conflict,
    wait_for,
)

ACCOUNT = "system:serviceaccount:lightship-system:lightship"
AUDIT_LOG = audit_log_of(CLUSTER_NAME)
MANIFESTS = ROOT / "manifests"
RBAC = ["namespace.yaml", "serviceaccount.yaml", "clusterrole.yaml", "clusterrolebinding.yaml"]
# Namespaces of this module: no other test operator watches them (those watch "<SESSION>-*").
PREFIX = f"lp-{SESSION}"


@pytest.fixture(scope="module")
def rbac(cluster: Cluster) -> None:
    """The account and its role, as manifests/ has them (applied again: they may have changed)."""
    for name in RBAC:
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(MANIFESTS / name))


@pytest.fixture(scope="module")
def account_kubeconfig(
    cluster: Cluster, rbac: None, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A copy of the cluster's kubeconfig whose user is the operator's ServiceAccount."""
    path = tmp_path_factory.mktemp("least-privilege") / "kubeconfig"
    return service_account_kubeconfig(cluster, "lightship-system", "lightship", path)


@pytest.fixture
def account_namespace(cluster: Cluster) -> Iterator[str]:
    """A namespace where pods must meet the baseline Pod Security Standard: no privileged
    containers, host namespaces, host paths or host ports."""
    name = f"{PREFIX}-{secrets.token_hex(3)}"
    create_namespace(cluster, name)
    cluster.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=baseline")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def audit_start() -> int:
    """Where the API server's audit log ends before the account's operator starts."""
    return AUDIT_LOG.stat().st_size


@pytest.fixture
def account_operator(
    cluster: Cluster, crd: None, account_kubeconfig: Path, tmp_path: Path, audit_start: int
) -> Iterator[Operator]:
    """The operator running as the ServiceAccount, watching this module's namespaces by a
    pattern (so that kopf lists and watches namespaces, as with LIGHTSHIP_NAMESPACES=team-*)."""
    running = Operator(
        cluster,
        tmp_path / "operator.log",
        {"LIGHTSHIP_ACTIVATION_TIMEOUT_SECONDS": "20", "LIGHTSHIP_NAMESPACES": f"{PREFIX}-*"},
        kubeconfig=account_kubeconfig,
    )
    running.start()
    yield running
    if running.process is not None:
        running.stop()


def test_the_kubeconfig_is_the_service_account(cluster: Cluster, account_kubeconfig: Path) -> None:
    result = subprocess.run(
        [
            str(cluster.bin_dir / "kubectl"),
            *("--kubeconfig", str(account_kubeconfig), "auth", "whoami", "-o", "json"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout)["status"]["userInfo"]["username"] == ACCOUNT


def test_operator_runs_the_whole_scenario_as_its_service_account(
    cluster: Cluster,
    api_client: client.ApiClient,
    account_operator: Operator,
    account_namespace: str,
    tmp_path: Path,
    audit_start: int,
) -> None:
    services = Services(api_client, cluster, account_namespace)
    # Deploy: pods, Service, Ingress, ControllerRevision, events.
    services.apply("shop", shop("nginx:1.26", scale=2))
    services.wait_active("shop", 1)
    assert services.networking.read_namespaced_ingress("shop", account_namespace)
    # Update, moving the public endpoint to another port: Service and Ingress are patched, the
    # old pods deleted.
    moved = shop("nginx:1.27")
    moved["containers"][0]["ports"].append({"port": 8080, "protocol": "HTTP"})
    moved["publicEndpoint"]["containerPort"] = 8080
    services.apply("shop", moved)
    services.wait_active("shop", 2)
    ingress = services.networking.read_namespaced_ingress("shop", account_namespace)
    assert ingress.spec.rules[0].http.paths[0].backend.service.port.number == 8080
    # Dropping the public endpoint: the Ingress is deleted.
    services.apply("shop", shop("nginx:1.27", public=False))
    services.wait_active("shop", 3)
    assert services.networking.list_namespaced_ingress(account_namespace).items == []
    # Fail with a pull error: the previous version keeps serving.
    services.apply("shop", shop("sim.invalid/pull-error:lp", public=False))
    status = services.wait("shop", lambda s: states(s).get(4) == "Failed", "version 4 Failed")
    assert status["versions"][0]["reason"] == "ImagePullBackOff"
    # Fail with a crash loop whose log is read (pods/log) before its pod is removed.
    simulated_logs.simulate(
        cluster, account_namespace, "shop-v5-0", {"web": ["panic: no config"]}, tmp_path
    )
    services.apply("shop", shop("sim.invalid/crash-loop:lp", public=False))
    status = services.wait("shop", lambda s: states(s).get(5) == "Failed", "version 5 Failed")
    assert status["versions"][0]["reason"] == "CrashLoopBackOff"
    assert {"pod": "shop-v5-0", "container": "web", "lines": ["panic: no config"]} in status[
        "versions"
    ][0]["logs"]
    assert selected_version(services, "shop") == "3"
    # A version that opens no port: the Service is deleted.
    services.apply("shop", {"containers": [{"name": "worker", "image": "busybox:1.36"}]})
    services.wait_active("shop", 6)
    assert services.core.list_namespaced_service(account_namespace).items == []
    # Redeploy version 1 (the command line writes the spec, as the user): Service and Ingress
    # are back.
    result = cluster.run_lightship("redeploy", "shop", "--version", "1", "-n", account_namespace)
    assert result.returncode == 0, result.stderr
    status = services.wait_active("shop", 7)
    assert states(status) == {
        7: "Active",
        6: "Inactive",
        5: "Failed",
        4: "Failed",
        3: "Inactive",
        2: "Inactive",
        1: "Inactive",
    }
    assert selected_version(services, "shop") == "7"
    assert services.networking.read_namespaced_ingress("shop", account_namespace)
    wait_for(
        lambda: (
            {"VersionCreated", "VersionActivated", "VersionFailed"}
            <= {reason for _, reason, _ in events(services, "shop")}
        ),
        "the Events of the scenario",
        30,
    )
    # Another owner's Service and Ingress hold the names of two new services: the operator
    # reads them (the indexes show only its own children) and reports them, overwriting none.
    foreign = {
        "till": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "till"},
            "spec": {"selector": {"app": "someone-else"}, "ports": [{"port": 8080}]},
        },
        "board": {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "board"},
            "spec": {"defaultBackend": {"service": {"name": "else", "port": {"number": 80}}}},
        },
    }
    for name, manifest in foreign.items():
        cluster.kubectl("apply", "-n", account_namespace, "-f", "-", stdin=json.dumps(manifest))
        services.apply(name, shop("nginx:1.27"))
    for name, manifest in foreign.items():
        _, conflict = wait_conflict(services, name)
        assert manifest["kind"] in conflict["message"], conflict
        live = json.loads(
            cluster.kubectl(
                "get", manifest["kind"], name, "-n", account_namespace, "-o", "json"
            ).stdout
        )["spec"]
        assert all(live[key] == value for key, value in manifest["spec"].items() if key != "ports")
    # Delete: the garbage collector removes the children; the operator holds no finalizer.
    assert not services.get("shop")["metadata"].get("finalizers")
    cluster.kubectl("delete", "csd", "shop", "-n", account_namespace, "--wait=true")
    wait_for(lambda: not leftovers(services, "lightship.dev/service=shop"), "no child left", 60)

    # Made again at once after an orphaning delete: version 1, never the old children.
    recreated_after_an_orphaning_delete(cluster, services, "cart")

    account_operator.stop()
    log = account_operator.log()
    # A 403 (not in a timestamp's milliseconds or a port), kopf's "Not enough permissions".
    for sign in (r"(?<![,.:\d])403(?!\d)", "[Ff]orbidden", "Not enough permissions", "Traceback"):
        found = re.search(f".*{sign}.*", log)
        assert found is None, f"{found and found[0]!r} in the operator's log:\n{log[-5000:]}"
    failures = operator_failures(log)
    assert not failures, "the operator reported failures:\n" + "\n".join(failures)

    # And the role grants nothing the operator did not use: every verb of every rule shows in
    # the API server's audit log, requested by the account, but for the few the scenario
    # cannot reach.
    used = _requests(audit_start, account_namespace)
    (role,) = yaml.safe_load_all((MANIFESTS / "clusterrole.yaml").read_text())
    unused = (
        {
            (group, resource, verb)
            for rule in role["rules"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for verb in rule["verbs"]
        }
        - used
        - NOT_IN_THE_SCENARIO
    )
    assert not unused, f"granted, never used: {sorted(unused)}; used: {sorted(used)}"


# Granted, and used, but not by the scenario above: (API group, resource, verb) and where.
NOT_IN_THE_SCENARIO = {
    # Used, under another name: a Service or Ingress is created by server-side apply, which the
    # audit log shows as a patch, and which the API server authorizes as a create as well.
    ("", "services", "create"),
    ("networking.k8s.io", "ingresses", "create"),
    # Pruning past 50 versions (tests/integration/test_operator.py, as the admin).
    ("apps", "controllerrevisions", "delete"),
    # A reconcile reads the object from the API server, not kopf's index, only when the
    # watches lag (handlers.CATCH_UP_SECONDS) or before the first event.
    ("lightship.dev", "containerservicedeployments", "get"),
}


def _requests(offset: int, namespace: str) -> set[tuple[str, str, str]]:
    """(API group, resource[/subresource], verb) of every request of the account, in the
    namespace or cluster-wide, in the audit log since `offset`."""
    used = set()
    with AUDIT_LOG.open("rb") as log:
        log.seek(offset)
        for line in log:
            if ACCOUNT.encode() not in line:
                continue
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            if event["user"]["username"] != ACCOUNT or ref.get("namespace") not in (
                None,
                namespace,
            ):
                continue
            resource = ref.get("resource", "")
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            used.add((ref.get("apiGroup", ""), resource, event["verb"]))
    return used


# (verb, resource, subresource): what the operator does, and what it must not be able to do.
ALLOWED = [
    ("get", "containerservicedeployments.lightship.dev", ""),
    ("list", "containerservicedeployments.lightship.dev", ""),
    ("watch", "containerservicedeployments.lightship.dev", ""),
    ("patch", "containerservicedeployments.lightship.dev", "status"),
    ("list", "pods", ""),
    ("watch", "pods", ""),
    ("create", "pods", ""),
    ("delete", "pods", ""),
    ("get", "pods", "log"),
    ("get", "services", ""),
    ("create", "services", ""),
    ("patch", "services", ""),
    ("delete", "services", ""),
    ("create", "ingresses.networking.k8s.io", ""),
    ("patch", "ingresses.networking.k8s.io", ""),
    ("delete", "ingresses.networking.k8s.io", ""),
    ("list", "controllerrevisions.apps", ""),
    ("watch", "controllerrevisions.apps", ""),
    ("create", "controllerrevisions.apps", ""),
    ("delete", "controllerrevisions.apps", ""),
    ("create", "events", ""),
    ("list", "namespaces", ""),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io", ""),
]
DENIED = [
    ("get", "secrets", ""),
    ("list", "secrets", ""),
    ("watch", "secrets", ""),
    ("get", "configmaps", ""),
    ("create", "deployments.apps", ""),
    ("create", "daemonsets.apps", ""),
    ("create", "jobs.batch", ""),
    ("get", "clusterroles.rbac.authorization.k8s.io", ""),
    ("create", "clusterroles.rbac.authorization.k8s.io", ""),
    ("bind", "clusterroles.rbac.authorization.k8s.io", ""),
    ("escalate", "clusterroles.rbac.authorization.k8s.io", ""),
    ("create", "rolebindings.rbac.authorization.k8s.io", ""),
    ("impersonate", "users", ""),
    ("impersonate", "serviceaccounts", ""),
    ("create", "serviceaccounts", "token"),
    ("create", "pods", "exec"),
    ("create", "pods", "attach"),
    ("create", "pods", "portforward"),
    ("create", "pods", "eviction"),
    ("update", "pods", ""),
    ("patch", "pods", ""),
    ("update", "containerservicedeployments.lightship.dev", ""),
    ("patch", "containerservicedeployments.lightship.dev", ""),
    ("delete", "containerservicedeployments.lightship.dev", ""),
    ("create", "containerservicedeployments.lightship.dev", ""),
    ("update", "containerservicedeployments.lightship.dev", "status"),
    ("update", "services", ""),
    ("update", "controllerrevisions.apps", ""),
    ("create", "namespaces", ""),
    ("delete", "namespaces", ""),
    ("get", "nodes", ""),
    ("patch", "nodes", ""),
    ("create", "customresourcedefinitions.apiextensions.k8s.io", ""),
    ("create", "kopfpeerings.kopf.dev", ""),
    ("create", "persistentvolumes", ""),
    ("create", "validatingwebhookconfigurations.admissionregistration.k8s.io", ""),
]


def _can_i(cluster: Cluster, verb: str, resource: str, subresource: str, namespace: str) -> str:
    args = ["auth", "can-i", verb, resource, f"--as={ACCOUNT}", "-n", namespace]
    if subresource:
        args.append(f"--subresource={subresource}")
    return cluster.kubectl(*args, check=False).stdout.strip()


@pytest.mark.parametrize(("verb", "resource", "subresource"), ALLOWED)
def test_service_account_may(
    cluster: Cluster, rbac: None, verb: str, resource: str, subresource: str
) -> None:
    assert _can_i(cluster, verb, resource, subresource, "default") == "yes"


@pytest.mark.parametrize(("verb", "resource", "subresource"), DENIED)
def test_service_account_may_not(
    cluster: Cluster, rbac: None, verb: str, resource: str, subresource: str
) -> None:
    # In its own namespace too: the role is a ClusterRole, nothing is granted per namespace.
    for namespace in ("default", "lightship-system"):
        assert _can_i(cluster, verb, resource, subresource, namespace) == "no"


def test_role_is_exactly_the_manifest(cluster: Cluster, rbac: None) -> None:
    """What the cluster holds is what manifests/ says: the checks above test the file."""
    applied: dict[str, Any] = json.loads(
        cluster.kubectl("get", "clusterrole", "lightship-operator", "-o", "json").stdout
    )
    (manifest,) = yaml.safe_load_all((MANIFESTS / "clusterrole.yaml").read_text())
    assert applied["rules"] == manifest["rules"]
