"""``kiosk ctl``: read and steer a running room over its bus."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
import zmq.asyncio

from kiosk.cli.common import bus_keys, data_dir_option, runtime, send_to_room
from kiosk.exceptions import BusError
from kiosk.room.mirror import fetch_snapshot
from kiosk.room.state import ROLES, RoomState


# -- ctl: speak to a running room ------------------------------------------------
@click.group()
@click.option("--as", "role", type=click.Choice(ROLES), default="counsellor", show_default=True,
              help="Speak for this role.")
@click.option("--key", default="operator", show_default=True,
              help="Which of the room's bus keys to use (see 'kiosk keys list').")
@click.pass_context
def ctl(ctx: click.Context, role: str, key: str) -> None:
    """Read and steer a running room over its bus."""
    ctx.obj = {"role": role, "key": key}


def send_command(ctx: click.Context, data_dir: Path, name: str, /, **args: Any) -> None:
    """Send one command for the ctl role; exit 1 with the reason when refused."""
    info = runtime(data_dir)
    try:
        reply = asyncio.run(send_to_room(info, ctx.obj["role"], name, args, ctx.obj["key"]))
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
    info = runtime(data_dir)
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
    from kiosk.i18n import consent_version

    state = asyncio.run(_status(runtime(data_dir)))
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
    from kiosk.visits.invitation import local

    state = asyncio.run(_status(runtime(data_dir)))
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
    info = runtime(data_dir)
    reply = asyncio.run(send_to_room(info, ctx.obj["role"], "partner.invite",
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


