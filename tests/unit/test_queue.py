"""The work queue: one run at a time per service, requests folded, looks again when asked,
failed runs retried with backoff and reported."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from lightship import queue
from lightship.cache import INDEXES, Cache, Expectation, IndexView, Key
from lightship.queue import WorkQueue

SHOP, CART = ("default", "shop"), ("default", "cart")


class Recorder:
    """A reconcile that records its runs, and can be held inside a run or made to fail."""

    def __init__(self, requeue_after: float | None = None) -> None:
        self.runs: list[tuple[Key, bool]] = []  # key, whether it read a view of the indexes
        self.running: dict[Key, int] = {}
        self.most_at_once: dict[Key, int] = {}
        self.release = threading.Event()
        self.release.set()
        self.failures: list[BaseException] = []
        self.requeue_after = requeue_after
        self._lock = threading.Lock()

    def __call__(self, key: Key, view: IndexView | None, wrote: list[Expectation]) -> float | None:
        with self._lock:
            self.runs.append((key, view is not None))
            self.running[key] = self.running.get(key, 0) + 1
            self.most_at_once[key] = max(self.most_at_once.get(key, 0), self.running[key])
        try:
            self.release.wait(10)
            if self.failures:
                raise self.failures.pop(0)
            return self.requeue_after
        finally:
            with self._lock:
                self.running[key] -= 1


async def until(check: Any, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the queue did not get there in time"
        await asyncio.sleep(0.005)


async def no_report(*_: Any) -> None:
    pass


def test_one_run_at_a_time_per_service_and_requests_meanwhile_fold_into_one() -> None:
    async def scenario() -> Recorder:
        reconcile = Recorder()
        work = WorkQueue(Cache(), reconcile, no_report)
        reconcile.release.clear()
        work.trigger(SHOP)
        work.trigger(CART)
        await until(lambda: len(reconcile.runs) == 2)  # two services: side by side
        for _ in range(5):
            work.trigger(SHOP)
        await asyncio.sleep(0.05)
        reconcile.release.set()
        await until(lambda: len(reconcile.runs) == 3 and not any(reconcile.running.values()))
        await asyncio.sleep(0.05)  # nothing more comes
        return reconcile

    reconcile = asyncio.run(scenario())
    assert sorted(key for key, _ in reconcile.runs) == [CART, SHOP, SHOP]
    assert reconcile.most_at_once == {SHOP: 1, CART: 1}


def test_a_requested_look_again_runs_and_a_new_request_replaces_it() -> None:
    async def scenario() -> tuple[int, int]:
        reconcile = Recorder(requeue_after=0.05)
        work = WorkQueue(Cache(), reconcile, no_report)
        work.trigger(SHOP)
        await until(lambda: len(reconcile.runs) >= 3)  # looked at again, twice
        reconcile.requeue_after = None
        await until(lambda: not reconcile.running.get(SHOP))
        settled = len(reconcile.runs)
        work.schedule(SHOP, None)
        await asyncio.sleep(0.2)
        return settled, len(reconcile.runs)

    settled, later = asyncio.run(scenario())
    assert later <= settled + 1  # at most the run already due; then nothing


def test_failed_runs_are_retried_reported_in_a_row_and_reset_by_a_success(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(queue, "backoff", lambda failures: 0.01)
    reports: list[tuple[Key, str, int]] = []

    async def report(key: Key, error: Exception, failures: int) -> None:
        reports.append((key, str(error), failures))

    async def scenario() -> Recorder:
        reconcile = Recorder()
        reconcile.failures = [RuntimeError("bug"), ApiException(500), RuntimeError("bug")]
        work = WorkQueue(Cache(), reconcile, report)
        work.trigger(SHOP)
        await until(lambda: len(reconcile.runs) == 4 and not reconcile.running.get(SHOP))
        reconcile.failures = [RuntimeError("again")]
        work.trigger(SHOP)
        await until(lambda: len(reconcile.runs) == 6 and not reconcile.running.get(SHOP))
        return reconcile

    asyncio.run(scenario())
    assert [failures for _, _, failures in reports] == [1, 2, 3, 1]
    assert reports[0][1] == "bug"


def test_a_request_during_backoff_waits_for_the_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed run's report writes the status, whose event asks for a run: it must not run
    at once, or a failing service would be reconciled in a loop without pause."""
    monkeypatch.setattr(queue, "backoff", lambda failures: 0.3)

    async def scenario() -> tuple[int, int]:
        reconcile = Recorder()
        reconcile.failures = [RuntimeError("bug")]
        work = WorkQueue(Cache(), reconcile, no_report)
        work.trigger(SHOP)
        await until(lambda: len(reconcile.runs) == 1 and not reconcile.running.get(SHOP))
        await asyncio.sleep(0.01)
        for _ in range(3):
            work.trigger(SHOP)
        await asyncio.sleep(0.1)
        during = len(reconcile.runs)
        await until(lambda: len(reconcile.runs) == 2)
        await asyncio.sleep(0.1)
        return during, len(reconcile.runs)

    assert asyncio.run(scenario()) == (1, 2)


