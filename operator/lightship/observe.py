"""Manifests → observed state: what the rollout decision looks at, read from the indexes or the
API server. Children controlled by another owner are never taken for the service's own."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from pydantic import ValidationError

from lightship.api import ContainerServiceSpec, ContainerServiceStatus, error_messages
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
    """Everything the rollout decision looks at. The revisions come from `api` whenever `reader`
    shows none of the current generation: a version number is made only from what the API
    server has (an index can lag behind a revision made by a run that failed afterwards)."""
    metadata = obj["metadata"]
    namespace, name, uid = metadata["namespace"], metadata["name"], metadata["uid"]
    generation = metadata["generation"]
    revisions = reader.children("ControllerRevision", namespace, name)
    if reader is not api and not any(
        controlled_by(r, uid) and made_from(r) == generation for r in revisions
    ):
        revisions = api.children("ControllerRevision", namespace, name)
    pods = reader.children("Pod", namespace, name)
    readable, unreadable = _history(revisions, uid)
    return Observed(
        name=name,
        namespace=namespace,
        uid=uid,
        generation=generation,
        spec=ContainerServiceSpec.model_validate(obj["spec"]),
        status=_status(obj, namespace, name),
        revisions=readable,
        unreadable=unreadable,
        pods=[observe_pod(pod) for pod in pods if controlled_by(pod, uid)],
        foreign=frozenset(
            (kind, child["metadata"]["name"])
            for kind, children in (("ControllerRevision", revisions), ("Pod", pods))
            for child in children
            if not controlled_by(child, uid)
        ),
        service=reader.get("Service", namespace, name),
        ingress=reader.get(route_kind, namespace, name),
        now=now,
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
            spec = ContainerServiceSpec.model_validate(revision.get("data"))
        except ValidationError as error:
            unreadable[version] = UnreadableRevision(
                version, generation, "; ".join(error_messages(error, root="data")), created_at
            )
            continue
        readable[version] = ObservedRevision(version, generation, spec, created_at)
    return readable, unreadable
