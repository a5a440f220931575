"""What the watches show: kopf's indexes of each service and its children, and whether they
show a reconcile's own writes yet (the expectations the next reconcile waits for).

kopf watches the objects and every child kind the operator made (pods, Services, Ingresses,
ControllerRevisions) and keeps each one's latest state in an index (`kopf.index`), so a
reconcile reads little from the API server. A watch lags behind the operator's own writes,
though: the next reconcile of a service first waits until the indexes show every write of the
one before, else it reads from the API server. A new version's number is never decided from an
index (observe.py). kopf starts no handler before every index holds its initial listing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Mapping
from typing import Any

from lightship import KIND
from lightship.children import is_subset
from lightship.render import Manifest

log = logging.getLogger("lightship")

Key = tuple[str, str]  # namespace, name
# How long a reconcile waits for the watches to show the previous one's writes.
CATCH_UP_SECONDS = 1.0
# The index of each kind, by (namespace, service).
INDEXES = {
    KIND: "lightship_objects",
    "ControllerRevision": "lightship_revisions",
    "Pod": "lightship_pods",
    "Service": "lightship_services",
    "Ingress": "lightship_ingresses",
    "HTTPRoute": "lightship_httproutes",
}


@dataclasses.dataclass(frozen=True)
class Expectation:
    """A write of a reconcile, as the next one must see it: the object is there (created; or
    patched, then `content` is a subset of it; the status: equal to it), or it is going or gone
    (`gone`: deleted)."""

    kind: str
    name: str
    gone: bool = False
    content: Manifest | None = None


# What a reconcile reads of an object's metadata (owner, labels, the revision's generation
# annotation, kopf's event reference, ...): the indexes keep only this, for thousands of objects.
_METADATA = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "generation",
        "labels",
        "annotations",
        "ownerReferences",
        "creationTimestamp",
        "deletionTimestamp",
        "resourceVersion",  # the object's: its status write names the state it decided from
    }
)
# ... and of a pod's status (pods.observe_pod).
_POD_STATUS = frozenset(
    {"phase", "reason", "message", "conditions", "containerStatuses", "initContainerStatuses"}
)


def slim(body: Mapping[str, Any], *, drop: tuple[str, ...] = ()) -> Manifest:
    """The object as a reconcile reads it: the metadata it reads, and the rest but `drop`; of
    a pod, the status fields that tell its state."""
    obj = {k: v for k, v in body.items() if k not in drop}
    obj["metadata"] = {k: v for k, v in body["metadata"].items() if k in _METADATA}
    if body.get("kind") == "Pod" and "status" in obj:
        obj["status"] = {k: v for k, v in obj["status"].items() if k in _POD_STATUS}
    return obj


def pack(body: Mapping[str, Any], *, drop: tuple[str, ...] = ()) -> bytes:
    """The object as an index keeps it: slim, as compact JSON text. Parsed, an object costs
    several times its text (a dict for every mapping, an object for every value), for each of
    the thousands the indexes hold; a reconcile parses only its own service's few objects."""
    return json.dumps(slim(body, drop=drop), separators=(",", ":")).encode()


def named(objects: list[Manifest], name: str) -> Manifest | None:
    return next((o for o in objects if o["metadata"]["name"] == name), None)


def shows(objects: Mapping[str, list[Manifest]], expected: Expectation) -> bool:
    """Whether the objects of a service, as the indexes have them, show a write."""
    found = named(objects[expected.kind], expected.name)
    if expected.kind == KIND:  # the status (the object may have gone since)
        return found is None or is_subset(expected.content, found.get("status") or {})
    if expected.gone:
        return found is None or found["metadata"].get("deletionTimestamp") is not None
    return found is not None and (expected.content is None or is_subset(expected.content, found))


class IndexView:
    """One service and its children as the indexes show them, read like `Cluster`. The
    watches see only this operator's children: a Service or Ingress of another owner that
    holds the name is not shown, and is looked up before one is created (reconcile)."""

    def __init__(self, objects: Mapping[str, list[Manifest]]) -> None:
        self.objects = objects

    def service_object(self, namespace: str, name: str) -> Manifest | None:
        return named(self.objects[KIND], name)

    def children(self, kind: str, namespace: str, name: str) -> list[Manifest]:
        return self.objects[kind]

    def get(self, kind: str, namespace: str, name: str) -> Manifest | None:
        return named(self.objects[kind], name)


def view_of(indexes: Mapping[str, Any], key: Key) -> dict[str, list[Manifest]]:
    """Everything the indexes hold of one service, by kind."""
    return {
        kind: [json.loads(packed) for packed in indexes[index].get(key, ())]
        if index in indexes
        else []
        for kind, index in INDEXES.items()
    }


class Cache:
    """kopf's indexes, and the writes of each service's last reconcile that the next one must
    see in them before it trusts them."""

    def __init__(self) -> None:
        # kopf's indexes (INDEXES), handed over by the first handler call.
        self.indexes: Mapping[str, Any] | None = None
        self._expected: dict[Key, list[Expectation]] = {}
        self._changed: dict[Key, asyncio.Event] = {}

    def use(self, handler_kwargs: Mapping[str, Any]) -> None:
        """Takes kopf's indexes from a handler's arguments."""
        if self.indexes is None:
            # The route kind not in use has no index (handlers.watched_children).
            self.indexes = {
                index: handler_kwargs[index]
                for index in INDEXES.values()
                if index in handler_kwargs
            }

    def saw(self, key: Key) -> None:
        """A watch showed a change of the service or one of its children."""
        changed = self._changed.get(key)
        if changed is not None:
            changed.set()

    def expect(self, key: Key, writes: list[Expectation]) -> None:
        """The writes of a reconcile, which the next one waits to see."""
        if writes:
            self._expected[key] = writes
        else:
            self._expected.pop(key, None)

    async def view(self, key: Key, timeout: float = CATCH_UP_SECONDS) -> IndexView | None:
        """The service as the indexes show it, once they show the last reconcile's writes;
        None, to read from the API server, without indexes or when they lag by `timeout`."""
        if self.indexes is None:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            objects = view_of(self.indexes, key)
            unseen = [w for w in self._expected.get(key, ()) if not shows(objects, w)]
            if not unseen:
                return IndexView(objects)
            changed = self._changed[key] = asyncio.Event()
            try:
                await asyncio.wait_for(changed.wait(), deadline - loop.time())
            except TimeoutError:
                writes = ", ".join(f"{w.kind} {w.name}" for w in unseen)
                log.info("%s/%s: the watches do not show %s yet; reading the API", *key, writes)
                return None
            finally:
                self._changed.pop(key, None)
