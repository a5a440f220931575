"""The custom domains every watched service claims or serves, as a kopf index keeps them
(domain -> claims), so that a reconcile knows which service serves a domain (domains.py) and
the services that wait for a domain are looked at again when its holder changes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from lightship import domains
from lightship.domains import Claim, Key

INDEX = "lightship_domains"


async def index(body: kopf.Body, **_: Any) -> dict[str, Claim]:
    """The index: each domain a service claims or serves -> its claim. A coroutine, like the
    other indexes (handlers._index_by_service)."""
    claim = domains.claim_of(body)
    if claim is None:
        return {}
    return {domain: claim for domain in claim.domains | claim.serving}


class DomainClaims:
    """kopf's index of the claims, handed over by the first handler call."""

    def __init__(self) -> None:
        self._index: Mapping[str, Iterable[Claim]] | None = None

    def use(self, handler_kwargs: Mapping[str, Any]) -> None:
        if self._index is None and INDEX in handler_kwargs:
            self._index = handler_kwargs[INDEX]

    def of(self, wanted: Iterable[str]) -> list[Claim]:
        """Every claim of any of the `wanted` domains."""
        if self._index is None:
            return []
        return [claim for domain in set(wanted) for claim in self._index.get(domain, ())]

    def rivals(self, body: Mapping[str, Any]) -> set[Key]:
        """The other services that claim a domain this one claims or serves: when it changes
        or goes, one of them may get the domain."""
        own = domains.claim_of(body)
        if own is None:
            return set()
        return {c.service for c in self.of(own.domains | own.serving)} - {own.service}

    def taken(self, obj: Mapping[str, Any]) -> dict[str, Key]:
        """The domains of the service `obj` that another service gets (domains.taken)."""
        own = domains.claim_of(obj)
        if own is None or not own.domains:
            return {}
        return domains.taken(own, self.of(own.domains))
