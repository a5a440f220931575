"""What a status write adds to the metrics: version outcomes and the states of services."""

from datetime import UTC, datetime

from prometheus_client import generate_latest

from lightship import metrics

NOW = datetime(2026, 11, 29, 20, 0, 30, tzinfo=UTC)
ACTIVATING = {"version": 2, "state": "Activating", "createdAt": "2026-11-29T20:00:00Z"}
ACTIVE = {
    "version": 1,
    "state": "Active",
    "createdAt": "2026-11-29T19:00:00Z",
    "activatedAt": "2026-11-29T19:00:10Z",
}


def test_a_version_that_goes_active_is_one_outcome_with_its_activation_time() -> None:
    old = {"versions": [ACTIVATING, ACTIVE]}
    new = {
        "versions": [
            {**ACTIVATING, "state": "Active", "activatedAt": "2026-11-29T20:00:12Z"},
            {**ACTIVE, "state": "Inactive"},
        ]
    }
    assert metrics.outcomes(old, new, NOW) == [metrics.Outcome(2, "Active", 12.0, None)]


def test_a_failed_version_is_timed_until_now_and_keeps_its_reason() -> None:
    new = {"versions": [{**ACTIVATING, "state": "Failed", "reason": "ImagePullBackOff"}]}
    assert metrics.outcomes({"versions": [ACTIVATING]}, new, NOW) == [
        metrics.Outcome(2, "Failed", 30.0, "ImagePullBackOff")
    ]


def test_no_outcome_without_a_change_of_an_activating_version() -> None:
    status = {"versions": [ACTIVATING, ACTIVE]}
    assert metrics.outcomes(status, status, NOW) == []
    assert metrics.outcomes({}, {"versions": [ACTIVE]}, NOW) == []


def test_services_and_versions_are_counted_by_state() -> None:
    states = metrics.ServiceStates()
    states.wrote(("a", "shop"), {"state": "Deploying", "versions": [ACTIVATING, ACTIVE]})
    states.wrote(("b", "shop"), {"state": "Running", "versions": [ACTIVE]})
    states.wrote(("a", "shop"), {"state": "Running", "versions": [ACTIVE]})
    samples = {
        (family.name, sample.labels["state"]): sample.value
        for family in states.collect()
        for sample in family.samples
    }
    assert samples == {
        ("lightship_services", "Running"): 2,
        ("lightship_versions", "Active"): 2,
    }
    states.forget(("b", "shop"))
    assert ("lightship_services", "Running") in {
        (f.name, s.labels["state"]) for f in states.collect() for s in f.samples
    }


def test_the_default_registry_exposes_lightships_names() -> None:
    text = generate_latest().decode()
    for name in (
        "lightship_reconcile_total",
        "lightship_reconcile_errors_total",
        "lightship_reconcile_time_seconds_bucket",
        "lightship_workqueue_depth",
        "lightship_workqueue_adds_total",
        "lightship_workqueue_retries_total",
        "lightship_workqueue_queue_duration_seconds_bucket",
        "lightship_workqueue_work_duration_seconds_bucket",
        "# TYPE lightship_activation_duration_seconds histogram",
        "# TYPE lightship_version_failures_total counter",
        "# TYPE lightship_services gauge",
        "# TYPE lightship_versions gauge",
    ):
        assert name in text, name
