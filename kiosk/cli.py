"""The ``kiosk`` command group: run a room, and speak to a running one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click
import zmq.asyncio

from .client import CommandClient
from .config import DATA_DIR_ENV, RoomConfig, SiteConfig, read_runtime
from .exceptions import BusError, KioskError
from .keys import ClientKeys
from .link import runtime_keyring
from .mirror import fetch_snapshot
from .state import ROLES, RoomState

data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar=DATA_DIR_ENV,
    default="kiosk-data", show_default=True, show_envvar=True,
    help="The room's data folder (SQLite file and runtime info).")


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log what the room does.")
def main(verbose: bool) -> None:
    """Consultation room for networked hybrid counselling."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_room(config: RoomConfig, site: SiteConfig | None = None) -> None:
    """Run a room (and, with ``site``, the site service beside it) until Ctrl-C or
    SIGTERM, then stop it cleanly."""
    from .room import Room

    async def serve() -> None:
        room = Room(config, site=site)
        stop = asyncio.Event()
        try:
            await room.start()
        except Exception:
            await room.stop()
            raise
        # After start: Panel's server puts its own SIGINT handler in place.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        router, pub = room.endpoints
        click.echo(f"Room {config.room_id} ({config.room_name}) is running.")
        for name, url in room.urls.items():
            click.echo(f"  {name:<8} {url}")
        click.echo(f"  bus      {router} (commands) {pub} (updates)")
        click.echo(f"  data     {config.data_dir.resolve()}")
        if room.demo_password:
            from .staff import DEMO_ACCOUNTS

            click.echo(f"  sign in  {', '.join(DEMO_ACCOUNTS)} with the password "
                       f"{room.demo_password} (new at each start)")
        if room.site is not None:
            from .cli_site import echo_site

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
        from .cli_site import run_site

        run_site(config)
    else:
        run_room(config)


# -- ctl: speak to a running room ------------------------------------------------
@main.group()
@click.option("--as", "role", type=click.Choice(ROLES), default="counsellor", show_default=True,
              help="Speak for this role.")
@click.option("--key", default="operator", show_default=True,
              help="Which of the room's bus keys to use (see 'kiosk keys list').")
@click.pass_context
def ctl(ctx: click.Context, role: str, key: str) -> None:
    """Read and steer a running room over its bus."""
    ctx.obj = {"role": role, "key": key}


def _runtime(data_dir: Path) -> dict[str, Any]:
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


async def _send(info: dict[str, Any], role: str, name: str, args: dict[str, Any],
                key: str = "operator") -> Any:
    context = zmq.asyncio.Context()
    client = CommandClient(info["bus"]["router"], role=role, context=context,
                           keys=bus_keys(info, key))
    try:
        return await client.request(name, args)
    finally:
        await client.close()
        context.term()


def send_command(ctx: click.Context, data_dir: Path, name: str, /, **args: Any) -> None:
    """Send one command for the ctl role; exit 1 with the reason when refused."""
    info = _runtime(data_dir)
    try:
        reply = asyncio.run(_send(info, ctx.obj["role"], name, args, ctx.obj["key"]))
    except BusError as exc:
        raise click.ClickException(str(exc)) from None
    if not reply.ok:
        click.echo(f"refused ({reply.code}): {reply.error}", err=True)
        sys.exit(1)
    extra = f" id={reply.data['id']}" if "id" in reply.data else ""
    click.echo(f"ok {name} seq={reply.seq}{extra}")


async def _status(info: dict[str, Any], key: str = "operator") -> RoomState:
    context = zmq.asyncio.Context()
    try:
        items, seq, _ = await fetch_snapshot(context, info["bus"]["router"], "room/",
                                             keys=bus_keys(info, key))
    finally:
        context.term()
    state = RoomState()
    state.apply([(u.key, u.value) for u in items], replace=True, seq=seq)
    return state


def partner_status(partner: Any) -> str:
    """One word for scripts: invited, lobby, admitted, connected, reconnecting or gone."""
    if partner.state == "lobby" and partner.admitted:
        return "admitted"
    return partner.state


