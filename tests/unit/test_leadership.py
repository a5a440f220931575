"""A standby replica answers its liveness probe while it waits for the Lease."""

import socket
import urllib.error
import urllib.request

import pytest

from lightship import leadership


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_standby_answers_liveness_on_its_path_and_frees_the_port() -> None:
    port = free_port()
    server = leadership.serve_liveness(f"http://127.0.0.1:{port}/healthz")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200
        with pytest.raises(urllib.error.HTTPError) as other:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=5)
        assert other.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as leader:  # kopf binds it once this replica leads
        leader.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        leader.bind(("127.0.0.1", port))


def test_identity_names_the_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "lightship-operator-abc")
    monkeypatch.setenv("POD_NAMESPACE", "lightship-system")
    assert leadership.identity().startswith("lightship-operator-abc_")
    assert leadership.own_namespace() == "lightship-system"
