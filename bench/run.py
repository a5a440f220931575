"""Lightship against the built-in Deployment controller: latency, throughput, API cost, memory
and CPU (issue 6). `make bench` runs this; it prints the markdown report at the end and writes
bench/results/latest.{json,md,png}.

Everything runs on a cluster of its own (LIGHTSHIP_CLUSTER=lightship-bench), made fresh at the
start and removed at the end, so other sessions' tests on the shared cluster are not disturbed
(the machine's CPUs are still shared: run it on a quiet machine for steady figures).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

import audit
import pyspy
import report
from scenario import Baseline, Lightship, System
from watch import Goal

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CLUSTER = "lightship-bench"
KUBECONFIG = ROOT / ".cluster" / f"{CLUSTER}.kubeconfig"
CLUSTER_DIR = ROOT / ".cluster" / "kwok" / "clusters" / CLUSTER
AUDIT_LOG = CLUSTER_DIR / "logs" / "audit.log"
CRD_FILE = ROOT / "crds" / "lightship.dev_containerservicedeployments.yaml"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The default Service range of the API server is a /24: too small for 2,000 Services.
SERVICE_CIDR = "10.96.0.0/16"
PODS_PER_NODE = 4000


def say(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


# -- processes -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process; NaN once it is gone (a component that died: see its log)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_mib(pid: int) -> dict[str, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def control_plane_pids() -> dict[str, int]:
    pids = {}
    for pid_file in (CLUSTER_DIR / "pids").glob("*.pid"):
        pids[pid_file.stem] = int(pid_file.read_text().strip())
    return pids


class CpuMeter:
    """CPU seconds of the operator and the control plane's processes over a phase."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.started = time.monotonic()

    def read(self) -> dict[str, float]:
        result = {
            name: round(cpu_seconds(pid) - self.start[name], 2) for name, pid in self.pids.items()
        }
        result["wall"] = round(time.monotonic() - self.started, 2)
        # The machine's load (1 min) at the end: a busy machine slows every figure.
        result["load_average"] = round(os.getloadavg()[0], 2)
        return result


