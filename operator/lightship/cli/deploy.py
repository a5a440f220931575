"""The commands that make a deployment: `lightship redeploy` (a kept version again) and
`lightship import` (a manifest from a Lightsail container service)."""

from typing import Any

import typer

from lightship.cli.access import NamespaceOption, kept_revision, kube_client, service_object


def redeploy(
    service: str,
    version: int = typer.Option(..., "--version", help="the kept version to deploy again"),
    namespace: str = NamespaceOption,
) -> None:
    """Deploy a kept version's deployment again, as a new version (the newest one too).

    Its containers and public endpoint become the spec's, and spec.redeployedAt records the
    request, so a new version is made even when nothing else changed (new pods, images given
    by tag pulled again). Capacity and settings stay as they are. This writes the object's
    spec: with GitOps, change the source of truth instead."""
    from kubernetes import client

    from lightship import GROUP, PLURAL, VERSION
    from lightship.api import read_deployment

    api = kube_client()
    obj = service_object(api, namespace, service)
    revision = kept_revision(api, namespace, service, version)
    patch = _redeploy_patch(obj, read_deployment(revision.data).deployment())
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        service,
        patch,
        _content_type="application/json-patch+json",
    )
    typer.echo(f"{service}: the deployment of version {version} is deployed again as a new version")


def _redeploy_patch(obj: dict[str, Any], deployment: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON patch that makes `deployment` the object's again, stamped with the time now.
    Guarded by the object's resourceVersion: a concurrent change is not undone."""
    from datetime import UTC, datetime

    now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    patch: list[dict[str, Any]] = [
        {
            "op": "test",
            "path": "/metadata/resourceVersion",
            "value": obj["metadata"]["resourceVersion"],
        },
        {"op": "add", "path": "/spec/containers", "value": deployment["containers"]},
        {"op": "add", "path": "/spec/redeployedAt", "value": now},
    ]
    if "publicEndpoint" in deployment:
        patch.append(
            {"op": "add", "path": "/spec/publicEndpoint", "value": deployment["publicEndpoint"]}
        )
    elif "publicEndpoint" in obj["spec"]:
        patch.append({"op": "remove", "path": "/spec/publicEndpoint"})
    return patch


def import_(
    name: str = typer.Argument(..., help="the service name (the object's metadata.name)"),
    containers: str = typer.Option(
        ..., "--containers", help="Lightsail's containers JSON file (what --containers was given)"
    ),
    public_endpoint: str | None = typer.Option(
        None, "--public-endpoint", help="Lightsail's public endpoint JSON file, if any"
    ),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="the namespace to put in the manifest"
    ),
    scale: int | None = typer.Option(
        None, "--scale", help="pods serving the service (default: the service's, else 1)"
    ),
    service: str | None = typer.Option(
        None,
        "--service",
        help="the output of `aws lightsail get-container-services --service-name NAME`: its "
        "power, scale, isDisabled, publicDomainNames and privateRegistryAccess",
    ),
) -> None:
    """Print a ContainerServiceDeployment made from a Lightsail container service deployment.

    Reads the JSON files given to `aws lightsail create-container-service-deployment`, and
    the container service's settings with --service."""
    from pathlib import Path

    import yaml

    from lightship.migrate import MigrationError, import_service, read_json, the_service

    try:
        manifest = import_service(
            name,
            read_json(Path(containers)),
            read_json(Path(public_endpoint)) if public_endpoint else None,
            namespace,
            scale,
            service=the_service(name, read_json(Path(service))) if service else None,
            containers_file=containers,
            public_endpoint_file=public_endpoint or "public-endpoint.json",
            service_file=service or "service.json",
        )
    except MigrationError as error:
        for problem in error.problems:
            typer.echo(f"lightship: {problem}", err=True)
        raise typer.Exit(2) from None
    if manifest["spec"].get("imagePullSecrets"):
        _note_registry_secret(name)
    typer.echo(yaml.safe_dump(manifest, sort_keys=False), nl=False)


def _note_registry_secret(name: str) -> None:
    """Tells that the imported service's registry credentials must become a Secret."""
    from lightship.migrate import registry_secret

    typer.echo(
        f"lightship: note: the service pulled from Amazon ECR with a role "
        f"(privateRegistryAccess); in the cluster, credentials are a Secret: create the "
        f"kubernetes.io/dockerconfigjson Secret {registry_secret(name)} in the service's "
        f"namespace (kubectl create secret docker-registry {registry_secret(name)} ...)",
        err=True,
    )
