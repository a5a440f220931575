"""helm, built from hack/helm/go.mod, and reading what it renders: the chart's tests share these
(tests/integration/test_dist.py, test_chart_install.py)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lightship.settings import ENV_PREFIX, Settings, load_settings
from tests.integration.support import ROOT, built

CHART = ROOT / "charts" / "lightship"

Objects = dict[tuple[str, str], dict[str, Any]]


@dataclass(frozen=True)
class Helm:
    binary: Path
    home: Path

    @classmethod
    def build(cls, home: Path) -> Helm:
        """hack/helm/build.sh builds helm once into the cache (minutes), then finds it there."""
        return cls(built("helm") / "helm", home)

    def __call__(
        self, *args: str, kubeconfig: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        # Its own config, cache and data folders: nothing of the user's helm is read or written.
        homes = {f"HELM_{kind}_HOME": str(self.home / kind) for kind in ("CONFIG", "CACHE", "DATA")}
        cluster = ["--kubeconfig", str(kubeconfig)] if kubeconfig else []
        result = subprocess.run(
            [str(self.binary), *cluster, *args],
            env={**os.environ, **homes},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result

    def template(self, *values: str) -> Objects:
        """The chart's objects, released in the namespace lightship-system."""
        rendered = self("template", "lightship", str(CHART), "-n", "lightship-system", *values)
        return by_kind_and_name(yaml.safe_load_all(rendered.stdout))


def by_kind_and_name(documents: Any) -> Objects:
    return {(d["kind"], d["metadata"]["name"]): d for d in documents if d}


def container_of(objects: Objects) -> dict[str, Any]:
    deployment = objects["Deployment", "lightship-operator"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def settings_of(env: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings the operator reads from this environment (and nothing else)."""
    for name in [name for name in os.environ if name.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for var in env:
        if var["name"].startswith(ENV_PREFIX):
            monkeypatch.setenv(var["name"], var["value"])
    return load_settings()
