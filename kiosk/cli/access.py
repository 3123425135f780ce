"""``kiosk keys`` and ``kiosk staff``: who may reach the room's bus, who may sign in."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from kiosk.cli.common import data_dir_option, room_config, runtime, send_to_room
from kiosk.exceptions import BusError, KioskError

config_option = click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
    help="The room's config, for its [staff.directory] (default: room.toml in the data dir).")


# -- staff: accounts that sign in on /control, /admin and /stats -------------------
@click.group()
def staff() -> None:
    """Staff accounts of a running room (passwords are kept only as hashes), and the
    agency's directory, in which staff sign in with their own account."""


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
@config_option
@data_dir_option
def staff_list(config_path: str | None, data_dir: Path) -> None:
    """Where staff sign in, and the accounts: role, local or directory, open sign-ins."""
    directory = room_config(config_path, data_dir).staff_directory
    click.echo(f"directory: {directory.describe()}" if directory
               else "directory: none (the room's own accounts only)")
    for account in _staff(data_dir, "staff.list").data["accounts"]:
        click.echo(f"{account['name']:<24} {account['role']:<11} {account['source']:<10} "
                   f"{account['signins']} signed in, since {account['created_at']}")


@staff.command("check")
@click.argument("name")
@click.option("--password", "ask_password", is_flag=True,
              help="Also try NAME's password (asked for, never shown), as /login would.")
@config_option
@data_dir_option
def staff_check(name: str, ask_password: bool, config_path: str | None,
                data_dir: Path) -> None:
    """What the agency's directory says of NAME: the role it gives, or why none; exit 1
    when none (the room need not run)."""
    from kiosk.access.ldap import StaffDirectory

    config = room_config(config_path, data_dir).staff_directory
    if config is None:
        raise click.ClickException("the room's config has no [staff.directory]")
    password = click.prompt("Password", hide_input=True) if ask_password else None

    async def ask() -> Any:
        directory = StaffDirectory(config)
        try:
            if password is None:
                return await directory.look_up(name)
            return await directory.sign_in(name, password)
        finally:
            await directory.close()

    outcome = asyncio.run(ask())
    if outcome.unavailable:
        raise click.ClickException(f"the directory cannot be asked: {outcome.unavailable}")
    if not outcome.ok:
        raise click.ClickException(f"{name.lower()} may not sign in: {outcome.refused}")
    click.echo(f"{outcome.name} signs in as {outcome.role} ({outcome.dn})")


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
              type=click.Choice(["room", "operator", "agent", "viewer", "console", "admin",
                                 "counsellor", "kiosk", "display", "media"]),
              help="What the key may do on the bus (room bus: room, operator, agent, viewer, "
                   "or one role's commands: counsellor, kiosk, display, media, admin; "
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
