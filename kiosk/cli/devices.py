"""``kiosk devices``: provision a room PC, scan and check its hardware, run its agent."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from kiosk.cli.common import data_dir_option, room_config
from kiosk.exceptions import KioskError


# -- devices: provisioning a room PC ----------------------------------------------
@click.group()
def devices() -> None:
    """Provision a room PC and see its hardware."""


@devices.command("init")
@click.option("--room", "room_name", required=True, help="The room's name, e.g. 'Raum 2'.")
@click.option("--force", is_flag=True, help="Replace an existing config and keys.")
@data_dir_option
def devices_init(room_name: str, force: bool, data_dir: Path) -> None:
    """Write the room's config and a CURVE key pair per device role."""
    from kiosk.devices.provision import init_room

    try:
        done = init_room(data_dir, room_name, force=force)
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"config   {done.config}")
    for role, (public, secret) in done.keys.items():
        click.echo(f"key      {role:<10} {public.name} (public), {secret.name} (secret, 0600)")


@devices.command("scan")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--root", type=click.Path(exists=True, file_okay=False), default="/",
              help="Read /sys, /proc and /dev under this folder (for tests).")
@click.option("--assign", "assignments", multiple=True, metavar="ROLE=ID",
              help="Assign a device to a role in the config (repeatable); roles: "
                   "camera, microphone, speaker, touch, kiosk-screen, second-display.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Config to write assignments to (default: room.toml in the "
                                 "data dir).")
@data_dir_option
def devices_scan(as_json: bool, root: str, assignments: tuple[str, ...],
                 config_path: Path | None, data_dir: Path) -> None:
    """List cameras, microphones, speakers, displays and touch screens; assign them to roles."""
    from kiosk.devices import hardware

    found = hardware.scan(root)
    if assignments:
        from kiosk.devices.provision import assign

        choices = {}
        for item in assignments:
            role, sep, device_id = item.partition("=")
            if not sep or not role.strip() or not device_id.strip():
                raise click.BadParameter(f"{item!r} is not ROLE=ID", param_hint="--assign")
            choices[role.strip()] = device_id.strip()
        path = config_path or data_dir / "room.toml"
        try:
            written = assign(path, choices, found, root=Path(root))
        except KioskError as exc:
            raise click.ClickException(str(exc)) from None
        for role, key in written.items():
            click.echo(f"assigned {role:<15} {choices[role]:<18} ({key} in {path})")
        return
    if as_json:
        click.echo(json.dumps(hardware.as_json(found), indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("no cameras, sound devices, displays or touch screens found")
    for d in found:
        extra = ""
        if d.kind == "camera":
            extra = ", ".join(d.details["formats"]) or "formats unknown"
        elif d.kind == "display":
            state = "connected" if d.details["connected"] else "not connected"
            extra = f"{state}; {', '.join(d.details['modes'][:3]) or 'no modes'}"
        click.echo(f"{d.kind:<10} {d.id:<18} {d.name}" + (f"  ({extra})" if extra else ""))


@devices.command("check")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              default=None, help="The room's config (default: room.toml in the data dir).")
@click.option("--root", type=click.Path(exists=True, file_okay=False), default="/",
              help="Read /sys under this folder (for tests).")
@click.option("--seconds", type=click.FloatRange(0.5, 60), default=3.0, show_default=True,
              help="How long to count camera frames.")
@click.option("--demo", is_flag=True,
              help="Check a demo room (`kiosk demo`): its synthetic test pattern and tone "
                   "pass; elsewhere they fail, as the room needs its own camera and "
                   "microphone.")
@data_dir_option
def devices_check(config_path: str | None, root: str, seconds: float, demo: bool,
                  data_dir: Path) -> None:
    """Check camera, microphone, displays, bus, TURN and the staff directory (when
    configured), clock and disk; exit 1 on any failure."""
    from kiosk.devices.checks import run_checks

    config = room_config(config_path, data_dir)
    if demo:
        config = config.with_(demo=True)

    async def checks() -> list:
        results = await run_checks(config, root=Path(root), seconds=seconds)
        if config.staff_directory is not None:
            results.append(await check_directory(config.staff_directory))
        return results

    results = asyncio.run(checks())
    for result in results:
        click.echo(result.line())
    if not all(r.ok for r in results):
        sys.exit(1)


async def check_directory(config: Any) -> Any:
    """The agency's staff directory: reached over TLS, the service account binds, and
    user_base and the role groups exist (a ``[staff.directory]``, kiosk/access/ldap.py)."""
    from kiosk.access.ldap import StaffDirectory
    from kiosk.devices.checks import Check

    directory = StaffDirectory(config)
    try:
        outcome = await directory.probe()
    finally:
        await directory.close()
    if outcome.unavailable:
        return Check("directory", False, outcome.unavailable,
                     "Staff with directory accounts cannot sign in until this is fixed; the "
                     "room's local accounts still can. Check [staff.directory] url, ca_file, "
                     "bind_dn and bind_password_file, and that this PC reaches the server.")
    if outcome.refused:
        return Check("directory", False, outcome.refused,
                     "Check user_base and [staff.directory.groups] against the directory.")
    return Check("directory", True, outcome.detail)


@devices.command("agent")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              default=None, help="The room's config (default: room.toml in the data dir).")
@click.option("--root", type=click.Path(exists=True, file_okay=False), default="/",
              help="Read /sys and /proc under this folder (for tests).")
@click.option("--device", default=None, help="Name on /admin (default: agent-<hostname>).")
@data_dir_option
def devices_agent(config_path: str | None, root: str, device: str | None,
                  data_dir: Path) -> None:
    """Report this PC's screens and touch screen to the room until stopped."""
    from kiosk.devices.agent import DeviceAgent

    config = room_config(config_path, data_dir)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        agent = DeviceAgent(config, root=Path(root), device=device)
        click.echo(f"agent {agent.device} reports to room {config.room_id}", err=True)
        await agent.run(stop)

    asyncio.run(run())


