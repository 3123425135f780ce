"""``kiosk keys`` and ``kiosk staff``: who may reach the room's bus, who may sign in."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from kiosk.cli.common import data_dir_option, runtime, send_to_room
from kiosk.exceptions import BusError, KioskError


# -- staff: accounts that sign in on /control, /admin and /stats -------------------
@click.group()
def staff() -> None:
    """Staff accounts of a running room (passwords are kept only as hashes)."""


def _staff(data_dir: Path, name: str, /, **args: Any) -> Any:
    info = runtime(data_dir)
    try:
        reply = asyncio.run(send_to_room(info, "admin", name, args))
    except BusError as exc:
        raise click.ClickException(str(exc)) from None
    if not reply.ok:
        raise click.ClickException(reply.error)
    return reply


@staff.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["counsellor", "admin", "evaluator"]),
              required=True, help="counsellor: /control; admin: /admin; evaluator: /stats.")
@click.password_option(help="At least 10 characters (asked for when not given).")
@data_dir_option
def staff_add(name: str, role: str, password: str, data_dir: Path) -> None:
    """A new account."""
    _staff(data_dir, "staff.add", name=name, role=role, password=password)
    click.echo(f"added {name.lower()} ({role})")


@staff.command("password")
@click.argument("name")
@click.password_option(help="At least 10 characters (asked for when not given).")
@data_dir_option
def staff_password(name: str, password: str, data_dir: Path) -> None:
    """Set a new password; the account's sign-ins end."""
    _staff(data_dir, "staff.password", name=name, password=password)
    click.echo(f"new password for {name.lower()}; signed out everywhere")


@staff.command("remove")
@click.argument("name")
@data_dir_option
def staff_remove(name: str, data_dir: Path) -> None:
    """Delete an account; its sign-ins end."""
    _staff(data_dir, "staff.remove", name=name)
    click.echo(f"removed {name.lower()}")


@staff.command("list")
@data_dir_option
def staff_list(data_dir: Path) -> None:
    """The accounts and their roles."""
    for account in _staff(data_dir, "staff.list").data["accounts"]:
        click.echo(f"{account['name']:<24} {account['role']:<11} since {account['created_at']}")


# -- keys: the bus's CURVE keys ---------------------------------------------------
keys_dir_option = click.option(
    "--keys", "keys_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="The keys folder (default: <data dir>/keys, or [bus] keys of the room's config).")


def _keyring(data_dir: Path, keys_dir: Path | None) -> Any:
    """The room bus's keyring, or with ``kiosk keys --site`` the site bus's."""
    group = click.get_current_context().parent
    if group is not None and group.params.get("site"):
        from kiosk.site.service import site_keyring

        return site_keyring(keys_dir or data_dir / "site-keys")
    from kiosk.room.keys import Keyring

    return Keyring(keys_dir or data_dir / "keys")


@click.group()
@click.option("--site", is_flag=True, help="The site service's bus (directory, presence, "
              "ringing; keys in <data dir>/site-keys) instead of the room's.")
def keys(site: bool) -> None:
    """The bus's CURVE keys: which devices may connect to the room controller (or, with
    --site, which rooms, partner consoles and admins may connect to the site service)."""


@keys.command("init")
@keys_dir_option
@data_dir_option
def keys_init(keys_dir: Path | None, data_dir: Path) -> None:
    """Create the controller's key pair and the standard clients (room, operator, agent)."""
    ring = _keyring(data_dir, keys_dir)
    try:
        made = ring.init()
    except (KioskError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"keys in {ring.path}: " + (f"made {', '.join(made)}" if made
                                             else "all present, nothing made"))


@keys.command("list")
@keys_dir_option
@data_dir_option
def keys_list(keys_dir: Path | None, data_dir: Path) -> None:
    """The allow-list: each client's name, bus role and public key."""
    ring = _keyring(data_dir, keys_dir)
    clients = ring.clients()
    if not clients:
        raise click.ClickException(f"no keys in {ring.path}; run 'kiosk keys init'")
    for name, (role, key) in clients.items():
        click.echo(f"{name:<20} {role:<9} {key}")


@keys.command("add")
@click.argument("name")
@click.option("--role", "bus_role", required=True,
              type=click.Choice(["room", "operator", "agent", "viewer", "console", "admin"]),
              help="What the key may do on the bus (room bus: room, operator, agent, viewer; "
                   "site bus: room, console, admin).")
@keys_dir_option
@data_dir_option
def keys_add(name: str, bus_role: str, keys_dir: Path | None, data_dir: Path) -> None:
    """A new client key; copy its secret file and server.key to the device."""
    ring = _keyring(data_dir, keys_dir)
    try:
        secret = ring.add(name, bus_role)
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added {name} ({bus_role}): give the device {secret} and "
               f"{ring.path / 'server.key'}")


@keys.command("revoke")
@click.argument("name")
@keys_dir_option
@data_dir_option
def keys_revoke(name: str, keys_dir: Path | None, data_dir: Path) -> None:
    """Refuse a client from now on (its next connection and its next command)."""
    ring = _keyring(data_dir, keys_dir)
    try:
        ring.revoke(name)
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"revoked {name}")
