"""``kiosk purge``: the retention policy and erasure."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from kiosk.cli.common import data_dir_option, room_config, running_room, send_to_room
from kiosk.exceptions import BusError, KioskError


@click.command()
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              default=None, help="The room's config, for its [retention] settings when no "
              "room runs (default: room.toml in the data dir).")
@click.option("--key", default="operator", show_default=True,
              help="Which of the room's bus keys to use when a room runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@data_dir_option
def purge(config_path: str | None, key: str, as_json: bool, data_dir: Path) -> None:
    """Erase what the retention policy no longer keeps, from the file and its WAL.

    A room running with this data dir purges itself (its controller is the only
    writer); when none runs, the room's SQLite file is purged here.
    """
    from kiosk.room import retention

    info = running_room(data_dir)
    if info is not None:
        try:
            reply = asyncio.run(send_to_room(info, "admin", "retention.purge", {}, key))
        except BusError as exc:
            raise click.ClickException(str(exc)) from None
        if not reply.ok:
            click.echo(f"refused ({reply.code}): {reply.error}", err=True)
            sys.exit(1)
        erased, wal_clean = reply.data["erased"], reply.data["wal_clean"]
        where = f"im laufenden Raum {info.get('room_id', '')}".rstrip()
    else:
        from kiosk.room.store import BUSY_TIMEOUT_MS, Store

        config = room_config(config_path, data_dir)
        if not config.db_path.exists():
            raise click.ClickException(f"Keine Raum-Datenbank unter {config.db_path}")
        try:
            store = Store(config.db_path)
        except KioskError as exc:
            raise click.ClickException(str(exc)) from None
        try:
            erased = retention.purge(store, config.retention)
            wal_clean = (store.checkpoint(busy_ms=BUSY_TIMEOUT_MS)  # no room: may wait
                         and not store.wipe_pending)
        finally:
            store.close()
        where = f"in {config.db_path} (kein Raum läuft)"
    if as_json:
        click.echo(json.dumps({"erased": erased, "wal_clean": wal_clean,
                               "running_room": info is not None}, indent=2))
        return
    click.echo(f"Aufbewahrungsfristen angewandt {where}:")
    for line in retention.describe(erased):
        click.echo(f"  {line}")
    click.echo("Gelöschtes ist auch aus dem WAL entfernt." if wal_clean else
               "Das WAL wird beim nächsten Checkpoint (in wenigen Sekunden) geleert.")


