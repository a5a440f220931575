"""The pods of a running version, as its capacity says (DESIGN §2): `scale` pods made with the
current power and registry credentials. Scale up adds pods, scale down removes pods, and a
change of power or credentials replaces the pods: one by one while the version serves, so that
ready capacity never drops below the scale; all at once while it activates (it serves nothing).
A disabled service runs no pods. Pure."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from lightship import power, render
from lightship.api import ContainerServiceSpec
from lightship.pods import ObservedPod
from lightship.render import Manifest
from lightship.settings import Settings


@dataclass(frozen=True)
class Pods:
    create: list[Manifest] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    # Whether the version's pods are all made with its capacity, `scale` of them, all ready.
    settled: bool = True
    # Its ready pods made with the current capacity: what counts toward activation.
    ready: int = 0
    # Whether every pod it needs now is made (the activation deadline waits for the last one).
    all_made: bool = True


def wanted(spec: ContainerServiceSpec) -> int:
    return 0 if spec.disabled else spec.scale


def plan_pods(
    name: str,
    uid: str,
    spec: ContainerServiceSpec,
    version: int,
    pods: Sequence[ObservedPod],
    present: Collection[str],
    settings: Settings,
    *,
    serving: bool,
) -> Pods:
    """The pods to make and remove for one running version (`pods`: its live ones; `present`:
    every pod name held, terminating or foreign ones too). Ended pods are replaced."""
    digest = power.capacity_digest(spec, settings)
    live = [p for p in pods if not p.ended]
    current = [p for p in live if p.capacity == digest]
    outdated = [p for p in live if p.capacity != digest]
    scale = wanted(spec)
    # Scale down: the extra pods, not ready ones first, then the highest names.
    by_removal = sorted(current, key=lambda p: (not p.ready, _index(p.name)), reverse=True)
    extra = by_removal[: max(len(current) - scale, 0)]
    current = [p for p in current if p not in extra]
    ready_current = sum(1 for p in current if p.ready)
    missing = scale - len(current)
    if serving and outdated:
        # Surge: one new pod at a time while old ones still serve.
        missing = min(missing, max(1 - (len(current) - ready_current), 0))
        retire = _retired(outdated, ready_current, scale)
    else:
        retire = [p.name for p in outdated]
    # Pods take the names of the scale's slots, a name that is held (stuck terminating, another
    # owner's) is waited for; a replacement takes the next free names beside the old pods.
    slots = range(scale + (len(live) if outdated else 0))
    free = [i for i in slots if render.pod_name(name, version, i) not in present]
    create = [
        render.render_pod(name, uid, spec, version, index, settings)
        for index in free[: max(missing, 0)]
    ]
    ended = [p.name for p in pods if p.ended]
    return Pods(
        create=create,
        delete=[*ended, *[p.name for p in extra], *retire],
        settled=not outdated and not extra and not ended and ready_current == scale,
        ready=ready_current,
        all_made=not create,
    )


def _retired(outdated: list[ObservedPod], ready_current: int, scale: int) -> list[str]:
    """The outdated pods that can go now: every one not ready, and ready ones while the ready
    pods left stay at least `scale`."""
    retire = [p.name for p in outdated if not p.ready]
    ready_outdated = [p for p in outdated if p.ready]
    spare = ready_current + len(ready_outdated) - scale
    retire += [p.name for p in ready_outdated[: max(spare, 0)]]
    return retire


def _index(pod_name: str) -> int:
    suffix = pod_name.rsplit("-", 1)[-1]
    return int(suffix) if suffix.isdigit() else 0
