"""Watches that time when a service reaches a goal, as seen by a client of the API server.

One thread per watched resource streams raw watch events (JSON lines, no model
deserialisation: the benchmark must stay light beside the operator on a 2-core machine) into a
`Board`, which keeps the latest object of every kind and, on each event, checks the goals of the
service the object belongs to. A goal's time is the monotonic clock when the event that first
satisfied it arrived.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

Obj = dict[str, Any]
# A goal is a predicate over the board's objects of one service.
Predicate = Callable[["Board", str], bool]


@dataclass
class Goal:
    """What a service must reach: every `required` part at once. `extra` parts are only timed."""

    service: str
    required: dict[str, Predicate]
    extra: dict[str, Predicate]
    started: float  # monotonic clock just before the request that set the goal was sent
    done: float | None = None
    # When each part first held.
    parts: dict[str, float] = field(default_factory=dict)

    def seconds(self, part: str | None = None) -> float | None:
        at = self.done if part is None else self.parts.get(part)
        return None if at is None else at - self.started


class Board:
    """The latest objects of one namespace, by kind and name, and the goals being timed."""

    def __init__(self, service_of: dict[str, Callable[[Obj], str | None]]) -> None:
        self.objects: dict[str, dict[str, Obj]] = {kind: {} for kind in service_of}
        # For each kind, how to find the service an object belongs to.
        self.service_of = service_of
        self.by_service: dict[str, dict[str, dict[str, Obj]]] = {}
        self.goals: dict[str, Goal] = {}
        self.deleted_at: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    def of(self, kind: str, service: str) -> list[Obj]:
        return list(self.by_service.get(service, {}).get(kind, {}).values())

    def set_goal(self, goal: Goal) -> None:
        with self.lock:
            self.goals[goal.service] = goal
            self._check(goal.service, goal.started)

    def apply(self, kind: str, event_type: str, obj: Obj, at: float) -> None:
        name = obj["metadata"]["name"]
        service = self.service_of[kind](obj)
        with self.lock:
            if event_type == "DELETED":
                self.objects[kind].pop(name, None)
                self.deleted_at[(kind, name)] = at
                if service is not None:
                    self.by_service.get(service, {}).get(kind, {}).pop(name, None)
            else:
                self.objects[kind][name] = obj
                if service is not None:
                    self.by_service.setdefault(service, {}).setdefault(kind, {})[name] = obj
            if service is not None:
                self._check(service, at)

    def _check(self, service: str, at: float) -> None:
        goal = self.goals.get(service)
        if goal is None or (
            goal.done is not None and len(goal.parts) == len(goal.extra) + len(goal.required)
        ):
            return
        holding = True
        for part, predicate in (*goal.required.items(), *goal.extra.items()):
            holds = predicate(self, service)
            if holds and part not in goal.parts:
                goal.parts[part] = at
            if part in goal.required:
                holding = holding and holds
        if holding and goal.done is None:
            goal.done = at
            self.changed.notify_all()

    def wait(self, services: list[str], timeout: float) -> bool:
        """Waits until every goal of `services` is done; False on timeout."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                if all(self.goals[s].done is not None for s in services):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 1.0))


class Watcher(threading.Thread):
    """Streams the watch events of one resource in one namespace into a board."""

    def __init__(
        self, kind: str, lister: Callable[..., Any], board: Board, label_selector: str = ""
    ) -> None:
        super().__init__(name=f"watch-{kind}", daemon=True)
        self.kind = kind
        # A generated list call with its positional arguments bound, for example
        # functools.partial(core.list_namespaced_pod, namespace).
        self.lister = lister
        self.board = board
        self.label_selector = label_selector
        self.stopping = threading.Event()
        self.ready = threading.Event()

    def _request(self, **query: Any) -> Any:
        if self.label_selector:
            query["label_selector"] = self.label_selector
        return self.lister(**query, _preload_content=False, _request_timeout=(10, 120))

    def _list(self) -> str:
        response = self._request()
        listing = json.loads(response.data)
        now = time.monotonic()
        for obj in listing["items"]:
            self.board.apply(self.kind, "ADDED", obj, now)
        version: str = listing["metadata"]["resourceVersion"]
        return version

    def run(self) -> None:
        version = self._list()
        self.ready.set()
        while not self.stopping.is_set():
            try:
                response = self._request(
                    watch=True,
                    resource_version=version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=60,
                )
                for line in iter_resp_lines(response):
                    if not line:
                        continue
                    at = time.monotonic()
                    event = json.loads(line)
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        if obj.get("code") == 410:  # too old: list again
                            version = self._list()
                        break
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self.board.apply(self.kind, event["type"], obj, at)
                    if self.stopping.is_set():
                        break
                response.release_conn()
            except ApiException as error:
                if error.status == 410:
                    version = self._list()
                else:
                    time.sleep(0.5)
            except Exception:  # a dropped connection: watch again from the last version
                if not self.stopping.is_set():
                    time.sleep(0.2)

    def stop(self) -> None:
        self.stopping.set()
