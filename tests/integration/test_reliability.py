"""Reliability on the shared local cluster: an operator killed at random moments, conflicting
writers, two operators at once, and every way a service can be deleted. Nothing is lost:
every service ends with contiguous versions, exactly one Active made from its last spec, and
children that match its status.

The API-server faults, which need a cluster of their own, are in test_reliability_apiserver.py.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from lightship import GROUP, VERSION
from tests.integration.checks import (
    audit_service,
    leftovers,
    no_orphans,
    operator_failures,
    wait_consistent,
)
from tests.integration.support import (
    PLURAL,
    SESSION,
    Cluster,
    Operator,
    Services,
    create,
    create_namespace,
    events,
    listed,
    observed,
    settled_versions,
    spec_of,
    wait_for,
    write_spec,
)


class Life:
    """One life of the operator under test, and when it is killed: at a random moment. One in
    five dies during start-up. The others get a random budget of 1-8 spec writes, and die a
    random delay (0-1.5 s) after the last of them: in the middle of the reconciles those
    writes cause, between the writes of one, or idle. A budget of writes rather than seconds
    makes every life do some work however loaded the machine is (start-up alone can take
    seconds), and the 90 updates of the test take at least 12 lives: at least 11 kills land
    while updates are still to be written."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.budget = rng.randint(1, 8)
        self.writes = 0
        in_start_up = rng.random() < 0.2
        self.kill_at = time.monotonic() + rng.uniform(0.3, 1.5) if in_start_up else None

    def may_write(self) -> bool:
        return self.writes < self.budget

    def wrote(self) -> None:
        self.writes += 1
        if self.kill_at is None and self.writes >= self.budget:
            self.kill_at = time.monotonic() + self.rng.uniform(0, 1.5)

    def due(self, pending: bool) -> bool:
        if self.kill_at is None and not pending:  # all written: kills until 10 were made
            self.kill_at = time.monotonic() + self.rng.uniform(0, 1.5)
        return self.kill_at is not None and time.monotonic() >= self.kill_at


# The operator killed at random moments is stuck, rather than slow, when it makes no progress
# for this long: a deadline for a stuck test, not a bound on how fast it works.
STALLED_SECONDS = 120


@pytest.fixture
def seed() -> int:
    """The random seed of a chaos test, printed so that a failing run can be replayed with
    LIGHTSHIP_CHAOS_SEED."""
    value = int(os.environ.get("LIGHTSHIP_CHAOS_SEED") or random.randrange(1 << 32))
    print(f"LIGHTSHIP_CHAOS_SEED={value}")
    return value


# -- 1. The operator killed at random moments ------------------------------------------------


