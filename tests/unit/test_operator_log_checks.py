"""The integration tests' reading of the operator's log (tests/integration/checks.py) sees a
reconcile that failed, and lets pass only the failures a test expects."""

from tests.integration.checks import OUTAGE, operator_failures


def record(level: str, message: str) -> str:
    """A record as kopf's log format writes it (the operator's own logger shares it)."""
    return f"[2026-11-29 20:00:00,123] lightship            [{level:<8}] {message}\n"


CONFLICT = record(
    "WARNING",
    "t1-ns/shop: reconcile failed ((409)\nReason: Conflict\nHTTP response headers: {}\n"
    'HTTP response body: {"reason":"Conflict"}\n\n); retrying in 2 s',
)
INVALID = record(
    "WARNING",
    "t1-ns/shop: reconcile failed ((422)\nReason: Unprocessable Entity\n); retrying in 2 s",
)
NOT_API = record(
    "WARNING",
    "t1-ns/shop: reconcile failed ('NoneType' object is not subscriptable); retrying in 4 s",
)
REFUSED = record(
    "WARNING",
    "t1-ns/shop: reconcile failed (HTTPSConnectionPool(host='127.0.0.1', port=6443): Max "
    "retries exceeded with url: /api/v1/pods (Caused by NewConnectionError('Failed to "
    "establish a new connection: [Errno 111] Connection refused'))); retrying in 2 s",
)
TRACEBACK = record("ERROR", "t1-ns/shop: Handler failed") + (
    'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nKeyError: 1\n'
)
INFO = record("INFO", "t1-ns/shop: VersionCreated: version 1 created from generation 1")


def test_a_failed_reconcile_is_seen_unless_a_race_explains_it() -> None:
    assert operator_failures(INFO + CONFLICT) == []
    # The short form: the status and reason of the API's answer.
    short = record("WARNING", "t1-ns/shop: reconcile failed (409 Conflict); retrying in 2 s")
    assert operator_failures(short) == []
    assert operator_failures(short.replace("409 Conflict", "422 Unprocessable Entity"))
    assert operator_failures(short.replace("409 Conflict", "404 Not Found")) == []
    assert len(operator_failures(INFO + INVALID + CONFLICT)) == 1
    assert "not subscriptable" in operator_failures(NOT_API)[0]


def test_an_error_and_a_traceback_are_seen() -> None:
    (found,) = operator_failures(INFO + TRACEBACK + INFO)
    assert "KeyError" in found and "VersionCreated" not in found
    assert operator_failures("Traceback (most recent call last):\nImportError\n" + INFO)


def test_an_outage_explains_refused_connections_only() -> None:
    assert len(operator_failures(REFUSED)) == 1
    assert operator_failures(REFUSED + CONFLICT, expected=OUTAGE) == []
    assert len(operator_failures(REFUSED + INVALID, expected=OUTAGE)) == 1
    retried = record(
        "ERROR",
        "Request attempt #2/7 failed; will retry: GET .../pods?watch=true -> "
        "ClientConnectorError(ConnectionKey(host='127.0.0.1'), ConnectionRefusedError(111))",
    )
    assert operator_failures(retried, expected=OUTAGE) == []
    assert operator_failures(retried)
    # A traceback the outage explains (a reconcile that failed on a refused connection).
    broken = record("ERROR", "t1-ns/shop: reconcile failed; retrying in 2 s") + (
        'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
        "urllib3.exceptions.MaxRetryError: Max retries exceeded (Connection refused)\n"
    )
    assert operator_failures(broken, expected=OUTAGE) == []
    assert operator_failures(broken)


def test_failures_are_told_apart_by_namespace() -> None:
    other = INVALID.replace("t1-ns/", "t1-other/")
    assert len(operator_failures(INVALID + other, namespace="t1-ns")) == 1
    assert operator_failures(other, namespace="t1-ns") == []


def test_an_error_record_is_seen_unless_expected() -> None:
    terminating = record(
        "ERROR",
        "Request attempt #1/9 failed; will retry: POST .../namespaces/t1-ns/events -> "
        "APIForbiddenError('...', {'reason': 'NamespaceTerminating'})",
    )
    assert operator_failures(terminating) == []
    assert operator_failures(terminating.replace("NamespaceTerminating", "Forbidden"))
