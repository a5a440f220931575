"""The commands that run or install the operator: `lightship run` and `lightship crd`."""

import typer

from lightship.cli.access import kube_client


def crd() -> None:
    """Print the CustomResourceDefinition generated from the models (as in crds/)."""
    from lightship.crd import crd_yaml

    typer.echo(crd_yaml(), nl=False)


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
