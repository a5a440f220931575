"""The command line's errors: one line that says what to do, and an exit code scripts can use."""

import subprocess
import sys
from pathlib import Path

import yaml

LIGHTSHIP = Path(sys.executable).with_name("lightship")


def test_a_cluster_out_of_reach_is_one_line_and_exit_1(tmp_path: Path) -> None:
    # Port 9 on loopback: nothing listens there, so the connection is refused at once.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    result = subprocess.run(
        [str(LIGHTSHIP), "status", "shop"],
        env={"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "out of reach" in result.stderr and "KUBECONFIG" in result.stderr


def test_bad_usage_is_exit_2() -> None:
    result = subprocess.run(
        [str(LIGHTSHIP), "versions"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr == (
        "lightship versions: Missing argument 'service'. (see: lightship versions --help)\n"
    )
