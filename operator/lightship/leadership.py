"""Leader election (LIGHTSHIP_LEADER_ELECTION): of the operator's replicas only the holder of a
coordination.k8s.io Lease in the operator's namespace reconciles. One that cannot renew its lease
within the renew deadline exits at once: it may already have lost the lease to a standby, and two
writers of one service would fight. Its Deployment restarts it, as a standby."""

from __future__ import annotations

import logging
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

log = logging.getLogger("lightship")

LEASE_NAME = "lightship-operator"
# client-go's defaults for controllers (kube-controller-manager uses the same).
LEASE_SECONDS = 15
RENEW_DEADLINE_SECONDS = 10
RETRY_SECONDS = 2
_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def own_namespace() -> str:
    """The operator's namespace: POD_NAMESPACE (the manifests set it from the pod), else the
    service account's, else `default` (an operator run from a workstation)."""
    if namespace := os.environ.get("POD_NAMESPACE"):
        return namespace
    if _SERVICE_ACCOUNT_NAMESPACE.exists():
        return _SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    return "default"


def identity() -> str:
    """This replica's name in the Lease: its pod's name and its process."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{os.getpid()}"


def _lost() -> None:
    log.error("lost the leader lease %s: exiting, to be restarted as a standby", LEASE_NAME)
    logging.shutdown()
    os._exit(1)  # at once: no cleanup that could still write as the leader


class _Alive(BaseHTTPRequestHandler):
    """A standby's liveness answer: kopf, which serves the leader's, has not started yet."""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == self.server.path else 404)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass  # the kubelet asks every few seconds: nothing worth a log line


def serve_liveness(url: str) -> ThreadingHTTPServer:
    parts = urlsplit(url)
    server = ThreadingHTTPServer((parts.hostname or "0.0.0.0", parts.port or 80), _Alive)
    server.path = parts.path or "/"  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, name="standby-liveness", daemon=True).start()
    return server


def lead(liveness: str | None) -> None:
    """Blocks until this replica holds the Lease, answering the liveness probe at `liveness`
    meanwhile (kopf answers it once leading). A thread keeps renewing the Lease from then on,
    and ends the process the moment it cannot."""
    namespace, me = own_namespace(), identity()
    leading = threading.Event()
    config = electionconfig.Config(
        LeaseLock(LEASE_NAME, namespace, me),
        lease_duration=LEASE_SECONDS,
        renew_deadline=RENEW_DEADLINE_SECONDS,
        retry_period=RETRY_SECONDS,
        onstarted_leading=leading.set,
        onstopped_leading=_lost,
    )
    election = leaderelection.LeaderElection(config)
    log.info("%s: waiting for the leader lease %s/%s", me, namespace, LEASE_NAME)
    standby = serve_liveness(liveness) if liveness else None
    threading.Thread(target=election.run, name="leader-election", daemon=True).start()
    leading.wait()
    if standby is not None:
        standby.shutdown()
        standby.server_close()  # the port is kopf's from now on
    log.info("%s: leading", me)
