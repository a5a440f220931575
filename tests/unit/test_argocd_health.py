"""The Argo CD health check (manifests/argocd/health.lua), run by a real Lua interpreter.

Argo CD hands the script the object as the global `obj`; the harness below does the same with
the object decoded from JSON by lua-cjson, which (like Argo CD's gopher-lua) makes every number
a float, so a number concatenated instead of formatted would show up here as "7.0".
"""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ARGOCD = Path(__file__).resolve().parents[2] / "manifests" / "argocd"
HEALTH_LUA = ARGOCD / "health.lua"

HARNESS = """
local cjson = require "cjson"
obj = cjson.decode(io.read("a"))
local hs = dofile(os.getenv("HEALTH_LUA"))
io.write(cjson.encode({status = hs.status, message = hs.message}))
"""

URL = "https://shop.k3x9q2.local.cs.localhost/"


@pytest.fixture(scope="module")
def lua() -> str:
    path = shutil.which("lua5.4") or shutil.which("lua")
    if path is None:
        pytest.fail("lua5.4 is not installed: run hack/system-deps.sh")
    probe = subprocess.run([path, "-e", 'require "cjson"'], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(f"lua-cjson is not installed ({probe.stderr.strip()}): run hack/system-deps.sh")
    return path


def health(lua: str, obj: dict[str, Any]) -> tuple[str, str]:
    done = subprocess.run(
        [lua, "-e", HARNESS],
        input=json.dumps(obj),
        capture_output=True,
        text=True,
        env={**os.environ, "HEALTH_LUA": str(HEALTH_LUA)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    hs = json.loads(done.stdout)
    return hs["status"], hs["message"]


def csd(status: dict[str, Any] | None, generation: int = 7) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "lightship.dev/v1alpha1",
        "kind": "ContainerServiceDeployment",
        "metadata": {"name": "shop", "namespace": "default", "generation": generation},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
    }
    if status is not None:
        obj["status"] = status
    return obj


def version(n: int, state: str, **extra: str) -> dict[str, Any]:
    return {"version": n, "state": state, "createdAt": "2025-01-01T00:00:00Z", **extra}


FAILED_7 = version(7, "Failed", reason="ImagePullBackOff",
                   message="container web: image nginx:nope not found")

CASES = {
    "no status yet": (
        csd(None),
        "Progressing", "Waiting for the operator to report a status",
    ),
    "status without a state": (
        csd({"observedGeneration": 7}),
        "Progressing", "Waiting for the operator to report a status",
    ),
    "observed generation behind": (
        csd({"observedGeneration": 6, "state": "Running", "currentDeployment": version(6, "Active"),
             "versions": [version(6, "Active")]}),
        "Progressing", "Waiting for the operator to observe generation 7",
    ),
    "first version activating": (
        csd({"observedGeneration": 7, "state": "Deploying",
             "nextDeployment": version(1, "Activating"), "versions": [version(1, "Activating")]}),
        "Progressing", "Version 1 is activating; no version serves",
    ),
    "new version activating beside the active one": (
        csd({"observedGeneration": 7, "state": "Deploying",
             "currentDeployment": version(6, "Active"), "nextDeployment": version(7, "Activating"),
             "versions": [version(7, "Activating"), version(6, "Active")]}),
        "Progressing", "Version 7 is activating; version 6 still serves",
    ),
    "running with a public endpoint": (
        csd({"observedGeneration": 7, "state": "Running", "url": URL,
             "currentDeployment": version(7, "Active"),
             "versions": [version(7, "Active"), version(6, "Inactive")]}),
        "Healthy", f"Version 7 is active at {URL}",
    ),
    "running privately": (
        csd({"observedGeneration": 7, "state": "Running",
             "currentDeployment": version(7, "Active"), "versions": [version(7, "Active")]}),
        "Healthy", "Version 7 is active",
    ),
    "an older failure does not matter": (
        csd({"observedGeneration": 7, "state": "Running", "currentDeployment": version(7, "Active"),
             "versions": [version(7, "Active"), version(6, "Failed", reason="CrashLoopBackOff")]}),
        "Healthy", "Version 7 is active",
    ),
    "newest failed while the previous one serves": (
        csd({"observedGeneration": 7, "state": "Running", "url": URL,
             "currentDeployment": version(6, "Active"),
             "versions": [FAILED_7, version(6, "Active")]}),
        "Degraded", "Version 7 failed (ImagePullBackOff): container web: image nginx:nope not "
                    "found; version 6 still serves",
    ),
    "first version failed": (
        csd({"observedGeneration": 7, "state": "Ready", "versions": [FAILED_7]}),
        "Degraded", "Version 7 failed (ImagePullBackOff): container web: image nginx:nope not "
                    "found; no version serves",
    ),
    "failed without a reason": (
        csd({"observedGeneration": 7, "state": "Ready", "versions": [version(7, "Failed")]}),
        "Degraded", "Version 7 failed; no version serves",
    ),
    "a failure of a spec since replaced is not reported": (
        csd({"observedGeneration": 7, "state": "Ready", "versions": [FAILED_7]}, generation=8),
        "Progressing", "Waiting for the operator to observe generation 8",
    ),
    "ready without any version": (
        csd({"observedGeneration": 7, "state": "Ready", "versions": []}),
        "Progressing", "No deployment version yet",
    ),
    "state unknown to this script": (
        csd({"observedGeneration": 7, "state": "Sleeping"}),
        "Unknown", "Unknown state Sleeping",
    ),
}


@pytest.mark.parametrize(("obj", "status", "message"), CASES.values(), ids=CASES.keys())
def test_health(lua: str, obj: dict[str, Any], status: str, message: str) -> None:
    assert health(lua, obj) == (status, message)


def test_argocd_cm_snippet_registers_this_script() -> None:
    snippet = yaml.safe_load((ARGOCD / "argocd-cm-snippet.yaml").read_text())
    key = "resource.customizations.health.lightship.dev_ContainerServiceDeployment"
    assert snippet["data"][key] == HEALTH_LUA.read_text(), (
        "argocd-cm-snippet.yaml is out of date: copy health.lua into it, indented by 4 spaces"
    )
