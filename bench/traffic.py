"""Real traffic (issue 16): how long a user waits for a new image, on the real node through the
real gateway. For each change, the time from `kubectl apply` of a new image to the first answer
of the new version, and to the last answer of the old one, as a client sending 20 requests per
second sees them; Lightship against a plain Deployment + Service + Ingress of the same pod, in
one run, changes of the two systems taking turns. `make bench-traffic` runs it on the default
cluster (the real node and its gateway: hack/cluster/cluster.sh up), prints a markdown report
and writes bench/results/traffic.{json,md}.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The local registry's prober, for the pods Lightship renders (both systems' pods).
os.environ.setdefault(
    "LIGHTSHIP_PROBE_IMAGE", f"127.0.0.1:5000/lightship/prober:{version('lightship')}"
)

from tests.integration.real_node import ANNOTATIONS, TESTAPP  # noqa: E402
from tests.integration.traffic import Traffic, traffic  # noqa: E402

from lightship import GROUP, KIND, VERSION, render  # noqa: E402
from lightship.settings import Settings  # noqa: E402
from report import fmt, percentile, ratio  # noqa: E402
from scenario import BASELINE_UID, baseline_manifests  # noqa: E402

KUBECONFIG = ROOT / ".cluster" / "kubeconfig"
RESULTS = ROOT / "bench" / "results"
NAMESPACE = "bench-traffic"
# The two systems' services, side by side in the namespace.
NAME, BASELINE = "shop", "plain"
WAIT_SECONDS = 180  # for one change to be served


def say(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


@functools.cache
def binaries() -> str:
    """The cluster's binaries (built once into the cache)."""
    build = ROOT / "hack" / "cluster" / "build.sh"
    return subprocess.run([str(build)], check=True, capture_output=True, text=True).stdout.strip()


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(
        [f"{binaries()}/kubectl", "--kubeconfig", str(KUBECONFIG), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and done.returncode:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done.stdout


def spec(tag: int) -> dict[str, Any]:
    """One pod of the test application, public, with the default health check on /healthz."""
    return {
        "containers": [
            {
                "name": "web",
                "image": f"{TESTAPP}:{tag}",
                "ports": [{"port": 8080, "protocol": "HTTP"}],
            }
        ],
        "publicEndpoint": {
            "containerName": "web",
            "containerPort": 8080,
            "healthCheck": {"path": "/healthz"},
        },
    }


def lightship_manifests(tag: int) -> list[dict[str, Any]]:
    metadata = {"name": NAME, "namespace": NAMESPACE}
    return [
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": metadata, "spec": spec(tag)}
    ]


def apply(manifests: list[dict[str, Any]]) -> None:
    """`kubectl apply` of the manifests, as a user changes an image."""
    items = [{**m, "metadata": {**m["metadata"], "namespace": NAMESPACE}} for m in manifests]
    kubectl(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )


class System:
    """One system under test: how it is changed, and the client asking its host."""

    def __init__(self, label: str, manifests: Any, host: str) -> None:
        self.label, self.manifests, self.host = label, manifests, host
        self.client: Traffic | None = None
        self.since = 0.0  # when it first served: the answers counted start there
        self.changes: list[tuple[float, str, str]] = []  # applied, old tag, new tag

    def change(self, old: int, new: int) -> None:
        assert self.client is not None
        applied = time.monotonic()
        apply(self.manifests(new))
        self.changes.append((applied, str(old), str(new)))
        deadline = applied + WAIT_SECONDS
        while not self.client.serves_only(str(new), since=applied):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label}: version {new} not served after {WAIT_SECONDS} s")
            time.sleep(0.1)

    def timings(self) -> dict[str, Any]:
        """Per change, apply -> first answer of the new version and -> last of the old one."""
        assert self.client is not None
        answers = self.client.answers(self.since)
        ends = [c[0] for c in self.changes[1:]] + [float("inf")]
        first_new, last_old = [], []
        for (applied, old, new), end in zip(self.changes, ends, strict=True):
            window = [a for a in answers if applied <= a.sent < end]
            first_new.append(min(a.received for a in window if a.version == new) - applied)
            last_old.append(
                max((a.received for a in window if a.version == old), default=applied) - applied
            )
        failed = [a for a in answers if a.version is None]
        return {
            "first_new": first_new,
            "last_old": last_old,
            "requests": len(answers),
            "failed": len(failed),
            "errors": sorted({a.error or "" for a in failed})[:5],
        }


def prepare() -> None:
    if kubectl("get", "namespace", NAMESPACE, check=False):
        kubectl("delete", "namespace", NAMESPACE, "--timeout=180s")
    kubectl("create", "namespace", NAMESPACE)
    kubectl("annotate", "namespace", NAMESPACE, *(f"{k}={v}" for k, v in ANNOTATIONS.items()))
    crd = ROOT / "crds" / "lightship.dev_containerservicedeployments.yaml"
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crd))
    kubectl("wait", "--for=condition=established", "--timeout=60s", "-f", str(crd))
    while not kubectl("get", "sa", "default", "-n", NAMESPACE, "--ignore-not-found"):
        time.sleep(0.2)


