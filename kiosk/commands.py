"""The table of room commands: who may send each, in which phases, with which arguments.

The controller checks every command against this table before it touches
anything. Arguments are checked by small validators that either return the
clean value or raise :class:`CommandError` with a message naming the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import i18n
from .agencies import AGENCY_TYPES, OUTCOMES, TOPICS
from .exceptions import CommandError
from .staff import MIN_PASSWORD, STAFF_ROLES
from .state import DEVICE_KINDS, PHASES, ROLES

Validator = Callable[[str, Any], Any]
MISSING = object()



def text(max_len: int, *, min_len: int = 1) -> Validator:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise CommandError("schema", f"'{name}' must be text")
        value = value.strip()
        if not min_len <= len(value) <= max_len:
            raise CommandError("schema", f"'{name}' must be {min_len} to {max_len} characters long")
        return value
    return check


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise CommandError("schema", f"'{name}' must be true or false")
    return value


def integer(lo: int, hi: int) -> Validator:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise CommandError("schema", f"'{name}' must be a whole number from {lo} to {hi}")
        return value
    return check


def choice(*options: str) -> Validator:
    def check(name: str, value: Any) -> str:
        if value not in options:
            raise CommandError("schema", f"'{name}' must be one of: {', '.join(options)}")
        return value
    return check


def appointment_code(name: str, value: Any) -> str:
    value = text(32)(name, value).upper()
    if not all(c.isalnum() or c == "-" for c in value):
        raise CommandError("schema", f"'{name}' may hold only letters, digits and dashes")
    return value


def language(name: str, value: Any) -> str:
    known = i18n.languages()
    if value not in known:
        raise CommandError("schema", f"'{name}' must be one of: {', '.join(known)}")
    return value


def iso_date(name: str, value: Any) -> str:
    if value in ("", None):
        return ""
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise CommandError("schema", f"'{name}' must be a date as YYYY-MM-DD") from None


def topic_list(name: str, value: Any) -> list[str]:
    """Topics of a talk: a list of names from ``TOPICS``, each once, kept in TOPICS' order."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CommandError("schema", f"'{name}' must be a list of topics")
    unknown = [v for v in value if v not in TOPICS]
    if unknown:
        raise CommandError("schema", f"'{name}' holds unknown topics ({len(unknown)}); "
                                     f"known: {', '.join(TOPICS)}")
    return [topic for topic in TOPICS if topic in value]


def device_id(name: str, value: Any) -> str:
    value = text(64)(name, value)
    if not all(c.isascii() and (c.isalnum() or c in "-_.") for c in value):
        raise CommandError("schema", f"'{name}' may hold only letters, digits, '-', '_' and '.'")
    return value


def iso_datetime(name: str, value: Any) -> str:
    """A date and time as ISO 8601; without a zone, the room PC's local time. Returns UTC."""
    if not isinstance(value, str) or len(value) > 40:
        raise CommandError("schema", f"'{name}' must be a date and time like 2026-12-01T10:30")
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise CommandError("schema", f"'{name}' must be a date and time like "
                                     "2026-12-01T10:30") from None
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def email_address(name: str, value: Any) -> str:
    """A mail address in its plain form (user@host.tld), checked for shape only."""
    value = text(254, min_len=3)(name, value)
    local, at, domain = value.rpartition("@")
    if (not at or not local or "." not in domain.strip(".") or "@" in local
            or any(c.isspace() or ord(c) < 32 or c in "<>()[],;:\\\"" for c in value)):
        raise CommandError("schema", f"'{name}' must be a mail address like name@example.org")
    return value


def account_name(name: str, value: Any) -> str:
    value = text(40, min_len=2)(name, value).lower()
    if not all(c.isascii() and (c.isalnum() or c in "-_.") for c in value):
        raise CommandError("schema", f"'{name}' may hold only letters, digits, '-', '_' and '.'")
    return value


def password(min_len: int) -> Validator:
    """A password as typed: not stripped, ``min_len`` to 200 characters."""
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or not min_len <= len(value) <= 200:
            raise CommandError("schema", f"'{name}' must be text of {min_len} to 200 characters")
        return value
    return check


@dataclass(frozen=True)
class Arg:
    check: Validator
    default: Any = MISSING


