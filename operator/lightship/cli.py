"""The `lightship` command line."""

from datetime import UTC, datetime
from importlib import metadata
from typing import Any, cast

import typer

from lightship import present

app = typer.Typer(
    help="Lightship: managed-container-service deployments on any Kubernetes cluster.",
    no_args_is_help=True,
)


@app.callback()
def main() -> None:
    """Lightship command line."""


@app.command()
def crd() -> None:
    """Print the CustomResourceDefinition generated from the models (as in crds/)."""
    from lightship.crd import crd_yaml

    typer.echo(crd_yaml(), nl=False)


@app.command()
def run(
    liveness: str = typer.Option(
        "", help="serve kopf's liveness probe here, e.g. http://0.0.0.0:8080/healthz"
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log every handler call"),
) -> None:
    """Run the operator against the current kubeconfig (or the in-cluster config)."""
    import asyncio

    import kopf

    from lightship import handlers
    from lightship.cluster import Cluster
    from lightship.kopf_compat import KopfMismatch
    from lightship.settings import SettingsError, load_settings

    _few_malloc_arenas()
    try:
        settings = load_settings()
    except SettingsError as error:
        typer.echo(f"lightship: {error}", err=True)
        raise typer.Exit(2) from None
    try:
        handlers.register(Cluster(kube_client()), settings)
    except KopfMismatch as error:
        typer.echo(f"lightship: {error}", err=True)
        raise typer.Exit(2) from None
    if settings.metrics_address:
        from lightship import metrics

        metrics.serve(settings.metrics_address)
    if settings.leader_election:
        from lightship import leadership

        leadership.lead(liveness or None)
    kopf.configure(verbose=verbose)
    asyncio.run(
        kopf.operator(
            clusterwide=not settings.namespaces,
            namespaces=settings.namespaces,
            liveness_endpoint=liveness or None,
            # One reconciling replica (the leader, or the only one): kopf's peering not needed.
            standalone=True,
        )
    )


def _few_malloc_arenas() -> None:
    """glibc gives every thread that allocates an arena of its own (up to 8 per core), and an
    arena keeps what it once held: the operator's reconcile threads, which mostly wait on the
    API server, would grow its memory by tens of MiB under load. Two arenas serve them well.
    Called before any thread starts; elsewhere than glibc, nothing to do."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX


def kube_client() -> Any:
    """An API client for the in-cluster config, else the current kubeconfig (KUBECONFIG)."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config()
        except (config.ConfigException, OSError) as error:
            typer.echo(f"lightship: no cluster to talk to: {error}", err=True)
            raise typer.Exit(2) from None
    configuration = client.Configuration.get_default_copy()
    # A kept connection for each of the operator's reconcile threads (16): with fewer, urllib3
    # drops the extra connections and their next requests pay a new TLS handshake each.
    configuration.connection_pool_maxsize = 32
    api = client.ApiClient(configuration)
    # Tells the operator's own requests apart in the API server's audit log.
    api.user_agent = f"lightship/{metadata.version('lightship')}"
    return api


NamespaceOption = typer.Option("default", "--namespace", "-n", help="the service's namespace")


def _service_object(api: Any, namespace: str, name: str) -> dict[str, Any]:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from lightship import GROUP, PLURAL, VERSION

    try:
        result = client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
    except ApiException as error:
        if error.status == 404:
            typer.echo(
                f"lightship: no service {name!r} in namespace {namespace!r} "
                f"(list them with: kubectl get csd -n {namespace})",
                err=True,
            )
            raise typer.Exit(1) from None
        raise
    return cast(dict[str, Any], result)


def _kept_revision(api: Any, namespace: str, service: str, version: int) -> Any:
    """The ControllerRevision of a kept version, or a clear exit when it is not kept."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from lightship.render import revision_name

    try:
        return client.AppsV1Api(api).read_namespaced_controller_revision(
            revision_name(service, version), namespace
        )
    except ApiException as error:
        if error.status == 404:
            typer.echo(f"lightship: version {version} of {service} is not kept", err=True)
            raise typer.Exit(1) from None
        raise


OutputOption = typer.Option(
    present.Output.TABLE,
    "--output",
    "-o",
    help="table (cut to the terminal's width), wide (nothing cut), json or yaml",
)


def _print_table(
    header: present.Row | None, rows: list[present.Row], output: present.Output
) -> None:
    import shutil

    width = None if output is present.Output.WIDE else shutil.get_terminal_size().columns
    typer.echo(present.table(header, rows, width), nl=False)


@app.command()
def status(
    service: str, namespace: str = NamespaceOption, output: present.Output = OutputOption
) -> None:
    """Show the service's state, URL, private domain, and its active and activating versions."""
    obj = _service_object(kube_client(), namespace, service)
    if output in (present.Output.JSON, present.Output.YAML):
        typer.echo(present.as_data(obj, output), nl=False)
        return
    _print_table(None, present.status_rows(obj, _now()), output)


@app.command()
def versions(
    service: str, namespace: str = NamespaceOption, output: present.Output = OutputOption
) -> None:
    """List the kept versions, newest first, with state, age and reason."""
    obj = _service_object(kube_client(), namespace, service)
    kept = (obj.get("status") or {}).get("versions", [])
    if output in (present.Output.JSON, present.Output.YAML):
        typer.echo(present.as_data(kept, output), nl=False)
        return
    wide = output is present.Output.WIDE
    header = present.WIDE_VERSION_COLUMNS if wide else present.VERSION_COLUMNS
    _print_table(header, present.version_rows(kept, _now(), wide), output)


def _now() -> datetime:
    return datetime.now(UTC)


@app.command()
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
    from datetime import UTC, datetime

    from kubernetes import client

    from lightship import GROUP, PLURAL, VERSION
    from lightship.api import read_deployment

    api = kube_client()
    obj = _service_object(api, namespace, service)
    revision = _kept_revision(api, namespace, service, version)
    deployment = read_deployment(revision.data).deployment()
    now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    # A JSON patch guarded by the object's resourceVersion: a concurrent change is not undone.
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


@app.command("import")
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

    from lightship.migrate import (
        MigrationError,
        import_service,
        read_json,
        registry_secret,
        the_service,
    )

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
        typer.echo(
            f"lightship: note: the service pulled from Amazon ECR with a role "
            f"(privateRegistryAccess); in the cluster, credentials are a Secret: create the "
            f"kubernetes.io/dockerconfigjson Secret {registry_secret(name)} in the service's "
            f"namespace (kubectl create secret docker-registry {registry_secret(name)} ...)",
            err=True,
        )
    typer.echo(yaml.safe_dump(manifest, sort_keys=False), nl=False)


def _api_message(error: Exception) -> str:
    """The API server's message of a failed request, else the error itself."""
    import json

    from kubernetes.client.exceptions import ApiException

    if isinstance(error, ApiException):
        try:
            return str(json.loads(error.body or "")["message"])
        except (TypeError, ValueError, KeyError):
            return f"{error.status} {error.reason}"
    return str(error)


@app.command()
def logs(
    service: str,
    container: str | None = typer.Option(
        None,
        "--container",
        "-c",
        help="the container (default: the public endpoint's, else the first)",
    ),
    version: int | None = typer.Option(
        None, "--version", help="the version whose pods to read (default: the active one)"
    ),
    follow: bool = typer.Option(False, "--follow", "-f", help="stream new lines as they come"),
    since: str | None = typer.Option(
        None, "--since", help="only lines newer than this: 30s, 10m, 2h, 1h30m"
    ),
    namespace: str = NamespaceOption,
) -> None:
    """Print a container's logs from every pod of a version (default: the active one).

    Each line is prefixed with its pod's name when the version has several pods. A failed
    version whose pods are gone shows the last lines the operator kept when it failed."""
    import json

    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from lightship import logs as container_logs
    from lightship.api import HEALTH_CHECK_CONTAINER, ContainerServiceSpec
    from lightship.render import SERVICE_LABEL, VERSION_LABEL

    try:
        since_seconds = container_logs.parse_since(since) if since else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--since") from None
    api = kube_client()
    core = client.CoreV1Api(api)
    obj = _service_object(api, namespace, service)
    state = obj.get("status") or {}
    if version is None:
        current = state.get("currentDeployment")
        if not current:
            typer.echo(
                f"lightship: {service} has no active version: choose one with --version", err=True
            )
            raise typer.Exit(1)
        version = int(current["version"])
    revision = _kept_revision(api, namespace, service, version)
    spec = ContainerServiceSpec.model_validate(revision.data)
    names = [c.name for c in spec.containers]
    # The health-check prober runs beside a public endpoint's containers: its log on request.
    readable = [*names, HEALTH_CHECK_CONTAINER] if spec.public_endpoint else names
    if container is not None and container not in readable:
        typer.echo(
            f"lightship: version {version} has no container {container!r}; "
            f"its containers: {', '.join(names)}",
            err=True,
        )
        raise typer.Exit(1)
    uid = obj["metadata"]["uid"]
    listed: Any = core.list_namespaced_pod(
        namespace,
        label_selector=f"{SERVICE_LABEL}={service},{VERSION_LABEL}={version}",
        _preload_content=False,
    )
    pods: list[str] = sorted(
        pod["metadata"]["name"]
        for pod in json.loads(listed.data)["items"]
        if "deletionTimestamp" not in pod["metadata"]
        and any(
            o["uid"] == uid and o.get("controller")
            for o in pod["metadata"].get("ownerReferences", [])
        )
    )
    if not pods:
        _kept_logs(state, service, version, container)
        return
    chosen = container or container_logs.default_container(spec)
    if follow:
        try:
            container_logs.follow(
                core,
                namespace,
                pods,
                chosen,
                since_seconds,
                write=typer.echo,
                error=lambda pod, error: typer.echo(
                    f"lightship: {pod}: {_api_message(error)}", err=True
                ),
            )
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        return
    failed = False
    for pod in pods:
        try:
            lines = container_logs.read_all(core, namespace, pod, chosen, since_seconds)
        except ApiException as error:
            typer.echo(f"lightship: {pod}: {_api_message(error)}", err=True)
            failed = True
            continue
        for line in container_logs.prefixed(pod, lines, len(pods) > 1):
            typer.echo(line)
    if failed:
        raise typer.Exit(1)


def _kept_logs(state: dict[str, Any], service: str, version: int, container: str | None) -> None:
    """Prints the last lines the operator kept of a version whose pods are gone."""
    entry = next((v for v in state.get("versions", []) if v["version"] == version), None)
    kept = [
        log
        for log in (entry or {}).get("logs", [])
        if container is None or log["container"] == container
    ]
    if not kept:
        typer.echo(f"lightship: version {version} of {service} has no pods", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"lightship: version {version} has no pods; the last lines kept when it "
        f"{'failed' if entry and entry['state'] == 'Failed' else 'stopped'}:",
        err=True,
    )
    for log in kept:
        source = f"{log['pod']}/{log['container']}"
        for line in log["lines"]:
            typer.echo(f"[{source}] {line}" if len(kept) > 1 else line)


_WHAT_TO_DO = {
    401: "the cluster refused your credentials: renew them in your kubeconfig",
    403: "your account may not do this: ask a cluster admin for the lightship role",
}


def entrypoint() -> None:
    """The `lightship` and `kubectl-lightship` commands. Bad usage ends in one line and exit
    code 2; a refusal of the API server or a cluster out of reach in one line that says what to
    do, and exit code 1."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        code = app(standalone_mode=False)
    except typer.TyperException as error:  # typer's usage errors, exit code 2
        message = error.format_message().strip()
        context = getattr(error, "ctx", None)
        command = context.command_path if context else "lightship"
        if "\n" in message:  # the help, asked for by giving no arguments
            typer.echo(message, err=True)
        else:
            typer.echo(f"{command}: {message} (see: {command} --help)", err=True)
        raise SystemExit(error.exit_code) from None
    except typer.Abort:
        raise SystemExit(1) from None
    except ApiException as error:
        hint = _WHAT_TO_DO.get(error.status or 0)
        typer.echo(f"lightship: {_api_message(error)}" + (f" ({hint})" if hint else ""), err=True)
        raise SystemExit(1) from None
    except HTTPError as error:
        typer.echo(
            f"lightship: the cluster is out of reach ({type(error).__name__}): check KUBECONFIG "
            "and that its API server runs",
            err=True,
        )
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)