def _media_counters(info: dict[str, Any]) -> dict[str, Any]:
    """Per partner: frames received from them and forwarded to the display (from /healthz)."""
    import urllib.request

    url = info.get("urls", {}).get("healthz")
    if not url:
        return {}
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return json.loads(resp.read()).get("media", {}).get("partners", {})
    except (OSError, ValueError):
        return {}


@ctl.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@data_dir_option
def status(as_json: bool, data_dir: Path) -> None:
    """Print the room's state as read over the bus."""
    info = _runtime(data_dir)
    try:
        state = asyncio.run(_status(info))
    except BusError as exc:
        raise click.ClickException(str(exc)) from None
    media = _media_counters(info)
    out = {
        "room": {"id": state.room_id, "name": state.room_name},
        "phase": state.phase, "seq": state.seq, "language": state.language,
        "privacy": state.privacy,
        "session": {"id": state.session_id, "started": state.session_started}
        if state.session_id else None,
        "arrival": state.arrival,
        "notes": [n.to_dict() for n in state.notes],
        "next_steps": [s.to_dict() for s in state.next_steps],
        "partners": [{**p.to_dict(), "status": partner_status(p),
                      "media": media.get(str(p.id), {})} for p in state.partners],
        "devices": [d.to_dict() | {"alert": d.alert} for _, d in sorted(state.devices.items())],
        "tablets": [t.to_dict() for t in state.tablets],
        "bus": info["bus"], "urls": info.get("urls", {}),
    }
    if as_json:
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    visible = sum(n.visible for n in state.notes)
    click.echo(f"room     {state.room_id} ({state.room_name})")
    click.echo(f"phase    {state.phase} (bus seq {state.seq})")
    if state.session_id:
        click.echo(f"session  {state.session_id} since {state.session_started}")
    click.echo(f"client   language {state.language}, privacy pause "
               f"{'on' if state.privacy else 'off'}")
    click.echo(f"notes    {len(state.notes)} ({visible} visible), "
               f"next steps {len(state.next_steps)}")
    for p in out["partners"]:
        counters = ", ".join(f"{k} {v}" for k, v in p["media"].items()) or "no media"
        click.echo(f"partner  {p['id']} {p['agency']} {p['name']}: {p['state']}, consent "
                   f"{p['consent']}{', admitted' if p['admitted'] else ''} ({counters})")
    for d in out["devices"]:
        extra = ", ".join(x for x in (f"{d['fps']} fps" if d["fps"] is not None else "",
                                      d["browser"], d["detail"]) if x)
        click.echo(f"device   {d['id']} ({d['kind']}): "
                   f"{'online' if d['online'] else 'OFFLINE since ' + d['last_seen']}"
                   f"{' ALERT ' + d['alert'] if d['alert'] and d['online'] else ''}"
                   f"{' — ' + extra if extra else ''}")
    for tablet in out["tablets"]:
        click.echo(f"tablet   {tablet['id']} {tablet['name']} (paired {tablet['paired_at']})")
    click.echo(f"bus      {info['bus']['router']} {info['bus']['pub']}")
    for name, url in info.get("urls", {}).items():
        click.echo(f"page     {name:<8} {url}")


@ctl.command()
@click.argument("action", type=click.Choice(["start", "end"]))
@data_dir_option
@click.pass_context
def session(ctx: click.Context, action: str, data_dir: Path) -> None:
    """Start or end the appointment."""
    send_command(ctx, data_dir, f"session.{action}")


@ctl.command()
@click.argument("text")
@click.option("--visible", is_flag=True, help="Show the note to the client.")
@data_dir_option
@click.pass_context
def note(ctx: click.Context, text: str, visible: bool, data_dir: Path) -> None:
    """Write a note (internal unless --visible)."""
    send_command(ctx, data_dir, "note.add", text=text, visible=visible)


