"""Container logs: the bounded tail the operator keeps of a failed version, and what
`lightship logs` prints. The helpers at the top are pure; the readers below talk to the API
server's pod log endpoint (served by each node's kubelet)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from lightship.api import MAX_LOG_BYTES, MAX_LOG_LINES, ContainerServiceSpec

# Bytes of the end of a log kept while reading it: enough for MAX_LOG_LINES lines within
# MAX_LOG_BYTES, whatever the line breaks.
_TAIL_BUFFER = 4 * MAX_LOG_BYTES
_ELLIPSIS = "…"
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def last_lines(
    data: bytes, max_lines: int = MAX_LOG_LINES, max_bytes: int = MAX_LOG_BYTES
) -> list[str]:
    """The last lines of `data`, oldest first: at most `max_lines` lines of at most `max_bytes`
    bytes in all (UTF-8, one byte per line break). A single longer line keeps its end, after an
    ellipsis."""
    lines = data.decode("utf-8", errors="replace").splitlines()[-max_lines:] if max_lines else []
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        cost = len(line.encode()) + 1
        if size + cost > max_bytes:
            if not kept:  # the last line alone is too long: keep its end
                budget = max_bytes - len(_ELLIPSIS.encode()) - 1
                end = line.encode()[-budget:].decode("utf-8", errors="ignore")
                kept.append(_ELLIPSIS + end)
            break
        kept.append(line)
        size += cost
    return kept[::-1]


def parse_since(text: str) -> int:
    """Seconds of a duration such as `30s`, `10m`, `2h` or `1h30m`."""
    if not text or _DURATION.sub("", text):
        raise ValueError(f"{text!r} is not a duration such as 30s, 10m, 2h or 1h30m")
    return sum(int(amount) * _UNITS[unit] for amount, unit in _DURATION.findall(text))


def default_container(spec: ContainerServiceSpec) -> str:
    """The container `lightship logs` shows unless told: the public endpoint's, else the first."""
    if spec.public_endpoint is not None:
        return spec.public_endpoint.container_name
    return spec.containers[0].name


def prefixed(pod: str, lines: Iterable[str], prefix: bool) -> Iterator[str]:
    """The lines, each prefixed with the pod's name when the output mixes several pods."""
    for line in lines:
        yield f"[{pod}] {line}" if prefix else line


# -- reading through the API server -----------------------------------------------------------


def read_tail(core: Any, namespace: str, pod: str, container: str) -> list[str]:
    """The last lines of a container's log, bounded (`last_lines`). Streams the response and
    keeps only its end, so a huge line costs no memory. Raises the client's ApiException."""
    response = core.read_namespaced_pod_log(
        pod,
        namespace,
        container=container,
        tail_lines=MAX_LOG_LINES,
        _preload_content=False,
        _request_timeout=(5, 10),
    )
    tail = bytearray()
    try:
        for chunk in response.stream(16384):
            tail += chunk
            del tail[:-_TAIL_BUFFER]
    finally:
        response.release_conn()
    return last_lines(bytes(tail))


def read_all(
    core: Any, namespace: str, pod: str, container: str, since_seconds: int | None
) -> list[str]:
    """The container's whole log (or the part since `since_seconds` ago)."""
    kwargs: dict[str, Any] = {"container": container}
    if since_seconds is not None:
        kwargs["since_seconds"] = since_seconds
    response = core.read_namespaced_pod_log(pod, namespace, _preload_content=False, **kwargs)
    try:
        data: bytes = response.data
    finally:
        response.release_conn()
    return data.decode("utf-8", errors="replace").splitlines()


def follow(
    core: Any,
    namespace: str,
    pods: Sequence[str],
    container: str,
    since_seconds: int | None,
    write: Callable[[str], None],
    error: Callable[[str, Exception], None],
) -> None:
    """Streams the container's log from every pod at once, line by line, until every stream
    ends (the pods go) or the caller is interrupted."""
    lock = threading.Lock()
    prefix = len(pods) > 1

    def stream(pod: str) -> None:
        kwargs: dict[str, Any] = {"container": container, "follow": True}
        if since_seconds is not None:
            kwargs["since_seconds"] = since_seconds
        try:
            response = core.read_namespaced_pod_log(
                pod, namespace, _preload_content=False, **kwargs
            )
            buffer = b""
            try:
                for chunk in response.stream(4096, decode_content=True):
                    buffer += chunk
                    *complete, buffer = buffer.split(b"\n")
                    lines = [line.decode("utf-8", errors="replace") for line in complete]
                    with lock:
                        for line in prefixed(pod, lines, prefix):
                            write(line)
                if buffer:
                    with lock:
                        for line in prefixed(pod, [buffer.decode(errors="replace")], prefix):
                            write(line)
            finally:
                response.release_conn()
        except Exception as failure:  # one pod's stream failing leaves the others going
            with lock:
                error(pod, failure)

    threads = [threading.Thread(target=stream, args=(pod,), daemon=True) for pod in pods]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)  # short joins keep Ctrl-C working
