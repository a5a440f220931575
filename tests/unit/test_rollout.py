"""The rollout decision: every transition of DESIGN §2, from observed state to the next step.
A table: each row is a situation and the whole plan expected of it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from lightship import public_route, render, rollout
from lightship.api import (
    Condition,
    ContainerServiceSpec,
    ContainerServiceStatus,
)
from lightship.children import stamped
from lightship.observed import Observed, UnreadableRevision
from lightship.pods import Failure, observe_pod
from lightship.rollout import plan
from tests.unit.support import (
    ACTIVATING,
    ACTIVE,
    DEPLOYING,
    FAILED,
    INACTIVE,
    NOW,
    READY,
    RUNNING,
    SETTINGS,
    UID,
    UPDATING,
    expect,
    makes_version,
    observed,
    outline,
    pod,
    rolling_out,
    spec,
    switches_to_version_2,
    version,
)

A, B, C = spec("nginx:1.26"), spec("nginx:1.27"), spec("nginx:1.28")
PULL_ERROR = Failure("ImagePullBackOff", "container web: Back-off pulling image")
OTHER_UID = "5d0e6c1e-0000-4000-8000-0000000000ff"
PRIVATE = spec(public=False)
WORKER = ContainerServiceSpec.model_validate(
    {"containers": [{"name": "worker", "image": "busybox:1.36"}]}
)


def unreadable(number: int, generation: int) -> UnreadableRevision:
    return UnreadableRevision(number, generation, "data.scale: too big", NOW - timedelta(days=9))


def first_pod_name_held(age: float) -> Observed:
    """Version 1 (scale 2) activating for `age` seconds; its second pod made then, the name of
    its first held by another owner's pod."""
    second = pod(1, 1, ready=False, created_at=NOW - timedelta(seconds=age))
    return replace(
        observed(1, spec(scale=2), [version(1, ACTIVATING, age=age)], pods=[second]),
        foreign={("Pod", "shop-v1-0")},
    )


def with_ingress_annotation(current: Observed) -> Observed:
    """The Ingress as an earlier rendering left it: with an annotation no longer rendered."""
    earlier = public_route.render_route("shop", UID, spec(), SETTINGS)
    earlier["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/backend-protocol": "HTTPS"}
    return replace(current, ingress=stamped(earlier))


SHOP_DOMAINS = [
    {"certificate": "shop-example-com", "domains": ["shop.example.com", "www.shop.example.com"]},
    {"certificate": "shop-example-org", "domains": ["shop.example.org"]},
]
WITH_DOMAINS = ContainerServiceSpec.model_validate(
    {**spec().model_dump(by_alias=True, exclude_none=True), "publicDomainNames": SHOP_DOMAINS}
)
OTHER_SHOP = ("other", "shop")


def serving_domains(current: Observed, *hosts: str) -> Observed:
    """The service running version 1 with its Ingress serving the generated host and `hosts`."""
    served = [
        entry.model_copy(update={"domains": [d for d in entry.domains if d in hosts]})
        for entry in WITH_DOMAINS.public_domain_names
        if set(entry.domains) & set(hosts)
    ]
    ingress = public_route.render_route("shop", UID, spec(), SETTINGS, served)
    return replace(current, ingress=stamped(ingress))


