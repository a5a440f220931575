"""The two systems under test, driven the same way: Lightship (one ContainerServiceDeployment per
service, reconciled by the operator) and the baseline (a Deployment, a Service and an Ingress per
service, reconciled by kube-controller-manager), with the same pod template, Service ports and
Ingress, rendered by lightship.render from one spec."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any, ClassVar

from kubernetes import client

from lightship import GROUP, PLURAL, VERSION, public_route, render
from lightship.api import ContainerServiceSpec
from lightship.settings import Settings
from watch import Board, Goal, Obj, Predicate, Watcher

MERGE_PATCH = "application/merge-patch+json"
IMAGES = ("nginx:1.27", "nginx:1.28")
# A stand-in uid for the baseline's Ingress host (no object owns the baseline's children).
BASELINE_UID = "00000000-0000-0000-0000-000000000000"


def service_spec(image: str, scale: int) -> dict[str, Any]:
    """A typical service: a web container with a public endpoint and a cache beside it."""
    return {
        "scale": scale,
        "containers": [
            {
                "name": "web",
                "image": image,
                "environment": [{"name": "REDIS_HOST", "value": "localhost"}],
                "ports": [{"port": 80, "protocol": "HTTP"}],
            },
            {"name": "cache", "image": "redis:7", "ports": [{"port": 6379, "protocol": "TCP"}]},
        ],
        "publicEndpoint": {"containerName": "web", "containerPort": 80},
    }


def baseline_manifests(name: str, wire_spec: dict[str, Any]) -> list[Obj]:
    """What one would write by hand for the same service: a Deployment of the pod that
    Lightship renders (with the operator's settings of this environment), a Service with the
    same ports, and the same Ingress."""
    spec = ContainerServiceSpec.model_validate(wire_spec)
    labels = {"app": name}
    pod = render.render_pod(name, BASELINE_UID, spec, 1, 0)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": spec.scale,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod["spec"]},
        },
    }
    service = render.render_service(name, BASELINE_UID, spec, 1)
    assert service is not None
    service["metadata"] = {"name": name, "labels": labels}
    service["spec"]["selector"] = labels
    ingress = public_route.render_route(name, BASELINE_UID, spec, Settings())
    assert ingress is not None
    ingress["metadata"] = {"name": name, "labels": labels}
    return [deployment, service, ingress]


def _labels(obj: Obj) -> dict[str, str]:
    return obj["metadata"].get("labels") or {}


def _ready_endpoints(board: Board, service: str) -> list[tuple[str, bool]]:
    """(pod name, ready) of every endpoint of the service's EndpointSlices."""
    return [
        ((endpoint.get("targetRef") or {}).get("name", ""), bool(conditions.get("ready")))
        for slice_ in board.of("slice", service)
        for endpoint in slice_.get("endpoints") or []
        for conditions in [endpoint.get("conditions") or {}]
    ]


def _endpoints_are(pods: Callable[[Board, str], set[str]], scale: int) -> Predicate:
    """The service's EndpointSlices list exactly `scale` pods, all ready, all of `pods`."""

    def holds(board: Board, service: str) -> bool:
        endpoints = _ready_endpoints(board, service)
        wanted = pods(board, service)
        return (
            len(endpoints) == scale
            and all(ready for _, ready in endpoints)
            and {name for name, _ in endpoints} <= wanted
        )

    return holds


class Rest:
    """Plain JSON requests on the client's connection pool: the generated client validates and
    converts every body, which would make the benchmark's own CPU the bottleneck."""

    def __init__(self, api: client.ApiClient) -> None:
        self.pool = api.rest_client.pool_manager
        self.host = api.configuration.host
        self.headers = {"Accept": "application/json"}
        token = (api.configuration.api_key or {}).get("authorization")
        if token:
            self.headers["Authorization"] = token

    def __call__(
        self, method: str, path: str, body: Any, content_type: str = "application/json"
    ) -> None:
        response = self.pool.request(
            method,
            self.host + path,
            body=json.dumps(body).encode(),
            headers={**self.headers, "Content-Type": content_type},
            timeout=60,
        )
        if not 200 <= response.status < 300:
            raise RuntimeError(f"{method} {path}: {response.status} {response.data[:300]!r}")


class System:
    """One system under test in one namespace: creates and updates services, times them."""

    label = ""
    kinds: ClassVar[dict[str, Callable[[Obj], str | None]]] = {}

    def __init__(self, api: client.ApiClient, watch_api: client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.rest = Rest(api)
        self.board = Board(self.kinds)
        self.watchers = [
            Watcher(kind, lister, self.board, selector)
            for kind, (lister, selector) in self.listers(watch_api).items()
        ]

    def listers(self, watch_api: client.ApiClient) -> dict[str, tuple[Callable[..., Any], str]]:
        raise NotImplementedError

    def start(self) -> None:
        for watcher in self.watchers:
            watcher.start()
        for watcher in self.watchers:
            watcher.ready.wait(30)

    def stop(self) -> None:
        for watcher in self.watchers:
            watcher.stop()

    def goal(self, name: str, required: dict[str, Predicate], extra: dict[str, Predicate]) -> Goal:
        goal = Goal(name, required, extra, started=time.monotonic())
        self.board.set_goal(goal)
        return goal

    def create(self, name: str, scale: int) -> Goal:
        raise NotImplementedError

    def update(self, name: str, scale: int) -> Goal:
        raise NotImplementedError


class Lightship(System):
    label = "lightship"
    kinds: ClassVar[dict[str, Callable[[Obj], str | None]]] = {
        "csd": lambda o: o["metadata"]["name"],
        "pod": lambda o: _labels(o).get(render.SERVICE_LABEL),
        "slice": lambda o: _labels(o).get("kubernetes.io/service-name"),
    }

    def listers(self, watch_api: client.ApiClient) -> dict[str, tuple[Callable[..., Any], str]]:
        ns = self.namespace
        return {
            "csd": (
                functools.partial(
                    client.CustomObjectsApi(watch_api).list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    ns,
                    PLURAL,
                ),
                "",
            ),
            "pod": (
                functools.partial(client.CoreV1Api(watch_api).list_namespaced_pod, ns),
                f"{render.MANAGED_BY_LABEL}={render.MANAGED_BY}",
            ),
            "slice": (
                functools.partial(
                    client.DiscoveryV1Api(watch_api).list_namespaced_endpoint_slice, ns
                ),
                "",
            ),
        }

    @staticmethod
    def active(version: int) -> Predicate:
        """Status: the service Running with `version` Active, for the current generation."""

        def holds(board: Board, service: str) -> bool:
            obj = board.objects["csd"].get(service)
            if obj is None:
                return False
            status = obj.get("status") or {}
            return (
                status.get("observedGeneration") == obj["metadata"]["generation"]
                and status.get("state") == "Running"
                and (status.get("currentDeployment") or {}).get("version") == version
            )

        return holds

    @staticmethod
    def only_pods_of(version: int) -> Predicate:
        """Every pod of another version is gone (deleted, not just terminating)."""

        def holds(board: Board, service: str) -> bool:
            return all(
                _labels(p).get(render.VERSION_LABEL) == str(version)
                for p in board.of("pod", service)
            )

        return holds

    @staticmethod
    def pods_of(version: int) -> Callable[[Board, str], set[str]]:
        return lambda board, service: {
            p["metadata"]["name"]
            for p in board.of("pod", service)
            if _labels(p).get(render.VERSION_LABEL) == str(version)
        }

    def create(self, name: str, scale: int) -> Goal:
        goal = self.goal(
            name,
            {"active": self.active(1)},
            {"endpoints": _endpoints_are(self.pods_of(1), scale)},
        )
        self.rest(
            "POST",
            f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "ContainerServiceDeployment",
                "metadata": {"name": name},
                "spec": service_spec(IMAGES[0], scale),
            },
        )
        return goal

    def update(self, name: str, scale: int) -> Goal:
        goal = self.goal(
            name,
            {"active": self.active(2), "old pods gone": self.only_pods_of(2)},
            {"endpoints": _endpoints_are(self.pods_of(2), scale)},
        )
        # A merge patch replaces the containers list whole: send all of it.
        self.rest(
            "PATCH",
            f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}/{name}",
            {"spec": {"containers": service_spec(IMAGES[1], scale)["containers"]}},
            MERGE_PATCH,
        )
        return goal