@dataclass(frozen=True)
class Spec:
    """What one command needs to be accepted."""

    name: str
    roles: frozenset[str]
    phases: frozenset[str]
    args: dict[str, Arg] = field(default_factory=dict)
    doc: str = ""

    def validate(self, args: dict[str, Any]) -> dict[str, Any]:
        unknown = set(args) - set(self.args)
        if unknown:
            raise CommandError(
                "schema",
                f"'{self.name}' takes no argument {', '.join(sorted(map(repr, unknown)))}")
        clean = {}
        for name, arg in self.args.items():
            if name in args:
                clean[name] = arg.check(name, args[name])
            elif arg.default is MISSING:
                raise CommandError("schema", f"'{self.name}' needs the argument '{name}'")
            elif arg.default is not None:
                clean[name] = arg.default
        return clean


ALL_PHASES = frozenset(PHASES)
IN_TALK = frozenset({"consulting", "wrap_up"})
COUNSELLOR = frozenset({"counsellor"})
CLIENT = frozenset({"kiosk"})
BOTH = frozenset({"counsellor", "kiosk"})
MEDIA = frozenset({"media"})
ADMIN = frozenset({"admin"})
STAFF = frozenset({"counsellor", "admin"})
NOTE_ID = Arg(integer(1, 2**53))


def _spec(name: str, roles: frozenset[str], phases: frozenset[str] | set[str], doc: str, /,
          **args: Arg) -> Spec:
    return Spec(name, roles, frozenset(phases), args, doc)


