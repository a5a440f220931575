"""Everything that touches kopf's internals, checked against the one kopf version it was
written for (pyproject.toml pins it): a kopf that differs stops the operator at start with a
message, never a silent no-op."""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

# The kopf release whose internals this module patches; pyproject.toml pins the same.
KOPF_VERSION = "1.45.2"
_QUEUEING = "kopf._core.reactor.queueing"
# The keyword-only parameters the patched functions must have, as kopf calls them.
_HOLDS = ("operator_indexed", "resource_indexed")


class KopfMismatch(RuntimeError):
    """The installed kopf is not the one the patches were written for."""


def release_index_holds_of_ended_watches() -> None:
    """kopf 1.45 calls no handler until every watched namespace has been listed once, and
    only a finished listing releases a namespace's hold. A watch that ends before that (its
    namespace deleted meanwhile, its listing refused) held every handler of the operator
    forever. After this, kopf's watcher and worker release their holds however they end."""
    installed = version("kopf")
    if installed != KOPF_VERSION:
        raise KopfMismatch(
            f"kopf {installed} is installed; Lightship patches the internals of kopf "
            f"{KOPF_VERSION} (kopf_compat.py): install kopf=={KOPF_VERSION}"
        )
    try:
        queueing = importlib.import_module(_QUEUEING)
    except ImportError as error:
        raise KopfMismatch(f"kopf {installed} has no {_QUEUEING}: {error}") from error
    for name in ("watcher", "worker"):
        run = getattr(queueing, name, None)
        if getattr(run, "releases_index_hold", False):
            continue
        if run is None or not _takes_holds_by_keyword(run):
            raise KopfMismatch(
                f"kopf {installed}: {_QUEUEING}.{name} no longer takes the keyword-only "
                f"arguments {', '.join(_HOLDS)}"
            )
        setattr(queueing, name, _releasing_index_hold(run))


def _takes_holds_by_keyword(run: Callable[..., Any]) -> bool:
    parameters = inspect.signature(run).parameters
    return all(
        name in parameters and parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
        for name in _HOLDS
    )


def _releasing_index_hold(run: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """`run`, a watch of one kind in one namespace or one object's worker, releases its hold on
    the operator's readiness when it ends, however it ends."""

    @functools.wraps(run)
    async def ended(**kwargs: Any) -> None:
        try:
            await run(**kwargs)
        finally:
            readiness, hold = kwargs.get("operator_indexed"), kwargs.get("resource_indexed")
            if readiness is not None and hold is not None:
                await readiness.drop_toggle(hold)

    ended.releases_index_hold = True  # type: ignore[attr-defined]
    return ended
