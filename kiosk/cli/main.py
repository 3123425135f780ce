"""The ``kiosk`` command group: run a room (or the site service) and a test partner; the
other groups live beside this module, one each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import click

from kiosk.cli.common import data_dir_option, stop_on_signals
from kiosk.config import RoomConfig, SiteConfig
from kiosk.exceptions import KioskError


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log what the room does.")
def main(verbose: bool) -> None:
    """Consultation room for networked hybrid counselling."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_room(config: RoomConfig, site: SiteConfig | None = None) -> None:
    """Run a room (and, with ``site``, the site service beside it) until Ctrl-C or
    SIGTERM, then stop it cleanly."""
    from kiosk.app.room import Room

    async def serve() -> None:
        room = Room(config, site=site)
        try:
            await room.start()
        except Exception:
            await room.stop()
            raise
        stop = stop_on_signals()  # after start: Panel's server puts in its own SIGINT handler
        router, pub = room.endpoints
        click.echo(f"Room {config.room_id} ({config.room_name}) is running.")
        for name, url in room.urls.items():
            click.echo(f"  {name:<8} {url}")
        click.echo(f"  bus      {router} (commands) {pub} (updates)")
        click.echo(f"  data     {config.data_dir.resolve()}")
        if room.demo_password:
            from kiosk.access.staff import DEMO_ACCOUNTS

            click.echo(f"  sign in  {', '.join(DEMO_ACCOUNTS)} with the password "
                       f"{room.demo_password} (new at each start)")
        if room.site is not None:
            from kiosk.cli.site import echo_site

            echo_site(room.site)
        click.echo("Press Ctrl-C to stop.", err=True)
        await stop.wait()
        click.echo("Stopping…", err=True)
        await room.stop()

    try:
        asyncio.run(serve())
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot start the room: {exc}") from None


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=5006, show_default=True,
              help="Port of the pages (0 picks a free one).")
@data_dir_option
def demo(port: int, data_dir: Path) -> None:
    """Run a whole room in one process on loopback, with embedded defaults."""
    run_room(RoomConfig(data_dir=data_dir, http_port=port, bus_router="tcp://127.0.0.1:0",
                        bus_pub="tcp://127.0.0.1:0", demo=True),
             site=SiteConfig(data_dir=data_dir, router="tcp://127.0.0.1:0",
                             pub="tcp://127.0.0.1:0", demo=True,
                             http_port=0))  # a free port; the URL is printed


@main.command()
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              required=True, help="The room's TOML config file.")
@click.option("--site", "as_site", is_flag=True,
              help="Run the site service (partner network) of the file's [site] section.")
def serve(config_path: str, as_site: bool) -> None:
    """Run a real room (or some of its parts), or the site service, from a config file."""
    try:
        config = (SiteConfig if as_site else RoomConfig).from_toml(config_path)
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None
    if as_site:
        from kiosk.cli.site import run_site

        run_site(config)
    else:
        run_room(config)


@main.command("partner-bot")
@click.argument("link")
@click.option("--agency", default="Jobcenter", show_default=True,
              help="Label of the bot's test pattern.")
@click.option("--seconds", type=float, default=None, help="Leave after this long.")
def partner_bot(link: str, agency: str, seconds: float | None) -> None:
    """Join a call by an invitation LINK as a simulated partner (Ctrl-C leaves)."""
    from kiosk.media.bot import PartnerBot

    async def run() -> None:
        bot = PartnerBot(link, agency)
        stop = stop_on_signals()
        if seconds:
            asyncio.get_running_loop().call_later(seconds, stop.set)
        await bot.join()
        click.echo(f"joined as {agency}; waiting in the lobby")
        last = ""
        while not stop.is_set():
            state = await bot.poll()
            if state != last:
                click.echo(f"state: {state} (frames from the room: {bot.received['video']})")
                last = state
            if state not in ("lobby", "in_call", "paused"):
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        await bot.leave()
        click.echo(f"left; frames received from the room: {bot.received['video']}")

    try:
        asyncio.run(run())
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None



from kiosk.cli.access import keys, staff  # noqa: E402
from kiosk.cli.ctl import ctl  # noqa: E402
from kiosk.cli.devices import devices  # noqa: E402
from kiosk.cli.retention import purge  # noqa: E402
from kiosk.cli.site import site  # noqa: E402
from kiosk.cli.stats import stats  # noqa: E402

for group in (ctl, keys, staff, site, devices, purge, stats):
    main.add_command(group)