COMMANDS: dict[str, Spec] = {s.name: s for s in [
    _spec("ping", frozenset(ROLES), ALL_PHASES, "Answer with the current sequence number."),
    _spec("checkin", CLIENT, {"idle"}, "The client checks in: appointment code, or walk-in.",
          code=Arg(appointment_code, default=None), walk_in=Arg(boolean, default=False)),
    _spec("kiosk.reset", CLIENT, {"idle", "wrap_up", "survey"},
          "Nobody touched the screen: wipe it and return to the welcome screen."),
    _spec("consent.request", COUNSELLOR, {"consulting"},
          "Ask the client whether a partner may join by video.",
          name=Arg(text(120)), agency=Arg(text(120)), role=Arg(text(120, min_len=0), default=""),
          purpose=Arg(text(300)), agency_type=Arg(choice("", *AGENCY_TYPES), default="")),
    _spec("consent.answer", CLIENT, {"consulting"}, "The client's yes or no to a partner.",
          partner=NOTE_ID, yes=Arg(boolean), version=Arg(text(80))),
    _spec("consent.withdraw", CLIENT, {"consulting", "wrap_up"},
          "The client takes back a consent given.", partner=NOTE_ID, version=Arg(text(80))),
    _spec("partner.remove", COUNSELLOR, IN_TALK, "Take a partner out of the talk (hang up).",
          partner=NOTE_ID),
    _spec("partner.invite", COUNSELLOR, {"consulting"},
          "Invite a partner by a one-call link; the client is asked to consent.",
          agency=Arg(text(120)), name=Arg(text(120, min_len=0), default=""),
          role=Arg(text(120, min_len=0), default=""),
          purpose=Arg(text(300, min_len=0), default=""),
          minutes=Arg(integer(1, 240), default=30),
          agency_type=Arg(choice("", *AGENCY_TYPES), default=""),
          admitted=Arg(boolean, default=False),
          email=Arg(email_address, default=None)),
    _spec("partner.mute", COUNSELLOR, IN_TALK, "Mute (on) or unmute a partner: their sound "
          "reaches neither the room nor the others.", partner=NOTE_ID, on=Arg(boolean)),
    _spec("partner.mailed", ADMIN, IN_TALK, "Whether a partner's join link left by mail "
          "(the room's mailer reports).", partner=NOTE_ID, ok=Arg(boolean)),
    _spec("partner.admit", COUNSELLOR, IN_TALK, "Let a waiting partner into the talk.",
          partner=NOTE_ID),
    _spec("invite.revoke", COUNSELLOR, IN_TALK, "Withdraw a partner's link.", partner=NOTE_ID),
    _spec("invite.claim", MEDIA, IN_TALK, "A partner's page presents its link's token.",
          token=Arg(text(200))),
    _spec("partner.quality", MEDIA, IN_TALK, "The media engine reports connection quality.",
          partner=NOTE_ID, rtt_ms=Arg(integer(0, 600_000)), loss_pct=Arg(integer(0, 100)),
          kbps=Arg(integer(0, 10_000_000)), fps=Arg(integer(0, 1000))),
    _spec("partner.state", MEDIA, IN_TALK, "The media engine reports a partner's connection.",
          partner=NOTE_ID, state=Arg(choice("lobby", "connected", "reconnecting", "gone"))),
    _spec("language.set", BOTH, ALL_PHASES, "Set the client's language.",
          language=Arg(language)),
    _spec("session.start", COUNSELLOR, {"idle", "welcome"}, "Start the appointment."),
    _spec("session.end", COUNSELLOR, {"consulting"}, "End the talk; the client sees the summary."),
    _spec("session.outcome", COUNSELLOR, IN_TALK,
          "Record whether the matter was settled in this appointment, or who follows up.",
          outcome=Arg(choice(*OUTCOMES)), follow_up=Arg(text(120, min_len=0), default="")),
    _spec("session.topics", COUNSELLOR, IN_TALK, "Set the topics of the talk (all at once).",
          topics=Arg(topic_list)),
    _spec("summary.mail", CLIENT, {"wrap_up"}, "Mail the summary (PDF) to the address the "
          "client typed; the address is used once and never kept.", email=Arg(email_address)),
    _spec("summary.mailed", ADMIN, {"wrap_up", "survey"}, "Whether the summary mail left "
          "(the room's mailer reports).", ok=Arg(boolean)),
    _spec("room.reset", COUNSELLOR, ALL_PHASES - {"idle"},
          "Close whatever runs and return the room to idle."),
    _spec("note.add", COUNSELLOR, IN_TALK, "Write a note, visible to the client or internal.",
          text=Arg(text(4000)), visible=Arg(boolean, default=False)),
    _spec("note.draft", COUNSELLOR, IN_TALK, "The visible note being typed, shown to the "
          "client as it is typed (not stored; an empty text clears it).",
          text=Arg(text(4000, min_len=0))),
    _spec("note.update", COUNSELLOR, IN_TALK, "Change a note's text or visibility.",
          id=NOTE_ID, text=Arg(text(4000), default=None), visible=Arg(boolean, default=None)),
    _spec("note.delete", COUNSELLOR, IN_TALK, "Remove a note.", id=NOTE_ID),
    _spec("step.add", COUNSELLOR, IN_TALK, "Agree a next step.",
          what=Arg(text(500)), who=Arg(text(120), default="client"),
          due=Arg(iso_date, default="")),
    _spec("step.delete", COUNSELLOR, IN_TALK, "Remove a next step.", id=NOTE_ID),
    _spec("privacy.set", BOTH, {"welcome", "consulting", "wrap_up"},
          "Pause (on) or resume (off) all video.", on=Arg(boolean)),
    _spec("room.camera", COUNSELLOR, ALL_PHASES, "Switch the room camera on or off.",
          on=Arg(boolean)),
    _spec("room.mic", COUNSELLOR, ALL_PHASES, "Mute (off) or unmute (on) the room microphone.",
          on=Arg(boolean)),
    _spec("survey.begin", BOTH, {"wrap_up"}, "Move from the summary to the survey."),
    _spec("survey.submit", CLIENT, {"survey"}, "Answer the anonymous survey.",
          satisfaction=Arg(integer(1, 5)), ease=Arg(integer(1, 5)),
          recommend=Arg(integer(0, 10))),
    _spec("survey.skip", CLIENT, {"wrap_up", "survey"}, "Leave without answering the survey."),
    _spec("device.heartbeat", frozenset(ROLES), ALL_PHASES,
          "A device agent or view is alive; with what it measures.",
          device=Arg(device_id), kind=Arg(choice(*DEVICE_KINDS)),
          label=Arg(text(120, min_len=0), default=""), fps=Arg(integer(0, 1000), default=None),
          display=Arg(boolean, default=None), browser=Arg(text(120, min_len=0), default=""),
          detail=Arg(text(300, min_len=0), default="")),
    _spec("device.forget", ADMIN, ALL_PHASES, "Take a device off the room's list.",
          device=Arg(device_id)),
    _spec("pairing.start", ADMIN, ALL_PHASES,
          "Show a pairing code for a tablet on the second display (five minutes)."),
    _spec("pairing.cancel", ADMIN, ALL_PHASES, "Take the pairing code off the display."),
    _spec("pairing.claim", ADMIN, ALL_PHASES,
          "A tablet presents the pairing code (sent by /control/pair).",
          code=Arg(text(32)), name=Arg(text(60), default="Tablet")),
    _spec("tablet.revoke", ADMIN, ALL_PHASES, "Unpair a tablet: its credential stops working.",
          tablet=NOTE_ID),
    _spec("tablet.verify", frozenset({"counsellor", "admin"}), ALL_PHASES,
          "Which paired tablet a credential belongs to.", token=Arg(text(200))),
    _spec("staff.add", ADMIN, ALL_PHASES, "A staff account (its password is kept as a hash).",
          name=Arg(account_name), role=Arg(choice(*STAFF_ROLES)),
          password=Arg(password(MIN_PASSWORD))),
    _spec("staff.remove", ADMIN, ALL_PHASES, "Delete a staff account and end its sign-ins.",
          name=Arg(account_name)),
    _spec("staff.password", ADMIN, ALL_PHASES, "Set an account's password; its sign-ins end.",
          name=Arg(account_name), password=Arg(password(MIN_PASSWORD))),
    _spec("staff.list", ADMIN, ALL_PHASES, "The staff accounts: names and roles."),
    _spec("staff.signin", STAFF, ALL_PHASES, "Check a name and password; open a sign-in.",
          name=Arg(text(40)), password=Arg(password(1))),
    _spec("staff.verify", STAFF, ALL_PHASES, "Whose sign-in a token is.", token=Arg(text(200))),
    _spec("staff.signout", STAFF, ALL_PHASES, "End a sign-in.", token=Arg(text(200))),
    _spec("appointment.create", STAFF, ALL_PHASES,
          "Book a remote appointment; the client gets a personal link by mail.",
          at=Arg(iso_datetime), minutes=Arg(integer(5, 240), default=30),
          email=Arg(email_address), language=Arg(language, default="de"),
          label=Arg(text(60, min_len=0), default="")),
    _spec("appointment.cancel", STAFF, ALL_PHASES, "Cancel a remote appointment: its link "
          "stops working.", id=NOTE_ID),
    _spec("appointment.mailed", ADMIN, ALL_PHASES, "Whether the invitation left (the room's "
          "mailer reports).", id=NOTE_ID, ok=Arg(boolean),
          detail=Arg(text(300, min_len=0), default="")),
    _spec("appointment.optout", ADMIN, ALL_PHASES, "The client asks for a phone call or a "
          "talk in person instead (sent by the opt-out page).", token=Arg(text(200)),
          choice=Arg(choice("phone", "in_person")), note=Arg(text(200, min_len=0), default="")),
    _spec("visit.check", STAFF, ALL_PHASES, "Which appointment a visit link opens now.",
          token=Arg(text(200))),
    _spec("visit.wait", ADMIN, ALL_PHASES, "The remote client's page asks where it stands; "
          "until admitted, the client waits (sent by the visit page).", token=Arg(text(200))),
    _spec("visit.admit", COUNSELLOR, {"idle", "consulting"},
          "Let the waiting client of a remote appointment into the talk.", id=NOTE_ID),
    _spec("visit.claim", MEDIA, IN_TALK, "The admitted client's page presents its link for "
          "the video connection.", token=Arg(text(200))),
    _spec("visit.survey", ADMIN, ALL_PHASES, "The remote client's anonymous survey answer "
          "(sent by the visit page).", token=Arg(text(200)),
          satisfaction=Arg(integer(1, 5)), ease=Arg(integer(1, 5)),
          recommend=Arg(integer(0, 10))),
    _spec("retention.purge", ADMIN, ALL_PHASES,
          "Erase what the retention policy no longer keeps (never the running session)."),
]}


def check_spec(table: dict[str, Spec], roles: Iterable[str], name: str, role: str,
               args: dict[str, Any], what: str = "command") -> tuple[Spec, dict[str, Any]]:
    """Find ``name`` in a bus's command table, check the sender's role and the arguments;
    its spec and clean arguments, or CommandError (shared by the room and the site)."""
    spec = table.get(name)
    if spec is None:
        raise CommandError("schema", f"unknown {what} '{name}'")
    if role not in roles:
        raise CommandError("schema", f"unknown role '{role}' (known: {', '.join(roles)})")
    if role not in spec.roles:
        raise CommandError("role", f"the {role} may not send '{name}'")
    return spec, spec.validate(args)


def check(name: str, role: str, phase: str, args: dict[str, Any]) -> tuple[Spec, dict[str, Any]]:
    """Validate one command; return its spec and clean arguments or raise CommandError."""
    spec, clean = check_spec(COMMANDS, ROLES, name, role, args)
    if phase not in spec.phases:
        allowed = ", ".join(p for p in PHASES if p in spec.phases)
        raise CommandError(
            "phase", f"'{name}' is not allowed while the room is {phase} (allowed: {allowed})")
    return spec, clean