@pytest.mark.chaos
def test_operator_sigkilled_at_random_moments_loses_nothing(
    services: Services, operator: Operator, seed: int
) -> None:
    """30 services, each created and then updated 3 times, while the operator is sent SIGKILL
    at random moments (at least 10 times, each while updates were still pending) and started
    again. Each update is written only once the operator observed the previous generation
    (status.observedGeneration == generation): a generation it never saw is not a version
    (DESIGN §2), so with this pacing every write must become exactly one version, and the
    result is checkable exactly: versions 1..4, no gap, no duplicate."""
    rng = random.Random(seed)
    count, updates, min_kills = 30, 3, 10
    names = [f"svc-{i:02d}" for i in range(count)]
    scales = {name: rng.choice([1, 1, 2]) for name in names}
    written = {name: 1 for name in names}  # spec writes so far: the create is the first
    last: dict[str, dict[str, Any]] = {}
    started = time.monotonic()

    for name in names:
        last[name] = spec_of(1, scales[name], public=rng.random() < 0.5)
        create(services, name, last[name])

    kills, kills_pending = 0, 0
    restarted = progressed = started
    life = Life(rng)
    while True:
        pending = any(written[name] <= updates for name in names)
        if not pending and kills >= min_kills:
            break
        # However loaded the machine, each life writes once the operator observed a change.
        assert time.monotonic() - progressed < STALLED_SECONDS, (
            f"no write nor kill for {STALLED_SECONDS} s: {kills} kills, writes {written}"
        )
        for name, obj in listed(services).items():
            if observed(obj) and written[name] <= updates and life.may_write():
                written[name] += 1
                scale = rng.choice([1, 2, 3]) if rng.random() < 0.3 else scales[name]
                last[name] = spec_of(written[name], scale, public=rng.random() < 0.5)
                write_spec(services.custom, services.namespace, name, last[name])
                life.wrote()
                progressed = time.monotonic()
        if life.due(pending):
            operator.stop(signal.SIGKILL)
            kills += 1
            kills_pending += pending
            time.sleep(rng.uniform(0, 0.5))  # sometimes changes land while it is down
            operator.start()
            restarted = progressed = time.monotonic()
            life = Life(rng)
        time.sleep(0.1)

    issued = time.monotonic() - started
    for name in names:
        wait_consistent(services, name, last[name], [1, 2, 3, 4], timeout=120)
    no_orphans(services, set(names))
    converged = time.monotonic()
    print(
        f"{count} services x {updates} updates, {kills} SIGKILLs ({kills_pending} while "
        f"updates were pending), all written in {issued:.0f} s, consistent after "
        f"{converged - started:.0f} s: recovered {converged - restarted:.1f} s after the last "
        "restart"
    )
    assert kills_pending >= min_kills, "too few kills landed while updates were pending"


# -- 3. Conflicting writers --------------------------------------------------------------------


def test_a_burst_of_ten_spec_updates_ends_at_the_last(services: Services) -> None:
    """Ten spec updates written one right after the other, without waiting for the operator:
    the versions it made are contiguous, and the last spec is the active one."""
    create(services, "burst", spec_of(0))
    services.wait_active("burst", 1)
    began = time.monotonic()
    for change in range(1, 11):
        final = spec_of(change, scale=1 + change % 3)
        write_spec(services.custom, services.namespace, "burst", final)
    print(f"10 spec updates written in {time.monotonic() - began:.2f} s")
    kept = settled_versions(services, "burst")
    # Generations 2..11 were written; those the operator never saw are not versions.
    assert kept == list(range(1, len(kept) + 1)) and 2 <= len(kept) <= 11, kept
    wait_consistent(services, "burst", final, kept)


def test_concurrent_clients_on_different_services_and_on_one(
    services: Services, api_client: client.ApiClient, seed: int
) -> None:
    """Five clients, each updating its own service as fast as it can, and then the same five
    racing on one service with server-side apply under different field managers: every
    service ends at the spec last stored, with contiguous versions."""
    names = [f"client-{i}" for i in range(5)]
    for name in names:
        create(services, name, spec_of(0))
    for name in names:
        services.wait_active(name, 1)
    kubeconfig = str(services.cluster.kubeconfig)

    def own_service(index: int) -> dict[str, Any]:
        rng = random.Random(seed + index)
        custom = client.CustomObjectsApi(config.new_client_from_config(config_file=kubeconfig))
        final: dict[str, Any] = {}
        for change in range(1, 7):
            final = spec_of(change, scale=rng.choice([1, 2]))
            write_spec(custom, services.namespace, names[index], final)
            time.sleep(rng.uniform(0, 0.3))
        return final

    with ThreadPoolExecutor(5) as pool:
        finals = list(pool.map(own_service, range(5)))

    def shared_service(index: int) -> None:
        rng = random.Random(seed - index)
        custom = client.CustomObjectsApi(config.new_client_from_config(config_file=kubeconfig))
        for change in range(4):
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "ContainerServiceDeployment",
                "metadata": {"name": "client-0"},
                "spec": spec_of(100 * index + change),
            }
            custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                services.namespace,
                PLURAL,
                "client-0",
                body,
                field_manager=f"client-{index}",
                force=True,
                _content_type="application/apply-patch+yaml",
            )
            time.sleep(rng.uniform(0, 0.2))

    # Client 0's own updates must be recorded first: its versions continue below.
    settled_versions(services, "client-0")
    with ThreadPoolExecutor(5) as pool:
        list(pool.map(shared_service, range(5)))
    finals[0] = services.get("client-0")["spec"]  # whoever wrote last

    for name, final in zip(names, finals, strict=True):
        kept = settled_versions(services, name)
        assert kept == list(range(1, len(kept) + 1)), f"{name}: {kept}"
        wait_consistent(services, name, final, kept)


