"""The health check of a public endpoint, rendered into its pods (README, "The health check").
Pure: no I/O.

In the exact mode (the default) every pod carries the prober (hack/prober) as a native sidecar:
it applies the whole health check, success codes included, and the endpoint container's
readiness is the prober's verdict. In the kubelet mode the kubelet's own httpGet probe checks
the endpoint, and counts 200..399 as healthy whatever the success codes say.
"""

from __future__ import annotations

from typing import Any

from lightship.api import (
    HEALTH_CHECK_CONTAINER,
    HEALTH_CHECK_PORT,
    Container,
    ContainerServiceSpec,
    Protocol,
    PublicEndpoint,
)
from lightship.settings import HealthCheckMode, Settings

Manifest = dict[str, Any]

# The endpoint container's readiness is the prober's verdict, read every second: the prober
# applies the thresholds, so one answer of the verdict decides.
_VERDICT_PROBE: Manifest = {
    "httpGet": {"path": "/", "port": HEALTH_CHECK_PORT, "scheme": "HTTP"},
    "timeoutSeconds": 1,
    "periodSeconds": 1,
    "successThreshold": 1,
    "failureThreshold": 1,
}
# The prober meets the restricted Pod Security Standard whatever the user's containers do, so
# it never lowers the level at which a pod is admitted. The user is the image's (Dockerfile).
_PROBER_SECURITY: Manifest = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
# Measured (hack/prober/measure.sh, README): under 1 millicore and under 10 MiB at a 5 s interval.
_PROBER_RESOURCES: Manifest = {
    "requests": {"cpu": "5m", "memory": "16Mi"},
    "limits": {"cpu": "50m", "memory": "32Mi"},
}


def _scheme(container: Container, endpoint: PublicEndpoint) -> str:
    protocol = next(p.protocol for p in container.ports if p.port == endpoint.container_port)
    return "HTTPS" if protocol == Protocol.HTTPS else "HTTP"


def readiness_probe(endpoint: PublicEndpoint, container: Container, settings: Settings) -> Manifest:
    """The endpoint container's readiness probe: the prober's verdict, or the kubelet's check."""
    if settings.health_check == HealthCheckMode.exact:
        return _VERDICT_PROBE
    check = endpoint.health_check
    return {
        "httpGet": {
            "path": check.path,
            "port": endpoint.container_port,
            "scheme": _scheme(container, endpoint),
        },
        "timeoutSeconds": check.timeout_seconds,
        "periodSeconds": check.interval_seconds,
        "successThreshold": check.healthy_threshold,
        "failureThreshold": check.unhealthy_threshold,
    }


def prober(spec: ContainerServiceSpec, endpoint: PublicEndpoint, settings: Settings) -> Manifest:
    """The prober, an init container that keeps running beside the others (a native sidecar).
    It checks the endpoint at the pod's IP, the address traffic reaches it at."""
    container = next(c for c in spec.containers if c.name == endpoint.container_name)
    check = endpoint.health_check
    # The kubelet expands $(NAME) in args; $$ keeps a $ of the path as it is.
    path = check.path.replace("$", "$$")
    return {
        "name": HEALTH_CHECK_CONTAINER,
        "image": settings.probe_image,
        "restartPolicy": "Always",
        "args": [
            f"-scheme={_scheme(container, endpoint).lower()}",
            "-host=$(POD_IP)",
            f"-port={endpoint.container_port}",
            f"-path={path}",
            f"-interval={check.interval_seconds}",
            f"-timeout={check.timeout_seconds}",
            f"-success-codes={check.success_codes}",
            f"-healthy-threshold={check.healthy_threshold}",
            f"-unhealthy-threshold={check.unhealthy_threshold}",
            f"-listen=:{HEALTH_CHECK_PORT}",
        ],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": [{"containerPort": HEALTH_CHECK_PORT, "protocol": "TCP"}],
        "resources": _PROBER_RESOURCES,
        "securityContext": _PROBER_SECURITY,
    }
