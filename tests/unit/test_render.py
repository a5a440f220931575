"""The renderer: spec + version + settings -> the manifests of DESIGN §4."""

from __future__ import annotations

from lightship import public_route, render
from lightship.api import ContainerServiceSpec, DomainNames, read_deployment
from lightship.settings import GatewayRef, Settings

UID = "0b5c7a55-8f1e-4d4e-a7a1-7d3f0d5c9e21"
SETTINGS = Settings(region="eu-1", base_domain="cs.example.com")
EXACT = Settings(health_check="exact", probe_image="127.0.0.1:5000/lightship/prober:9.9.9")
KUBELET = Settings(health_check="kubelet")
GATEWAY_SETTINGS = Settings(
    region="eu-1", base_domain="cs.example.com", gateway=GatewayRef("infra", "public")
)
DOMAINS = [
    DomainNames(
        certificate="shop-example-com", domains=["shop.example.com", "www.shop.example.com"]
    ),
    DomainNames(certificate="shop-example-org", domains=["shop.example.org"]),
]
HOST = f"shop.{render.service_id(UID)}.eu-1.cs.example.com"

SHOP = ContainerServiceSpec.model_validate(
    {
        "scale": 2,
        "containers": [
            {
                "name": "web",
                "image": "nginx:1.27",
                "command": ["nginx", "-g", "daemon off;"],
                "environment": [{"name": "REDIS_HOST", "value": "localhost"}],
                "ports": [{"port": 80, "protocol": "HTTP"}, {"port": 443, "protocol": "HTTPS"}],
            },
            {"name": "cache", "image": "redis:7", "ports": [{"port": 6379, "protocol": "TCP"}]},
            {"name": "dns", "image": "coredns", "ports": [{"port": 53, "protocol": "UDP"}]},
        ],
        "publicEndpoint": {
            "containerName": "web",
            "containerPort": 80,
            "healthCheck": {
                "path": "/healthz",
                "intervalSeconds": 10,
                "timeoutSeconds": 3,
                "healthyThreshold": 3,
                "unhealthyThreshold": 4,
            },
        },
    }
)


def test_pod_carries_labels_owner_and_every_container() -> None:
    pod = render.render_pod("shop", UID, SHOP, version=7, index=1, settings=EXACT)
    assert pod["metadata"]["name"] == "shop-v7-1"
    assert pod["metadata"]["labels"] == {
        "app.kubernetes.io/name": "shop",
        "app.kubernetes.io/managed-by": "lightship",
        "lightship.dev/service": "shop",
        "lightship.dev/version": "7",
    }
    (owner,) = pod["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "lightship.dev/v1alpha1",
        "kind": "ContainerServiceDeployment",
        "name": "shop",
        "uid": UID,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert [c["name"] for c in spec["containers"]] == ["web", "cache", "dns"]
    web, cache, dns = spec["containers"]
    assert web["args"] == ["nginx", "-g", "daemon off;"]
    assert "command" not in web  # the image's ENTRYPOINT stays
    assert web["env"] == [{"name": "REDIS_HOST", "value": "localhost"}]
    assert web["ports"] == [
        {"containerPort": 80, "protocol": "TCP"},
        {"containerPort": 443, "protocol": "TCP"},
    ]
    assert "args" not in cache and "env" not in cache and "readinessProbe" not in cache
    assert dns["ports"] == [{"containerPort": 53, "protocol": "UDP"}]


def test_images_by_tag_are_pulled_at_every_start_and_by_digest_once() -> None:
    digest = "sha256:" + "ab" * 32
    images = ["nginx:1.27", "coredns", f"reg.example:5000/app@{digest}", f"app:1@{digest}"]
    spec = ContainerServiceSpec.model_validate(
        {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]}
    )
    pod = render.render_pod("shop", UID, spec, 1, 0, EXACT)["spec"]
    assert [c["imagePullPolicy"] for c in pod["containers"]] == [
        "Always",
        "Always",
        "IfNotPresent",
        "IfNotPresent",
    ]


