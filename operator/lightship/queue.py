"""The order of reconciles: one at a time per service, a burst of requests folded into one run,
a look again at a requested time (the activation deadline), failed runs retried with backoff,
and, when more services wait than threads can run, the service that asked first goes first."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

from kubernetes.client.exceptions import ApiException

from lightship import metrics
from lightship.cache import Cache, Expectation, IndexView, Key

log = logging.getLogger("lightship")

# One reconcile: reads what the view shows (None: the API server), adds its writes to the list,
# returns when to look again (None: only when something changes).
Pass = Callable[[Key, IndexView | None, list[Expectation]], float | None]
# Told of every failed run, with how many runs in a row failed.
FailureReport = Callable[[Key, Exception, int], Awaitable[None]]
# Capped low: after an API server outage every service is looked at again within seconds of
# its return, not after minutes of doubled waits.
MAX_BACKOFF_SECONDS = 10.0
# Reconciles that run at once: the threads they run in (handlers.configure makes the pool).
WORKERS = 16


def backoff(failures: int) -> float:
    """How long to wait after `failures` failed runs in a row."""
    return min(2.0**failures, MAX_BACKOFF_SECONDS)


class Turns:
    """At most `slots` runs at once; when more wait, the lowest priority goes first. With plain
    first-come order, each pass of a service queues behind every other service's: in a burst
    of 1,000 new services, the second pass of the first (its pod got ready) waits for the
    first pass of the 1,000th, and nearly every service is done only near the end."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()  # ties: first come, first served

    async def take(self, priority: float) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        turn = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.give_back()  # granted as it was cancelled: pass it on
            raise

    def give_back(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1


class WorkQueue:
    """Runs the passes of each service in a worker thread, never two of one service at once."""

    def __init__(self, cache: Cache, reconcile: Pass, report: FailureReport) -> None:
        self.cache = cache
        self._reconcile = reconcile
        self._report = report
        self._locks: dict[Key, asyncio.Lock] = {}
        self._waiting: set[Key] = set()
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._failures: dict[Key, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._turns = Turns(WORKERS)
        # When each service's current work was asked for: its spec generation then (None:
        # not known yet) and the time, of first sight or of a new spec. Its passes take
        # their turns in that order, whatever the child events that wake them.
        self._since: dict[Key, tuple[int | None, float]] = {}

    async def run(self, key: Key) -> None:
        """One run now, or none when a run that waits to start already will see this state."""
        if key in self._waiting:
            return
        self._waiting.add(key)
        metrics.QUEUE_DEPTH.set(len(self._waiting))
        asked = time.monotonic()
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            # After a failed run, read the API server: the indexes still hold what a deleted
            # namespace held (kopf stops its watches). The indexes must first show the last
            # run's writes (which may take a while: no turn is held meanwhile).
            from_indexes = key not in self._failures and await self.cache.view(key) is not None
            await self._turns.take(self._since.get(key, (None, asked))[1])
            wrote: list[Expectation] = []
            try:
                # Requests until now fold into this run, which reads the indexes as they are
                # now, after its wait for a turn.
                view = await self.cache.view(key) if from_indexes else None
                self._waiting.discard(key)
                metrics.QUEUE_DEPTH.set(len(self._waiting))
                metrics.QUEUE_DURATION.observe(time.monotonic() - asked)
                with metrics.WORK_DURATION.time():
                    requeue_after = await self._decide(key, view, wrote)
            finally:
                self._turns.give_back()
                self.cache.expect(key, wrote)  # a failed run may have written some
                if key not in self._waiting:
                    self._locks.pop(key, None)
        self._failures.pop(key, None)
        metrics.RECONCILES.labels("success" if requeue_after is None else "requeue_after").inc()
        self.schedule(key, requeue_after)

    async def _decide(
        self, key: Key, view: IndexView | None, wrote: list[Expectation]
    ) -> float | None:
        try:
            with metrics.RECONCILE_TIME.time():
                return await asyncio.to_thread(self._reconcile, key, view, wrote)
        except ApiException as error:
            if error.status != 409:
                raise
            # Decided from a state that changed meanwhile (a new spec, another writer): decide
            # again from what the API server has now, unless a waiting run will.
            if key in self._waiting:
                return None
            with metrics.RECONCILE_TIME.time():
                return await asyncio.to_thread(self._reconcile, key, None, wrote)

    def trigger(self, key: Key, generation: int | None = None) -> None:
        """Reconciles soon, without waiting; a failure is retried with backoff. While a service
        backs off after a failure, a request waits for its retry: a failed run's own report (a
        status write) or a busy child would otherwise make it run again at once, and again.
        A `generation` not seen before (a new spec) puts the service at the end of the line."""
        metrics.QUEUE_ADDS.inc()
        since = self._since.get(key)
        if since is None or generation not in (None, since[0]):
            self._since[key] = (generation, time.monotonic())
        if key in self._failures and key in self._timers:
            return
        self._start(key)

    def _start(self, key: Key) -> None:
        task = asyncio.create_task(self._run_and_retry(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget(self, key: Key) -> None:
        """The service is gone."""
        self._since.pop(key, None)

    def schedule(self, key: Key, delay: float | None) -> None:
        """Looks at the service again in `delay` seconds; None: only when something changes.
        A pending look is dropped either way: it keeps the context of the event that set it,
        the object's whole body with it, until it fires."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if delay is not None:
            self._timers[key] = asyncio.get_running_loop().call_later(delay, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self._start(key)

    async def _run_and_retry(self, key: Key) -> None:
        try:
            await self.run(key)
        except Exception as error:
            metrics.RECONCILES.labels("error").inc()
            metrics.RECONCILE_ERRORS.inc()
            metrics.QUEUE_RETRIES.inc()
            failures = self._failures[key] = self._failures.get(key, 0) + 1
            delay = backoff(failures)
            if isinstance(error, ApiException):
                log.warning(
                    "%s/%s: reconcile failed (%s %s); retrying in %.0f s",
                    *key, error.status, error.reason, delay,
                )  # fmt: skip
            else:  # a bug or an unexpected answer: the maintainer needs the traceback
                log.exception("%s/%s: reconcile failed; retrying in %.0f s", *key, delay)
            self.schedule(key, delay)
            try:
                await self._report(key, error, failures)
            except Exception as report_error:
                log.warning("%s/%s: cannot report the failure: %s", *key, report_error)
