"""What the status says beyond the rollout table: merge patches that remove what went away,
and the Stalled condition of failed reconciles."""

from __future__ import annotations

from datetime import UTC, datetime

from lightship.lifecycle import merge_patch, stalled

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_a_merge_patch_nulls_fields_gone_at_any_depth_and_replaces_lists() -> None:
    old = {
        "state": "Running",
        "url": "https://shop/",
        "currentDeployment": {"version": 2, "message": "2 of 2 pods ready"},
        "versions": [{"version": 2}, {"version": 1}],
    }
    new = {
        "state": "Running",
        "currentDeployment": {"version": 2},
        "versions": [{"version": 2}],
    }
    assert merge_patch(old, new) == {
        "url": None,
        "currentDeployment": {"message": None},
        "versions": [{"version": 2}],
    }


def test_stalled_is_added_once_and_keeps_its_transition_time() -> None:
    ready = {"type": "Ready", "status": "True", "reason": "VersionActive"}
    conditions, new = stalled([ready], "3 reconciles in a row failed", 4, NOW)
    assert new
    assert conditions[0] == ready
    assert {k: conditions[1][k] for k in ("type", "status", "reason", "observedGeneration")} == {
        "type": "Stalled",
        "status": "True",
        "reason": "ReconcileError",
        "observedGeneration": 4,
    }
    later = datetime(2026, 11, 26, 12, 5, tzinfo=UTC)
    again, new = stalled(conditions, "4 reconciles in a row failed", 4, later)
    assert not new
    assert len(again) == 2
    assert again[1]["lastTransitionTime"] == conditions[1]["lastTransitionTime"]
    assert again[1]["message"] == "4 reconciles in a row failed"