def test_exact_health_check_is_a_prober_sidecar_whose_verdict_the_kubelet_reads() -> None:
    pod = render.render_pod("shop", UID, SHOP, 1, 0, EXACT)["spec"]
    (prober,) = pod["initContainers"]
    assert prober["name"] == "lightship-health-check"
    assert prober["image"] == "127.0.0.1:5000/lightship/prober:9.9.9"
    assert prober["restartPolicy"] == "Always"  # a native sidecar: it runs beside the others
    assert prober["args"] == [
        "-scheme=http",
        "-host=$(POD_IP)",
        "-port=80",
        "-path=/healthz",
        "-interval=10",
        "-timeout=3",
        "-success-codes=200-499",
        "-healthy-threshold=3",
        "-unhealthy-threshold=4",
        "-listen=:63990",
    ]
    assert prober["env"] == [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
    ]
    assert prober["ports"] == [{"containerPort": 63990, "protocol": "TCP"}]
    requests, limits = prober["resources"]["requests"], prober["resources"]["limits"]
    assert set(requests) == set(limits) == {"cpu", "memory"}
    web, cache, dns = pod["containers"]
    # The thresholds are the prober's: one answer of its verdict decides.
    assert web["readinessProbe"] == {
        "httpGet": {"path": "/", "port": 63990, "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 1,
        "successThreshold": 1,
        "failureThreshold": 1,
    }
    assert "readinessProbe" not in cache and "readinessProbe" not in dns


def test_exact_health_check_of_an_https_endpoint_with_a_dollar_in_its_path() -> None:
    spec = _endpoint(container_port=443, path="/health$(HOME)?q=$$")
    (prober,) = render.render_pod("shop", UID, spec, 1, 0, EXACT)["spec"]["initContainers"]
    assert "-scheme=https" in prober["args"] and "-port=443" in prober["args"]
    # The kubelet turns $$ into $ and expands $(NAME): the prober gets the path as written.
    assert "-path=/health$$(HOME)?q=$$$$" in prober["args"]


def test_no_prober_without_a_public_endpoint_or_in_kubelet_mode() -> None:
    private = SHOP.model_copy(update={"public_endpoint": None})
    assert "initContainers" not in render.render_pod("shop", UID, private, 1, 0, EXACT)["spec"]
    assert "initContainers" not in render.render_pod("shop", UID, SHOP, 1, 0, KUBELET)["spec"]


def test_kubelet_health_check_is_the_kubelets_own_probe() -> None:
    web = render.render_pod("shop", UID, SHOP, 1, 0, KUBELET)["spec"]["containers"][0]
    assert web["readinessProbe"] == {
        "httpGet": {"path": "/healthz", "port": 80, "scheme": "HTTP"},
        "timeoutSeconds": 3,
        "periodSeconds": 10,
        "successThreshold": 3,
        "failureThreshold": 4,
    }


def _endpoint(**changes: object) -> ContainerServiceSpec:
    """SHOP with its public endpoint's port or health-check path changed."""
    endpoint = SHOP.public_endpoint
    assert endpoint is not None
    check = endpoint.health_check.model_copy(update={"path": changes.pop("path", "/healthz")})
    endpoint = endpoint.model_copy(update={**changes, "health_check": check})
    return SHOP.model_copy(update={"public_endpoint": endpoint})


def test_kubelet_probe_uses_https_for_an_https_endpoint() -> None:
    spec = _endpoint(container_port=443)
    web = render.render_pod("shop", UID, spec, 1, 0, KUBELET)["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 443, "scheme": "HTTPS"}
    # The route says nothing of the backend's protocol: the Service port does (name https-443,
    # appProtocol https), which Ingress controllers and Gateway API implementations read.
    for route in (
        public_route.render_route("shop", UID, spec, SETTINGS),
        public_route.render_route("shop", UID, spec, GATEWAY_SETTINGS),
    ):
        assert route is not None
        assert "annotations" not in route["metadata"]
    service = render.render_service("shop", UID, spec, 1)
    assert service is not None
    assert {
        "name": "https-443",
        "port": 443,
        "targetPort": 443,
        "protocol": "TCP",
        "appProtocol": "https",
    } in service["spec"]["ports"]


def test_service_has_one_port_per_open_port_and_selects_the_version() -> None:
    service = render.render_service("shop", UID, SHOP, version=4)
    assert service["metadata"]["name"] == "shop"
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"]["lightship.dev/version"] == "4"
    assert service["spec"]["selector"]["lightship.dev/service"] == "shop"
    assert service["spec"]["ports"] == [
        {"name": "http-80", "port": 80, "targetPort": 80, "protocol": "TCP", "appProtocol": "http"},
        {
            "name": "https-443",
            "port": 443,
            "targetPort": 443,
            "protocol": "TCP",
            "appProtocol": "https",
        },
        {"name": "tcp-6379", "port": 6379, "targetPort": 6379, "protocol": "TCP"},
        {"name": "udp-53", "port": 53, "targetPort": 53, "protocol": "UDP"},
    ]


def test_ingress_host_tls_and_backend() -> None:
    settings = Settings(
        region="eu-1",
        base_domain="cs.example.com",
        ingress_class="nginx",
        ingress_annotations={"cert-manager.io/cluster-issuer": "letsencrypt"},
        tls_secret="wildcard-{service}",
    )
    ingress = public_route.render_route("shop", UID, SHOP, settings)
    assert ingress is not None
    host = f"shop.{render.service_id(UID)}.eu-1.cs.example.com"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": "wildcard-shop"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == host
    assert rule["http"]["paths"][0]["backend"] == {
        "service": {"name": "shop", "port": {"number": 80}}
    }
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    assert render.public_url("shop", UID, settings) == f"https://{host}/"


def test_ingress_serves_custom_domains_with_their_certificates() -> None:
    ingress = public_route.render_route("shop", UID, SHOP, SETTINGS, DOMAINS)
    assert ingress is not None
    assert ingress["spec"]["tls"] == [
        {"hosts": [HOST], "secretName": "shop-tls"},
        {"hosts": ["shop.example.com", "www.shop.example.com"], "secretName": "shop-example-com"},
        {"hosts": ["shop.example.org"], "secretName": "shop-example-org"},
    ]
    hosts = [HOST, "shop.example.com", "www.shop.example.com", "shop.example.org"]
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == hosts
    backends = {str(rule["http"]["paths"]) for rule in ingress["spec"]["rules"]}
    assert len(backends) == 1  # every host to the same Service port


def test_http_route_attaches_to_the_gateway_for_every_host() -> None:
    route = public_route.render_route("shop", UID, SHOP, GATEWAY_SETTINGS, DOMAINS)
    assert route is not None
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["kind"] == "HTTPRoute"
    assert route["metadata"]["name"] == "shop"
    assert route["metadata"]["labels"]["lightship.dev/service"] == "shop"
    assert route["metadata"]["ownerReferences"][0]["uid"] == UID
    assert route["spec"] == {
        "parentRefs": [
            {
                "group": "gateway.networking.k8s.io",
                "kind": "Gateway",
                "namespace": "infra",
                "name": "public",
            }
        ],
        "hostnames": [HOST, "shop.example.com", "www.shop.example.com", "shop.example.org"],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [{"name": "shop", "port": 80}],
            }
        ],
    }