def test_labels_and_annotations_by_another_tool_make_no_version(services: Services) -> None:
    """Label and annotation changes, by kubectl and by a GitOps-like field manager, at rest
    and in the middle of a rollout, make no version and move no pod. A spec change written
    after them is the barrier: once it is observed, every earlier event was handled."""
    create(services, "tagged", spec_of(1, scale=2))
    services.wait_active("tagged", 1)
    pods = {p["metadata"]["uid"] for p in services.pods("tagged", 1)}

    def relabel(round_: int) -> None:
        ns = services.namespace
        services.cluster.kubectl(
            "label", "csd", "tagged", "-n", ns, f"round={round_}", "--overwrite"
        )
        services.cluster.kubectl(
            "annotate", "csd", "tagged", "-n", ns, f"note=round {round_}", "--overwrite"
        )
        services.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            ns,
            PLURAL,
            "tagged",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "ContainerServiceDeployment",
                "metadata": {
                    "name": "tagged",
                    "labels": {"argocd.argoproj.io/instance": f"app-{round_}"},
                    "annotations": {"argocd.argoproj.io/tracking-id": f"app:{round_}"},
                },
            },
            field_manager="argocd-controller",
            force=True,
            _content_type="application/apply-patch+yaml",
        )

    for round_ in range(5):
        relabel(round_)
    assert services.get("tagged")["metadata"]["generation"] == 1
    # The barrier: a spec change, with more label changes while it rolls out.
    write_spec(services.custom, services.namespace, "tagged", spec_of(2, scale=2))
    for round_ in range(5, 10):
        relabel(round_)
    obj = services.get("tagged")
    assert obj["metadata"]["generation"] == 2
    assert obj["metadata"]["labels"]["round"] == "9"
    wait_consistent(services, "tagged", spec_of(2, scale=2), [1, 2])
    # Events are posted apart from the status: wait for the second one, then there are two.
    wait_for(
        lambda: [m for _, r, m in events(services, "tagged") if r == "VersionCreated"][1:],
        "the Event of version 2",
        30,
    )
    created = [m for _, r, m in events(services, "tagged") if r == "VersionCreated"]
    assert len(created) == 2, created
    # Version 1's pods served, untouched, until version 2 replaced them.
    assert not pods & {p["metadata"]["uid"] for p in services.pods("tagged")}


# -- 4. Two operators at once ------------------------------------------------------------------