def test_backoff_doubles_and_is_capped() -> None:
    assert [queue.backoff(n) for n in (1, 2, 3, 4, 10)] == [2, 4, 8, 10, 10]


def test_a_decision_from_a_changed_state_is_made_again_from_the_api_server() -> None:
    """A 409 (the object changed since it was read): decided again at once, without a view."""

    async def scenario() -> Recorder:
        cache = Cache()
        cache.use({index: {} for index in INDEXES.values()})
        reconcile = Recorder()
        reconcile.failures = [ApiException(409)]
        work = WorkQueue(cache, reconcile, no_report)
        await work.run(SHOP)
        return reconcile

    assert asyncio.run(scenario()).runs == [(SHOP, True), (SHOP, False)]


def test_after_a_failed_run_the_next_reads_the_api_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(queue, "backoff", lambda failures: 0.01)

    async def scenario() -> Recorder:
        cache = Cache()
        cache.use({index: {} for index in INDEXES.values()})
        reconcile = Recorder()
        reconcile.failures = [RuntimeError("bug")]
        work = WorkQueue(cache, reconcile, no_report)
        work.trigger(SHOP)
        await until(lambda: len(reconcile.runs) == 2 and not reconcile.running.get(SHOP))
        return reconcile

    assert asyncio.run(scenario()).runs == [(SHOP, True), (SHOP, False)]


def test_when_threads_are_short_the_service_that_asked_first_goes_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A burst: more services wait than threads run. A service's next pass (its pod got
    ready) goes before the first pass of a service that asked later; a new spec asks anew."""
    monkeypatch.setattr(queue, "WORKERS", 1)
    first, second, third = (("default", name) for name in ("a", "b", "c"))
    gate = threading.Semaphore(0)  # lets one held run end per release
    order: list[Key] = []

    def reconcile(key: Key, view: IndexView | None, wrote: list[Expectation]) -> None:
        order.append(key)
        gate.acquire(timeout=10)

    async def scenario() -> None:
        work = WorkQueue(Cache(), reconcile, no_report)
        work.trigger(first, 1)
        await until(lambda: order == [first])
        for key in (second, third):
            await asyncio.sleep(0.01)  # each asks a little later than the one before
            work.trigger(key, 1)
        gate.release()
        await until(lambda: order == [first, second])
        work.trigger(first, 1)  # the same spec (a child changed): its place in line is kept
        gate.release()
        await until(lambda: order == [first, second, first])
        work.trigger(second, 2)  # a new spec: at the end of the line, after the third
        await asyncio.sleep(0.01)
        gate.release()
        gate.release()
        await until(lambda: len(order) == 5)
        gate.release()

    asyncio.run(scenario())
    assert order == [first, second, first, third, second]
