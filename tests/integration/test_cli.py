"""The command line as a person and a script use it: `kubectl lightship`, tables that fit 80
columns, ages, `-o json|yaml`, and exit codes (0, 1 not found, 2 bad usage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.integration.support import Services, shop

LONG_IMAGE = "sim.invalid/pull-error/" + "a-very-long-repository-name/" * 3 + "shop:1"


def kubectl_plugin(services: Services, *args: str) -> subprocess.CompletedProcess[str]:
    """`kubectl lightship ...` as a user runs it: kubectl finds `kubectl-lightship` on PATH."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "KUBECONFIG": str(services.cluster.kubeconfig),
        "COLUMNS": "80",
    }
    return subprocess.run(
        [str(services.cluster.bin_dir / "kubectl"), "lightship", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_kubectl_plugin_tables_fit_80_columns(services: Services) -> None:
    services.apply("shop", shop())
    services.wait_active("shop", 1)
    services.apply("shop", shop(image=LONG_IMAGE))
    services.wait(
        "shop", lambda s: s["versions"][0]["state"] == "Failed", "version 2 Failed", timeout=90
    )

    result = kubectl_plugin(services, "versions", "shop", "-n", services.namespace)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), result.stdout
    assert lines[0].split() == ["VERSION", "STATE", "AGE", "REASON", "MESSAGE"]
    failed, active = lines[1].split(), lines[2].split()
    assert failed[:2] == ["2", "Failed"] and failed[3] == "ImagePullBackOff"
    assert lines[1].endswith("…"), "a long message is cut, not wrapped"
    assert active[:2] == ["1", "Active"]
    # An age as kubectl prints it, not a timestamp.
    assert active[2][-1] in "smhdy" and "T" not in active[2]

    result = kubectl_plugin(services, "status", "shop", "-n", services.namespace)
    assert result.returncode == 0, result.stderr
    assert all(len(line) <= 80 for line in result.stdout.splitlines()), result.stdout
    assert f"{services.namespace}/shop" in result.stdout

    wide = kubectl_plugin(services, "versions", "shop", "-n", services.namespace, "-o", "wide")
    message = services.status("shop")["versions"][0]["message"]
    assert message in wide.stdout and "…" not in wide.stdout


def test_output_for_scripts_and_exit_codes(services: Services) -> None:
    services.apply("shop", shop())
    services.wait_active("shop", 1)
    cli = services.cluster.run_lightship

    as_json = cli("versions", "shop", "-n", services.namespace, "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert [(v["version"], v["state"]) for v in json.loads(as_json.stdout)] == [(1, "Active")]
    as_yaml = cli("status", "shop", "-n", services.namespace, "-o", "yaml")
    assert yaml.safe_load(as_yaml.stdout)["status"]["state"] == "Running"

    missing = cli("status", "nope", "-n", services.namespace)
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "no service 'nope'" in missing.stderr

    bad_usage = cli("versions", "shop", "-n", services.namespace, "-o", "xml")
    assert bad_usage.returncode == 2
    assert "xml" in bad_usage.stderr