TABLE: list[tuple[str, Observed, dict[str, Any]]] = [
    (
        "the first spec makes version 1 and its pods",
        observed(1, spec(scale=2), revisions={}),
        makes_version(
            {1: ACTIVATING},
            create_pods=["shop-v1-0", "shop-v1-1"],
        ),
    ),
    (
        "an activating version gets its missing pods; the clock starts with them",
        observed(1, spec(scale=3), [version(1, ACTIVATING)], pods=[pod(1, 0, ready=False)]),
        expect(
            {1: ACTIVATING},
            DEPLOYING,
            create_pods=["shop-v1-1", "shop-v1-2"],
            requeue_after=600.5,
        ),
    ),
    (
        "all pods ready: the version is active and the Service and Ingress switch to it",
        observed(1, spec(), [version(1, ACTIVATING)], pods=[pod(1)]),
        expect({1: ACTIVE}, RUNNING, service="v1", ingress="apply", events=["VersionActivated"]),
    ),
    (
        "a new spec starts beside the active version",
        observed(2, B, [version(1, ACTIVE)], revisions={1: (1, A)}, pods=[pod(1)], selected=1),
        makes_version({2: ACTIVATING, 1: ACTIVE}),
    ),
    (
        "the switch makes the old version inactive and removes its pods",
        rolling_out(A, B, pod(2)),
        switches_to_version_2(),
    ),
    (
        "a failing version is removed and the previous one keeps serving",
        rolling_out(A, B, pod(2, ready=False, failure=PULL_ERROR)),
        expect(
            {2: FAILED, 1: ACTIVE}, RUNNING, delete_pods=["shop-v2-0"], events=["VersionFailed"]
        ),
    ),
    (
        "the activation deadline fails the version",
        observed(1, spec(), [version(1, ACTIVATING, age=601)], pods=[pod(1, ready=False)]),
        expect({1: FAILED}, READY, delete_pods=["shop-v1-0"], events=["VersionFailed"]),
    ),
    (
        "a failure without a previous version leaves no active deployment",
        observed(
            1, spec(), [version(1, ACTIVATING)], pods=[pod(1, ready=False, failure=PULL_ERROR)]
        ),
        expect({1: FAILED}, READY, delete_pods=["shop-v1-0"], events=["VersionFailed"]),
    ),
    (
        "a spec change while a version activates supersedes it",
        observed(
            3,
            C,
            [version(2, ACTIVATING), version(1, ACTIVE)],
            revisions={1: (1, A), 2: (2, B)},
            pods=[pod(1), pod(2, ready=False)],
            selected=1,
        ),
        makes_version(
            {3: ACTIVATING, 2: INACTIVE, 1: ACTIVE},
            delete_pods=["shop-v2-0"],
            events=["VersionCreated", "VersionSuperseded"],
        ),
    ),
    (
        "missing or ended pods of the active version are replaced",
        observed(
            1,
            spec(scale=3),
            [version(1, ACTIVE)],
            pods=[pod(1, 0), pod(1, 1, ended=True)],
            selected=1,
        ),
        # Below its scale, the active version is Updating until its pods are back.
        expect({1: ACTIVE}, UPDATING, create_pods=["shop-v1-2"], delete_pods=["shop-v1-1"]),
    ),
    (
        "a lost status is rebuilt from the revisions and the Service",
        observed(2, B, [], revisions={1: (1, A), 2: (2, B)}, pods=[pod(1), pod(2)], selected=1),
        switches_to_version_2(),
    ),
    (
        "a revision made before a crash is not made again",
        observed(
            2, B, [version(1, ACTIVE)], revisions={1: (1, A), 2: (2, B)}, pods=[pod(1)], selected=1
        ),
        expect(
            {2: ACTIVATING, 1: ACTIVE}, DEPLOYING, create_pods=["shop-v2-0"], requeue_after=600.5
        ),
    ),
    (
        "a version the status knows but no revision shows still takes its number",
        observed(
            3,
            C,
            [version(2, FAILED), version(1, ACTIVE)],
            revisions={1: (1, A)},
            pods=[pod(1)],
            selected=1,
        ),
        makes_version({3: ACTIVATING, 2: FAILED, 1: ACTIVE}),
    ),
    (
        "removing the public endpoint removes the Ingress and the URL",
        rolling_out(spec(), PRIVATE, pod(2)),
        switches_to_version_2(ingress="delete"),
    ),
    (
        "a version without ports has no Service",
        rolling_out(spec(), WORKER, pod(2)),
        switches_to_version_2(service="delete", ingress="delete"),
    ),
    (
        "the steady state plans nothing",
        observed(1, spec(), [version(1, ACTIVE)], pods=[pod(1)], selected=1),
        expect({1: ACTIVE}, RUNNING),
    ),
    (
        "an annotation no longer rendered is removed from the Ingress",
        with_ingress_annotation(
            observed(1, spec(), [version(1, ACTIVE)], pods=[pod(1)], selected=1)
        ),
        expect({1: ACTIVE}, RUNNING, ingress="apply"),
    ),
    (
        "a Service of another owner is reported and left alone; the version waits",
        observed(
            1,
            spec(),
            [version(1, ACTIVATING)],
            pods=[pod(1)],
            service={"metadata": {"name": "shop", "ownerReferences": []}, "spec": {}},
        ),
        expect(
            {1: ACTIVATING},
            DEPLOYING,
            abnormal=["Conflict"],
            events=["ForeignObject"],
            requeue_after=540.5,
        ),
    ),
    (
        "the name of the version to make is held by another owner's revision: it waits",
        replace(observed(1, spec(), revisions={}), foreign={("ControllerRevision", "shop-v1")}),
        expect(
            {},
            READY,
            abnormal=["Conflict"],
            events=["ForeignObject"],
            requeue_after=rollout.HELD_NAME_RETRY_SECONDS,
        ),
    ),
    (
        "a pod name held by another owner is reported and not made",
        first_pod_name_held(age=30),
        expect(
            {1: ACTIVATING},
            DEPLOYING,
            abnormal=["Conflict"],
            events=["ForeignObject"],
            requeue_after=570.5,
        ),
    ),
    (
        "the deadline ends although a pod name is held by another owner",
        first_pod_name_held(age=601),
        expect(
            {1: FAILED},
            READY,
            delete_pods=["shop-v1-1"],
            abnormal=["Conflict", "Stalled"],
            events=["VersionFailed", "ForeignObject"],
        ),
    ),
    (
        "the deadline ends although a pod is stuck terminating",
        observed(
            1,
            spec(),
            [version(1, ACTIVATING, age=601)],
            pods=[pod(1, ready=False, terminating=True, created_at=NOW - timedelta(seconds=900))],
        ),
        expect({1: FAILED}, READY, events=["VersionFailed"]),
    ),
    (
        "one pod made before the operator died, one now: the whole deadline from now",
        observed(
            1,
            spec(scale=2),
            [version(1, ACTIVATING, age=3600)],
            pods=[pod(1, 0, ready=False, created_at=NOW - timedelta(seconds=900))],
        ),
        expect({1: ACTIVATING}, DEPLOYING, create_pods=["shop-v1-1"], requeue_after=600.5),
    ),
    (
        "all pods exist, the last made 30 s ago: 570 s to go",
        observed(
            1,
            spec(scale=2),
            [version(1, ACTIVATING, age=3600)],
            pods=[
                pod(1, 0, ready=False, created_at=NOW - timedelta(seconds=900)),
                pod(1, 1, ready=False, created_at=NOW - timedelta(seconds=30)),
            ],
        ),
        expect({1: ACTIVATING}, DEPLOYING, requeue_after=570.5),
    ),
    (
        "pods refused at admission fail the version; the active one serves",
        replace(
            rolling_out(A, C),
            rejected={2: 'pods "shop-v2-0" is forbidden: violates PodSecurity'},
        ),
        expect({2: FAILED, 1: ACTIVE}, RUNNING, events=["VersionFailed"]),
    ),
    (
        "a stored version the models refuse is reported and the service keeps working",
        replace(
            observed(
                3,
                C,
                [version(2, ACTIVE), version(1, INACTIVE)],
                revisions={2: (2, B)},
                pods=[pod(2)],
                selected=2,
            ),
            unreadable={1: unreadable(1, 1)},
        ),
        makes_version(
            {3: ACTIVATING, 2: ACTIVE, 1: INACTIVE},
            abnormal=["HistoryUnreadable"],
            events=["VersionCreated", "UnreadableVersion"],
        ),
    ),
    (
        "a stored version the models refuse is pruned when it ages out",
        replace(
            observed(
                51,
                B,
                [version(50, ACTIVE), *(version(n, INACTIVE) for n in range(49, 0, -1))],
                revisions={n: (n, A) for n in range(2, 51)},
                pods=[pod(50)],
                selected=50,
            ),
            unreadable={1: unreadable(1, 1)},
        ),
        expect(
            {
                n: ACTIVATING if n == 51 else ACTIVE if n == 50 else INACTIVE
                for n in range(51, 1, -1)
            },
            DEPLOYING,
            revision="shop-v51",
            create_pods=["shop-v51-0"],
            delete_revisions=["shop-v1"],
            abnormal=["HistoryUnreadable"],
            events=["VersionCreated", "UnreadableVersion"],
            requeue_after=600.5,
        ),
    ),
    (
        "history keeps 50 versions, always the active one",
        observed(
            51,
            B,
            [*(version(n, FAILED) for n in range(50, 1, -1)), version(1, ACTIVE)],
            revisions={n: (n, A) for n in range(1, 51)},
            pods=[pod(1)],
            selected=1,
        ),
        makes_version(
            {**{n: ACTIVATING if n == 51 else FAILED for n in range(51, 2, -1)}, 1: ACTIVE},
            delete_revisions=["shop-v2"],
        ),
    ),
    (
        "a failing version's logs are asked for before its pods go",
        observed(
            1,
            spec(),
            [version(1, ACTIVATING)],
            pods=[pod(1, ready=False, failure=PULL_ERROR, log_containers=("web",))],
        ),
        expect(
            {1: FAILED},
            READY,
            delete_pods=["shop-v1-0"],
            events=["VersionFailed"],
            read_logs={"shop-v1-0": ("web",)},
        ),
    ),
    (
        "a custom domain another service serves is left out of the route, reported",
        replace(
            serving_domains(
                observed(1, WITH_DOMAINS, [version(1, ACTIVE)], pods=[pod(1)], selected=1),
                "shop.example.com",
                "www.shop.example.com",
                "shop.example.org",
            ),
            domains_taken={"shop.example.org": OTHER_SHOP},
        ),
        expect(
            {1: ACTIVE}, RUNNING, ingress="apply", abnormal=["Conflict"], events=["DomainInUse"]
        ),
    ),
    (
        "a route that already leaves out the domain another service serves stays",
        replace(
            serving_domains(
                observed(1, WITH_DOMAINS, [version(1, ACTIVE)], pods=[pod(1)], selected=1),
                "shop.example.com",
                "www.shop.example.com",
            ),
            domains_taken={"shop.example.org": OTHER_SHOP},
        ),
        expect({1: ACTIVE}, RUNNING, abnormal=["Conflict"], events=["DomainInUse"]),
    ),
    (
        "a domain the other service let go is served: the route takes it",
        serving_domains(
            observed(1, WITH_DOMAINS, [version(1, ACTIVE)], pods=[pod(1)], selected=1),
            "shop.example.com",
            "www.shop.example.com",
        ),
        expect({1: ACTIVE}, RUNNING, ingress="apply"),
    ),
]


