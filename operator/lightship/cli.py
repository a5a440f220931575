"""The `lightship` command line."""

import typer

app = typer.Typer(help="Lightship: managed-container-service deployments on any Kubernetes cluster.",
                  no_args_is_help=True)


@app.callback()
def main() -> None:
    """Lightship command line."""
