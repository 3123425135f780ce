"""What the command groups share: the data dir option, a running room's runtime file,
its bus keys, and one command sent to it."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import click
import zmq.asyncio

from kiosk.config import DATA_DIR_ENV, RoomConfig, read_runtime
from kiosk.exceptions import KioskError
from kiosk.room.client import CommandClient
from kiosk.room.keys import ClientKeys
from kiosk.room.link import runtime_keyring

data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar=DATA_DIR_ENV,
    default="kiosk-data", show_default=True, show_envvar=True,
    help="The room's data folder (SQLite file and runtime info).")



def runtime(data_dir: Path) -> dict[str, Any]:
    try:
        return read_runtime(data_dir)
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None


def bus_keys(info: dict[str, Any], name: str = "operator") -> ClientKeys:
    """The bus key ``name`` of the room that ``info`` (its runtime file) describes."""
    try:
        return runtime_keyring(info).client(name)
    except KeyError:
        raise click.ClickException("the running room does not name its bus keys; "
                                   "restart it with this version of kiosk") from None
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None


async def send_to_room(info: dict[str, Any], role: str, name: str, args: dict[str, Any],
                key: str = "operator") -> Any:
    context = zmq.asyncio.Context()
    client = CommandClient(info["bus"]["router"], role=role, context=context,
                           keys=bus_keys(info, key))
    try:
        return await client.request(name, args)
    finally:
        await client.close()
        context.term()



def room_config(config_path: str | None, data_dir: Path) -> RoomConfig:
    """The config named, else room.toml in the data dir, else the defaults."""
    path = Path(config_path) if config_path else data_dir / "room.toml"
    try:
        if path.exists():
            return RoomConfig.from_toml(path, data_dir=None if config_path else str(data_dir))
        return RoomConfig(data_dir=data_dir)
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None



def running_room(data_dir: Path) -> dict[str, Any] | None:
    """What a room running with this data dir wrote about itself; None when none runs
    (no runtime file, or one left by a process that is gone)."""
    import os

    if not (data_dir / "room.json").exists():
        return None
    info = runtime(data_dir)
    try:
        os.kill(int(info.get("pid", 0)), 0)
    except ProcessLookupError:
        return None
    except (PermissionError, ValueError, OverflowError):
        pass  # alive under another user, or no usable pid: ask the bus
    return info


def stop_on_signals() -> asyncio.Event:
    """An event set by Ctrl-C or SIGTERM, on the running loop (call it after anything,
    such as Panel's server, that puts in its own SIGINT handler)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
