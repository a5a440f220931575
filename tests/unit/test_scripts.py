"""Every shell script under hack/ passes shellcheck."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "hack").rglob("*.sh"))


def test_there_are_scripts() -> None:
    assert SCRIPTS, "no hack/**/*.sh found: the shellcheck test would check nothing"


@pytest.mark.parametrize("script", SCRIPTS, ids=[str(s.relative_to(ROOT)) for s in SCRIPTS])
def test_shellcheck(script: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed: run hack/system-deps.sh")
    # -x with SCRIPTDIR: follow `source "$here/x.sh"` to the file beside the script.
    done = subprocess.run(
        [shellcheck, "--external-sources", "--source-path=SCRIPTDIR", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