def test_http_route_names_the_listener_and_carries_the_annotations() -> None:
    settings = Settings(
        gateway=GatewayRef("infra", "public", "https"),
        ingress_annotations={"example.com/team": "shop"},
    )
    route = public_route.render_route("shop", UID, SHOP, settings)
    assert route is not None
    assert route["spec"]["parentRefs"][0]["sectionName"] == "https"
    assert route["metadata"]["annotations"] == {"example.com/team": "shop"}


def test_the_gateway_setting_chooses_the_route() -> None:
    ingress = public_route.render_route("shop", UID, SHOP, SETTINGS, DOMAINS)
    route = public_route.render_route("shop", UID, SHOP, GATEWAY_SETTINGS, DOMAINS)
    assert ingress is not None and ingress["kind"] == "Ingress"
    assert route is not None and route["kind"] == "HTTPRoute"


def test_no_route_without_a_public_endpoint() -> None:
    private = SHOP.model_copy(update={"public_endpoint": None})
    for settings in (SETTINGS, GATEWAY_SETTINGS):
        assert public_route.render_route("shop", UID, private, settings, DOMAINS) is None


def test_service_id_is_stable_and_dns_safe() -> None:
    first = render.service_id(UID)
    assert first == render.service_id(UID)
    assert first != render.service_id(UID.replace("0", "1"))
    assert len(first) == 12 and first.isalnum() and first.islower()


def test_revision_keeps_the_deployment_and_the_generation() -> None:
    scaled = SHOP.model_copy(update={"scale": 4, "image_pull_secrets": ["regcred"]})
    revision = render.render_revision("shop", UID, scaled, version=3, generation=9)
    assert revision["metadata"]["name"] == "shop-v3"
    assert revision["revision"] == 3
    assert revision["metadata"]["annotations"] == {"lightship.dev/generation": "9"}
    assert set(revision["data"]) == {"containers", "publicEndpoint"}  # no capacity
    assert read_deployment(revision["data"]).deployment() == SHOP.deployment()


def test_no_service_when_no_container_opens_a_port() -> None:
    worker = ContainerServiceSpec.model_validate(
        {"containers": [{"name": "worker", "image": "busybox:1.36"}]}
    )
    assert render.render_service("jobs", UID, worker, 1) is None


def test_a_deleted_pod_keeps_serving_for_the_drain_then_stops() -> None:
    pod = render.render_pod("shop", UID, SHOP, 3, 0, Settings(drain_seconds=12))
    sleeps = [c["lifecycle"]["preStop"]["sleep"]["seconds"] for c in pod["spec"]["containers"]]
    assert sleeps == [12, 12, 12]  # every container: the endpoint's may need the others
    assert pod["spec"]["terminationGracePeriodSeconds"] == 12 + render.STOP_SECONDS
    undrained = render.render_pod("shop", UID, SHOP, 3, 0, Settings(drain_seconds=0))
    assert not any("lifecycle" in c for c in undrained["spec"]["containers"])
    assert undrained["spec"]["terminationGracePeriodSeconds"] == render.STOP_SECONDS
