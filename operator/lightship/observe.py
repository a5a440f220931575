"""Manifests → observed state: what the rollout decision looks at, read from the indexes or the
API server. Children controlled by another owner are never taken for the service's own."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from pydantic import ValidationError

from lightship.api import (
    ContainerServiceSpec,
    ContainerServiceStatus,
    error_messages,
    read_deployment,
)
from lightship.cluster import made_from
from lightship.observed import Observed, ObservedRevision, UnreadableRevision
from lightship.pods import observe_pod
from lightship.render import Manifest, controlled_by

log = logging.getLogger("lightship")


class Reader(Protocol):
    """Where a pass reads: the indexes (cache.IndexView) or the API server (cluster.Cluster)."""

    def children(self, kind: str, namespace: str, name: str) -> list[Manifest]: ...

    def get(self, kind: str, namespace: str, name: str) -> Manifest | None: ...


def timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def observe(
    obj: Manifest, reader: Reader, api: Reader, now: datetime, route_kind: str = "Ingress"
) -> Observed:
    """Everything the rollout decision looks at. The revisions come from `api` whenever the
    spec changed since the status was written or `reader` shows no version of the current
    deployment (an index can lag behind a revision made by a run that failed afterwards): a
    version number is made only from what the API server has."""
    metadata = obj["metadata"]
    namespace, name, uid = metadata["namespace"], metadata["name"], metadata["uid"]
    generation = metadata["generation"]
    status = _status(obj, namespace, name)
    revisions = reader.children("ControllerRevision", namespace, name)
    pods = reader.children("Pod", namespace, name)
    readable, unreadable = _history(revisions, uid)
    observed = Observed(
        name=name,
        namespace=namespace,
        uid=uid,
        generation=generation,
        spec=ContainerServiceSpec.model_validate(obj["spec"]),
        status=status,
        revisions=readable,
        unreadable=unreadable,
        pods=[observe_pod(pod) for pod in pods if controlled_by(pod, uid)],
        foreign=_foreign(uid, revisions, pods),
        service=reader.get("Service", namespace, name),
        ingress=reader.get(route_kind, namespace, name),
        now=now,
    )
    stale = status is None or status.observed_generation != generation
    if reader is not api and (stale or observed.current_revision() is None):
        revisions = api.children("ControllerRevision", namespace, name)
        readable, unreadable = _history(revisions, uid)
        observed = replace(
            observed,
            revisions=readable,
            unreadable=unreadable,
            foreign=_foreign(uid, revisions, pods),
        )
    return observed


def _foreign(
    uid: str, revisions: list[Manifest], pods: list[Manifest]
) -> frozenset[tuple[str, str]]:
    """Children of the service's names held by another owner."""
    return frozenset(
        (kind, child["metadata"]["name"])
        for kind, children in (("ControllerRevision", revisions), ("Pod", pods))
        for child in children
        if not controlled_by(child, uid)
    )


def _status(obj: Manifest, namespace: str, name: str) -> ContainerServiceStatus | None:
    try:
        return ContainerServiceStatus.model_validate(obj.get("status") or {})
    except ValidationError:
        log.warning("%s/%s: unreadable status, rebuilding it from the children", namespace, name)
        return None


def _history(
    revisions: list[Manifest], uid: str
) -> tuple[dict[int, ObservedRevision], dict[int, UnreadableRevision]]:
    """The service's own revisions: those the models read, and those they refuse (stored by an
    older operator under looser rules), which are reported and pruned in time, never used."""
    readable, unreadable = {}, {}
    for revision in revisions:
        generation = made_from(revision)
        if not controlled_by(revision, uid) or generation is None:
            continue
        version: int = revision["revision"]
        created_at = timestamp(revision["metadata"]["creationTimestamp"])
        try:
            spec = read_deployment(revision.get("data"))
        except ValidationError as error:
            unreadable[version] = UnreadableRevision(
                version, generation, "; ".join(error_messages(error, root="data")), created_at
            )
            continue
        readable[version] = ObservedRevision(version, generation, spec, created_at)
    return readable, unreadable
