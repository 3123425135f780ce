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

from kiosk import i18n
from kiosk.exceptions import CommandError
from kiosk.room.agencies import OUTCOMES, TOPICS
from kiosk.room.state import PHASES, ROLES

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


def spec(name: str, roles: frozenset[str], phases: frozenset[str] | set[str], doc: str, /,
          **args: Arg) -> Spec:
    return Spec(name, roles, frozenset(phases), args, doc)


#: The core's own commands; each feature brings its own (kiosk/room/feature.py).
CORE: tuple[Spec, ...] = (
    spec("ping", frozenset(ROLES), ALL_PHASES, "Answer with the current sequence number."),
    spec("checkin", CLIENT, {"idle"}, "The client checks in: appointment code, or walk-in.",
          code=Arg(appointment_code, default=None), walk_in=Arg(boolean, default=False)),
    spec("kiosk.reset", CLIENT, {"idle", "wrap_up", "survey"},
          "Nobody touched the screen: wipe it and return to the welcome screen."),
    spec("language.set", BOTH, ALL_PHASES, "Set the client's language.",
          language=Arg(language)),
    spec("session.start", COUNSELLOR, {"idle", "welcome"}, "Start the appointment."),
    spec("session.end", COUNSELLOR, {"consulting"}, "End the talk; the client sees the summary."),
    spec("session.outcome", COUNSELLOR, IN_TALK,
          "Record whether the matter was settled in this appointment, or who follows up.",
          outcome=Arg(choice(*OUTCOMES)), follow_up=Arg(text(120, min_len=0), default="")),
    spec("session.topics", COUNSELLOR, IN_TALK, "Set the topics of the talk (all at once).",
          topics=Arg(topic_list)),
    spec("room.reset", COUNSELLOR, ALL_PHASES - {"idle"},
          "Close whatever runs and return the room to idle."),
    spec("note.add", COUNSELLOR, IN_TALK, "Write a note, visible to the client or internal.",
          text=Arg(text(4000)), visible=Arg(boolean, default=False)),
    spec("note.draft", COUNSELLOR, IN_TALK, "The visible note being typed, shown to the "
          "client as it is typed (not stored; an empty text clears it).",
          text=Arg(text(4000, min_len=0))),
    spec("note.update", COUNSELLOR, IN_TALK, "Change a note's text or visibility.",
          id=NOTE_ID, text=Arg(text(4000), default=None), visible=Arg(boolean, default=None)),
    spec("note.delete", COUNSELLOR, IN_TALK, "Remove a note.", id=NOTE_ID),
    spec("step.add", COUNSELLOR, IN_TALK, "Agree a next step.",
          what=Arg(text(500)), who=Arg(text(120), default="client"),
          due=Arg(iso_date, default="")),
    spec("step.delete", COUNSELLOR, IN_TALK, "Remove a next step.", id=NOTE_ID),
    spec("privacy.set", BOTH, {"welcome", "consulting", "wrap_up"},
          "Pause (on) or resume (off) all video.", on=Arg(boolean)),
    spec("room.camera", COUNSELLOR, ALL_PHASES, "Switch the room camera on or off.",
          on=Arg(boolean)),
    spec("room.mic", COUNSELLOR, ALL_PHASES, "Mute (off) or unmute (on) the room microphone.",
          on=Arg(boolean)),
    spec("survey.begin", BOTH, {"wrap_up"}, "Move from the summary to the survey."),
    spec("survey.submit", CLIENT, {"survey"}, "Answer the anonymous survey.",
          satisfaction=Arg(integer(1, 5)), ease=Arg(integer(1, 5)),
          recommend=Arg(integer(0, 10))),
    spec("survey.skip", CLIENT, {"wrap_up", "survey"}, "Leave without answering the survey."),
    spec("retention.purge", ADMIN, ALL_PHASES,
          "Erase what the retention policy no longer keeps (never the running session)."),
)


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


def table(*groups: Iterable[Spec]) -> dict[str, Spec]:
    """One command table from the core's specs and each feature's; a name twice is an error
    of the room's assembly, not of a command."""
    out: dict[str, Spec] = {}
    for group in groups:
        for one in group:
            if one.name in out:
                raise ValueError(f"the command '{one.name}' is declared twice")
            out[one.name] = one
    return out


CORE_COMMANDS = table(CORE)


def check(name: str, role: str, phase: str, args: dict[str, Any],
          commands: dict[str, Spec] = CORE_COMMANDS) -> tuple[Spec, dict[str, Any]]:
    """Validate one command against a room's table (by default the core's); return its spec
    and clean arguments or raise CommandError."""
    found, clean = check_spec(commands, ROLES, name, role, args)
    if phase not in found.phases:
        allowed = ", ".join(p for p in PHASES if p in found.phases)
        raise CommandError(
            "phase", f"'{name}' is not allowed while the room is {phase} (allowed: {allowed})")
    return found, clean
