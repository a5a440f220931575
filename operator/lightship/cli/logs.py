"""`lightship logs`: a container's logs from the pods of a version, or the last lines the
operator kept of a version whose pods are gone."""

from typing import TYPE_CHECKING, Any

import typer

from lightship.cli.access import (
    NamespaceOption,
    api_message,
    kept_revision,
    kube_client,
    service_object,
)

if TYPE_CHECKING:
    from lightship.api import ContainerServiceSpec


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
    from kubernetes import client

    from lightship import logs as container_logs
    from lightship.api import ContainerServiceSpec

    try:
        since_seconds = container_logs.parse_since(since) if since else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--since") from None
    api = kube_client()
    core = client.CoreV1Api(api)
    obj = service_object(api, namespace, service)
    state = obj.get("status") or {}
    if version is None:
        version = _active_version(state, service)
    spec = ContainerServiceSpec.model_validate(kept_revision(api, namespace, service, version).data)
    if container is not None:
        _check_container(spec, version, container)
    pods = _version_pods(core, namespace, service, version, obj["metadata"]["uid"])
    if not pods:
        _kept_logs(state, service, version, container)
        return
    chosen = container or container_logs.default_container(spec)
    if follow:
        _follow(core, namespace, pods, chosen, since_seconds)
    else:
        _print_all(core, namespace, pods, chosen, since_seconds)


def _active_version(state: dict[str, Any], service: str) -> int:
    """The number of the active version, or a clear exit when none is."""
    current = state.get("currentDeployment")
    if not current:
        typer.echo(
            f"lightship: {service} has no active version: choose one with --version", err=True
        )
        raise typer.Exit(1)
    return int(current["version"])


def _check_container(spec: "ContainerServiceSpec", version: int, container: str) -> None:
    """A clear exit unless the version's pods run `container`."""
    from lightship.api import HEALTH_CHECK_CONTAINER

    names = [c.name for c in spec.containers]
    # The health-check prober runs beside a public endpoint's containers: its log on request.
    readable = [*names, HEALTH_CHECK_CONTAINER] if spec.public_endpoint else names
    if container not in readable:
        typer.echo(
            f"lightship: version {version} has no container {container!r}; "
            f"its containers: {', '.join(names)}",
            err=True,
        )
        raise typer.Exit(1)


def _version_pods(core: Any, namespace: str, service: str, version: int, uid: str) -> list[str]:
    """The names of the version's pods that the service controls and that are not going away."""
    import json

    from lightship.render import SERVICE_LABEL, VERSION_LABEL

    listed: Any = core.list_namespaced_pod(
        namespace,
        label_selector=f"{SERVICE_LABEL}={service},{VERSION_LABEL}={version}",
        _preload_content=False,
    )
    return sorted(
        pod["metadata"]["name"]
        for pod in json.loads(listed.data)["items"]
        if "deletionTimestamp" not in pod["metadata"]
        and any(
            o["uid"] == uid and o.get("controller")
            for o in pod["metadata"].get("ownerReferences", [])
        )
    )


def _follow(
    core: Any, namespace: str, pods: list[str], container: str, since_seconds: int | None
) -> None:
    """Streams the container's new lines from every pod until interrupted."""
    from lightship import logs as container_logs

    try:
        container_logs.follow(
            core,
            namespace,
            pods,
            container,
            since_seconds,
            write=typer.echo,
            error=lambda pod, error: typer.echo(
                f"lightship: {pod}: {api_message(error)}", err=True
            ),
        )
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _print_all(
    core: Any, namespace: str, pods: list[str], container: str, since_seconds: int | None
) -> None:
    """Prints the container's lines from every pod; exit code 1 if a pod's could not be read."""
    from kubernetes.client.exceptions import ApiException

    from lightship import logs as container_logs

    failed = False
    for pod in pods:
        try:
            lines = container_logs.read_all(core, namespace, pod, container, since_seconds)
        except ApiException as error:
            typer.echo(f"lightship: {pod}: {api_message(error)}", err=True)
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