@pytest.mark.parametrize(("case", "current", "expected"), TABLE, ids=[c[0] for c in TABLE])
def test_plan(case: str, current: Observed, expected: dict[str, Any]) -> None:
    assert outline(plan(current, SETTINGS)) == expected


def test_condition_transition_time_changes_only_when_status_flips() -> None:
    earlier = NOW - timedelta(hours=1)
    status = ContainerServiceStatus(
        versions=[version(1, ACTIVATING)],
        conditions=[
            Condition(
                type="Ready", status="False", reason="NoActiveVersion", last_transition_time=earlier
            ),
            Condition(
                type="Progressing",
                status="True",
                reason="VersionActivating",
                last_transition_time=earlier,
            ),
        ],
    )
    result = plan(
        observed(1, spec(), [version(1, ACTIVATING)], pods=[pod(1)], status=status), SETTINGS
    )
    times = {c.type: c.last_transition_time for c in result.status.conditions}
    assert times["Ready"] == NOW and times["Progressing"] == NOW
    waiting = plan(
        observed(1, spec(), [version(1, ACTIVATING)], pods=[pod(1, ready=False)], status=status),
        SETTINGS,
    )
    times = {c.type: c.last_transition_time for c in waiting.status.conditions}
    assert times["Ready"] == earlier and times["Progressing"] == earlier


