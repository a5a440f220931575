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
    path = shutil.which("lua5.4")
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


def csd(status: dict[str, Any] | None, generation: int) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "lightship.dev/v1alpha1",
        "kind": "ContainerServiceDeployment",
        "metadata": {"name": "shop", "namespace": "default", "generation": generation},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
    }
    if status is not None:
        obj["status"] = status
    return obj


# Statuses as the operator writes them (DESIGN §3), with metadata.generation 7 unless given.
CASES = yaml.safe_load(f"""
- id: no status yet
  status: null
  health: [Progressing, Waiting for the operator to report a status]
- id: status without a state
  status: {{observedGeneration: 7}}
  health: [Progressing, Waiting for the operator to report a status]
- id: observed generation behind
  status:
    observedGeneration: 6
    state: Running
    currentDeployment: {{version: 6, state: Active}}
    versions: [{{version: 6, state: Active}}]
  health: [Progressing, Waiting for the operator to observe generation 7]
- id: first version activating
  status:
    observedGeneration: 7
    state: Deploying
    nextDeployment: {{version: 1, state: Activating}}
    versions: [{{version: 1, state: Activating}}]
  health: [Progressing, "Version 1 is activating; no version serves"]
- id: new version activating beside the active one
  status:
    observedGeneration: 7
    state: Deploying
    currentDeployment: {{version: 6, state: Active}}
    nextDeployment: {{version: 7, state: Activating}}
    versions: [{{version: 7, state: Activating}}, {{version: 6, state: Active}}]
  health: [Progressing, "Version 7 is activating; version 6 still serves"]
- id: deploying before nextDeployment is written
  status:
    observedGeneration: 7
    state: Deploying
    versions: [{{version: 7, state: Activating}}]
  health: [Progressing, Version 7 is Activating]
- id: running with a public endpoint
  status:
    observedGeneration: 7
    state: Running
    url: {URL}
    currentDeployment: {{version: 7, state: Active}}
    versions: [{{version: 7, state: Active}}, {{version: 6, state: Inactive}}]
  health: [Healthy, "Version 7 is active at {URL}"]
- id: running privately
  status:
    observedGeneration: 7
    state: Running
    currentDeployment: {{version: 7, state: Active}}
    versions: [{{version: 7, state: Active}}]
  health: [Healthy, Version 7 is active]
- id: an older failure does not matter
  status:
    observedGeneration: 7
    state: Running
    currentDeployment: {{version: 7, state: Active}}
    versions:
    - {{version: 7, state: Active}}
    - {{version: 6, state: Failed, reason: CrashLoopBackOff, message: "container web: exit 1"}}
  health: [Healthy, Version 7 is active]
- id: newest failed while the previous one serves
  status:
    observedGeneration: 7
    state: Running
    url: {URL}
    currentDeployment: {{version: 6, state: Active}}
    versions:
    - {{version: 7, state: Failed, reason: ImagePullBackOff, message: "container web: not found"}}
    - {{version: 6, state: Active}}
  health:
  - Degraded
  - "Version 7 failed (ImagePullBackOff): container web: not found; version 6 still serves"
- id: first version failed
  status:
    observedGeneration: 7
    state: Ready
    versions:
    - {{version: 7, state: Failed, reason: ImagePullBackOff, message: "container web: not found"}}
  health:
  - Degraded
  - "Version 7 failed (ImagePullBackOff): container web: not found; no version serves"
- id: failed without a reason
  status:
    observedGeneration: 7
    state: Ready
    versions: [{{version: 7, state: Failed}}]
  health: [Degraded, "Version 7 failed; no version serves"]
- id: a failure of a spec since replaced is not reported
  generation: 8
  status:
    observedGeneration: 7
    state: Ready
    versions: [{{version: 7, state: Failed, reason: ImagePullBackOff}}]
  health: [Progressing, Waiting for the operator to observe generation 8]
- id: ready without any version
  status: {{observedGeneration: 7, state: Ready, versions: []}}
  health: [Progressing, No deployment version yet]
- id: disabled
  status:
    observedGeneration: 7
    state: Disabled
    currentDeployment: {{version: 6, state: Active}}
    versions: [{{version: 6, state: Active}}]
  health: [Suspended, "The service is disabled; version 6 runs again when enabled"]
- id: capacity being applied
  generation: 8
  status:
    observedGeneration: 8
    state: Updating
    readyReplicas: 1
    currentDeployment: {{version: 6, state: Active}}
    versions: [{{version: 6, state: Active}}]
  health: [Progressing, "Version 6: applying capacity, 1 of 1 pods ready"]
- id: a state this script does not know
  status: {{observedGeneration: 7, state: Sleeping}}
  health: [Unknown, Unknown state Sleeping]
""")


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_health(lua: str, case: dict[str, Any]) -> None:
    obj = csd(case["status"], case.get("generation", 7))
    assert health(lua, obj) == tuple(case["health"])


def test_argocd_cm_snippet_registers_this_script() -> None:
    snippet = yaml.safe_load((ARGOCD / "argocd-cm-snippet.yaml").read_text())
    key = "resource.customizations.health.lightship.dev_ContainerServiceDeployment"
    assert snippet["data"][key] == HEALTH_LUA.read_text(), (
        "argocd-cm-snippet.yaml is out of date: copy health.lua into it, indented by 4 spaces"
    )
