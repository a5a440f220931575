"""Operators of a test's own, on a namespace that the session's operator does not watch: for
tests that choose the operator's settings (leader election, metrics)."""

from __future__ import annotations

import secrets
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubernetes import client

from tests.integration.support import SESSION, Cluster, Operator, Services, create_namespace


@contextmanager
def operators_of_their_own(
    cluster: Cluster,
    api_client: client.ApiClient,
    tmp_path: Path,
    env: dict[str, str],
    names: tuple[str, ...] = ("operator",),
) -> Iterator[tuple[Services, dict[str, Operator]]]:
    """A fresh namespace (outside the session operator's `<session>-*`) and one operator per
    name watching it alone, each started with `env` and POD_NAME set to its name."""
    namespace = f"own-{SESSION}-{secrets.token_hex(3)}"
    create_namespace(cluster, namespace)
    running = {
        name: Operator(
            cluster,
            tmp_path / f"{name}.log",
            {"LIGHTSHIP_NAMESPACES": namespace, "POD_NAMESPACE": namespace, "POD_NAME": name} | env,
        )
        for name in names
    }
    for operator in running.values():
        operator.start()
    try:
        yield Services(api_client, cluster, namespace), running
    finally:
        for operator in running.values():
            if operator.process is not None:
                operator.stop(signal.SIGKILL)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