class Operator:
    """`lightship run` as a subprocess against the benchmark cluster (as the integration tests
    start it), its liveness endpoint polled until it serves."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("lightship")),
                "run",
                "--liveness",
                f"http://127.0.0.1:{self.port}/healthz",
            ],
            env={**os.environ, "KUBECONFIG": str(KUBECONFIG)},
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.pid = self.process.pid
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the operator did not start; see {log_path}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Profiler:
    """py-spy sampling the operator (optional: --profile), for the phases that miss a target."""

    def __init__(self, pid: int, name: str) -> None:
        self.out = RESULTS / f"profile-{name}"
        py_spy = Path(sys.executable).with_name("py-spy")
        self.processes = [
            subprocess.Popen(
                [
                    str(py_spy),
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    "50",
                    "--format",
                    fmt,
                    "--output",
                    str(self.out) + suffix,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for fmt, suffix in (("raw", ".txt"),)
        ]

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
        raw = Path(str(self.out) + ".txt")
        if raw.exists():
            Path(str(self.out) + "-summary.txt").write_text(pyspy.summary(raw, 40))


# -- cluster ---------------------------------------------------------------------------------


def cluster_script(action: str) -> None:
    subprocess.run(
        [str(ROOT / "hack" / "cluster" / "cluster.sh"), action],
        env={**os.environ, "LIGHTSHIP_CLUSTER": CLUSTER},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def kubectl(*args: str, stdin: str | None = None) -> str:
    bin_dir = subprocess.run(
        [str(ROOT / "hack" / "cluster" / "build.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()
    return subprocess.run(
        [f"{bin_dir}/kubectl", "--kubeconfig", str(KUBECONFIG), *args],
        input=stdin,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def bench_nodes(pods: int) -> list[dict[str, Any]]:
    """Simulated nodes with room for `pods` pods, whatever they request: the cluster's own two
    (hack/cluster/nodes.yaml) hold 64 CPUs each, which about 500 pods of the benchmark's
    size fill up."""
    count = -(-pods // PODS_PER_NODE)
    capacity = {"cpu": "100000", "memory": "1000Ti", "pods": str(PODS_PER_NODE)}
    return [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": f"bench-node-{index}",
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {"kubernetes.io/hostname": f"bench-node-{index}", "type": "kwok"},
            },
            "status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "allocatable": capacity,
                "capacity": capacity,
            },
        }
        for index in range(count)
    ]


def prepare_cluster(services: int, scale: int) -> None:
    # Both systems' services at once, and a second pod each while their image changes.
    nodes = bench_nodes(3 * services * scale)
    kubectl(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes})
    )
    kubectl("wait", "--for=condition=Ready", "node", "-l", "type=kwok", "--timeout=60s")
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE))
    kubectl("wait", "--for=condition=established", "--timeout=60s", "-f", str(CRD_FILE))
    kubectl(
        "apply",
        "-f",
        "-",
        stdin=json.dumps(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "ServiceCIDR",
                "metadata": {"name": "bench"},
                "spec": {"cidrs": [SERVICE_CIDR]},
            }
        ),
    )
    kubectl("wait", "--for=condition=Ready", "--timeout=60s", "servicecidr/bench")


def make_namespace(core: client.CoreV1Api, name: str) -> None:
    core.create_namespace({"metadata": {"name": name}}, _preload_content=False)
    deadline = time.monotonic() + 30
    while True:  # pods are refused until the default ServiceAccount exists
        try:
            core.read_namespaced_service_account("default", name, _preload_content=False)
            return
        except ApiException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def delete_namespaces(core: client.CoreV1Api, names: list[str], timeout: float = 300) -> None:
    for name in names:
        core.delete_namespace(name, _preload_content=False)
    deadline = time.monotonic() + timeout
    for name in names:
        while time.monotonic() < deadline:
            try:
                core.read_namespace(name, _preload_content=False)
            except ApiException:
                break
            time.sleep(1)


def api_client(pool: int) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(KUBECONFIG), client_configuration=configuration)
    configuration.connection_pool_maxsize = pool
    return client.ApiClient(configuration)


# -- phases ----------------------------------------------------------------------------------


def burst_timeout(count: int) -> float:
    """How long a burst of `count` services may take: 15 minutes, more at 10,000."""
    return max(900.0, 0.3 * count)


def names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{index:04d}" for index in range(count)]


def sequential(
    systems: list[System], count: int, action: str, scale: int, timeout: float
) -> dict[str, list[Goal]]:
    """One service after another, the systems interleaved (alternating which goes first, so
    that a change of load on the machine weighs on both alike)."""
    goals: dict[str, list[Goal]] = {s.label: [] for s in systems}
    for index, name in enumerate(names("s", count)):
        order = systems if index % 2 == 0 else systems[::-1]
        for system in order:
            goal = getattr(system, action)(name, scale)
            if not system.board.wait([name], timeout):
                say(f"  {system.label} {name}: not done within {timeout} s")
            goals[system.label].append(goal)
        if (index + 1) % 25 == 0:
            say(f"  {action} {index + 1}/{count}")
    return goals


def at_once(
    system: System, count: int, action: str, scale: int, timeout: float, threads: int
) -> dict[str, Any]:
    """Every service at once, as fast as `threads` client threads can send."""
    batch = names("s", count)
    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        goals = list(pool.map(lambda name: getattr(system, action)(name, scale), batch))
    sent = time.monotonic() - started
    complete = system.board.wait(batch, timeout)
    done = [g.done - started for g in goals if g.done is not None]
    total = max(done) if complete else None
    return {
        "services": count,
        "complete": complete,
        "done": len(done),
        "sent_seconds": round(sent, 2),
        "total_seconds": round(total, 2) if total else None,
        "services_per_second": round(count / total, 2) if total else None,
        "completion_seconds": sorted(round(d, 3) for d in done),
        "latency_seconds": [g.seconds() for g in goals],
    }


def audit_window(start: int, end: int, versions: int) -> dict[str, Any]:
    requests = audit.read(AUDIT_LOG, start, end)
    operator_calls = audit.by_call(requests)
    kcm: dict[str, int] = {}
    for request in requests:
        if request.client.startswith("kcm/"):
            key = f"{request.client[4:]} {request.verb} {request.resource}"
            kcm[key] = kcm.get(key, 0) + 1
    return {
        "versions": versions,
        "operator_by_verb": dict(audit.by_verb(requests)),
        "operator_by_call": dict(sorted(operator_calls.items())),
        "operator_writes": audit.writes(requests),
        "kcm_by_call": dict(sorted(kcm.items())),
    }


def goal_times(goals: list[Goal]) -> dict[str, Any]:
    parts = sorted({part for g in goals for part in (*g.required, *g.extra)})
    return {
        "seconds": [g.seconds() for g in goals],
        "parts": {part: [g.seconds(part) for g in goals] for part in parts},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-services", type=int, default=100)
    parser.add_argument("--throughput-services", type=int, default=1000)
    parser.add_argument("--scale", type=int, default=1, help="pods per service")
    parser.add_argument("--steady-seconds", type=float, default=60)
    parser.add_argument("--threads", type=int, default=16, help="client threads at once")
    parser.add_argument("--profile", action="store_true", help="py-spy the operator at scale")
    parser.add_argument("--keep-cluster", action="store_true", help="leave the cluster up")
    parser.add_argument("--skip-baseline", action="store_true", help="Lightship only")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg(),
        },
        "parameters": vars(args),
    }

    say(f"a fresh cluster {CLUSTER}")
    cluster_script("down")
    cluster_script("up")
    try:
        prepare_cluster(args.throughput_services, args.scale)
        run(args, results)
    finally:
        # The components' logs (not the audit log: large, and summed up above) outlive it.
        logs = RESULTS / "cluster-logs"
        shutil.rmtree(logs, ignore_errors=True)
        shutil.copytree(CLUSTER_DIR / "logs", logs, ignore=shutil.ignore_patterns("audit.log"))
        if not args.keep_cluster:
            say(f"removing the cluster {CLUSTER}")
            cluster_script("down")
    results["wall_seconds"] = round(time.monotonic() - began, 1)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=1))
    markdown = report.write(results, RESULTS)
    print()
    print(markdown)


def run(args: argparse.Namespace, results: dict[str, Any]) -> None:
    api = api_client(pool=args.threads * 2)
    watch_api = api_client(pool=16)
    core = client.CoreV1Api(api)
    # The control plane's processes, and this one (the client: it must not be the bottleneck).
    plane = {**control_plane_pids(), "bench": os.getpid()}
    timeout = 120.0

    # -- 0 and 100 services: latency, one service after another --------------------------
    for namespace in ("lat-lightship", "lat-baseline", "tput-lightship", "tput-baseline"):
        make_namespace(core, namespace)
    operator = Operator(RESULTS / "operator-1.log")
    say(f"operator started (pid {operator.pid}); idle for 10 s")
    idle = CpuMeter({"operator": operator.pid})
    time.sleep(10)
    results["resources"] = {
        "0": {**memory_mib(operator.pid), "cpu_seconds_idle_10s": idle.read()["operator"]}
    }

    systems: list[System] = [Lightship(api, watch_api, "lat-lightship")]
    if not args.skip_baseline:
        systems.append(Baseline(api, watch_api, "lat-baseline"))
    for system in systems:
        system.start()
    latency: dict[str, Any] = {}
    api_cost: dict[str, Any] = {}
    n = args.latency_services
    for action in ("create", "update"):
        say(f"latency: {action} {n} services one after another")
        meter = CpuMeter({"operator": operator.pid, **plane})
        start = audit.offset(AUDIT_LOG)
        goals = sequential(systems, n, action, args.scale, timeout)
        end = audit.settle(AUDIT_LOG)
        latency[action] = {label: goal_times(g) for label, g in goals.items()}
        latency[action]["cpu_seconds"] = meter.read()
        api_cost[action] = audit_window(start, end, versions=n)
    results["latency"] = latency
    results["resources"][str(args.latency_services)] = {
        **memory_mib(operator.pid),
        "cpu_seconds_create": latency["create"]["cpu_seconds"]["operator"],
        "cpu_seconds_update": latency["update"]["cpu_seconds"]["operator"],
    }
    for system in systems:
        system.stop()
    operator.stop()
    say("latency services removed")
    delete_namespaces(core, ["lat-lightship", "lat-baseline"])

    # -- 1,000 services at once -----------------------------------------------------------
    throughput: dict[str, Any] = {}
    n = args.throughput_services
    if not args.skip_baseline:
        baseline = Baseline(api, watch_api, "tput-baseline")
        baseline.start()
        throughput["baseline"] = {}
        for action in ("create", "update"):
            say(f"throughput: baseline, {action} {n} services at once")
            meter = CpuMeter(plane)
            start = audit.offset(AUDIT_LOG)
            throughput["baseline"][action] = at_once(
                baseline, n, action, args.scale, burst_timeout(n), args.threads
            )
            throughput["baseline"][action]["cpu_seconds"] = meter.read()
            throughput["baseline"][action]["api"] = audit_window(
                start, audit.offset(AUDIT_LOG), versions=n
            )
            say(f"  {throughput['baseline'][action]['total_seconds']} s")
        baseline.stop()

    operator = Operator(RESULTS / "operator-2.log")
    say(f"operator restarted (pid {operator.pid}) for {n} services")
    time.sleep(5)
    lightship = Lightship(api, watch_api, "tput-lightship")
    lightship.start()
    throughput["lightship"] = {}
    for action in ("create", "update"):
        say(f"throughput: lightship, {action} {n} services at once")
        profiler = Profiler(operator.pid, f"{action}-{n}") if args.profile else None
        meter = CpuMeter({"operator": operator.pid, **plane})
        start = audit.offset(AUDIT_LOG)
        throughput["lightship"][action] = at_once(
            lightship, n, action, args.scale, burst_timeout(n), args.threads
        )
        end = audit.settle(AUDIT_LOG)
        if profiler is not None:
            profiler.stop()
        throughput["lightship"][action]["cpu_seconds"] = meter.read()
        throughput["lightship"][action]["api"] = audit_window(start, end, versions=n)
        say(f"  {throughput['lightship'][action]['total_seconds']} s")
    results["throughput"] = throughput

    say(f"steady state: {n} services, {args.steady_seconds:.0f} s")
    meter = CpuMeter({"operator": operator.pid, **plane})
    start = audit.offset(AUDIT_LOG)
    time.sleep(args.steady_seconds)
    window = audit_window(start, audit.offset(AUDIT_LOG), versions=0)
    minutes = args.steady_seconds / 60
    results["steady"] = {
        "services": n,
        "seconds": args.steady_seconds,
        "operator_per_minute_by_verb": {
            verb: round(count / minutes, 1) for verb, count in window["operator_by_verb"].items()
        },
        "operator_writes_per_minute": round(window["operator_writes"] / minutes, 1),
        "operator_by_call": window["operator_by_call"],
        "cpu_seconds_per_minute": {k: round(v / minutes, 2) for k, v in meter.read().items()},
    }
    results["resources"][str(n)] = {
        **memory_mib(operator.pid),
        "cpu_seconds_create": throughput["lightship"]["create"]["cpu_seconds"]["operator"],
        "cpu_seconds_update": throughput["lightship"]["update"]["cpu_seconds"]["operator"],
    }
    results["api_cost"] = api_cost
    lightship.stop()
    operator.stop()


if __name__ == "__main__":
    main()
