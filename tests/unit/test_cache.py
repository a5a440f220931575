"""What the indexes must show before a reconcile trusts them (cache.shows), what they keep of
an object (cache.slim), and how a reconcile waits for them (Cache.view)."""

from __future__ import annotations

import asyncio
from typing import Any

from lightship import KIND
from lightship.cache import INDEXES, Cache, Expectation, pack, shows, slim


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
    expected = Expectation("Pod", "shop-v2-0")
    assert not shows(objects(Pod=[obj("shop-v1-0")]), expected)
    assert shows(objects(Pod=[obj("shop-v1-0"), obj("shop-v2-0")]), expected)


def test_a_deleted_child_is_shown_while_terminating_or_gone() -> None:
    expected = Expectation("Pod", "shop-v1-0", gone=True)
    assert not shows(objects(Pod=[obj("shop-v1-0")]), expected)
    terminating = obj("shop-v1-0", metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"})
    assert shows(objects(Pod=[terminating]), expected)
    assert shows(objects(Pod=[]), expected)


def test_a_patch_is_shown_when_the_object_holds_what_was_written() -> None:
    expected = Expectation("Service", "shop", content={"spec": {"selector": {"v": "2"}}})
    old = obj("shop", spec={"selector": {"v": "1"}, "clusterIP": "10.0.0.1"})
    new = obj("shop", spec={"selector": {"v": "2"}, "clusterIP": "10.0.0.1"})
    assert not shows(objects(Service=[old]), expected)
    assert shows(objects(Service=[new]), expected)


def test_a_status_is_shown_when_the_object_has_it_or_is_gone() -> None:
    status = {"observedGeneration": 2, "state": "Deploying"}
    expected = Expectation(KIND, "shop", content=status)
    stale = obj("shop", status={"observedGeneration": 1, "state": "Running"})
    assert not shows(objects(**{KIND: [stale]}), expected)
    assert shows(objects(**{KIND: [obj("shop", status=status)]}), expected)
    assert shows(objects(), expected)


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


def indexes(**kinds: list[dict[str, Any]]) -> dict[str, dict[tuple[str, str], list[Any]]]:
    """kopf's indexes as the cache reads them, holding service ("default", "shop")."""
    return {
        index: {("default", "shop"): [pack(o) for o in kinds.get(kind, [])]}
        for kind, index in INDEXES.items()
    }


def test_a_view_is_given_once_the_indexes_show_the_last_writes() -> None:
    async def scenario() -> list[str]:
        held = indexes(Pod=[])
        cache = Cache()
        cache.use(held)
        cache.expect(("default", "shop"), [Expectation("Pod", "shop-v1-0")])
        waiting = asyncio.create_task(cache.view(("default", "shop"), timeout=30))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # the pod is not shown yet
        held[INDEXES["Pod"]][("default", "shop")].append(pack(obj("shop-v1-0")))
        cache.saw(("default", "shop"))
        view = await asyncio.wait_for(waiting, 5)
        assert view is not None
        return [p["metadata"]["name"] for p in view.children("Pod", "default", "shop")]

    assert asyncio.run(scenario()) == ["shop-v1-0"]


def test_a_view_that_lags_past_its_timeout_reads_the_api_instead() -> None:
    async def scenario() -> object:
        cache = Cache()
        cache.use(indexes())
        cache.expect(("default", "shop"), [Expectation("Pod", "shop-v1-0")])
        return await cache.view(("default", "shop"), timeout=0.05)

    assert asyncio.run(scenario()) is None


def test_without_writes_to_wait_for_the_view_is_immediate_and_without_indexes_none() -> None:
    async def scenario() -> tuple[object, object]:
        cache = Cache()
        before = await cache.view(("default", "shop"))
        cache.use(indexes(Pod=[obj("shop-v1-0")]))
        cache.expect(("default", "shop"), [])
        return before, await cache.view(("default", "shop"), timeout=0)

    before, after = asyncio.run(scenario())
    assert before is None
    assert after is not None
