"""The operator's Prometheus metrics, served on LIGHTSHIP_METRICS_ADDRESS. The reconcile and work
queue metrics carry controller-runtime's names under the `lightship_` prefix, so dashboards and
alerts made for Go operators fit; the version and service metrics are Lightship's own."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

Key = tuple[str, str]  # namespace, name

RECONCILES = Counter(
    "lightship_reconcile", "Reconciles of a service, by result.", ["result"]
)  # result: success | error | requeue_after
RECONCILE_ERRORS = Counter("lightship_reconcile_errors", "Reconciles that failed.")
RECONCILE_TIME = Histogram(
    "lightship_reconcile_time_seconds",
    "How long one reconcile of a service took.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
QUEUE_DEPTH = Gauge("lightship_workqueue_depth", "Services waiting for a reconcile.")
QUEUE_ADDS = Counter("lightship_workqueue_adds", "Reconciles asked for (folded or not).")
QUEUE_RETRIES = Counter("lightship_workqueue_retries", "Failed reconciles scheduled again.")
_QUEUE_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60)
QUEUE_DURATION = Histogram(
    "lightship_workqueue_queue_duration_seconds",
    "How long a service waited between being asked for and its reconcile starting.",
    buckets=_QUEUE_BUCKETS,
)
WORK_DURATION = Histogram(
    "lightship_workqueue_work_duration_seconds",
    "How long a reconcile held its service (the pass and its retries of a conflict).",
    buckets=_QUEUE_BUCKETS,
)
ACTIVATION_TIME = Histogram(
    "lightship_activation_duration_seconds",
    "From a version's creation to its outcome, by outcome (Active, Failed, Inactive).",
    ["outcome"],
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
)
FAILURES = Counter("lightship_version_failures", "Versions that failed, by reason.", ["reason"])


@dataclass(frozen=True)
class Outcome:
    """A version that left Activating in one status write."""

    version: int
    state: str
    seconds: float
    reason: str | None


def _time(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def outcomes(old: Mapping[str, Any], new: Mapping[str, Any], now: datetime) -> list[Outcome]:
    """The versions that were Activating in the old status and are not any more in the new."""
    was_activating = {v["version"] for v in old.get("versions", []) if v["state"] == "Activating"}
    found = []
    for entry in new.get("versions", []):
        if entry["version"] in was_activating and entry["state"] != "Activating":
            ended = _time(entry["activatedAt"]) if entry.get("activatedAt") else now
            seconds = max((ended - _time(entry["createdAt"])).total_seconds(), 0.0)
            found.append(Outcome(entry["version"], entry["state"], seconds, entry.get("reason")))
    return found


class ServiceStates(Collector):
    """The state of every service and of its kept versions, as last written, summed at scrape
    time: `lightship_services{state}` and `lightship_versions{state}`."""

    def __init__(self) -> None:
        self._services: dict[Key, str] = {}
        self._versions: dict[Key, Tally[str]] = {}

    def wrote(self, key: Key, status: Mapping[str, Any]) -> None:
        """Told of each status the operator writes."""
        self._services[key] = str(status.get("state", "Ready"))
        self._versions[key] = Tally(v["state"] for v in status.get("versions", []))

    def forget(self, key: Key) -> None:
        self._services.pop(key, None)
        self._versions.pop(key, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        services = GaugeMetricFamily("lightship_services", "Services, by state.", labels=["state"])
        for state, count in sorted(Tally(self._services.values()).items()):
            services.add_metric([state], count)
        versions = GaugeMetricFamily(
            "lightship_versions", "Kept versions of every service, by state.", labels=["state"]
        )
        for state, count in sorted(sum(self._versions.values(), Tally[str]()).items()):
            versions.add_metric([state], count)
        yield services
        yield versions


SERVICES = ServiceStates()
REGISTRY.register(SERVICES)


def status_written(key: Key, old: Mapping[str, Any], new: Mapping[str, Any], now: datetime) -> None:
    """Counts what one status write tells: the outcomes of versions, the states."""
    for outcome in outcomes(old, new, now):
        ACTIVATION_TIME.labels(outcome.state).observe(outcome.seconds)
        if outcome.state == "Failed":
            FAILURES.labels(outcome.reason or "Unknown").inc()
    SERVICES.wrote(key, new)


def serve(address: str) -> None:
    """Serves /metrics on `host:port` from a thread of its own."""
    host, _, port = address.rpartition(":")
    start_http_server(int(port), addr=host.strip("[]") or "0.0.0.0")
