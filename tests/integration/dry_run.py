"""Server-side dry runs: the API server's verdict on an object, without storing it."""

import json
import re
import subprocess
from collections.abc import Callable
from typing import Any

from tests.cases import resource

Kubectl = Callable[..., subprocess.CompletedProcess[str]]

_PATH = r"(?:spec|metadata)[\w.\[\]]*"
# Where kubectl's report of a refusal names a field: each cause starts with its path, after
# "is invalid: " (one cause) or "* " (several); a CEL rule set on a list names the list, and
# its message (the models' own, word for word) starts with the exact path; strict field
# validation quotes an unknown field.
_NAMED = re.compile(
    rf"(?:is invalid: |^\* )(?P<cause>{_PATH})(?=: )"
    rf"|(?<=: Invalid value: )(?P<message>{_PATH})(?=: )"
    rf'|unknown field "(?P<unknown>{_PATH})"',
    re.MULTILINE,
)


def dry_run(
    kubectl: Kubectl, namespace: str, spec: dict[str, Any], *flags: str, name: str = "shop"
) -> subprocess.CompletedProcess[str]:
    """Applies a ContainerServiceDeployment with this spec in a dry run; prints it as JSON."""
    return kubectl(
        "apply", "--dry-run=server", "-o", "json", "-n", namespace, *flags, "-f", "-",
        stdin=json.dumps(resource(name, spec)), check=False,
    )  # fmt: skip


def fields_named(refusal: str) -> set[str]:
    """The exact paths of the fields a refusal (kubectl's stderr) names."""
    return {next(path for path in match.groups() if path) for match in _NAMED.finditer(refusal)}
