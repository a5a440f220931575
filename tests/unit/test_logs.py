"""Container logs, the pure parts: bounding a tail, durations, the default container, and how
the rollout decision asks for a failing pod's logs and keeps them in the Failed version."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from lightship.api import (
    MAX_LOG_BYTES,
    MAX_LOG_LINES,
    MAX_VERSIONS_WITH_LOGS,
    ContainerLog,
    ContainerServiceSpec,
    ContainerServiceStatus,
    DeploymentVersion,
)
from lightship.logs import default_container, last_lines, parse_since, prefixed
from lightship.pods import Failure, observe_pod
from lightship.rollout import plan
from tests.unit.support import (
    ACTIVATING,
    ACTIVE,
    FAILED,
    INACTIVE,
    SETTINGS,
    observed,
    pod,
    rolling_out,
    spec,
    states,
    version,
)

CRASH = Failure("CrashLoopBackOff", "container web: back-off restarting")


# -- bounding ---------------------------------------------------------------------------------


def test_last_lines_keeps_the_last_20() -> None:
    data = "".join(f"line {n}\n" for n in range(1, 31)).encode()
    assert last_lines(data) == [f"line {n}" for n in range(11, 31)]
    assert len(last_lines(data)) == MAX_LOG_LINES


def test_last_lines_keeps_at_most_2_kib_of_whole_lines() -> None:
    lines = [f"{n:02d}" + "x" * 297 for n in range(10)]  # 300 bytes and a newline each
    kept = last_lines("\n".join(lines).encode())
    assert kept == lines[-6:]  # 6 * 301 = 1806 <= 2048 < 7 * 301
    assert sum(len(line.encode()) + 1 for line in kept) <= MAX_LOG_BYTES


def test_a_single_long_last_line_keeps_its_end() -> None:
    long = "start " + "y" * 5000 + " the end"
    (kept,) = last_lines(f"earlier\n{long}\n".encode())
    assert kept.startswith("…") and kept.endswith("y the end")
    assert len(kept.encode()) + 1 <= MAX_LOG_BYTES


def test_multibyte_text_is_never_split_into_garbage() -> None:
    (kept,) = last_lines(("é" * 3000).encode())
    assert set(kept) <= {"…", "é"} and len(kept.encode()) + 1 <= MAX_LOG_BYTES
    assert last_lines(b"bad \xff byte\n") == ["bad \ufffd byte"]


def test_empty_logs() -> None:
    assert last_lines(b"") == [] and last_lines(b"\n") == [""]


# -- the command line's helpers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1h30m", 5400), ("1d", 86400)]
)
def test_parse_since(text: str, seconds: int) -> None:
    assert parse_since(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "ten minutes", "10x", "-5m", "m"])
def test_parse_since_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_since(text)


def test_default_container_is_the_endpoint_one_else_the_first() -> None:
    wire: dict[str, Any] = {
        "containers": [
            {"name": "cache", "image": "redis"},
            {"name": "web", "image": "nginx", "ports": [{"port": 80, "protocol": "HTTP"}]},
        ],
        "publicEndpoint": {"containerName": "web", "containerPort": 80},
    }
    assert default_container(ContainerServiceSpec.model_validate(wire)) == "web"
    del wire["publicEndpoint"]
    assert default_container(ContainerServiceSpec.model_validate(wire)) == "cache"


def test_prefixed() -> None:
    assert list(prefixed("shop-v1-0", ["a", "b"], True)) == ["[shop-v1-0] a", "[shop-v1-0] b"]
    assert list(prefixed("shop-v1-0", ["a"], False)) == ["a"]


# -- which containers' logs tell of a failure ------------------------------------------------------


def _statuses(*containers: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "shop-v2-0", "labels": {"lightship.dev/version": "2"}},
        "status": {"phase": "Running", "containerStatuses": list(containers)},
    }


def test_log_containers_are_those_that_ran_and_are_not_ready() -> None:
    observed_pod = observe_pod(
        _statuses(
            {  # crash loop: ran, restarting
                "name": "web",
                "ready": False,
                "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            },
            {"name": "cache", "ready": True, "state": {"running": {}}},  # fine
            {  # never started: no log
                "name": "pull",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff"}},
            },
            {"name": "slow", "ready": False, "state": {"running": {}}},  # running, not ready
            {  # exited once, then restarted
                "name": "job",
                "ready": False,
                "lastState": {"terminated": {"exitCode": 1}},
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            },
        )
    )
    assert observed_pod.log_containers == ("web", "slow", "job")


# -- the decision ---------------------------------------------------------------------------------


def _failing() -> Any:
    old, new = spec("nginx:1.26"), spec("sim.invalid/crash-loop")
    return rolling_out(
        old, new, pod(2, ready=False, failure=CRASH, log_containers=("web", "cache"))
    )


def test_a_failing_version_asks_for_the_logs_of_its_failing_pod() -> None:
    result = plan(_failing(), SETTINGS)
    assert states(result) == {2: FAILED, 1: ACTIVE}
    assert result.read_logs == {"shop-v2-0": ("web", "cache")}
    assert result.status.versions[0].logs is None


def test_the_logs_read_land_in_the_failed_version() -> None:
    first = _failing()
    read = {"shop-v2-0": {"web": ["panic: no config"], "cache": []}}
    result = plan(replace(first, logs=read), SETTINGS)
    assert result.read_logs == {}
    assert states(result) == {2: FAILED, 1: ACTIVE}
    assert result.status.versions[0].logs == [
        ContainerLog(pod="shop-v2-0", container="web", lines=["panic: no config"])
    ]
    assert result.delete_pods == ["shop-v2-0"]
    # Nothing could be read: the version fails all the same, without logs, and asks no more.
    result = plan(replace(first, logs={"shop-v2-0": {}}), SETTINGS)
    assert result.read_logs == {} and result.status.versions[0].logs is None
    assert result.status.versions[0].reason == "CrashLoopBackOff"


def test_no_logs_are_asked_for_containers_that_never_ran() -> None:
    pull = Failure("ImagePullBackOff", "container web: Back-off pulling image")
    result = plan(
        observed(
            1,
            spec("sim.invalid/pull-error"),
            [version(1, ACTIVATING)],
            pods=[pod(1, ready=False, failure=pull)],
        ),
        SETTINGS,
    )
    assert states(result) == {1: FAILED} and result.read_logs == {}


def test_an_activation_timeout_asks_for_the_not_ready_pod_logs() -> None:
    result = plan(
        observed(
            1,
            spec("sim.invalid/never-ready", scale=2),
            [version(1, ACTIVATING, age=601)],
            pods=[pod(1, 0, ready=True), pod(1, 1, ready=False, log_containers=("web",))],
        ),
        SETTINGS,
    )
    assert states(result) == {1: FAILED}
    assert result.read_logs == {"shop-v1-1": ("web",)}


def test_kept_logs_stay_with_their_version_and_only_the_newest_keep_them() -> None:
    def failed(number: int) -> DeploymentVersion:
        entry = version(number, FAILED)
        entry.reason = "CrashLoopBackOff"
        entry.logs = [ContainerLog(pod=f"shop-v{number}-0", container="web", lines=["x"])]
        return entry

    history = [failed(n) for n in range(8, 1, -1)] + [version(1, ACTIVE)]
    current = spec()
    result = plan(
        observed(
            1,
            current,
            history,
            revisions={v.version: (v.version, current) for v in history},
            pods=[pod(1)],
            selected=1,
            status=ContainerServiceStatus(versions=history),
        ),
        SETTINGS,
    )
    kept = [v.version for v in result.status.versions if v.logs]
    assert kept == list(range(8, 8 - MAX_VERSIONS_WITH_LOGS, -1))
    assert all(v.state == FAILED for v in result.status.versions if v.version > 1)
    assert INACTIVE not in states(result).values()
