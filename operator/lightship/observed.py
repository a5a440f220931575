"""The observed state of one service: what the rollout decision looks at. Plain values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from lightship import domains
from lightship.api import ContainerServiceSpec, ContainerServiceStatus, DomainNames
from lightship.pods import ObservedPod
from lightship.render import Manifest


@dataclass(frozen=True)
class ObservedRevision:
    version: int
    generation: int
    spec: ContainerServiceSpec  # the stored deployment; capacity and settings at defaults
    created_at: datetime


@dataclass(frozen=True)
class UnreadableRevision:
    """A stored version the models refuse (kept by an older operator under looser rules)."""

    version: int
    generation: int
    error: str
    created_at: datetime


@dataclass(frozen=True)
class Observed:
    name: str
    namespace: str
    uid: str
    generation: int
    spec: ContainerServiceSpec
    status: ContainerServiceStatus | None
    revisions: Mapping[int, ObservedRevision]
    pods: Sequence[ObservedPod]  # the service's own
    service: Manifest | None  # the Service named after the object, as observed
    ingress: Manifest | None  # the public route: an Ingress, or an HTTPRoute (LIGHTSHIP_GATEWAY)
    now: datetime
    unreadable: Mapping[int, UnreadableRevision] = field(default_factory=dict)
    # Children of the service's names held by another owner: (kind, name).
    foreign: frozenset[tuple[str, str]] = frozenset()
    # The last lines of containers of a failing pod, read because an earlier plan asked
    # (Plan.read_logs): pod -> container -> lines. A pod read without result maps to {}.
    logs: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)
    # Versions whose pods the API server refused to create (admission: Pod Security, a policy,
    # a quota), with its message: found when an earlier plan's pods were created.
    rejected: Mapping[int, str] = field(default_factory=dict)
    # Custom domains of the spec that another service serves (domains.taken): domain ->
    # (namespace, name) of that service.
    domains_taken: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def spec_of(self, version: int) -> ContainerServiceSpec | None:
        """What the version's pods are made from: its deployment, with the current capacity and
        settings (they are not part of a version)."""
        revision = self.revisions.get(version)
        return self.spec.with_deployment(revision.spec) if revision else None

    def current_revision(self) -> int | None:
        """The version of the current deployment: the newest readable stored version, if the
        spec's deployment is its deployment (a change of capacity keeps it; a change of the
        deployment, even back to an older one, makes a new version). An unreadable version
        (kept under looser rules) is current only when made from this very generation. A version
        made from this very generation is its version, whatever else the view shows."""
        for revision in self.stored():
            if revision.generation == self.generation:
                return revision.version
        newest = max(self.revisions, default=None)
        if (
            newest is not None
            and self.revisions[newest].spec.deployment() == self.spec.deployment()
        ):
            return newest
        return None

    def stored(self) -> list[ObservedRevision | UnreadableRevision]:
        """Every stored version, readable or not."""
        return [*self.revisions.values(), *self.unreadable.values()]

    def lags(self) -> bool:
        """Whether the object read is older than a stored version: a watch that lags. Nothing
        decided from it may be written."""
        return any(revision.generation > self.generation for revision in self.stored())

    def live_pods(self, version: int) -> list[ObservedPod]:
        return [p for p in self.pods if p.version == version and not p.terminating]

    def held(self, kind: str) -> set[str]:
        """The names of `kind` another owner holds."""
        return {name for held_kind, name in self.foreign if held_kind == kind}

    def served_domains(self) -> list[DomainNames]:
        """The spec's custom domains that this service gets (domains.served)."""
        return domains.served(self.spec.public_domain_names, self.domains_taken)