def operator(log: Path) -> subprocess.Popen[bytes]:
    """`lightship run` on this namespace only, with the default settings otherwise."""
    env = {**os.environ, "KUBECONFIG": str(KUBECONFIG), "LIGHTSHIP_NAMESPACES": NAMESPACE}
    lightship = str(Path(sys.executable).with_name("lightship"))
    return subprocess.Popen(
        [lightship, "run"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def lightship_host() -> str:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        obj = json.loads(kubectl("get", "csd", NAME, "-n", NAMESPACE, "-o", "json"))
        url = (obj.get("status") or {}).get("url")
        if url:
            return str(url).removeprefix("https://").rstrip("/")
        time.sleep(0.5)
    raise RuntimeError("the service shows no URL")


def report(results: dict[str, Any]) -> str:
    rows = []
    for what, key in (
        ("apply -> first answer of the new version", "first_new"),
        ("apply -> last answer of the old version", "last_old"),
    ):
        for p in (50, 95):
            ours, theirs = (percentile(results[s][key], p) for s in ("lightship", "baseline"))
            rows.append(
                f"| {what}, p{p} | {fmt(ours)} s | {fmt(theirs)} s | {fmt(ratio(ours, theirs))} |"
            )
    counts = " | ".join(
        f"{results[s]['requests']} sent, {results[s]['failed']} failed"
        for s in ("lightship", "baseline")
    )
    return "\n".join(
        [
            f"Real traffic, {results['changes']} image changes each, {results['started']}, "
            f"load average at start {results['load']}",
            "",
            "| | Lightship | Deployment + Service + Ingress | ratio |",
            "| --- | --- | --- | --- |",
            *rows,
            f"| requests | {counts} | |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "changes": args.changes,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "load": f"{os.getloadavg()[0]:.1f}",
    }
    prepare()
    RESULTS.mkdir(parents=True, exist_ok=True)
    process = operator(RESULTS / "traffic-operator.log")
    try:
        baseline_host = render.public_host(BASELINE, BASELINE_UID, Settings())
        systems = [
            System("lightship", lightship_manifests, ""),
            System("baseline", lambda tag: baseline_manifests(BASELINE, spec(tag)), baseline_host),
        ]
        for system in systems:
            apply(system.manifests(1))
        systems[0].host = lightship_host()
        with ExitStack() as stack:
            for system in systems:
                system.client = stack.enter_context(traffic(system.host))
                system.change(1, 1)  # served at all
                system.changes.clear()
                system.since = time.monotonic()
            system_changes(systems, args.changes)
        for system in systems:
            results[system.label] = system.timings()
    finally:
        process.terminate()
        process.wait(30)
        kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
    (RESULTS / "traffic.json").write_text(json.dumps(results, indent=1))
    text = report(results)
    (RESULTS / "traffic.md").write_text(text + "\n")
    print(text)


def system_changes(systems: list[System], changes: int) -> None:
    """The changes, the systems taking turns (each first in every other round)."""
    for index in range(changes):
        old, new = 1 + index % 2, 2 - index % 2
        for system in systems if index % 2 == 0 else systems[::-1]:
            say(f"{system.label}: change {index + 1}: version {old} -> {new}")
            system.change(old, new)


if __name__ == "__main__":
    main()