class Sampler:
    """Watches a namespace while operators work, collecting every state that breaks an
    invariant that must hold at every moment, not only at the end: no version number twice in
    a status, at most one Active version, one version per generation, and a version number
    never rebound to another generation."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.violations: list[str] = []
        self.samples = 0
        self.bindings: dict[tuple[str, int], str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self.sample()

    def sample(self) -> None:
        self.samples += 1
        for name, obj in listed(self.services).items():
            entries = (obj.get("status") or {}).get("versions", [])
            numbers = [v["version"] for v in entries]
            if len(set(numbers)) != len(numbers):
                self.violations.append(f"{name}: a version twice in the status: {numbers}")
            active = [v["version"] for v in entries if v["state"] == "Active"]
            if len(active) > 1:
                self.violations.append(f"{name}: several Active versions: {active}")
        revisions = self.services.apps.list_namespaced_controller_revision(
            self.services.namespace
        ).items
        generations: dict[tuple[str, str], list[int]] = {}
        for revision in revisions:
            service = revision.metadata.labels.get("lightship.dev/service", "")
            generation = revision.metadata.annotations.get("lightship.dev/generation", "")
            generations.setdefault((service, generation), []).append(revision.revision)
            bound = self.bindings.setdefault((service, revision.revision), generation)
            if bound != generation:
                self.violations.append(
                    f"{service}: version {revision.revision} was generation {bound}, "
                    f"now {generation}"
                )
        for (service, generation), numbers in generations.items():
            if len(numbers) > 1:
                self.violations.append(
                    f"{service}: generation {generation} made versions {sorted(numbers)}"
                )


@pytest.fixture
def second_operator(services: Services, operator: Operator, tmp_path: Path) -> Iterator[Operator]:
    """A second operator process on the namespace of the test, beside the session's."""
    second = Operator(
        services.cluster,
        tmp_path / "second-operator.log",
        {**operator.env, "LIGHTSHIP_NAMESPACES": services.namespace},
    )
    second.start()
    wait_for(
        lambda: "Starting the watch-stream for containerservicedeployments" in second.log(),
        "the second operator to watch",
        30,
    )
    yield second
    if second.process is not None:
        second.stop()
    failures = operator_failures(second.log())
    assert not failures, "the second operator reported failures:\n" + "\n".join(failures)


def test_two_operators_make_no_duplicate_versions_and_agree(
    services: Services, second_operator: Operator, seed: int
) -> None:
    """Both operators handle every event of 10 services through 3 paced updates, a burst of
    5 unpaced ones, pod deletions and a failing version; the Sampler checks the invariants all
    along, and at the end each service is consistent with its children."""
    rng = random.Random(seed)
    names = [f"duo-{i}" for i in range(10)]
    last = {name: spec_of(1) for name in names}
    writes = dict.fromkeys(names, 1)
    with Sampler(services) as sampler:
        for name in names:
            create(services, name, last[name])
        deadline = time.monotonic() + 120
        while any(count <= 3 for count in writes.values()):
            assert time.monotonic() < deadline, f"paced updates did not finish: {writes}"
            for name, obj in listed(services).items():
                if observed(obj) and writes[name] <= 3:
                    writes[name] += 1
                    last[name] = spec_of(writes[name], scale=rng.choice([1, 2]))
                    write_spec(services.custom, services.namespace, name, last[name])
            victims = services.pods("duo-0") + services.pods("duo-1")
            if victims:  # a pod of an active or activating version disappears
                victim = rng.choice(victims)["metadata"]["name"]
                try:
                    services.core.delete_namespaced_pod(victim, services.namespace)
                except client.ApiException as error:
                    if error.status != 404:  # the operator removed it first: as good
                        raise
            time.sleep(0.2)
        # A burst on two services, and a version that fails on a third.
        for change in range(10, 15):
            for name in names[:2]:
                last[name] = spec_of(change, scale=rng.choice([1, 2]))
                write_spec(services.custom, services.namespace, name, last[name])
        failing = spec_of(99)
        failing["containers"][0]["image"] = "sim.invalid/crash-loop"
        settled_versions(services, names[2])
        write_spec(services.custom, services.namespace, names[2], failing)
        services.wait(
            names[2], lambda s: s["versions"][0]["state"] == "Failed", "the failing version"
        )
        write_spec(services.custom, services.namespace, names[2], last[names[2]])
        for name in names:
            kept = settled_versions(services, name, timeout=90)
            assert kept == list(range(1, len(kept) + 1)), f"{name}: {kept}"
            wait_consistent(services, name, last[name], kept, timeout=60)
        sampler.sample()
    assert sampler.samples > 10
    assert sampler.violations == []
    no_orphans(services, set(names))
    # Both really worked: each logged reconciles of these services.
    assert "VersionCreated" in second_operator.log()


