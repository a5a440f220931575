"""Continuous requests through the local gateway, as users send them while a service changes:
a bounded client on 127.0.0.1 only, and what it saw of each switch between versions.

The client sends RATE requests per second to https://<host>:8443/ (the gateway on 127.0.0.1,
the host given as SNI and Host, as `curl --resolve` does), over at most CONNECTIONS kept-alive
connections as a browser keeps them, from a thread of its own. Every answer is recorded: the
version of the test application that answered it (its JSON says), or why it failed.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import aiohttp

GATEWAY = "https://127.0.0.1:8443/"
RATE = 20  # requests per second
CONNECTIONS = 6  # what a browser keeps open to one host
REQUEST_SECONDS = 10.0  # a request that takes longer has failed


@dataclass(frozen=True)
class Answer:
    sent: float  # time.monotonic()
    received: float
    version: str | None  # the version that answered; None: the request failed
    error: str | None = None


class Traffic:
    """The client's answers so far, thread-safe."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def answers(self, since: float = 0.0) -> list[Answer]:
        """Every answer to a request sent at or after `since`, in the order received."""
        with self._lock:
            return [a for a in self._answers if a.sent >= since]

    def failures(self) -> list[Answer]:
        return [a for a in self.answers() if a.version is None]

    def serves_only(self, version: str, since: float, last: int = 10) -> bool:
        """Whether the `last` answers to requests sent after `since` all came from `version`."""
        recent = self.answers(since)[-last:]
        return len(recent) == last and all(a.version == version for a in recent)

    def _record(self, answer: Answer) -> None:
        with self._lock:
            self._answers.append(answer)

    async def _ask(self, session: aiohttp.ClientSession, context: ssl.SSLContext) -> None:
        sent = time.monotonic()
        version, error = None, None
        try:
            async with session.get(
                GATEWAY, ssl=context, server_hostname=self.host, headers={"Host": self.host}
            ) as answer:
                body = await answer.json(content_type=None)
                if answer.status == 200:
                    version = str(body.get("version"))
                else:
                    error = f"status {answer.status}: {body}"
        except Exception as failure:  # every failure counts: refused, reset, timeout, bad body
            error = f"{type(failure).__name__}: {failure}"
        self._record(Answer(sent, time.monotonic(), version, error))

    async def _run(self) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the gateway's self-signed certificate
        connector = aiohttp.TCPConnector(limit=CONNECTIONS)
        timeout = aiohttp.ClientTimeout(total=REQUEST_SECONDS)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            pending: set[asyncio.Task[None]] = set()
            next_at = time.monotonic()
            while not self._stop.is_set():
                task = asyncio.create_task(self._ask(session, context))
                pending.add(task)
                task.add_done_callback(pending.discard)
                next_at += 1 / RATE
                await asyncio.sleep(max(next_at - time.monotonic(), 0))
            await asyncio.gather(*pending)


@contextmanager
def traffic(host: str) -> Iterator[Traffic]:
    """Requests to `host` at RATE per second while the block runs (and those in flight at its
    end, answered)."""
    client = Traffic(host)
    thread = threading.Thread(target=asyncio.run, args=(client._run(),), daemon=True)
    thread.start()
    try:
        yield client
    finally:
        client._stop.set()
        thread.join(REQUEST_SECONDS + 5)


@dataclass(frozen=True)
class Switch:
    """One move of traffic from one version of the application to another, as the client saw
    it: `applied` when the new spec was applied, `settled` once only the new version answered
    (the test's poll), `last_old` the last answer of the old version (None: none after the
    apply)."""

    old: str
    new: str
    applied: float
    settled: float
    last_old: float | None

    @property
    def seconds(self) -> float:
        """From the apply to the last answer of the old version."""
        return (self.last_old or self.applied) - self.applied


def switch_of(client: Traffic, old: str, new: str, applied: float, settled: float) -> Switch:
    olds = [a.received for a in client.answers(applied) if a.version == old]
    return Switch(old, new, applied, settled, max(olds, default=None))


def answered_after_settling(client: Traffic, switches: list[Switch]) -> list[str]:
    """Answers from another version than the new one, to requests sent after a switch had
    settled and before the next change: a switch that went back, or never finished."""
    wrong = []
    ends = [s.applied for s in switches[1:]] + [float("inf")]
    for switch, end in zip(switches, ends, strict=True):
        for answer in client.answers(switch.settled):
            if answer.sent < end and answer.version not in (switch.new, None):
                wrong.append(f"{answer.version} answered after the switch to {switch.new}")
    return wrong