def pod_manifest(status: dict[str, Any], deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "shop-v3-0", "labels": {"lightship.dev/version": "3"}}
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-26T12:00:00Z"
    return {"metadata": metadata, "status": status}


@pytest.mark.parametrize(
    ("status", "ready", "failure", "ended"),
    [
        (
            {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
            True,
            None,
            False,
        ),
        (
            {
                "phase": "Pending",
                "containerStatuses": [
                    {
                        "name": "web",
                        "state": {
                            "waiting": {
                                "reason": "ImagePullBackOff",
                                "message": "Back-off pulling image",
                            }
                        },
                    }
                ],
            },
            False,
            Failure("ImagePullBackOff", "container web: Back-off pulling image"),
            False,
        ),
        (
            {
                "phase": "Pending",
                "containerStatuses": [
                    {"name": "web", "state": {"waiting": {"reason": "ErrImagePull"}}}
                ],
            },
            False,
            None,
            False,
        ),
        (
            {
                "phase": "Running",
                "containerStatuses": [
                    {"name": "db", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                ],
            },
            False,
            Failure("CrashLoopBackOff", "container db: CrashLoopBackOff"),
            False,
        ),
        (  # a real kubelet's crash loop: mostly terminated, CrashLoopBackOff for an instant
            {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "web",
                        "restartCount": 2,
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
                        "state": {"terminated": {"exitCode": 1, "reason": "Error"}},
                    }
                ],
            },
            False,
            Failure(
                "CrashLoopBackOff",
                "container web: keeps exiting: exit code 1 (Error), restarted 2 times",
            ),
            False,
        ),
        (  # exited once, restarted, running now: not (yet) failing
            {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "web",
                        "restartCount": 1,
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
                        "state": {"running": {}},
                    }
                ],
            },
            False,
            None,
            False,
        ),
        (  # a clean exit, restarted: not a failure
            {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "web",
                        "restartCount": 3,
                        "lastState": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                    }
                ],
            },
            False,
            None,
            False,
        ),
        (  # the health-check prober (a native sidecar) cannot be pulled
            {
                "phase": "Pending",
                "initContainerStatuses": [
                    {
                        "name": "lightship-health-check",
                        "state": {
                            "waiting": {
                                "reason": "ImagePullBackOff",
                                "message": 'Back-off pulling image "prober:none"',
                            }
                        },
                    }
                ],
                "containerStatuses": [
                    {"name": "web", "state": {"waiting": {"reason": "PodInitializing"}}}
                ],
            },
            False,
            Failure(
                "ImagePullBackOff",
                'container lightship-health-check: Back-off pulling image "prober:none"',
            ),
            False,
        ),
        (
            {"phase": "Failed", "reason": "Evicted", "message": "low on memory"},
            False,
            Failure("Evicted", "low on memory"),
            True,
        ),
        ({"phase": "Succeeded"}, False, None, True),
        ({}, False, None, False),
    ],
)
def test_observe_pod(
    status: dict[str, Any], ready: bool, failure: Failure | None, ended: bool
) -> None:
    observed_pod = observe_pod(pod_manifest(status))
    assert (observed_pod.version, observed_pod.ready) == (3, ready)
    assert observed_pod.failure == failure
    assert observed_pod.ended == ended
    assert observe_pod(pod_manifest(status, deleting=True)).terminating