@ctl.command()
@click.argument("what")
@click.option("--who", default="client", show_default=True, help="client, or an agency.")
@click.option("--due", default="", help="Date as YYYY-MM-DD.")
@data_dir_option
@click.pass_context
def step(ctx: click.Context, what: str, who: str, due: str, data_dir: Path) -> None:
    """Agree a next step."""
    send_command(ctx, data_dir, "step.add", what=what, who=who, due=due)


@ctl.command()
@data_dir_option
@click.pass_context
def reset(ctx: click.Context, data_dir: Path) -> None:
    """Return the room to idle, closing whatever runs."""
    send_command(ctx, data_dir, "room.reset")


@ctl.command()
@click.argument("name")
@click.argument("args", nargs=-1)
@data_dir_option
@click.pass_context
def send(ctx: click.Context, name: str, args: tuple[str, ...], data_dir: Path) -> None:
    """Send any command: NAME KEY=JSON... (e.g. privacy.set on=true)."""
    parsed: dict[str, Any] = {}
    for arg in args:
        key, sep, raw = arg.partition("=")
        if not sep:
            raise click.BadParameter(f"{arg!r} is not KEY=VALUE", param_hint="ARGS")
        try:
            parsed[key] = json.loads(raw)
        except ValueError:
            parsed[key] = raw
    send_command(ctx, data_dir, name, **parsed)


# -- what the client's touch screen does, for scripts (use with --as kiosk) --------
@ctl.command()
@click.argument("code")
@data_dir_option
@click.pass_context
def language(ctx: click.Context, code: str, data_dir: Path) -> None:
    """Set the client's language (de, de-simple, en, ar, tr, uk, ru, ...)."""
    send_command(ctx, data_dir, "language.set", language=code)


@ctl.command()
@click.option("--code", default=None, help="The appointment code; without it, a walk-in.")
@data_dir_option
@click.pass_context
def checkin(ctx: click.Context, code: str | None, data_dir: Path) -> None:
    """Check the client in, with an appointment code or as a walk-in."""
    args = {"code": code} if code else {"walk_in": True}
    send_command(ctx, data_dir, "checkin", **args)


@ctl.command()
@click.argument("answer", type=click.Choice(["yes", "no"]))
@click.option("--partner", type=int, default=None, help="Partner id (default: the one waiting).")
@data_dir_option
@click.pass_context
def consent(ctx: click.Context, answer: str, partner: int | None, data_dir: Path) -> None:
    """Answer the consent prompt for the partner who waits for it."""
    from .i18n import consent_version

    state = asyncio.run(_status(_runtime(data_dir)))
    if partner is None:
        waiting = state.pending_consent
        if waiting is None:
            raise click.ClickException("no partner is waiting for the client's consent")
        partner = waiting.id
    send_command(ctx, data_dir, "consent.answer", partner=partner, yes=answer == "yes",
                 version=consent_version(state.language))


@ctl.group()
def appointment() -> None:
    """Remote appointments: book one (the client gets the link by mail), list, cancel."""


@appointment.command("create")
@click.option("--email", required=True, help="The client's mail address (not stored).")
@click.option("--at", "at", required=True, help="Start, e.g. 2026-12-01T10:30 (local time).")
@click.option("--duration", type=click.IntRange(5, 240), default=30, show_default=True,
              help="Minutes.")
@click.option("--language", default="de", show_default=True,
              help="The client's language for the mail (German always comes first).")
@click.option("--label", default="", help="A short note for the counsellor's list.")
@data_dir_option
@click.pass_context
def appointment_create(ctx: click.Context, email: str, at: str, duration: int, language: str,
                       label: str, data_dir: Path) -> None:
    send_command(ctx, data_dir, "appointment.create", email=email, at=at, minutes=duration,
                 language=language, label=label)


