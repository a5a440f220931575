"""What a user installs, generated from manifests/ by hack/dist.sh (`make dist`): dist/install.yaml
and the Helm chart charts/lightship/. Each must be what the script generates now, and the chart
must pass `helm lint`, render the objects of install.yaml with its defaults, turn its values
into settings the operator accepts, and refuse bad values, naming them. Installing the chart:
tests/integration/test_chart_install.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lightship.settings import ENV_PREFIX
from tests.integration.helm import CHART, Helm, by_kind_and_name, container_of, settings_of
from tests.integration.support import ROOT

INSTALL_YAML = Path("dist") / "install.yaml"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What hack/dist.sh generates now, in a folder of its own."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [str(ROOT / "hack" / "dist.sh"), str(out)],
        env={**os.environ, "DIST_PYTHON": sys.executable},
        check=True,
        timeout=1800,
    )
    return out


def files_under(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): path.read_text()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_install_yaml_is_what_make_dist_generates(generated: Path) -> None:
    current = (ROOT / INSTALL_YAML).read_text()
    assert current == (generated / INSTALL_YAML).read_text(), f"{INSTALL_YAML}: run make dist"


def test_chart_is_what_make_dist_generates(generated: Path) -> None:
    chart = CHART.relative_to(ROOT)
    current, fresh = files_under(ROOT / chart), files_under(generated / chart)
    stale = sorted(
        path for path in current.keys() | fresh.keys() if current.get(path) != fresh.get(path)
    )
    assert not stale, f"stale in {chart} (run make dist): {', '.join(stale)}"


def test_helm_lint_accepts_the_chart(helm: Helm) -> None:
    linted = helm("lint", "--strict", str(CHART))
    assert "1 chart(s) linted, 0 chart(s) failed" in linted.stdout


def test_defaults_render_the_objects_of_install_yaml(
    helm: Helm, monkeypatch: pytest.MonkeyPatch
) -> None:
    chart = helm.template("--include-crds")
    install = by_kind_and_name(yaml.safe_load_all((ROOT / INSTALL_YAML).read_text()))
    # The release's namespace is made by `helm install --create-namespace` (or beforehand);
    # cluster-wide RBAC is named after it, so that two releases do not share it.
    del install["Namespace", "lightship-system"]
    for kind in ("ClusterRole", "ClusterRoleBinding"):
        obj = install.pop((kind, "lightship-operator"))
        obj["metadata"]["name"] = "lightship-operator-lightship-system"
        install[kind, "lightship-operator-lightship-system"] = obj
    install["ClusterRoleBinding", "lightship-operator-lightship-system"]["roleRef"]["name"] = (
        "lightship-operator-lightship-system"
    )
    # Settings the operator reads the same, whether a variable says the default or is unset.
    chart_env, install_env = container_of(chart).pop("env"), container_of(install).pop("env")
    assert settings_of(chart_env, monkeypatch) == settings_of(install_env, monkeypatch)
    chart_others, install_others = (
        [var for var in env if not var["name"].startswith(ENV_PREFIX)]
        for env in (chart_env, install_env)
    )
    assert chart_others == install_others
    assert chart == install


def test_values_set_the_settings_and_objects(helm: Helm, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = helm.template(
        *("--set", "replicas=1,settings.leaderElection=false,settings.metricsAddress="),
        *("--set", "settings.namespaces={team-a,team-b},settings.ingressClass=nginx"),
        *("--set-json", 'settings.ingressAnnotations={"a.example/x": "1 \\"2\\""}'),
        *("--set", "image.repository=registry.example/lightship,image.tag=0.2.0"),
        *("--set", "resources.limits.memory=1Gi,settings.activationTimeoutSeconds=30"),
    )
    # One replica, no Lease to hold, no metrics to serve: no Role, RoleBinding or Service.
    assert {kind for kind, _ in objects} == {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
    }
    assert objects["Deployment", "lightship-operator"]["spec"]["replicas"] == 1
    container = container_of(objects)
    assert container["image"] == "registry.example/lightship:0.2.0"
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert [port["name"] for port in container["ports"]] == ["health"]
    settings = settings_of(container["env"], monkeypatch)
    assert settings.namespaces == ["team-a", "team-b"]
    assert settings.ingress_class == "nginx"
    assert settings.ingress_annotations == {"a.example/x": '1 "2"'}
    assert settings.activation_timeout_seconds == 30
    assert settings.leader_election is False
    assert settings.metrics_address is None


def test_metrics_port_follows_the_metrics_address(helm: Helm) -> None:
    objects = helm.template("--set", "settings.metricsAddress=0.0.0.0:9102")
    assert {"name": "metrics", "containerPort": 9102} in container_of(objects)["ports"]
    service = objects["Service", "lightship-operator-metrics"]
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9102, "targetPort": "metrics"}]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ("replicas=2,settings.leaderElection=false", "replicas"),
        ("settings.regoin=eu", "regoin"),
        ("settings.activationTimeoutSeconds=0", "activationTimeoutSeconds"),
        ("replicas=two", "replicas"),
        ("image.repository=", "repository"),
    ],
)
def test_bad_values_are_refused_naming_them(helm: Helm, values: str, named: str) -> None:
    refused = helm("template", "lightship", str(CHART), "--set", values, check=False)
    assert refused.returncode != 0
    assert named in refused.stderr, refused.stderr
