"""How the cost grows with the number of services (`make bench-scale`): bench/run.py once per
size, each on a fresh cluster, then one table and one chart of the figures per size:
bench/results/scale.{json,md,png}. `python bench/scale.py 1000 3000` runs only those sizes;
`--report` redraws the table and chart from the kept figures (bench/results/scale-N.json)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from report import fmt, ratio

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SIZES = (1000, 3000, 10000)


def run_size(size: int, *, skip_baseline: bool) -> None:
    """One bench/run.py at `size` services (a short latency phase: it is not what grows)."""
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--throughput-services",
            str(size),
            "--latency-services",
            "10",
            *(["--skip-baseline"] if skip_baseline else []),
        ],
        check=True,
    )
    for suffix in ("json", "md", "png"):
        shutil.copy(RESULTS / f"latest.{suffix}", RESULTS / f"scale-{size}.{suffix}")


def figures(size: int, results: dict[str, Any]) -> dict[str, Any]:
    """What grows with the number of services, from one run's results."""
    throughput = results.get("throughput", {})
    light, base = throughput.get("lightship", {}), throughput.get("baseline", {})
    row: dict[str, Any] = {
        "services": size,
        "load_average_at_start": results["machine"]["load_average_at_start"][0],
        "peak_rss_mib": results.get("resources", {}).get(str(size), {}).get("VmHWM"),
        "idle_requests_per_minute": sum(
            results.get("steady", {}).get("operator_per_minute_by_verb", {}).values()
        ),
    }
    for action in ("create", "update"):
        phase = light.get(action, {})
        versions = phase.get("api", {}).get("versions") or size
        row[f"{action}_seconds"] = phase.get("total_seconds")
        row[f"{action}_baseline_seconds"] = base.get(action, {}).get("total_seconds")
        row[f"{action}_cpu_seconds_per_version"] = (
            phase.get("cpu_seconds", {}).get("operator", 0) / versions if phase else None
        )
        row[f"{action}_requests_per_version"] = (
            sum(phase.get("api", {}).get("operator_by_verb", {}).values()) / versions
            if phase
            else None
        )
    return row


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| services | load at start | peak RSS MiB | MiB per 1,000 services "
        "| CPU s per version (create / change) | requests per version (create / change) "
        "| create all s (baseline) | ratio | change all s (baseline) | ratio "
        "| idle requests per minute |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        cells = [
            str(row["services"]),
            fmt(row["load_average_at_start"], 1),
            fmt(row["peak_rss_mib"], 1),
            fmt(row["peak_rss_mib"] and 1000 * row["peak_rss_mib"] / row["services"], 1),
            f"{fmt(row['create_cpu_seconds_per_version'], 3)} / "
            f"{fmt(row['update_cpu_seconds_per_version'], 3)}",
            f"{fmt(row['create_requests_per_version'])} / "
            f"{fmt(row['update_requests_per_version'])}",
        ]
        for action in ("create", "update"):
            light, base = row[f"{action}_seconds"], row[f"{action}_baseline_seconds"]
            # Throughput ratio: the baseline's time over Lightship's (above 1: Lightship faster).
            cells += [f"{fmt(light, 1)} ({fmt(base, 1)})", fmt(ratio(base, light))]
        cells.append(fmt(row["idle_requests_per_minute"], 1))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def chart(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [row["services"] for row in rows]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    axes[0].plot(sizes, [row["peak_rss_mib"] for row in rows], marker="o")
    axes[0].set_title("operator peak RSS (MiB)")
    for action in ("create", "update"):
        axes[1].plot(
            sizes,
            [row[f"{action}_cpu_seconds_per_version"] for row in rows],
            marker="o",
            label=action,
        )
        for system, key in (
            ("lightship", f"{action}_seconds"),
            ("baseline", f"{action}_baseline_seconds"),
        ):
            axes[2].plot(sizes, [row[key] for row in rows], marker="o", label=f"{system} {action}")
    axes[1].set_title("operator CPU seconds per version")
    axes[2].set_title("seconds until all are done")
    for axis in axes:
        axis.set_xlabel("services")
        axis.grid(alpha=0.3)
    axes[1].legend()
    axes[2].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=list(SIZES))
    parser.add_argument("--report", action="store_true", help="only redraw from kept figures")
    parser.add_argument(
        "--skip-baseline",
        action="store_true",
        help="Lightship only (at 10,000 the baseline's image change is very slow on 2 cores)",
    )
    args = parser.parse_args()
    if not args.report:
        for size in args.sizes:
            run_size(size, skip_baseline=args.skip_baseline)
    rows = [
        figures(size, json.loads((RESULTS / f"scale-{size}.json").read_text()))
        for size in sorted(args.sizes)
        if (RESULTS / f"scale-{size}.json").exists()
    ]
    (RESULTS / "scale.json").write_text(json.dumps(rows, indent=1))
    markdown = f"# Lightship at scale ({os.cpu_count()} CPUs)\n\n" + table(rows)
    (RESULTS / "scale.md").write_text(markdown)
    chart(rows, RESULTS / "scale.png")
    print(markdown)


if __name__ == "__main__":
    main()