@appointment.command("list")
@data_dir_option
def appointment_list(data_dir: Path) -> None:
    """The booked appointments that are not over, with mail and opt-out status."""
    from .invitation import local

    state = asyncio.run(_status(_runtime(data_dir)))
    if not state.appointments:
        click.echo("no appointments")
    for a in state.appointments:
        start = local(a.starts_at)
        extra = f"  wants {a.optout.replace('_', ' ')}: {a.optout_note}" if a.optout else ""
        click.echo(f"{a.id:>4}  {start:%Y-%m-%d %H:%M}  {a.minutes:>3} min  {a.status:<9} "
                   f"mail {a.mail:<7} {a.label}{extra}")


@appointment.command("cancel")
@click.argument("appointment_id", type=int)
@data_dir_option
@click.pass_context
def appointment_cancel(ctx: click.Context, appointment_id: int, data_dir: Path) -> None:
    send_command(ctx, data_dir, "appointment.cancel", id=appointment_id)


@ctl.command()
@click.argument("switch", type=click.Choice(["on", "off"]))
@data_dir_option
@click.pass_context
def privacy(ctx: click.Context, switch: str, data_dir: Path) -> None:
    """Pause (on) or resume (off) all video."""
    send_command(ctx, data_dir, "privacy.set", on=switch == "on")


@ctl.command()
@click.argument("satisfaction", type=click.IntRange(1, 5))
@click.argument("ease", type=click.IntRange(1, 5))
@click.argument("recommend", type=click.IntRange(0, 10))
@data_dir_option
@click.pass_context
def survey(ctx: click.Context, satisfaction: int, ease: int, recommend: int,
           data_dir: Path) -> None:
    """Answer the anonymous survey: SATISFACTION (1-5) EASE (1-5) RECOMMEND (0-10)."""
    send_command(ctx, data_dir, "survey.submit", satisfaction=satisfaction, ease=ease,
                 recommend=recommend)


# -- partners, for scripts --------------------------------------------------------
@ctl.command()
@click.argument("agency")
@click.option("--name", default="", help="The partner's name.")
@click.option("--purpose", default="", help="Why they join (the client sees it).")
@click.option("--minutes", type=click.IntRange(1, 240), default=30, show_default=True,
              help="How long the link works.")
@data_dir_option
@click.pass_context
def invite(ctx: click.Context, agency: str, name: str, purpose: str, minutes: int,
           data_dir: Path) -> None:
    """Invite a partner: prints their one-call join link."""
    info = _runtime(data_dir)
    reply = asyncio.run(_send(info, ctx.obj["role"], "partner.invite",
                              {"agency": agency, "name": name, "purpose": purpose,
                               "minutes": minutes}))
    if not reply.ok:
        click.echo(f"refused ({reply.code}): {reply.error}", err=True)
        sys.exit(1)
    click.echo(f"partner {reply.data['id']}: {info.get('base_url', '')}{reply.data['link']} "
               f"(valid until {reply.data['expires']})")


@ctl.command()
@click.argument("partner", type=int)
@data_dir_option
@click.pass_context
def admit(ctx: click.Context, partner: int, data_dir: Path) -> None:
    """Let a partner in from the lobby."""
    send_command(ctx, data_dir, "partner.admit", partner=partner)


@ctl.command()
@click.argument("partner", type=int)
@data_dir_option
@click.pass_context
def hangup(ctx: click.Context, partner: int, data_dir: Path) -> None:
    """Take a partner out of the talk; their link stops working."""
    send_command(ctx, data_dir, "partner.remove", partner=partner)


@main.command("partner-bot")
@click.argument("link")
@click.option("--agency", default="Jobcenter", show_default=True,
              help="Label of the bot's test pattern.")
@click.option("--seconds", type=float, default=None, help="Leave after this long.")
def partner_bot(link: str, agency: str, seconds: float | None) -> None:
    """Join a call by an invitation LINK as a simulated partner (Ctrl-C leaves)."""
    from .media.bot import PartnerBot

    async def run() -> None:
        bot = PartnerBot(link, agency)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if seconds:
            loop.call_later(seconds, stop.set)
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


# -- devices: provisioning a room PC ----------------------------------------------
@main.group()
def devices() -> None:
    """Provision a room PC and see its hardware."""


