"""``kiosk site``: the site's partner directory and partner accounts, for facility staff.

When a site service runs with the data dir (``site.json`` names a live
process), each command goes over its bus with the site's ``admin`` key, so
every room and console sees the change at once; otherwise it runs the same
command on ``site.db`` directly (e.g. to fill the directory before the first
start). Either way the site controller checks it, and a refused command
changes nothing.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import click
import zmq.asyncio

from kiosk.access.staff import MIN_PASSWORD
from kiosk.cli.common import data_dir_option, stop_on_signals
from kiosk.config import SiteConfig
from kiosk.exceptions import BusError, KioskError
from kiosk.room.client import CommandClient
from kiosk.room.messages import Command
from kiosk.site.service import Site, read_site_runtime, site_keyring


def echo_site(site: Site) -> None:
    """Print where a running site service listens (and, in a demo, how partners sign in)."""
    router, pub = site.endpoints
    click.echo(f"  site     {router} (commands) {pub} (updates)")
    if site.console_url:
        click.echo(f"  partners {site.console_url} (partner console)")
    if site.demo_password:
        click.echo(f"  partners sign in with their directory address and the password "
                   f"{site.demo_password} (new at each start)")


def run_site(config: SiteConfig) -> None:
    """Run the site service alone until Ctrl-C or SIGTERM (``kiosk serve --site``)."""
    async def serve() -> None:
        site = Site(config)
        try:
            await site.start()
        except Exception:
            await site.stop()
            raise
        stop = stop_on_signals()
        click.echo("The site service is running.")
        echo_site(site)
        click.echo(f"  data     {config.data_dir.resolve()}")
        click.echo("Press Ctrl-C to stop.", err=True)
        await stop.wait()
        await site.stop()

    try:
        asyncio.run(serve())
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot start the site service: {exc}") from None


def _running_site(data_dir: Path) -> dict[str, Any] | None:
    """The runtime info of a site service running with ``data_dir``; None when none runs."""
    info = read_site_runtime(data_dir)
    if info is None:
        return None
    try:
        os.kill(int(info.get("pid", 0)), 0)
    except ProcessLookupError:
        return None  # left behind by a process that is gone
    except (PermissionError, ValueError, OverflowError):
        pass
    return info


async def _over_bus(info: dict[str, Any], name: str, args: dict[str, Any]) -> Any:
    context = zmq.asyncio.Context()
    keys = site_keyring(info["bus"]["keys"]).client("admin")
    client = CommandClient(info["bus"]["router"], role="admin", context=context, keys=keys,
                           timeout=10.0)
    try:
        return await client.request(name, args)
    finally:
        await client.close()
        context.term()


def _offline(data_dir: Path, name: str, args: dict[str, Any]) -> Any:
    from kiosk.room.store import Store
    from kiosk.site.controller import SiteController
    from kiosk.site.directory import SITE_MIGRATIONS

    store = Store(SiteConfig(data_dir=data_dir).db_path, SITE_MIGRATIONS)
    try:
        return SiteController(store).handle(Command(name, args, "admin"))[0]
    finally:
        store.close()


def site_command(data_dir: Path, name: str, /, **args: Any) -> dict[str, Any]:
    """Run one admin command on the site (running or not); its reply's data."""
    try:
        info = _running_site(data_dir)
        reply = (asyncio.run(_over_bus(info, name, args)) if info
                 else _offline(data_dir, name, args))
    except (BusError, KioskError) as exc:
        raise click.ClickException(str(exc)) from None
    if not reply.ok:
        raise click.ClickException(f"refused ({reply.code}): {reply.error}")
    return reply.data


@click.group()
def site() -> None:
    """The site's partner network: directory and partner accounts."""


@site.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_option
def site_import(file: Path, data_dir: Path) -> None:
    """Add or update the contacts of a CSV file (every row, or none when one is bad)."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {file}: {exc}") from None
    counts = site_command(data_dir, "directory.import", csv=text)
    click.echo(f"imported {counts['rows']} contacts from {file} ({counts['added']} new, "
               f"{counts['updated']} updated)")


@site.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@data_dir_option
def site_export(file: Path, data_dir: Path) -> None:
    """Write the directory as CSV ('-': to standard output)."""
    text = site_command(data_dir, "directory.export")["csv"]
    if str(file) == "-":
        click.echo(text, nl=False)
        return
    file.write_text(text, encoding="utf-8")
    click.echo(f"wrote {file}")


@site.command("account")
@click.argument("contact")
@click.password_option(help=f"At least {MIN_PASSWORD} characters (asked for when not given).")
@data_dir_option
def site_account(contact: str, password: str, data_dir: Path) -> None:
    """Set the password of a partner's account (CONTACT: id or e-mail address)."""
    ref: int | str = int(contact) if contact.isdigit() else contact
    data = site_command(data_dir, "account.set", contact=ref, password=password)
    click.echo(f"password set for {data['name']} (contact {data['contact']}); "
               "their sign-ins ended")
