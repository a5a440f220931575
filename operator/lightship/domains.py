"""Which service serves each custom domain (DESIGN §1: each domain is served by one service
only). Pure: the claims of the services in, a decision out.

A service claims the domains its spec lists. Of several claimants of one domain, the service
that serves it already (its status lists it) keeps it; among several that do (a race of two
writers) or none, the oldest object (creationTimestamp) gets it, then the first by
namespace/name. Every other claimant has a conflict: its route omits the domain until the
holder lets it go (drops it from its spec, or is deleted), and then the next claimant by the
same rule gets it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightship.api import DomainNames

Key = tuple[str, str]  # namespace, name


@dataclass(frozen=True)
class Claim:
    """The custom domains one service asks for, and those it serves now."""

    service: Key
    created: str  # creationTimestamp, RFC 3339 in UTC: ordered as text
    domains: frozenset[str]  # spec.publicDomainNames
    serving: frozenset[str] = frozenset()  # status.domains

    def rank(self, domain: str) -> tuple[bool, str, Key]:
        """The order in which claimants get `domain`: the one serving it first."""
        return (domain not in self.serving, self.created, self.service)


def claim_of(body: Mapping[str, Any]) -> Claim | None:
    """A service's claim, from its manifest; None when it claims no domain and serves none."""
    metadata, spec = body["metadata"], body.get("spec") or {}
    domains = frozenset(
        domain
        for entry in spec.get("publicDomainNames") or ()
        if isinstance(entry, Mapping)
        for domain in entry.get("domains") or ()
    )
    serving = frozenset((body.get("status") or {}).get("domains") or ())
    if not domains and not serving:
        return None
    service = (metadata.get("namespace") or "", metadata["name"])
    return Claim(service, metadata.get("creationTimestamp") or "", domains, serving)


def holder(domain: str, claims: Iterable[Claim]) -> Key | None:
    """The service that gets `domain`, of those that claim it."""
    claimants = [c for c in claims if domain in c.domains]
    return min(claimants, key=lambda c: c.rank(domain)).service if claimants else None


def taken(own: Claim, others: Iterable[Claim]) -> dict[str, Key]:
    """The domains of `own` that another service gets, and which service."""
    rivals = [c for c in others if c.service != own.service]
    result = {}
    for domain in sorted(own.domains):
        winner = holder(domain, [own, *rivals])
        if winner is not None and winner != own.service:
            result[domain] = winner
    return result


def served(entries: Sequence[DomainNames], taken: Mapping[str, Key]) -> list[DomainNames]:
    """The spec's certificates with the domains the service gets; a certificate left with no
    domain is left out."""
    result = []
    for entry in entries:
        kept = [d for d in entry.domains if d not in taken]
        if kept:
            result.append(entry.model_copy(update={"domains": kept}))
    return result
