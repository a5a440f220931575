"""The kopf patch of kopf_compat, on kopf's real code path: kopf's orchestration starts its
(patched) watcher as kopf does, the watch ends before its first listing, and the operator's
readiness is no longer held."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import kopf
import pytest
from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.clients import watching
from kopf._cogs.structs import references
from kopf._core.reactor import orchestration, queueing

from lightship import kopf_compat

PODS = references.Resource(group="", version="v1", plural="pods", namespaced=True)


async def readiness_after_a_watch_that_ends(how: BaseException) -> bool:
    """Whether kopf's readiness is on once the only watch, of an indexed kind, ended before
    its listing finished (its namespace deleted, its listing refused)."""

    async def ended_watch(**_: Any) -> AsyncIterator[Any]:
        raise how
        yield  # an async generator, as kopf's

    ensemble = orchestration.Ensemble(
        operator_indexed=aiotoggles.ToggleSet(all),
        operator_paused=aiotoggles.ToggleSet(any),
        peering_missing=await aiotoggles.ToggleSet(any).make_toggle(),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(watching, "infinite_watch", ended_watch)
        await orchestration.spawn_missing_watchers(
            processor=lambda **_: None,  # type: ignore[arg-type,return-value]
            settings=kopf.OperatorSettings(),
            indexed_resources={PODS},
            watched_resources={PODS},
            watched_namespaces={"deleted-meanwhile"},
            ensemble=ensemble,
        )
        tasks = list(ensemble.watcher_tasks.values())
        await asyncio.wait(tasks, timeout=5)
    return ensemble.operator_indexed.is_on()


@pytest.mark.parametrize("how", [RuntimeError("listing refused"), asyncio.CancelledError()])
def test_a_watch_that_ends_before_its_listing_releases_the_operator(how: BaseException) -> None:
    kopf_compat.release_index_holds_of_ended_watches()
    assert asyncio.run(readiness_after_a_watch_that_ends(how))


def test_another_kopf_version_stops_the_operator_with_a_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kopf_compat, "version", lambda _: "1.46.0")
    with pytest.raises(kopf_compat.KopfMismatch, match=r"kopf 1\.46\.0 is installed.*1\.45\.2"):
        kopf_compat.release_index_holds_of_ended_watches()


def test_a_changed_calling_convention_stops_the_operator_with_a_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def watcher(operator_indexed: Any = None, resource_indexed: Any = None) -> None:
        """Takes the holds positionally: the patch would read none of them."""

    monkeypatch.setattr(queueing, "watcher", watcher)
    with pytest.raises(kopf_compat.KopfMismatch, match="watcher no longer takes"):
        kopf_compat.release_index_holds_of_ended_watches()


def test_the_pin_in_pyproject_is_the_version_the_patch_was_written_for() -> None:
    from pathlib import Path

    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert f'"kopf=={kopf_compat.KOPF_VERSION}"' in pyproject