def test_a_lagging_operator_cannot_roll_the_status_back(services: Services) -> None:
    """What a second operator whose watch lags does, made deterministic: it decides from an
    old state of the object (version 1 Active, generation 1) and current children (version 2
    made and serving). Its status write must not replace the newer status: the API server
    refuses it (the write names the resourceVersion it was decided from), and nothing it
    wrote is left behind."""
    from kubernetes.client.exceptions import ApiException

    from lightship import KIND
    from lightship.cache import IndexView
    from lightship.cluster import Cluster
    from lightship.reconcile import reconcile
    from lightship.settings import Settings

    create(services, "lag", spec_of(1, scale=2))
    services.wait_active("lag", 1)
    stale = services.get("lag")  # what the lagging watch still shows
    write_spec(services.custom, services.namespace, "lag", spec_of(2, scale=2))
    wait_consistent(services, "lag", spec_of(2, scale=2), [1, 2])

    cluster = Cluster(services.custom.api_client)
    ns = services.namespace
    seen = IndexView(
        {
            KIND: [stale],
            "ControllerRevision": cluster.children("ControllerRevision", ns, "lag"),
            "Pod": cluster.children("Pod", ns, "lag"),
            "Service": [s for s in [cluster.get("Service", ns, "lag")] if s],
            "Ingress": [i for i in [cluster.get("Ingress", ns, "lag")] if i],
        },
    )
    with pytest.raises(ApiException) as refused:
        reconcile(cluster, Settings(), (ns, "lag"), view=seen)
    assert refused.value.status == 409
    assert audit_service(services, "lag", spec_of(2, scale=2), [1, 2]) == []


# -- 6. Deletion paths -------------------------------------------------------------------------


def delete(services: Services, name: str) -> None:
    """Deletes the object and waits for it to be gone: kubectl fails if it is not within 30 s
    (a finalizer nobody removes would hold it forever)."""
    began = time.monotonic()
    services.cluster.kubectl(
        "delete", "csd", name, "-n", services.namespace, "--wait=true", "--timeout=30s"
    )
    print(f"{name} deleted in {time.monotonic() - began:.1f} s")


def wait_nothing_left(services: Services, name: str, timeout: float = 60) -> None:
    wait_for(
        lambda: not leftovers(services, f"lightship.dev/service={name}"),
        f"the children of {name} to be garbage-collected",
        timeout,
        interval=0.5,
    )


def test_delete_while_a_version_activates(services: Services) -> None:
    never_ready = spec_of(2)
    never_ready["containers"][0]["image"] = "sim.invalid/never-ready:1"
    create(services, "busy", spec_of(1, scale=2))
    services.wait_active("busy", 1)
    write_spec(services.custom, services.namespace, "busy", never_ready)
    services.wait("busy", lambda s: s.get("state") == "Deploying", "version 2 activating")
    wait_for(lambda: len(services.pods("busy", 2)) == 1, "version 2's pod", 30)
    # And one deleted before its first version was ever active.
    create(services, "fresh", spec_of(1, scale=3))
    wait_for(lambda: services.pods("fresh"), "a pod of the first version", 30, interval=0.05)
    delete(services, "busy")
    delete(services, "fresh")
    wait_nothing_left(services, "busy")
    wait_nothing_left(services, "fresh")


def test_delete_with_the_operator_stopped(services: Services, operator: Operator) -> None:
    create(services, "orphan", spec_of(1, scale=2))
    services.wait_active("orphan", 1)
    with operator.stopped():
        delete(services, "orphan")
        wait_nothing_left(services, "orphan")
    # Once the restarted operator made a new service active it has seen everything: the
    # deleted one stays gone.
    create(services, "after", spec_of(1))
    services.wait_active("after", 1)
    assert not leftovers(services, "lightship.dev/service=orphan")


def test_delete_the_namespace(services: Services) -> None:
    never_ready = spec_of(2)
    never_ready["containers"][0]["image"] = "sim.invalid/never-ready:1"
    for name in ("ns-a", "ns-b", "ns-c"):
        create(services, name, spec_of(1, scale=2))
    for name in ("ns-a", "ns-b"):
        services.wait_active(name, 1)
    write_spec(services.custom, services.namespace, "ns-b", never_ready)  # ns-c still activates
    began = time.monotonic()
    services.cluster.kubectl(
        "delete", "namespace", services.namespace, "--wait=true", "--timeout=90s", timeout=120
    )
    gone = services.cluster.kubectl("get", "namespace", services.namespace, check=False)
    assert "NotFound" in gone.stderr, gone.stdout
    print(f"namespace with 3 services deleted in {time.monotonic() - began:.1f} s")


