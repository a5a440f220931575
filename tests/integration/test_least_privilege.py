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
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.integration import simulated_logs
from tests.integration.conftest import ROOT, SESSION, Cluster, Operator, Services
from tests.integration.test_operator import events, selected_version, shop, states

ACCOUNT = "system:serviceaccount:lightship-system:lightship"
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
    token = cluster.kubectl(
        "create", "token", "lightship", "-n", "lightship-system", "--duration=2h"
    ).stdout.strip()
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    (context,) = (c for c in config["contexts"] if c["name"] == config["current-context"])
    context["context"]["user"] = "lightship"
    config["users"] = [{"name": "lightship", "user": {"token": token}}]
    path = tmp_path_factory.mktemp("least-privilege") / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@pytest.fixture
def account_namespace(cluster: Cluster) -> Iterator[str]:
    """A namespace where pods must meet the baseline Pod Security Standard: no privileged
    containers, host namespaces, host paths or host ports."""
    name = f"{PREFIX}-{secrets.token_hex(3)}"
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=baseline")
    deadline = time.monotonic() + 30
    while cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode:
        assert time.monotonic() < deadline, f"namespace {name} got no default ServiceAccount"
        time.sleep(0.2)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def account_operator(
    cluster: Cluster, crd: None, account_kubeconfig: Path, tmp_path: Path
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
) -> None:
    services = Services(api_client, cluster, account_namespace)
    # Deploy: pods, Service, Ingress, ControllerRevision, events.
    services.apply("shop", shop("nginx:1.26", scale=2))
    services.wait_active("shop", 1)
    assert services.networking.read_namespaced_ingress("shop", account_namespace)
    # Update, dropping the public endpoint: the Service is patched, the Ingress deleted, the
    # old pods deleted.
    services.apply("shop", shop("nginx:1.27", public=False))
    services.wait_active("shop", 2)
    assert services.networking.list_namespaced_ingress(account_namespace).items == []
    # Fail with a pull error: the previous version keeps serving.
    services.apply("shop", shop("sim.invalid/pull-error:lp", public=False))
    status = services.wait("shop", lambda s: states(s).get(3) == "Failed", "version 3 Failed")
    assert status["versions"][0]["reason"] == "ImagePullBackOff"
    # Fail with a crash loop whose log is read (pods/log) before its pod is removed.
    simulated_logs.simulate(
        cluster, account_namespace, "shop-v4-0", {"web": ["panic: no config"]}, tmp_path
    )
    services.apply("shop", shop("sim.invalid/crash-loop:lp", public=False))
    status = services.wait("shop", lambda s: states(s).get(4) == "Failed", "version 4 Failed")
    assert status["versions"][0]["reason"] == "CrashLoopBackOff"
    assert {"pod": "shop-v4-0", "container": "web", "lines": ["panic: no config"]} in status[
        "versions"
    ][0]["logs"]
    assert selected_version(services, "shop") == "2"
    # A version that opens no port: the Service is deleted.
    services.apply("shop", {"containers": [{"name": "worker", "image": "busybox:1.36"}]})
    services.wait_active("shop", 5)
    assert services.core.list_namespaced_service(account_namespace).items == []
    # Redeploy version 1 (the command line writes the spec, as the user): Service and Ingress
    # are back.
    result = cluster.run_lightship("redeploy", "shop", "--version", "1", "-n", account_namespace)
    assert result.returncode == 0, result.stderr
    status = services.wait_active("shop", 6)
    assert states(status) == {
        6: "Active",
        5: "Inactive",
        4: "Failed",
        3: "Failed",
        2: "Inactive",
        1: "Inactive",
    }
    assert selected_version(services, "shop") == "6"
    assert services.networking.read_namespaced_ingress("shop", account_namespace)
    assert {"VersionCreated", "VersionActivated", "VersionFailed"} <= {
        reason for _, reason, _ in events(services, "shop")
    }
    # Delete: the garbage collector removes the children; the operator holds no finalizer.
    assert not services.get("shop")["metadata"].get("finalizers")
    cluster.kubectl("delete", "csd", "shop", "-n", account_namespace, "--wait=true")
    deadline = time.monotonic() + 60
    while left := cluster.kubectl(
        "get",
        "pods,services,ingresses,controllerrevisions",
        "-n",
        account_namespace,
        "-l",
        "lightship.dev/service=shop",
        "-o",
        "name",
    ).stdout.split():
        assert time.monotonic() < deadline, f"left behind: {left}"
        time.sleep(0.5)

    account_operator.stop()
    log = account_operator.log()
    # A 403 (not in a timestamp's milliseconds or a port), kopf's "Not enough permissions".
    for sign in (r"(?<![,.:\d])403(?!\d)", "[Ff]orbidden", "Not enough permissions", "Traceback"):
        found = re.search(f".*{sign}.*", log)
        assert found is None, f"{found and found[0]!r} in the operator's log:\n{log[-5000:]}"


# (verb, resource, subresource): what the operator does, and what it must not be able to do.
ALLOWED = [
    ("get", "containerservicedeployments.lightship.dev", ""),
    ("list", "containerservicedeployments.lightship.dev", ""),
    ("watch", "containerservicedeployments.lightship.dev", ""),
    ("patch", "containerservicedeployments.lightship.dev", ""),
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