@devices.command("init")
@click.option("--room", "room_name", required=True, help="The room's name, e.g. 'Raum 2'.")
@click.option("--force", is_flag=True, help="Replace an existing config and keys.")
@data_dir_option
def devices_init(room_name: str, force: bool, data_dir: Path) -> None:
    """Write the room's config and a CURVE key pair per device role."""
    from .provision import init_room

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
    from . import hardware

    found = hardware.scan(root)
    if assignments:
        from .provision import assign

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
@data_dir_option
def devices_check(config_path: str | None, root: str, seconds: float, data_dir: Path) -> None:
    """Check camera, microphone, displays, bus, clock and disk; exit 1 on any failure."""
    from .checks import run_checks

    config = _room_config(config_path, data_dir)
    results = asyncio.run(run_checks(config, root=Path(root), seconds=seconds))
    for result in results:
        click.echo(result.line())
    if not all(r.ok for r in results):
        sys.exit(1)


def _room_config(config_path: str | None, data_dir: Path) -> RoomConfig:
    """The config named, else room.toml in the data dir, else the defaults."""
    path = Path(config_path) if config_path else data_dir / "room.toml"
    try:
        if path.exists():
            return RoomConfig.from_toml(path, data_dir=None if config_path else str(data_dir))
        return RoomConfig(data_dir=data_dir)
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None


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
    from .agent import DeviceAgent

    config = _room_config(config_path, data_dir)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        agent = DeviceAgent(config, root=Path(root), device=device)
        click.echo(f"agent {agent.device} reports to room {config.room_id}", err=True)
        await agent.run(stop)

    asyncio.run(run())


# -- purge: retention and erasure ------------------------------------------------------
def _running_room(data_dir: Path) -> dict[str, Any] | None:
    """What a room running with this data dir wrote about itself; None when none runs
    (no runtime file, or one left by a process that is gone)."""
    import os

    if not (data_dir / "room.json").exists():
        return None
    info = _runtime(data_dir)
    try:
        os.kill(int(info.get("pid", 0)), 0)
    except ProcessLookupError:
        return None
    except (PermissionError, ValueError, OverflowError):
        pass  # alive under another user, or no usable pid: ask the bus
    return info


@main.command()
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
    from . import retention

    info = _running_room(data_dir)
    if info is not None:
        try:
            reply = asyncio.run(_send(info, "admin", "retention.purge", {}, key))
        except BusError as exc:
            raise click.ClickException(str(exc)) from None
        if not reply.ok:
            click.echo(f"refused ({reply.code}): {reply.error}", err=True)
            sys.exit(1)
        erased, wal_clean = reply.data["erased"], reply.data["wal_clean"]
        where = f"im laufenden Raum {info.get('room_id', '')}".rstrip()
    else:
        from .store import BUSY_TIMEOUT_MS, Store

        config = _room_config(config_path, data_dir)
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


# -- stats: the evaluation ---------------------------------------------------------------
@main.group()
def stats() -> None:
    """Anonymous figures for the evaluation (no figure from fewer than 5)."""


def _print_report(facts: Any, since: Any, until: Any, fmt: str) -> None:
    from . import stats as st

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
    from .stats import load_facts

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
    from .stats import export

    path = export(_facts(data_dir), out, source=source or data_dir.resolve().name)
    click.echo(f"wrote {path}")


@stats.command("merge")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_with(report_options)
def stats_merge(files: tuple[Path, ...], since: Any, until: Any, fmt: str) -> None:
    """One report over the exports of many rooms and offices."""
    from .stats import merge

    try:
        facts = merge(list(files))
    except KioskError as exc:
        raise click.ClickException(str(exc)) from None
    _print_report(facts, since, until, fmt)


# The groups of who may get in (bus keys, staff accounts) live in their own module.
from .cli_access import keys, staff  # noqa: E402
from .cli_site import site  # noqa: E402

main.add_command(keys)
main.add_command(staff)
main.add_command(site)
