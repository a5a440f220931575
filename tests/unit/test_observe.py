"""Manifests → observed state: the version of a generation is decided from what the API server
has, and children of another owner are never taken for the service's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lightship import KIND, render
from lightship.api import ContainerServiceSpec
from lightship.cache import IndexView
from lightship.observe import observe
from lightship.rollout import plan
from lightship.settings import Settings

UID = "5d0e6c1e-0000-4000-8000-000000000001"
OLD_UID = "5d0e6c1e-0000-4000-8000-0000000000aa"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SPEC = ContainerServiceSpec.model_validate({"containers": [{"name": "web", "image": "nginx"}]})


def service_object(generation: int, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "shop", "namespace": "default", "uid": UID, "generation": generation},
        "spec": SPEC.model_dump(by_alias=True, exclude_none=True),
        "status": status or {},
    }


def revision(version: int, generation: int, uid: str = UID, **data: Any) -> dict[str, Any]:
    made = render.render_revision("shop", uid, SPEC, version, generation)
    made["data"].update(data)
    made["metadata"]["creationTimestamp"] = "2026-11-26T11:00:00Z"
    return made


def view(**kinds: list[dict[str, Any]]) -> IndexView:
    return IndexView(
        {KIND: [], "Pod": [], "Service": [], "Ingress": [], "ControllerRevision": []} | kinds
    )


def test_a_revision_the_indexes_do_not_show_yet_is_read_from_the_api_server() -> None:
    """A run made shop-v2 from generation 2 and failed before its status write; the revision
    watch has not shown it yet. The next run must not make version 3 from generation 2."""
    status = {"versions": [{"version": 1, "state": "Active", "createdAt": "2026-11-26T10:00:00Z"}]}
    lagging = view(ControllerRevision=[revision(1, 1)])
    api = view(ControllerRevision=[revision(1, 1), revision(2, 2)])
    observed = observe(service_object(2, status), lagging, api, NOW)
    assert sorted(observed.revisions) == [1, 2]
    decided = plan(observed, Settings())
    assert decided.create_revision is None
    assert [v.version for v in decided.status.versions] == [2, 1]


def test_the_api_server_is_not_asked_when_the_indexes_show_the_current_deployment() -> None:
    shown = view(ControllerRevision=[revision(1, 1)])
    observed = observe(service_object(1, {"observedGeneration": 1}), shown, view(), NOW)
    assert sorted(observed.revisions) == [1]


def test_children_of_another_owner_are_held_names_not_history() -> None:
    """The revision and pod of a deleted object of the same name (garbage collection slower
    than the new object's first reconcile, or an orphaning delete)."""
    old_pod = render.render_pod("shop", OLD_UID, SPEC, 1, 0)
    children = view(ControllerRevision=[revision(1, 1, uid=OLD_UID)], Pod=[old_pod])
    observed = observe(service_object(1), children, children, NOW)
    assert observed.revisions == {} and observed.pods == []
    assert observed.foreign == {("ControllerRevision", "shop-v1"), ("Pod", "shop-v1-0")}
    decided = plan(observed, Settings())
    assert decided.create_revision is None and decided.create_pods == []
    assert [c.reason for c in decided.status.conditions if c.type == "Conflict"] == [
        "ForeignObject"
    ]


def test_a_stored_version_the_models_refuse_is_kept_apart_with_the_reason() -> None:
    refused = revision(1, 1, containers=[])
    shown = view(ControllerRevision=[refused, revision(2, 2)])
    observed = observe(service_object(2), shown, shown, NOW)
    assert sorted(observed.revisions) == [2]
    assert list(observed.unreadable) == [1]
    assert "data.containers" in observed.unreadable[1].error


def test_revisions_of_the_previous_code_hold_the_whole_spec_and_read_as_its_deployment() -> None:
    """Before capacity stopped making versions, a revision stored the whole spec, scale
    included. After an upgrade the same deployment at any scale is the same version: no version
    is made, none renumbered."""
    whole = {**SPEC.model_dump(by_alias=True, exclude_none=True, mode="json"), "scale": 3}
    old = [revision(1, 1), revision(2, 4)]
    for made in old:
        made["data"] = whole
    status = {
        "observedGeneration": 4,
        "versions": [
            {"version": 2, "state": "Active", "createdAt": "2026-11-26T10:00:00Z"},
            {"version": 1, "state": "Inactive", "createdAt": "2026-11-26T09:00:00Z"},
        ],
    }
    obj = service_object(5, status)
    obj["spec"]["scale"] = 5  # a scale change after the upgrade
    shown = view(ControllerRevision=old)
    observed = observe(obj, shown, shown, NOW)
    assert observed.unreadable == {} and observed.current_revision() == 2
    decided = plan(observed, Settings())
    assert decided.create_revision is None and decided.delete_revisions == []
    assert [(v.version, v.state) for v in decided.status.versions] == [
        (2, "Active"),
        (1, "Inactive"),
    ]
