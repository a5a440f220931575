"""The `lightship` command line (also `kubectl lightship`): the typer app, its commands, and
how a failure ends.

The commands live by what they do: `operator` (run, crd), `show` (status, versions), `deploy`
(redeploy, import), `logs`; `access` is how they reach the cluster.
"""

import typer

from lightship.cli import deploy, logs, operator, show
from lightship.cli.access import api_message

app = typer.Typer(
    help="Lightship: managed-container-service deployments on any Kubernetes cluster.",
    no_args_is_help=True,
)


@app.callback()
def main() -> None:
    """Lightship command line."""


# In the order `lightship --help` lists them.
app.command()(operator.crd)
app.command()(operator.run)
app.command()(show.status)
app.command()(show.versions)
app.command()(deploy.redeploy)
app.command("import")(deploy.import_)
app.command()(logs.logs)

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
        typer.echo(f"lightship: {api_message(error)}" + (f" ({hint})" if hint else ""), err=True)
        raise SystemExit(1) from None
    except HTTPError as error:
        typer.echo(
            f"lightship: the cluster is out of reach ({type(error).__name__}): check KUBECONFIG "
            "and that its API server runs",
            err=True,
        )
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)
