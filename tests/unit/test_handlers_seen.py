"""What the indexes must show before a reconcile trusts them (handlers.shows), what they
keep of an object (handlers.slim), and that an ended watch no longer holds them."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from kopf._cogs.aiokits import aiotoggles
from kopf._core.reactor import queueing

from lightship import handlers
from lightship.handlers import KIND, Wrote, shows, slim


def objects(**kinds: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {
        KIND: [],
        "ControllerRevision": [],
        "Pod": [],
        "Service": [],
        "Ingress": [],
    }
    found.update(kinds)
    return found


def obj(name: str, **fields: Any) -> dict[str, Any]:
    metadata = {"name": name, **fields.pop("metadata", {})}
    return {"metadata": metadata, **fields}


def test_a_created_child_is_shown_once_the_index_has_it() -> None:
    wrote = Wrote("Pod", "shop-v2-0")
    assert not shows(objects(Pod=[obj("shop-v1-0")]), wrote)
    assert shows(objects(Pod=[obj("shop-v1-0"), obj("shop-v2-0")]), wrote)


def test_a_deleted_child_is_shown_while_terminating_or_gone() -> None:
    wrote = Wrote("Pod", "shop-v1-0", gone=True)
    assert not shows(objects(Pod=[obj("shop-v1-0")]), wrote)
    terminating = obj("shop-v1-0", metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"})
    assert shows(objects(Pod=[terminating]), wrote)
    assert shows(objects(Pod=[]), wrote)


def test_a_patch_is_shown_when_the_object_holds_what_was_written() -> None:
    wrote = Wrote("Service", "shop", content={"spec": {"selector": {"v": "2"}}})
    old = obj("shop", spec={"selector": {"v": "1"}, "clusterIP": "10.0.0.1"})
    new = obj("shop", spec={"selector": {"v": "2"}, "clusterIP": "10.0.0.1"})
    assert not shows(objects(Service=[old]), wrote)
    assert shows(objects(Service=[new]), wrote)


def test_a_status_is_shown_when_the_object_has_it_or_is_gone() -> None:
    status = {"observedGeneration": 2, "state": "Deploying"}
    wrote = Wrote(KIND, "shop", content=status)
    stale = obj("shop", status={"observedGeneration": 1, "state": "Running"})
    assert not shows(objects(**{KIND: [stale]}), wrote)
    assert shows(objects(**{KIND: [obj("shop", status=status)]}), wrote)
    assert shows(objects(), wrote)


def test_slim_drops_managed_fields_and_what_is_asked() -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}, "managedFields": [{"manager": "x"}]},
        "spec": {"containers": []},
        "status": {"phase": "Running"},
    }
    assert slim(body, drop=("spec",)) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}},
        "status": {"phase": "Running"},
    }
    assert "managedFields" in body["metadata"]  # the watched body is left as it is


def test_kopf_watches_and_workers_release_their_index_hold_when_they_end() -> None:
    """The installed kopf takes the fix of the watches that end before their first listing
    (a namespace deleted meanwhile), and a watch that ends, however it ends, no longer holds
    every handler of the operator."""
    assert handlers.release_index_holds_of_ended_watches()
    assert queueing.watcher.releases_index_hold  # type: ignore[attr-defined]
    assert queueing.worker.releases_index_hold  # type: ignore[attr-defined]

    async def ends_before_listing(how: BaseException) -> bool:
        readiness = aiotoggles.ToggleSet(all)
        hold = await readiness.make_toggle(name="pods@deleted-namespace")

        async def watch(**_: Any) -> None:
            raise how

        with contextlib.suppress(BaseException):
            await handlers._releasing_index_hold(watch)(
                operator_indexed=readiness, resource_indexed=hold
            )
        return readiness.is_on()

    assert asyncio.run(ends_before_listing(asyncio.CancelledError()))
    assert asyncio.run(ends_before_listing(RuntimeError("listing refused")))
