"""``kiosk stats``: the evaluation's figures, exports and merged reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kiosk.cli.common import data_dir_option
from kiosk.exceptions import KioskError


# -- stats: the evaluation ---------------------------------------------------------------
@click.group()
def stats() -> None:
    """Anonymous figures for the evaluation (no figure from fewer than 5)."""


def _print_report(facts: Any, since: Any, until: Any, fmt: str) -> None:
    from kiosk.evaluation import stats as st

    try:
        tables = st.report(facts, since=since.date() if since else None,
                           until=until.date() if until else None)
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo({"json": st.to_json, "csv": st.to_csv, "table": st.to_text}[fmt](tables),
               nl=fmt == "json")


report_options = [
    click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None,
                 help="First day (YYYY-MM-DD)."),
    click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None,
                 help="Last day (YYYY-MM-DD)."),
    click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]),
                 default="table", show_default=True),
]


def _with(options: list) -> Any:
    def wrap(func: Any) -> Any:
        for option in reversed(options):
            func = option(func)
        return func
    return wrap


def _facts(data_dir: Path) -> Any:
    from kiosk.evaluation.stats import load_facts

    try:
        return load_facts(data_dir / "room.db")
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None


@stats.command("report")
@_with(report_options)
@data_dir_option
def stats_report(since: Any, until: Any, fmt: str, data_dir: Path) -> None:
    """The report over this room's data."""
    _print_report(_facts(data_dir), since, until, fmt)


@stats.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write (JSON with anonymous counts).")
@click.option("--source", default=None, help="Name of this room or office in the file.")
@data_dir_option
def stats_export(out: Path, source: str | None, data_dir: Path) -> None:
    """Write this room's anonymous aggregates, for merging with other rooms."""
    from kiosk.evaluation.stats import export

    path = export(_facts(data_dir), out, source=source or data_dir.resolve().name)
    click.echo(f"wrote {path}")


@stats.command("merge")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_with(report_options)
def stats_merge(files: tuple[Path, ...], since: Any, until: Any, fmt: str) -> None:
    """One report over the exports of many rooms and offices."""
    from kiosk.evaluation.stats import merge

    try:
        facts = merge(list(files))
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None
    _print_report(facts, since, until, fmt)


# The groups of who may get in (bus keys, staff accounts) live in their own module.
