"""Counts API requests from the API server's audit log (hack/cluster/audit-policy.yaml writes one
Metadata-level line per request stage), by client and verb, between two offsets of the file."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
READ_VERBS = frozenset({"get", "list", "watch"})


def client_of(user_agent: str) -> str | None:
    """The client a request came from: "operator" for Lightship's own requests (its kubernetes
    client and kopf), "kcm/<controller>" for kube-controller-manager, None for others."""
    if user_agent.startswith(("lightship/", "kopf/")):
        return "operator"
    if user_agent.startswith("kube-controller-manager/"):
        return "kcm/" + user_agent.rsplit("/", 1)[-1]
    return None


@dataclass(frozen=True)
class Request:
    client: str
    verb: str
    resource: str  # "pods", "containerservicedeployments/status", ...
    at: str  # requestReceivedTimestamp


def read(path: Path, start: int, end: int | None = None) -> list[Request]:
    """The requests logged between byte offsets `start` and `end` (default: the end) of the log,
    one per request: the ResponseComplete stage, or ResponseStarted for a watch, whose complete
    stage comes only when it ends."""
    if end is not None and end < start:
        raise RuntimeError(f"{path} shrank from {start} to {end} bytes: it was rotated")
    requests = []
    with path.open("rb") as log:
        log.seek(start)
        data = log.read() if end is None else log.read(end - start)
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            entry: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:  # a line being written as we read
            continue
        client = client_of(entry.get("userAgent", ""))
        if client is None:
            continue
        verb = entry.get("verb", "")
        stage = entry.get("stage")
        if stage != ("ResponseStarted" if verb == "watch" else "ResponseComplete"):
            continue
        ref = entry.get("objectRef") or {}
        resource = ref.get("resource", "")
        if ref.get("subresource"):
            resource += "/" + ref["subresource"]
        requests.append(Request(client, verb, resource, entry.get("requestReceivedTimestamp", "")))
    return requests


def offset(path: Path) -> int:
    """The end of the last complete line of the log: windows begin and end on line bounds."""
    if not path.exists():
        return 0
    with path.open("rb") as log:
        size = log.seek(0, 2)
        tail_start = max(size - (1 << 16), 0)
        log.seek(tail_start)
        tail = log.read()
    return tail_start + tail.rfind(b"\n") + 1


def by_verb(requests: list[Request], client: str = "operator") -> Counter[str]:
    return Counter(r.verb for r in requests if r.client == client)


def by_call(requests: list[Request], client: str = "operator") -> Counter[str]:
    return Counter(f"{r.verb} {r.resource}" for r in requests if r.client == client)


def writes(requests: list[Request], client: str = "operator") -> int:
    return sum(1 for r in requests if r.client == client and r.verb in WRITE_VERBS)


def settle(path: Path, quiet: float = 3.0, timeout: float = 30.0) -> int:
    """Waits until the operator has sent no write for `quiet` seconds (its trailing reconciles
    are done) or `timeout` passed; returns the log offset then."""
    deadline = time.monotonic() + timeout
    position = offset(path)
    last_write = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now_offset = offset(path)
        if writes(read(path, position, now_offset)):
            last_write = time.monotonic()
        position = now_offset
        if time.monotonic() - last_write >= quiet:
            break
    return offset(path)