def test_status_consistency_helper_sees_a_broken_service(
    services: Services, operator: Operator
) -> None:
    """The audit the tests above rely on does find what it looks for."""
    create(services, "probe", spec_of(1, scale=2))
    services.wait_active("probe", 1)
    assert audit_service(services, "probe", spec_of(1, scale=2), [1]) == []
    assert audit_service(services, "probe", spec_of(1, scale=3), [1])  # spec and pod count
    assert audit_service(services, "probe", spec_of(1, scale=2), [1, 2])  # a missing version
    # The operator would repair the broken selector at once: it is stopped meanwhile.
    with operator.stopped():
        services.core.patch_namespaced_service(
            "probe", services.namespace, {"spec": {"selector": {"lightship.dev/version": "7"}}}
        )
        problems = audit_service(services, "probe", spec_of(1, scale=2), [1])
        (problem,) = problems
        assert problem.startswith("Service selector ") and "'7'" in problem, problem
    wait_consistent(services, "probe", spec_of(1, scale=2), [1])


@pytest.fixture
def refusing_proxy(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A kubeconfig through `kubectl proxy` that refuses every request for the pods of one
    namespace, and that namespace's name. The namespace is not created."""
    refused = f"held{SESSION}-refused"
    proxy = subprocess.Popen(
        [
            *(str(cluster.bin_dir / "kubectl"), "--kubeconfig", str(cluster.kubeconfig)),
            *("proxy", "--port=0", f"--reject-paths=^/api/v1/namespaces/{refused}/pods"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proxy.stdout is not None
        address = proxy.stdout.readline().split()[-1]  # "Starting to serve on 127.0.0.1:PORT"
        kubeconfig = tmp_path / "proxy.kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: proxy\n"
            f"clusters: [{{name: proxy, cluster: {{server: 'http://{address}'}}}}]\n"
            "contexts: [{name: proxy, context: {cluster: proxy, user: proxy}}]\n"
            "users: [{name: proxy, user: {}}]\n"
        )
        yield kubeconfig, refused
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


def test_a_namespace_deleted_while_the_operator_lists_it_stops_nothing(
    cluster: Cluster,
    api_client: client.ApiClient,
    refusing_proxy: tuple[Path, str],
    tmp_path: Path,
) -> None:
    """kopf calls no handler until every watched namespace has been listed once. A namespace
    deleted before its listing is done (here its listing is refused, and retried, for half a
    minute) must not keep the operator from the services of the other namespaces."""
    kubeconfig, refused = refusing_proxy
    served = f"held{SESSION}-served"
    operator = Operator(
        cluster,
        tmp_path / "operator.log",
        {"LIGHTSHIP_NAMESPACES": f"held{SESSION}-*"},
        kubeconfig=kubeconfig,
    )
    try:
        create_namespace(cluster, served)
        create_namespace(cluster, refused)
        operator.start()
        wait_for(
            lambda: (
                f"/namespaces/{refused}/pods" in operator.log() and "Forbidden" in operator.log()
            ),
            "the operator's listing of the refused namespace to be refused",
            30,
        )
        services = Services(api_client, cluster, served)
        create(services, "shop", spec_of(1))
        cluster.kubectl("delete", "namespace", refused, "--wait=false")
        began = time.monotonic()
        services.wait_active("shop", 1, timeout=60)
        print(f"served {time.monotonic() - began:.1f} s after the refused namespace was deleted")
    finally:
        if operator.process is not None:
            operator.stop()
        cluster.kubectl("delete", "namespace", served, refused, "--wait=false", check=False)
    failures = operator_failures(operator.log(), served)
    assert not failures, "the operator reported failures:\n" + "\n".join(failures)
