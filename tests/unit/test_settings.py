"""Operator settings: a bad value stops the operator at start, naming the variable."""

import subprocess
import sys
from pathlib import Path

import pytest

from lightship.settings import HealthCheckMode, SettingsError, load_settings, published_probe_image


def test_health_check_defaults_to_exact_with_the_published_prober(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LIGHTSHIP_HEALTH_CHECK", raising=False)
    monkeypatch.delenv("LIGHTSHIP_PROBE_IMAGE", raising=False)
    settings = load_settings()
    assert settings.health_check == HealthCheckMode.exact
    assert settings.probe_image == published_probe_image()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LIGHTSHIP_HEALTH_CHECK", "httpGet"),
        ("LIGHTSHIP_HEALTH_CHECK", "EXACT"),
        ("LIGHTSHIP_PROBE_IMAGE", "Prober:1"),
        ("LIGHTSHIP_PROBE_IMAGE", "reg.example/prober:"),
        ("LIGHTSHIP_PROBE_IMAGE", ""),
    ],
)
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=rf"^invalid setting: {variable}: "):
        load_settings()


def test_the_operator_does_not_start_with_a_bad_setting(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lightship")), "run"],
        env={"LIGHTSHIP_HEALTH_CHECK": "sometimes", "KUBECONFIG": str(tmp_path / "none")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "LIGHTSHIP_HEALTH_CHECK" in result.stderr, result.stderr
