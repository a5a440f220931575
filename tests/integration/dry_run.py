"""Server-side dry runs: the API server's verdict on an object, without storing it."""

import json
import subprocess
from collections.abc import Callable
from typing import Any

from tests.cases import resource

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def dry_run(
    kubectl: Kubectl, namespace: str, spec: dict[str, Any], *flags: str, name: str = "shop"
) -> subprocess.CompletedProcess[str]:
    """Applies a ContainerServiceDeployment with this spec in a dry run; prints it as JSON."""
    return kubectl(
        "apply", "--dry-run=server", "-o", "json", "-n", namespace, *flags, "-f", "-",
        stdin=json.dumps(resource(name, spec)), check=False,
    )  # fmt: skip
