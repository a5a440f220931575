"""The commands that show a service: `lightship status` and `lightship versions`."""

from datetime import UTC, datetime

import typer

from lightship import present
from lightship.cli.access import NamespaceOption, kube_client, service_object

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


def status(
    service: str, namespace: str = NamespaceOption, output: present.Output = OutputOption
) -> None:
    """Show the service's state, URL, private domain, and its active and activating versions."""
    obj = service_object(kube_client(), namespace, service)
    if output in (present.Output.JSON, present.Output.YAML):
        typer.echo(present.as_data(obj, output), nl=False)
        return
    _print_table(None, present.status_rows(obj, _now()), output)


def versions(
    service: str, namespace: str = NamespaceOption, output: present.Output = OutputOption
) -> None:
    """List the kept versions, newest first, with state, age and reason."""
    obj = service_object(kube_client(), namespace, service)
    kept = (obj.get("status") or {}).get("versions", [])
    if output in (present.Output.JSON, present.Output.YAML):
        typer.echo(present.as_data(kept, output), nl=False)
        return
    wide = output is present.Output.WIDE
    header = present.WIDE_VERSION_COLUMNS if wide else present.VERSION_COLUMNS
    _print_table(header, present.version_rows(kept, _now(), wide), output)


def _now() -> datetime:
    return datetime.now(UTC)
