"""How the commands reach the cluster: the API client, a service and its kept versions, and the
API server's message when it refuses."""

from importlib import metadata
from typing import Any, cast

import typer

NamespaceOption = typer.Option("default", "--namespace", "-n", help="the service's namespace")


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


def service_object(api: Any, namespace: str, name: str) -> dict[str, Any]:
    """The service's object, or a clear exit when there is none."""
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


def kept_revision(api: Any, namespace: str, service: str, version: int) -> Any:
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


def api_message(error: Exception) -> str:
    """The API server's message of a failed request, else the error itself."""
    import json

    from kubernetes.client.exceptions import ApiException

    if isinstance(error, ApiException):
        try:
            return str(json.loads(error.body or "")["message"])
        except (TypeError, ValueError, KeyError):
            return f"{error.status} {error.reason}"
    return str(error)
