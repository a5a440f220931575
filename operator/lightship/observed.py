"""The observed state of one service: what the rollout decision looks at. Plain values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from lightship.api import ContainerServiceSpec, ContainerServiceStatus
from lightship.pods import ObservedPod
from lightship.render import Manifest


@dataclass(frozen=True)
class ObservedRevision:
    version: int
    generation: int
    spec: ContainerServiceSpec
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

    def spec_of(self, version: int) -> ContainerServiceSpec | None:
        revision = self.revisions.get(version)
        return revision.spec if revision else None

    def live_pods(self, version: int) -> list[ObservedPod]:
        return [p for p in self.pods if p.version == version and not p.terminating]

    def held(self, kind: str) -> set[str]:
        """The names of `kind` another owner holds."""
        return {name for held_kind, name in self.foreign if held_kind == kind}
