"""The benchmark report: a markdown table of every figure and a PNG of the distributions."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

WRITE_VERBS = ("create", "patch", "update", "delete")
READ_VERBS = ("get", "list", "watch")
# Baseline controllers that do the work of a Lightship version (the EndpointSlice controller
# serves both systems alike).
BASELINE_CONTROLLERS = ("deployment-controller", "replicaset-controller")


def percentile(values: list[float], p: int) -> float | None:
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    if len(data) == 1:
        return data[0]
    return statistics.quantiles(data, n=100, method="inclusive")[p - 1]


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def minimum_writes(scale: int, first: bool) -> dict[str, int]:
    """The fewest writes a new version needs, by what they write (see the report's notes)."""
    if first:
        return {
            "create controllerrevisions": 1,
            "create pods": scale,
            "create services": 1,
            "create ingresses": 1,
            "patch containerservicedeployments/status": 2,
        }
    return {
        "create controllerrevisions": 1,
        "create pods": scale,
        "patch services": 1,
        "delete pods": scale,
        "patch containerservicedeployments/status": 2,
    }


def writes_of(calls: dict[str, int]) -> int:
    return sum(count for call, count in calls.items() if call.split()[0] in WRITE_VERBS)


def write(results: dict[str, Any], out: Path) -> str:
    lines: list[str] = []
    add = lines.append
    params = results["parameters"]
    scale = params["scale"]
    latency = results.get("latency", {})
    throughput = results.get("throughput", {})
    api_cost = results.get("api_cost", {})
    steady = results.get("steady", {})
    resources = results.get("resources", {})
    targets: list[tuple[str, str, str, bool | None]] = []

    add(f"# Lightship benchmarks ({results['started']})")
    add("")
    add(
        f"{results['machine']['cpus']} CPUs, Python {results['machine']['python']}, load average "
        f"at start {results['machine']['load_average_at_start'][0]:.2f}; scale {scale} pod per "
        f"service; local kwok cluster (real API server, etcd, controller manager, scheduler); "
        f"whole run {results.get('wall_seconds', 0) / 60:.1f} min."
    )

    # -- latency -------------------------------------------------------------------------
    add("")
    add(f"## Latency, {params['latency_services']} services one after another (seconds)")
    add("")
    add("| change | Lightship p50 | p90 | p99 | baseline p50 | p90 | p99 | ratio p50 | ratio p99 |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for action, label in (("create", "new service"), ("update", "image change")):
        phase = latency.get(action, {})
        light = phase.get("lightship", {}).get("seconds", [])
        base = phase.get("baseline", {}).get("seconds", [])
        lp = [percentile(light, p) for p in (50, 90, 99)]
        bp = [percentile(base, p) for p in (50, 90, 99)]
        r50, r99 = ratio(lp[0], bp[0]), ratio(lp[2], bp[2])
        add(
            f"| {label} | {' | '.join(fmt(v) for v in lp)} | {' | '.join(fmt(v) for v in bp)} "
            f"| {fmt(r50)} | {fmt(r99)} |"
        )
        targets.append(
            (f"latency p50 ratio, {label}", "<= 1.0", fmt(r50), None if r50 is None else r50 <= 1)
        )
        targets.append(
            (
                f"latency p99 ratio, {label}",
                "<= 1.5",
                fmt(r99),
                None if r99 is None else r99 <= 1.5,
            )
        )
    add("")
    add(
        "Lightship: from the create (or patch) request to the watch event showing the service "
        "`Running` with the new version `Active` for the current generation; for an image "
        "change, also every pod of the old version deleted. Baseline: from the first of its "
        "three create requests (Deployment, Service, Ingress), or the Deployment patch, to the "
        "Deployment's status complete for its generation (every replica updated, ready and "
        "available, no old replica left), the Service's EndpointSlice listing exactly the new "
        "pods, ready, and, for a change, the old pods deleted."
    )
    extra = []
    for action in ("create", "update"):
        parts = latency.get(action, {}).get("lightship", {}).get("parts", {})
        if parts.get("endpoints"):
            extra.append(f"{action} p50 {fmt(percentile(parts['endpoints'], 50))} s")
    if extra:
        add(
            "Lightship until its EndpointSlice lists the new pods ready (not part of the "
            f"figure above): {', '.join(extra)}."
        )

    # -- throughput ----------------------------------------------------------------------
    add("")
    add(f"## Throughput, {params['throughput_services']} services at once")
    add("")
    add(
        "| change | Lightship total s | services/s | baseline total s | services/s "
        "| ratio | Lightship p50 / p99 s | baseline p50 / p99 s "
        "| requests sent in s (Lightship / baseline) | done p50 / p99 from the start, "
        "Lightship | baseline |"
    )
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for action, label in (("create", "create all"), ("update", "image change of all")):
        light = throughput.get("lightship", {}).get(action, {})
        base = throughput.get("baseline", {}).get(action, {})
        r = ratio(light.get("services_per_second"), base.get("services_per_second"))

        def tail(phase: dict[str, Any], key: str = "latency_seconds") -> str:
            values = phase.get(key, [])
            return f"{fmt(percentile(values, 50), 1)} / {fmt(percentile(values, 99), 1)}"

        add(
            f"| {label} | {fmt(light.get('total_seconds'), 1)} "
            f"| {fmt(light.get('services_per_second'), 1)} | {fmt(base.get('total_seconds'), 1)} "
            f"| {fmt(base.get('services_per_second'), 1)} | {fmt(r)} | {tail(light)} "
            f"| {tail(base)} | {fmt(light.get('sent_seconds'), 1)} / "
            f"{fmt(base.get('sent_seconds'), 1)} | {tail(light, 'completion_seconds')} "
            f"| {tail(base, 'completion_seconds')} |"
        )
        targets.append(
            (f"throughput ratio, {label}", ">= 0.7", fmt(r), None if r is None else r >= 0.7)
        )
        # Fairness: each service's own wait, against the baseline's in the same burst.
        for p in (50, 99):
            own = ratio(
                percentile(light.get("latency_seconds", []), p),
                percentile(base.get("latency_seconds", []), p),
            )
            targets.append(
                (
                    f"each service's own p{p} ratio, {label}",
                    "<= 1.5",
                    fmt(own),
                    None if own is None else own <= 1.5,
                )
            )
    add("")
    add(
        f"All requests sent by {params['threads']} client threads as fast as they go; total = "
        "from the first request to the last service done (same conditions as above); "
        "p50 / p99 = each service's own time from its request; done from the start = when "
        "each service was done, from the burst's first request. The baseline sends three "
        "requests per service (Deployment, Service, Ingress), Lightship one: when the API "
        "server is slow, the baseline's requests go out over a longer time, and each of its "
        "services waits less after its own request for the same completion times."
    )

    # -- API cost ------------------------------------------------------------------------
    add("")
    add("## API requests of the operator per new version")
    add("")
    add(
        "From the API server's audit log, requests whose user agent is the operator's "
        "(`lightship/…` or `kopf/…`), divided by the number of versions made in the phase."
    )
    add("")
    columns = [
        ("first version", api_cost.get("create"), True),
        ("new version", api_cost.get("update"), False),
    ]
    for action in ("create", "update"):
        window = throughput.get("lightship", {}).get(action, {}).get("api")
        label = "first version" if action == "create" else "new version"
        columns.append((f"{label}, 1,000 at once", window, action == "create"))
    columns = [c for c in columns if c[1]]
    add("| request | " + " | ".join(label for label, _, _ in columns) + " |")
    add("| --- |" + " ---: |" * len(columns))
    calls = sorted({call for _, window, _ in columns for call in window["operator_by_call"]})
    verbs_order = {v: i for i, v in enumerate((*WRITE_VERBS, *READ_VERBS))}
    calls.sort(key=lambda c: (verbs_order.get(c.split()[0], 99), c))
    for call in calls:
        cells = [
            fmt(window["operator_by_call"].get(call, 0) / window["versions"])
            for _, window, _ in columns
        ]
        add(f"| {call} | " + " | ".join(cells) + " |")
    for verb in (*WRITE_VERBS, *READ_VERBS):
        cells = [
            fmt(window["operator_by_verb"].get(verb, 0) / window["versions"])
            for _, window, _ in columns
        ]
        if any(c != "0.00" for c in cells):
            add(f"| **all {verb}** | " + " | ".join(cells) + " |")
    write_cells, minimum_cells = [], []
    for label, window, first in columns:
        per_version = window["operator_writes"] / window["versions"]
        minimum = sum(minimum_writes(scale, first).values())
        write_cells.append(fmt(per_version))
        minimum_cells.append(str(minimum))
        targets.append(
            (
                f"writes per version, {label}",
                f"<= {minimum} + 2",
                fmt(per_version),
                per_version <= minimum + 2,
            )
        )
    add("| **writes** | " + " | ".join(f"**{c}**" for c in write_cells) + " |")
    add("| minimum writes | " + " | ".join(minimum_cells) + " |")
    add("")
    first, new = minimum_writes(scale, True), minimum_writes(scale, False)
    add(
        f"Minimum writes for scale n = {scale} (what must change in the cluster, nothing else): "
        f"a first version needs 1 ControllerRevision create (its kept spec) + n pod creates + "
        f"1 Service create + 1 Ingress create + 2 status patches (the version `Activating`, "
        f"then `Active`: DESIGN §2 makes the activating state visible) = n + 5 = "
        f"{sum(first.values())}; a new version of a running service needs 1 ControllerRevision "
        f"create + n pod creates + 1 Service patch (the selector switch) + n pod deletes (the "
        f"old version's) + 2 status patches = 2n + 4 = {sum(new.values())}; the Ingress does "
        "not change with an image. The Events `VersionCreated` and `VersionActivated` (and "
        "any patch of the object by kopf) are counted in the writes, not in the minimum."
    )
    base_cells = []
    for action in ("create", "update"):
        window = throughput.get("baseline", {}).get(action, {}).get("api")
        if window:
            total = sum(
                count
                for key, count in window["kcm_by_call"].items()
                if key.split()[0] in BASELINE_CONTROLLERS
            )
            writes = sum(
                count
                for key, count in window["kcm_by_call"].items()
                if key.split()[0] in BASELINE_CONTROLLERS and key.split()[1] in WRITE_VERBS
            )
            base_cells.append(
                f"{action}: {total / window['versions']:.2f} requests, "
                f"{writes / window['versions']:.2f} writes"
            )
    if base_cells:
        add(
            "For comparison, the baseline's deployment and replicaset controllers per version "
            f"(1,000 at once, from the same audit log): {'; '.join(base_cells)}."
        )

    # -- steady state --------------------------------------------------------------------
    if steady:
        add("")
        add(
            f"## Steady state: {steady['services']} services, nothing changing "
            f"({steady['seconds']:.0f} s)"
        )
        add("")
        add("| verb | operator requests per minute |")
        add("| --- | ---: |")
        for verb, count in sorted(steady["operator_per_minute_by_verb"].items()):
            add(f"| {verb} | {count:.1f} |")
        if not steady["operator_per_minute_by_verb"]:
            add("| any (no request at all in the window) | 0.0 |")
        add(f"| **writes** | **{steady['operator_writes_per_minute']:.1f}** |")
        cpu = steady["cpu_seconds_per_minute"]
        add("")
        add(
            f"CPU seconds per minute: operator {cpu.get('operator', 0):.2f}, "
            f"kube-apiserver {cpu.get('kube-apiserver', 0):.2f}."
        )
        w = steady["operator_writes_per_minute"]
        targets.append(("writes per minute at steady state", "0", fmt(w, 1), w == 0))

    # -- resources -----------------------------------------------------------------------
    add("")
    add("## Operator memory and CPU")
    add("")
    add(
        "| services | peak RSS MiB (VmHWM) | RSS MiB now | CPU s to create them "
        "| CPU s to change their image |"
    )
    add("| ---: | ---: | ---: | ---: | ---: |")
    for count, values in resources.items():
        if count == "0":
            add(
                f"| 0 | {fmt(values['VmHWM'], 1)} | {fmt(values['VmRSS'], 1)} "
                f"| {fmt(values['cpu_seconds_idle_10s'])} (10 s idle) | - |"
            )
        else:
            add(
                f"| {count} | {fmt(values['VmHWM'], 1)} | {fmt(values['VmRSS'], 1)} "
                f"| {fmt(values['cpu_seconds_create'])} | {fmt(values['cpu_seconds_update'])} |"
            )
    big = resources.get(str(params["throughput_services"]))
    if big:
        targets.append(
            (
                f"peak RSS at {params['throughput_services']} services",
                "<= 150 MiB",
                fmt(big["VmHWM"], 1),
                big["VmHWM"] <= 150,
            )
        )
    cpu_rows = []
    for action in ("create", "update"):
        light = throughput.get("lightship", {}).get(action, {}).get("cpu_seconds")
        base = throughput.get("baseline", {}).get(action, {}).get("cpu_seconds")
        if light and base:
            cpu_rows.append(
                f"| {action} {params['throughput_services']} "
                f"| {light.get('operator', 0):.1f} | {base.get('kube-controller-manager', 0):.1f} "
                f"| {light.get('kube-apiserver', 0):.1f} | {base.get('kube-apiserver', 0):.1f} "
                f"| {light.get('etcd', 0):.1f} | {base.get('etcd', 0):.1f} |"
            )
    if cpu_rows:
        add("")
        add(
            "CPU seconds at scale: the controller (Lightship's operator; the whole "
            "kube-controller-manager for the baseline) and the API server and etcd behind it."
        )
        add("")
        add(
            "| phase | operator | kube-controller-manager | API server (Lightship) "
            "| API server (baseline) | etcd (Lightship) | etcd (baseline) |"
        )
        add("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        lines.extend(cpu_rows)

    # -- targets -------------------------------------------------------------------------
    add("")
    add("## Targets")
    add("")
    add("| figure | target | measured | met |")
    add("| --- | --- | ---: | --- |")
    for name, wanted, measured, met in targets:
        verdict = "-" if met is None else "met" if met else "**missed**"
        add(f"| {name} | {wanted} | {measured} | {verdict} |")
    add("")
    add("Latency distributions: `bench/results/latest.png`.")
    markdown = "\n".join(lines) + "\n"
    (out / "latest.md").write_text(markdown)
    chart(results, out / "latest.png")
    return markdown


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    colors = {"lightship": "tab:blue", "baseline": "tab:gray"}
    latency = results.get("latency", {})
    for axis, action, title in (
        (axes[0][0], "create", "new service, one after another"),
        (axes[0][1], "update", "image change, one after another"),
    ):
        for label in ("lightship", "baseline"):
            values = sorted(
                v for v in latency.get(action, {}).get(label, {}).get("seconds", []) if v
            )
            if values:
                fractions = [(i + 1) / len(values) for i in range(len(values))]
                axis.step(values, fractions, where="post", label=label, color=colors[label])
        axis.set_title(f"Latency: {title}")
        axis.set_xlabel("seconds from the request to done")
        axis.set_ylabel("fraction of services")
        axis.grid(alpha=0.3)
        axis.legend(loc="lower right")
    throughput = results.get("throughput", {})
    count = results["parameters"]["throughput_services"]
    for axis, action, title in (
        (axes[1][0], "create", f"{count} services created at once"),
        (axes[1][1], "update", f"{count} image changes at once"),
    ):
        for label in ("lightship", "baseline"):
            done = throughput.get(label, {}).get(action, {}).get("completion_seconds", [])
            if done:
                axis.plot(done, range(1, len(done) + 1), label=label, color=colors[label])
        axis.set_title(f"Throughput: {title}")
        axis.set_xlabel("seconds from the first request")
        axis.set_ylabel("services done")
        axis.grid(alpha=0.3)
        axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
