"""Container logs on the local cluster: `lightship logs`, and the last lines a failed version
keeps in its status. Logs are simulated by kwok (tests/integration/simulated_logs.py) and read
through the API server's pod log endpoint, as on a real cluster."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lightship.api import MAX_LOG_LINES
from tests.integration import simulated_logs
from tests.integration.support import Services, shop, states, wait_for


def lightship(services: Services, *args: str) -> subprocess.CompletedProcess[str]:
    return services.cluster.run_lightship(*args, "-n", services.namespace)


def test_logs_of_the_active_version_from_every_pod(services: Services, tmp_path: Path) -> None:
    for index in (0, 1):
        simulated_logs.simulate(
            services.cluster,
            services.namespace,
            f"shop-v1-{index}",
            {
                "web": [f"web {index}: started", f"web {index}: GET / 200"],
                "cache": [f"cache {index}: ready to accept connections"],
            },
            tmp_path,
        )
    services.apply("shop", shop(scale=2))
    services.wait_active("shop", 1)
    simulated_logs.wait_served(services.cluster, services.namespace, "shop-v1-1", "web")

    # The public endpoint's container by default; every pod, each line prefixed with its pod.
    result = lightship(services, "logs", "shop")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[shop-v1-0] web 0: started",
        "[shop-v1-0] web 0: GET / 200",
        "[shop-v1-1] web 1: started",
        "[shop-v1-1] web 1: GET / 200",
    ]
    result = lightship(services, "logs", "shop", "-c", "cache")
    assert result.stdout.splitlines() == [
        "[shop-v1-0] cache 0: ready to accept connections",
        "[shop-v1-1] cache 1: ready to accept connections",
    ]
    result = lightship(services, "logs", "shop", "-c", "nope")
    assert result.returncode == 1
    assert "no container 'nope'; its containers: web, cache" in result.stderr


def test_logs_of_one_pod_without_prefix_and_of_a_chosen_version(
    services: Services, tmp_path: Path
) -> None:
    private = shop(public=False)
    private["containers"].reverse()  # cache first: without an endpoint, the first is the default
    simulated_logs.simulate(
        services.cluster, services.namespace, "shop-v1-0", {"cache": ["v1 cache"]}, tmp_path
    )
    simulated_logs.simulate(
        services.cluster, services.namespace, "shop-v2-0", {"cache": ["v2 cache"]}, tmp_path
    )
    services.apply("shop", private)
    services.wait_active("shop", 1)
    simulated_logs.wait_served(services.cluster, services.namespace, "shop-v1-0", "cache")
    assert lightship(services, "logs", "shop").stdout == "v1 cache\n"

    private["scale"] = 1
    private["containers"][0]["environment"] = [{"name": "CHANGE", "value": "2"}]
    services.apply("shop", private)
    services.wait_active("shop", 2)
    simulated_logs.wait_served(services.cluster, services.namespace, "shop-v2-0", "cache")
    assert lightship(services, "logs", "shop").stdout == "v2 cache\n"
    assert lightship(services, "logs", "shop", "--version", "2").stdout == "v2 cache\n"
    # Version 1 is inactive now: its pods are gone, and it kept no lines (it did not fail).
    wait_for(lambda: not services.pods("shop", 1), "version 1's pods removed", 30)
    result = lightship(services, "logs", "shop", "--version", "1")
    assert result.returncode == 1
    assert "version 1 of shop has no pods" in result.stderr
    result = lightship(services, "logs", "shop", "--version", "9")
    assert (result.returncode, result.stderr.strip()) == (
        1,
        "lightship: version 9 of shop is not kept",
    )


def test_logs_since(services: Services, tmp_path: Path) -> None:
    old = datetime.now(UTC) - timedelta(hours=1)
    text = simulated_logs.cri_lines(["an hour ago"], at=old) + simulated_logs.cri_lines(["now"])
    simulated_logs.simulate(
        services.cluster, services.namespace, "shop-v1-0", {"web": text}, tmp_path
    )
    services.apply("shop", shop())
    services.wait_active("shop", 1)
    simulated_logs.wait_served(services.cluster, services.namespace, "shop-v1-0", "web")
    assert lightship(services, "logs", "shop").stdout == "an hour ago\nnow\n"
    assert lightship(services, "logs", "shop", "--since", "10m").stdout == "now\n"
    assert lightship(services, "logs", "shop", "--since", "2h").stdout == "an hour ago\nnow\n"
    result = lightship(services, "logs", "shop", "--since", "ten minutes")
    assert result.returncode == 2 and "--since" in result.stderr


def test_logs_follow_streams_new_lines(services: Services, tmp_path: Path) -> None:
    files = simulated_logs.simulate(
        services.cluster, services.namespace, "shop-v1-0", {"web": ["first"]}, tmp_path
    )
    services.apply("shop", shop())
    services.wait_active("shop", 1)
    simulated_logs.wait_served(services.cluster, services.namespace, "shop-v1-0", "web")
    follower = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("lightship")),
            *("logs", "shop", "-f", "-n", services.namespace),
        ],
        env={**os.environ, "KUBECONFIG": str(services.cluster.kubeconfig)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, follower.kill)  # a line that never comes fails, not hangs
    watchdog.start()
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline() == "first\n"
        simulated_logs.append(files["web"], ["second", "third"])
        assert follower.stdout.readline() == "second\n"  # blocks until it comes
        assert follower.stdout.readline() == "third\n"
        assert follower.poll() is None  # still following
    finally:
        watchdog.cancel()
        follower.terminate()
        follower.communicate(timeout=10)


def test_failed_version_keeps_the_last_lines_of_its_failing_containers(
    services: Services, tmp_path: Path
) -> None:
    services.apply("shop", shop())
    services.wait_active("shop", 1)
    web = [f"web line {n}" for n in range(1, 31)]
    simulated_logs.simulate(
        services.cluster,
        services.namespace,
        "shop-v2-0",
        {"web": web, "cache": ["cache: out of memory", "cache: exiting"]},
        tmp_path,
    )
    services.apply("shop", shop("sim.invalid/crash-loop:logs"))
    status = services.wait(
        "shop", lambda s: states(s).get(2) == "Failed", "version 2 Failed", timeout=60
    )
    failed = status["versions"][0]
    assert (failed["version"], failed["reason"]) == (2, "CrashLoopBackOff")
    assert failed["logs"] == [
        {"pod": "shop-v2-0", "container": "web", "lines": web[-MAX_LOG_LINES:]},
        {
            "pod": "shop-v2-0",
            "container": "cache",
            "lines": ["cache: out of memory", "cache: exiting"],
        },
    ]
    assert status["currentDeployment"]["version"] == 1

    # The failed version's pods are gone; its last lines stay readable.
    wait_for(lambda: not services.pods("shop", 2), "the failed version's pods removed", 30)
    result = lightship(services, "logs", "shop", "--version", "2", "-c", "cache")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "cache: out of memory\ncache: exiting\n"
    assert "version 2 has no pods; the last lines kept when it failed" in result.stderr
    result = lightship(services, "logs", "shop", "--version", "2")
    lines = result.stdout.splitlines()
    assert lines[0] == "[shop-v2-0/web] web line 11"
    assert lines[-1] == "[shop-v2-0/cache] cache: exiting"
    # Later changes keep them: the status entry is history now.
    services.apply("shop", shop("nginx:1.28"))
    status = services.wait_active("shop", 3)
    assert status["versions"][1]["logs"] == failed["logs"]


def test_failure_without_readable_logs_is_still_reported(services: Services) -> None:
    # A pull error: the containers never ran, so there is nothing to read; a crash loop
    # without a simulated log: the read fails, and the version fails all the same.
    services.apply("shop", shop("sim.invalid/pull-error:logs"))
    status = services.wait("shop", lambda s: states(s) == {1: "Failed"}, "version 1 Failed")
    entry: dict[str, Any] = status["versions"][0]
    assert entry["reason"] == "ImagePullBackOff" and "logs" not in entry
    services.apply("shop", shop("sim.invalid/crash-loop:nologs"))
    status = services.wait("shop", lambda s: states(s).get(2) == "Failed", "version 2 Failed")
    entry = status["versions"][0]
    assert entry["reason"] == "CrashLoopBackOff" and "logs" not in entry
