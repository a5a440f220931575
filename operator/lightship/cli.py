"""The `lightship` command line."""

from typing import Any

import typer

app = typer.Typer(
    help="Lightship: managed-container-service deployments on any Kubernetes cluster.",
    no_args_is_help=True,
)


@app.callback()
def main() -> None:
    """Lightship command line."""


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
    from lightship.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as error:
        typer.echo(f"lightship: {error}", err=True)
        raise typer.Exit(2) from None
    handlers.register(handlers.Cluster(kube_client()), settings)
    kopf.configure(verbose=verbose)
    asyncio.run(
        kopf.operator(
            clusterwide=not settings.namespaces,
            namespaces=settings.namespaces,
            liveness_endpoint=liveness or None,
            # One replica (the Deployment uses strategy Recreate): no peering objects needed.
            standalone=True,
        )
    )


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
    return client.ApiClient()
