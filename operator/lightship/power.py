"""What a pod gets of the service's capacity and settings: its power as resources, and the
registry credentials. Pure."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from lightship import GROUP
from lightship.api import ContainerServiceSpec
from lightship.settings import Settings

# The digest of a pod's capacity (power, imagePullSecrets): a pod whose digest is not the
# spec's is replaced, one by one while its version serves (scaling.py).
CAPACITY_ANNOTATION = f"{GROUP}/capacity"


def pod_capacity(spec: ContainerServiceSpec, settings: Settings) -> dict[str, Any]:
    """The pod fields of the spec's capacity and settings: the power as pod-level resources
    (requests equal to limits: Guaranteed QoS; the PodLevelResources feature, on by default
    since Kubernetes 1.34), and the registry credentials."""
    size = settings.powers[spec.power]
    quantities = {"cpu": size.cpu, "memory": size.memory}
    capacity: dict[str, Any] = {"resources": {"requests": quantities, "limits": dict(quantities)}}
    if spec.image_pull_secrets:
        capacity["imagePullSecrets"] = [{"name": name} for name in spec.image_pull_secrets]
    return capacity


def capacity_digest(spec: ContainerServiceSpec, settings: Settings) -> str:
    rendered = json.dumps(pod_capacity(spec, settings), sort_keys=True)
    return hashlib.sha256(rendered.encode()).hexdigest()[:16]
