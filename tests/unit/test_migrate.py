"""`lightship import` turns Lightsail's deployment JSON into a spec, naming bad input as written."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from lightship.api import ContainerServiceSpec
from lightship.cli import app
from lightship.migrate import MigrationError, import_service

# What a Lightsail user has: the files of `aws lightsail create-container-service-deployment`.
CONTAINERS: dict[str, Any] = {
    "web": {
        "image": "nginx:1.27",
        "command": ["nginx", "-g", "daemon off;"],
        "environment": {"REDIS_HOST": "localhost", "REDIS_PORT": "6379"},
        "ports": {"80": "HTTP"},
    },
    "cache": {"image": "redis:7", "ports": {"6379": "TCP"}},
}
PUBLIC_ENDPOINT: dict[str, Any] = {
    "containerName": "web",
    "containerPort": 80,
    "healthCheck": {
        "healthyThreshold": 3,
        "unhealthyThreshold": 4,
        "timeoutSeconds": 5,
        "intervalSeconds": 10,
        "path": "/healthz",
        "successCodes": "200-299",
    },
}

runner = CliRunner()


def _write(tmp_path: Path, name: str, content: Any) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
    return str(path)


def _problems(containers: Any, endpoint: Any = None, name: str = "shop") -> str:
    with pytest.raises(MigrationError) as raised:
        import_service(name, containers, endpoint)
    return str(raised.value)


def _with(container: str, **fields: Any) -> dict[str, Any]:
    """CONTAINERS with fields of one container replaced."""
    return {**CONTAINERS, container: {**CONTAINERS[container], **fields}}


def test_service_with_public_endpoint(tmp_path: Path) -> None:
    containers = _write(tmp_path, "containers.json", CONTAINERS)
    endpoint = _write(tmp_path, "public-endpoint.json", PUBLIC_ENDPOINT)
    result = runner.invoke(
        app,
        ["import", "shop", "--containers", containers, "--public-endpoint", endpoint],
    )
    assert result.exit_code == 0, result.stderr
    manifest = yaml.safe_load(result.stdout)
    assert manifest == {
        "apiVersion": "lightship.dev/v1alpha1",
        "kind": "ContainerServiceDeployment",
        "metadata": {"name": "shop"},
        "spec": {
            "scale": 1,
            "power": "nano",
            "disabled": False,
            "imagePullSecrets": [],
            "publicDomainNames": [],
            "containers": [
                {
                    "name": "web",
                    "image": "nginx:1.27",
                    "command": ["nginx", "-g", "daemon off;"],
                    "environment": [
                        {"name": "REDIS_HOST", "value": "localhost"},
                        {"name": "REDIS_PORT", "value": "6379"},
                    ],
                    "ports": [{"port": 80, "protocol": "HTTP"}],
                },
                {
                    "name": "cache",
                    "image": "redis:7",
                    "environment": [],
                    "ports": [{"port": 6379, "protocol": "TCP"}],
                },
            ],
            "publicEndpoint": {
                "containerName": "web",
                "containerPort": 80,
                "healthCheck": {
                    "path": "/healthz",
                    "intervalSeconds": 10,
                    "timeoutSeconds": 5,
                    "successCodes": "200-299",
                    "healthyThreshold": 3,
                    "unhealthyThreshold": 4,
                },
            },
        },
    }
    # Keys in the order of a hand-written manifest, not sorted.
    assert list(manifest) == ["apiVersion", "kind", "metadata", "spec"]
    ContainerServiceSpec.model_validate(manifest["spec"])


def test_cli_namespace_and_scale(tmp_path: Path) -> None:
    containers = _write(tmp_path, "containers.json", CONTAINERS)
    result = runner.invoke(
        app, ["import", "shop", "--containers", containers, "-n", "prod", "--scale", "3"]
    )
    assert result.exit_code == 0, result.stderr
    manifest = yaml.safe_load(result.stdout)
    assert manifest["metadata"] == {"name": "shop", "namespace": "prod"}
    assert manifest["spec"]["scale"] == 3


def test_private_only_service() -> None:
    manifest = import_service("worker", {"job": {"image": "busybox:1.36"}}, None)
    assert manifest["metadata"] == {"name": "worker"}
    assert manifest["spec"] == {
        "scale": 1,
        "containers": [{"name": "job", "image": "busybox:1.36", "environment": [], "ports": []}],
        "power": "nano",
        "disabled": False,
        "imagePullSecrets": [],
        "publicDomainNames": [],
    }


def test_health_check_defaults_when_absent() -> None:
    manifest = import_service("shop", CONTAINERS, {"containerName": "web", "containerPort": 80})
    assert manifest["spec"]["publicEndpoint"]["healthCheck"] == {
        "path": "/",
        "intervalSeconds": 5,
        "timeoutSeconds": 2,
        "successCodes": "200-499",
        "healthyThreshold": 2,
        "unhealthyThreshold": 2,
    }


def test_command_maps_to_the_launch_command() -> None:
    # Lightsail's command, like the spec's, replaces the image's CMD: it is copied as is.
    command = ["python", "-m", "http.server", "8080"]
    manifest = import_service("shop", {"app": {"image": "python:3.12", "command": command}}, None)
    assert manifest["spec"]["containers"][0]["command"] == command


def test_unknown_container_field() -> None:
    message = _problems(_with("web", foo="bar"))
    assert "containers.json: web.foo: unknown field" in message


def test_unknown_health_check_field() -> None:
    endpoint = {**PUBLIC_ENDPOINT, "healthCheck": {"intervalSeconds": 10, "retries": 3}}
    assert "public-endpoint.json: healthCheck.retries: unknown field" in _problems(
        CONTAINERS, endpoint
    )


def test_port_out_of_range() -> None:
    message = _problems(_with("web", ports={"99999": "HTTP"}))
    assert 'containers.json: web.ports."99999": port must be a number 1..65535' in message


def test_unknown_protocol() -> None:
    message = _problems(_with("cache", ports={"6379": "REDIS"}))
    assert 'containers.json: cache.ports."6379": Input should be' in message


def test_endpoint_names_a_missing_container() -> None:
    message = _problems(CONTAINERS, {**PUBLIC_ENDPOINT, "containerName": "api"})
    assert 'public-endpoint.json: containerName: "api" is not a container' in message


def test_endpoint_on_a_tcp_port() -> None:
    endpoint = {**PUBLIC_ENDPOINT, "containerName": "cache", "containerPort": 6379}
    message = _problems(CONTAINERS, endpoint)
    assert "public-endpoint.json: containerPort: port 6379 is not an HTTP or HTTPS port" in message


def test_pushed_image_must_move_to_a_registry() -> None:
    message = _problems(_with("web", image=":shop.web.3"))
    assert 'containers.json: web.image: ":shop.web.3" is an image pushed' in message
    assert "push the image to a registry" in message
    # Reported once, not again as a malformed image reference.
    assert message.count("web.image") == 1


def test_invalid_service_name() -> None:
    assert 'metadata.name: "Shop_1"' in _problems(CONTAINERS, name="Shop_1")


def test_health_check_interval_out_of_range() -> None:
    endpoint = {**PUBLIC_ENDPOINT, "healthCheck": {"intervalSeconds": 301}}
    message = _problems(CONTAINERS, endpoint)
    assert "public-endpoint.json: healthCheck.intervalSeconds:" in message


def test_environment_value_names_the_variable() -> None:
    message = _problems(_with("web", environment={"WORKERS": 4}))
    assert "containers.json: web.environment.WORKERS: Input should be a valid string" in message


def test_every_problem_is_listed() -> None:
    containers = _with("web", foo=1, ports={"99999": "HTTP"})
    with pytest.raises(MigrationError) as raised:
        import_service("Shop", containers, None, scale=21)
    assert raised.value.problems == [
        'metadata.name: "Shop" is not a valid service name: at most 63 characters of lowercase '
        "letters, digits and hyphens, starting with a letter and not ending with a hyphen",
        "containers.json: web.foo: unknown field; expected image, command, environment, ports",
        'containers.json: web.ports."99999": port must be a number 1..65535',
        "--scale: Input should be less than or equal to 20",
    ]


def test_cli_invalid_json(tmp_path: Path) -> None:
    containers = _write(tmp_path, "containers.json", '{"web": {"image": "nginx",}}')
    result = runner.invoke(app, ["import", "shop", "--containers", containers])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"lightship: {containers}: invalid JSON: ")
    assert "line 1" in result.stderr


def test_cli_duplicate_key_is_not_silently_dropped(tmp_path: Path) -> None:
    text = '{"web": {"image": "nginx"}, "web": {"image": "httpd"}}'
    containers = _write(tmp_path, "containers.json", text)
    result = runner.invoke(app, ["import", "shop", "--containers", containers])
    assert result.exit_code == 2
    assert 'duplicate key "web"' in result.stderr


def test_cli_missing_file(tmp_path: Path) -> None:
    containers = _write(tmp_path, "containers.json", CONTAINERS)
    missing = str(tmp_path / "public-endpoint.json")
    result = runner.invoke(
        app, ["import", "shop", "--containers", containers, "--public-endpoint", missing]
    )
    assert result.exit_code == 2
    assert result.stderr == f"lightship: {missing}: cannot read: No such file or directory\n"


def test_cli_names_the_file_given(tmp_path: Path) -> None:
    containers = _write(tmp_path, "lightsail-containers.json", _with("web", foo=1))
    result = runner.invoke(app, ["import", "shop", "--containers", containers])
    assert result.exit_code == 2
    assert result.stderr == (
        f"lightship: {containers}: web.foo: unknown field; "
        "expected image, command, environment, ports\n"
    )


# `aws lightsail get-container-services --service-name shop`, as it prints it.
SERVICES: dict[str, Any] = {
    "containerServices": [
        {
            "containerServiceName": "shop",
            "arn": "arn:aws:lightsail:eu-west-1:123456789012:ContainerService/x",
            "state": "RUNNING",
            "power": "small",
            "scale": 3,
            "isDisabled": True,
            "publicDomainNames": {"shop-example-com": ["shop.example.com", "www.shop.example.com"]},
            "privateRegistryAccess": {
                "ecrImagePullerRole": {"isActive": True, "principalArn": "arn:aws:iam::1:role/x"}
            },
            "url": "https://shop.abc.eu-west-1.cs.amazonlightsail.com/",
        }
    ]
}


def test_service_settings_are_imported(tmp_path: Path) -> None:
    containers = _write(tmp_path, "containers.json", CONTAINERS)
    endpoint = _write(tmp_path, "public-endpoint.json", PUBLIC_ENDPOINT)
    service = _write(tmp_path, "service.json", SERVICES)
    result = runner.invoke(
        app,
        [
            "import",
            "shop",
            "--containers",
            containers,
            "--public-endpoint",
            endpoint,
            "--service",
            service,
        ],
    )
    assert result.exit_code == 0, result.stderr
    spec = yaml.safe_load(result.stdout)["spec"]
    assert (spec["power"], spec["scale"], spec["disabled"]) == ("small", 3, True)
    assert spec["publicDomainNames"] == [
        {"certificate": "shop-example-com", "domains": ["shop.example.com", "www.shop.example.com"]}
    ]
    assert spec["imagePullSecrets"] == ["shop-registry"]
    # The role's credentials cannot be carried over: the user is told to make the Secret.
    assert "Secret shop-registry" in result.stderr and "docker-registry" in result.stderr


def test_scale_option_overrides_the_service(tmp_path: Path) -> None:
    manifest = import_service(
        "shop", CONTAINERS, PUBLIC_ENDPOINT, scale=5, service=SERVICES["containerServices"][0]
    )
    assert manifest["spec"]["scale"] == 5


def test_bad_service_settings_are_named_as_written() -> None:
    entry = {"power": "huge", "scale": 0, "publicDomainNames": {"Bad_Cert": ["x.example.com"]}}
    with pytest.raises(MigrationError) as raised:
        import_service("shop", CONTAINERS, PUBLIC_ENDPOINT, service=entry)
    assert raised.value.problems == [
        "service.json: scale: Input should be greater than or equal to 1",
        "service.json: power: Input should be 'nano', 'micro', 'small', 'medium', 'large' or "
        "'xlarge'",
        "service.json: publicDomainNames.Bad_Cert: String should match pattern "
        "'^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'",
    ]
