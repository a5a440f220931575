"""The desired children of a service (pods, Service, Ingress) and how the observed ones come to
match them exactly. Pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightship import GROUP, public_route, render
from lightship.api import ContainerServiceSpec, DomainNames
from lightship.pods import ObservedPod
from lightship.render import Manifest
from lightship.settings import Settings

# The digest of everything the operator set on a Service or Ingress: a field it no longer
# sets changes the digest, and the next apply removes the field (server-side apply drops what
# its field manager stops setting).
RENDERED_ANNOTATION = f"{GROUP}/rendered"


def is_subset(desired: Any, observed: Any) -> bool:
    """Whether every field set in `desired` has the same value in `observed` (which may hold
    more: defaults filled in by the API server)."""
    if isinstance(desired, Mapping):
        return isinstance(observed, Mapping) and all(
            key in observed and is_subset(value, observed[key]) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(observed, list)
            and len(desired) == len(observed)
            and all(is_subset(d, o) for d, o in zip(desired, observed, strict=True))
        )
    return bool(desired == observed)


def stamped(manifest: Manifest) -> Manifest:
    """The manifest with the digest of itself (RENDERED_ANNOTATION)."""
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    metadata = manifest["metadata"]
    annotations = {**(metadata.get("annotations") or {}), RENDERED_ANNOTATION: digest}
    return {**manifest, "metadata": {**metadata, "annotations": annotations}}


def converge(desired: Manifest | None, observed: Manifest | None) -> tuple[Manifest | None, bool]:
    """How an owned Service or Ingress comes to be exactly `desired` (None: it should not
    exist): the manifest to apply, and whether to delete it. Equal when it holds everything
    rendered and was last applied from this very rendering."""
    if desired is None:
        return None, observed is not None
    desired = stamped(desired)
    if observed is None or not is_subset(desired, observed):
        return desired, False
    return None, False


@dataclass(frozen=True)
class Routes:
    """The Service and Ingress writes that make them point at the active version."""

    apply_service: Manifest | None = None
    delete_service: bool = False
    apply_ingress: Manifest | None = None
    delete_ingress: bool = False


def routes(
    name: str,
    uid: str,
    spec: ContainerServiceSpec,
    version: int,
    observed: tuple[Manifest | None, Manifest | None],
    settings: Settings,
    domains: Sequence[DomainNames] = (),
) -> Routes:
    """The Service and the public route (Ingress or HTTPRoute: `ingress`) of the active
    version, the route serving `domains` too. One controlled by another owner is left alone:
    the Conflict condition reports it."""
    service, ingress = observed
    apply_service, delete_service = (
        converge(render.render_service(name, uid, spec, version), service)
        if render.controlled_or_absent(service, uid)
        else (None, False)
    )
    apply_ingress, delete_ingress = (
        converge(public_route.render_route(name, uid, spec, settings, domains), ingress)
        if render.controlled_or_absent(ingress, uid)
        else (None, False)
    )
    return Routes(apply_service, delete_service, apply_ingress, delete_ingress)


def unwanted_pods(pods: Sequence[ObservedPod], running: Collection[int]) -> list[str]:
    """Pods of versions that do not run (`running`: those that do)."""
    return [p.name for p in pods if not p.terminating and p.version not in running]