class Baseline(System):
    label = "baseline"
    kinds: ClassVar[dict[str, Callable[[Obj], str | None]]] = {
        "deployment": lambda o: o["metadata"]["name"],
        "pod": lambda o: _labels(o).get("app"),
        "slice": lambda o: _labels(o).get("kubernetes.io/service-name"),
    }

    def __init__(self, api: client.ApiClient, watch_api: client.ApiClient, namespace: str) -> None:
        super().__init__(api, watch_api, namespace)
        self.old_pods: dict[str, set[str]] = {}

    def listers(self, watch_api: client.ApiClient) -> dict[str, tuple[Callable[..., Any], str]]:
        ns = self.namespace
        return {
            "deployment": (
                functools.partial(client.AppsV1Api(watch_api).list_namespaced_deployment, ns),
                "",
            ),
            "pod": (functools.partial(client.CoreV1Api(watch_api).list_namespaced_pod, ns), ""),
            "slice": (
                functools.partial(
                    client.DiscoveryV1Api(watch_api).list_namespaced_endpoint_slice, ns
                ),
                "",
            ),
        }

    @staticmethod
    def manifests(name: str, image: str, scale: int) -> list[Obj]:
        return baseline_manifests(name, service_spec(image, scale))

    @staticmethod
    def rolled_out(generation: int, scale: int) -> Predicate:
        """The Deployment's status is complete for `generation`: every replica updated, ready
        and available, and no other replica left (the old ReplicaSet is scaled to 0)."""

        def holds(board: Board, service: str) -> bool:
            obj = board.objects["deployment"].get(service)
            if obj is None or obj["metadata"]["generation"] < generation:
                return False
            status = obj.get("status") or {}
            return status.get("observedGeneration", 0) >= generation and all(
                status.get(field, 0) == scale
                for field in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
            )

        return holds

    def current_pods(self, board: Board, service: str) -> set[str]:
        old = self.old_pods.get(service, set())
        return {p["metadata"]["name"] for p in board.of("pod", service)} - old

    def old_pods_gone(self, board: Board, service: str) -> bool:
        present = {p["metadata"]["name"] for p in board.of("pod", service)}
        return not (present & self.old_pods.get(service, set()))

    def create(self, name: str, scale: int) -> Goal:
        goal = self.goal(
            name,
            {
                "available": self.rolled_out(1, scale),
                "endpoints": _endpoints_are(self.current_pods, scale),
            },
            {},
        )
        deployment, service, ingress = self.manifests(name, IMAGES[0], scale)
        ns = self.namespace
        self.rest("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment)
        self.rest("POST", f"/api/v1/namespaces/{ns}/services", service)
        self.rest("POST", f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses", ingress)
        return goal

    def update(self, name: str, scale: int) -> Goal:
        with self.board.lock:
            self.old_pods[name] = {p["metadata"]["name"] for p in self.board.of("pod", name)}
            generation = self.board.objects["deployment"][name]["metadata"]["generation"] + 1
        goal = self.goal(
            name,
            {
                "rolled out": self.rolled_out(generation, scale),
                "endpoints": _endpoints_are(self.current_pods, scale),
                "old pods gone": self.old_pods_gone,
            },
            {},
        )
        self.rest(
            "PATCH",
            f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{name}",
            {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": IMAGES[1]}]}}}},
            "application/strategic-merge-patch+json",
        )
        return goal