def test_observed_pod_knows_when_it_was_made() -> None:
    manifest = render.render_pod("shop", UID, spec(), 3, 0)
    manifest["metadata"]["creationTimestamp"] = "2026-11-26T11:59:30Z"
    assert observe_pod(manifest).created_at == NOW - timedelta(seconds=30)


def test_the_route_and_status_leave_out_a_domain_another_service_serves() -> None:
    current = replace(
        observed(1, WITH_DOMAINS, [version(1, ACTIVE)], pods=[pod(1)], selected=1),
        domains_taken={"shop.example.org": OTHER_SHOP},
    )
    result = plan(current, SETTINGS)
    assert result.apply_ingress is not None
    hosts = [rule["host"] for rule in result.apply_ingress["spec"]["rules"]]
    assert hosts == [
        render.public_host("shop", UID, SETTINGS),
        "shop.example.com",
        "www.shop.example.com",
    ]
    assert [t["secretName"] for t in result.apply_ingress["spec"]["tls"]] == [
        "shop-tls",
        "shop-example-com",
    ]
    assert result.status.domains == ["shop.example.com", "www.shop.example.com"]
    conflict = next(c for c in result.status.conditions if c.type == "Conflict")
    assert (conflict.status, conflict.reason) == ("True", "DomainInUse")
    assert "shop.example.org is served by the service other/shop" in conflict.message
