"""The room's state as a param model, with no Panel import.

The controller owns the one writable copy; every other process holds a mirror
fed by bus updates. Updates are keyed ``room/<id>/<field>[/<item>]``; this
module knows how to fold them into the model.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import param
from param.parameterized import batch_call_watchers

PHASES = ("idle", "welcome", "consulting", "wrap_up", "survey")
ROLES = ("counsellor", "kiosk", "display", "media", "admin")
DEFAULT_LANGUAGE = "de"


@dataclass(frozen=True)
class Note:
    """One entry of the shared notes; only visible ones reach the client."""

    id: int
    text: str
    visible: bool = False

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Note:
        return cls(id=int(obj["id"]), text=str(obj["text"]), visible=bool(obj["visible"]))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "visible": self.visible}


@dataclass(frozen=True)
class Step:
    """An agreed next step: what, who does it, and by when (ISO date or "")."""

    id: int
    what: str
    who: str = "client"
    due: str = ""

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Step:
        return cls(id=int(obj["id"]), what=str(obj["what"]), who=str(obj["who"]),
                   due=str(obj.get("due") or ""))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "what": self.what, "who": self.who, "due": self.due}


CONSENT = ("pending", "granted", "declined", "withdrawn")
#: Where a partner's connection stands: invited (link sent), lobby (connected and
#: waiting), connected (media may flow once admitted and consented), reconnecting, gone.
PARTNER_STATES = ("invited", "lobby", "connected", "reconnecting", "gone")


@dataclass(frozen=True)
class Partner:
    """An agency's expert asked into the talk, and where the client's consent stands."""

    id: int
    name: str
    agency: str
    role: str = ""
    purpose: str = ""
    consent: str = "pending"
    admitted: bool = False
    state: str = "invited"
    agency_type: str = ""
    kind: str = "partner"  # or "client": the client of a remote appointment, from home
    muted: bool = False  # by the counsellor: their sound reaches nobody
    link_mail: str = ""  # their join link by mail: "", sending, sent or failed

    @property
    def is_client(self) -> bool:
        return self.kind == "client"

    @property
    def media_allowed(self) -> bool:
        """Consent given and admitted by the counsellor (a privacy pause still stops it)."""
        return self.consent == "granted" and self.admitted and self.state != "gone"

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Partner:
        return cls(id=int(obj["id"]), name=str(obj["name"]), agency=str(obj["agency"]),
                   role=str(obj.get("role") or ""), purpose=str(obj.get("purpose") or ""),
                   consent=str(obj.get("consent") or "pending"),
                   admitted=bool(obj.get("admitted")), state=str(obj.get("state") or "invited"),
                   agency_type=str(obj.get("agency_type") or ""),
                   kind=str(obj.get("kind") or "partner"), muted=bool(obj.get("muted")),
                   link_mail=str(obj.get("link_mail") or ""))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "agency": self.agency, "role": self.role,
                "purpose": self.purpose, "consent": self.consent, "admitted": self.admitted,
                "state": self.state, "agency_type": self.agency_type, "kind": self.kind,
                "muted": self.muted, "link_mail": self.link_mail}


#: Kinds of device that report health: the two kiosk browsers, tablets, the
#: room camera (from the media engine) and device agents on the room PC.
DEVICE_KINDS = ("touch", "display", "tablet", "camera", "agent")
#: A camera slower than this (frames per second) raises an alert.
MIN_CAMERA_FPS = 5


@dataclass(frozen=True)
class Device:
    """A room device as its last heartbeat described it."""

    id: str
    kind: str
    label: str = ""
    online: bool = False
    last_seen: str = ""
    fps: int | None = None
    display: bool | None = None
    browser: str = ""
    detail: str = ""

    @property
    def alert(self) -> str | None:
        """What is wrong with it: offline, no_frames, no_display, or None."""
        if not self.online:
            return "offline"
        if self.kind == "camera" and self.fps is not None and self.fps < MIN_CAMERA_FPS:
            return "no_frames"
        if self.display is False:
            return "no_display"
        return None

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Device:
        fps, display = obj.get("fps"), obj.get("display")
        return cls(id=str(obj["id"]), kind=str(obj["kind"]), label=str(obj.get("label") or ""),
                   online=bool(obj.get("online")), last_seen=str(obj.get("last_seen") or ""),
                   fps=None if fps is None else int(fps),
                   display=None if display is None else bool(display),
                   browser=str(obj.get("browser") or ""), detail=str(obj.get("detail") or ""))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, "online": self.online,
                "last_seen": self.last_seen, "fps": self.fps, "display": self.display,
                "browser": self.browser, "detail": self.detail}


@dataclass(frozen=True)
class Tablet:
    """A paired control tablet (its credential never leaves the controller)."""

    id: int
    name: str
    paired_at: str = ""

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Tablet:
        return cls(id=int(obj["id"]), name=str(obj["name"]),
                   paired_at=str(obj.get("paired_at") or ""))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "paired_at": self.paired_at}


@dataclass(frozen=True)
class Appointment:
    """A remote appointment: the client joins from home by a personal link.

    Neither the link's token nor the client's mail address is ever part of the state.
    """

    id: int
    starts_at: str
    minutes: int
    language: str = DEFAULT_LANGUAGE
    label: str = ""
    status: str = "scheduled"
    mail: str = "pending"
    mail_detail: str = ""
    optout: str = ""
    optout_note: str = ""

    @property
    def ends_at(self) -> str:
        start = dt.datetime.fromisoformat(self.starts_at)
        return (start + dt.timedelta(minutes=self.minutes)).isoformat(timespec="seconds")

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Appointment:
        return cls(id=int(obj["id"]), starts_at=str(obj["starts_at"]),
                   minutes=int(obj["minutes"]), language=str(obj.get("language") or
                                                            DEFAULT_LANGUAGE),
                   label=str(obj.get("label") or ""), status=str(obj.get("status") or
                                                                 "scheduled"),
                   mail=str(obj.get("mail") or "pending"),
                   mail_detail=str(obj.get("mail_detail") or ""),
                   optout=str(obj.get("optout") or ""),
                   optout_note=str(obj.get("optout_note") or ""))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: Above these, /control warns that a partner's connection is poor.
POOR = {"rtt_ms": 400, "loss_pct": 5, "fps_below": 10}


def is_poor(quality: dict[str, int]) -> bool:
    """Whether measured connection quality (rtt_ms, loss_pct, fps) is too weak."""
    return (quality.get("rtt_ms", 0) > POOR["rtt_ms"]
            or quality.get("loss_pct", 0) > POOR["loss_pct"]
            or quality.get("fps", 99) < POOR["fps_below"])


def room_key(room_id: str, *parts: object) -> str:
    """The bus key of one piece of a room's state, e.g. ``room/r1/notes/3``."""
    return "/".join(["room", room_id, *(str(p) for p in parts)])


#: Keyed lists: bus key segment -> (state field, item type).
LISTS = {"notes": ("notes", Note), "steps": ("next_steps", Step),
         "partners": ("partners", Partner), "tablets": ("tablets", Tablet),
         "appointments": ("appointments", Appointment)}


class RoomState(param.Parameterized):
    """Everything the room's screens show, as the controller last published it."""

    room_id = param.String(default="", doc="Identifier of the room, part of every bus key.")
    room_name = param.String(default="", doc="Name shown on the screens.")
    phase = param.Selector(objects=list(PHASES), default="idle", doc="Where the appointment is.")
    session_id = param.String(default=None, allow_None=True, doc="Running session, if any.")
    session_started = param.String(default=None, allow_None=True, doc="ISO time it started.")
    language = param.String(default=DEFAULT_LANGUAGE, doc="The client's language code.")
    privacy = param.Boolean(default=False, doc="Privacy pause: all video stops while on.")
    camera_on = param.Boolean(default=True, doc="The room camera sends (counsellor's switch).")
    mic_on = param.Boolean(default=True, doc="The room microphone sends (counsellor's switch).")
    notes = param.List(default=[], item_type=Note, doc="Shared notes, oldest first.")
    next_steps = param.List(default=[], item_type=Step, doc="Agreed next steps, oldest first.")
    partners = param.List(default=[], item_type=Partner, doc="Partners asked into the talk.")
    quality = param.Dict(default={}, doc="Per partner id: rtt_ms, loss_pct, kbps, fps.")
    screens = param.Dict(default={}, doc="Per partner id sharing a screen: {'since': iso time}.")
    outcome = param.Dict(default=None, allow_None=True,
                         doc="The talk's outcome: {'outcome': settled|follow_up, 'follow_up'}.")
    draft = param.String(default="", doc="The visible note the counsellor is typing right "
                         "now (shown to the client as it is typed; never stored).")
    topics = param.List(default=[], item_type=str,
                        doc="Topics of the talk (names from kiosk.room.agencies.TOPICS), in order.")
    summary_mail = param.Dict(default=None, allow_None=True,
                              doc="Where the client's summary mail stands: {'status': "
                                  "sending|sent|failed} (never the address).")
    arrival = param.Dict(default=None, allow_None=True,
                         doc="How the client checked in: {'code': ...} or {'walk_in': True}.")
    devices = param.Dict(default={}, doc="Per device id: its Device (health).")
    tablets = param.List(default=[], item_type=Tablet, doc="Paired control tablets.")
    appointments = param.List(default=[], item_type=Appointment,
                              doc="Remote appointments not yet over, soonest first by id.")
    pairing = param.Dict(default=None, allow_None=True,
                         doc="The pairing code on offer: {'code', 'expires'}, or None.")
    seq = param.Integer(default=0, doc="Bus sequence number of the last applied update.")
    synced = param.Boolean(default=False, doc="True while the mirror follows a live controller.")

    @property
    def visible_notes(self) -> list[Note]:
        return [n for n in self.notes if n.visible]

    @property
    def alerts(self) -> list[Device]:
        """Devices with something wrong, in a stable order."""
        return [d for _, d in sorted(self.devices.items()) if d.alert]

    @property
    def notes_on_screen(self) -> list[Note]:
        """What the client's screens show: the visible notes, then the one being typed."""
        draft = [Note(0, self.draft, True)] if self.draft else []
        return self.visible_notes + draft

    @property
    def remote_client(self) -> Partner | None:
        """The client of a remote appointment, when they take part from home."""
        return next((p for p in self.partners if p.is_client and p.state != "gone"), None)

    @property
    def waiting(self) -> list[Appointment]:
        """Remote clients in the waiting room, first come first."""
        return [a for a in self.appointments if a.status == "waiting"]

    @property
    def pending_consent(self) -> Partner | None:
        """The first partner waiting for the client's answer, if any (not one who left)."""
        return next((p for p in self.partners if p.consent == "pending" and p.state != "gone"),
                    None)

    def to_updates(self) -> dict[str, Any]:
        """The state as bus keys and values (what a snapshot carries)."""
        rid = self.room_id
        out: dict[str, Any] = {
            room_key(rid, "info"): {"name": self.room_name},
            room_key(rid, "phase"): self.phase,
            room_key(rid, "language"): self.language,
            room_key(rid, "privacy"): self.privacy,
            room_key(rid, "camera"): self.camera_on,
            room_key(rid, "mic"): self.mic_on,
        }
        if self.session_id:
            out[room_key(rid, "session")] = {"id": self.session_id, "started": self.session_started}
        if self.arrival:
            out[room_key(rid, "arrival")] = self.arrival
        if self.outcome:
            out[room_key(rid, "outcome")] = self.outcome
        if self.draft:
            out[room_key(rid, "draft")] = self.draft
        if self.topics:
            out[room_key(rid, "topics")] = list(self.topics)
        if self.summary_mail:
            out[room_key(rid, "summary_mail")] = self.summary_mail
        for note in self.notes:
            out[room_key(rid, "notes", note.id)] = note.to_dict()
        for step in self.next_steps:
            out[room_key(rid, "steps", step.id)] = step.to_dict()
        for partner in self.partners:
            out[room_key(rid, "partners", partner.id)] = partner.to_dict()
        for partner_id, measured in self.quality.items():
            out[room_key(rid, "quality", partner_id)] = measured
        for partner_id, screen in self.screens.items():
            out[room_key(rid, "screens", partner_id)] = screen
        for device_id, device in self.devices.items():
            out[room_key(rid, "devices", device_id)] = device.to_dict()
        for tablet in self.tablets:
            out[room_key(rid, "tablets", tablet.id)] = tablet.to_dict()
        for appointment in self.appointments:
            out[room_key(rid, "appointments", appointment.id)] = appointment.to_dict()
        if self.pairing:
            out[room_key(rid, "pairing")] = self.pairing
        return out

    def apply(self, items: Iterable[tuple[str, Any]], *, replace: bool = False,
              seq: int | None = None) -> None:
        """Fold keyed updates into the model in one batch; ``replace`` starts from defaults."""
        values: dict[str, Any] = {}
        lists: dict[str, dict[int, Any]] = {}
        if replace:
            values.update(session_id=None, session_started=None, language=DEFAULT_LANGUAGE,
                          privacy=False, phase="idle", arrival=None, outcome=None,
                          topics=[], summary_mail=None, draft="",
                          camera_on=True, mic_on=True, quality={}, screens={}, devices={},
                          pairing=None)
            lists = {"notes": {}, "next_steps": {}, "partners": {}, "tablets": {},
                     "appointments": {}}
        for key, value in items:
            self._fold(values, lists, key, value)
        for name, by_id in lists.items():
            values[name] = [by_id[i] for i in sorted(by_id)]
        if seq is not None:
            values["seq"] = seq
        changed = {name: value for name, value in values.items()
                   if name in lists or getattr(self, name) != value}
        if len(changed) == 1:
            setattr(self, *changed.popitem())
            return
        with batch_call_watchers(self):  # watchers see one consistent change
            for name, value in changed.items():
                setattr(self, name, value)

    def _fold(self, values: dict[str, Any], lists: dict[str, dict[int, Any]], key: str,
              value: Any) -> None:
        parts = key.split("/")
        if len(parts) < 3 or parts[0] != "room":
            return
        room_id, field = parts[1], parts[2]
        if self.room_id:
            if room_id != self.room_id:
                return
        else:
            values["room_id"] = room_id
        if field == "info":
            values["room_name"] = (value or {}).get("name", "")
        elif field == "phase":
            values["phase"] = value if value in PHASES else "idle"
        elif field == "language":
            values["language"] = value or DEFAULT_LANGUAGE
        elif field == "privacy":
            values["privacy"] = bool(value)
        elif field == "camera":
            values["camera_on"] = bool(value)
        elif field == "mic":
            values["mic_on"] = bool(value)
        elif field == "session":
            values["session_id"] = value["id"] if value else None
            values["session_started"] = value.get("started") if value else None
        elif field == "arrival":
            values["arrival"] = value or None
        elif field == "outcome":
            values["outcome"] = value or None
        elif field == "draft":
            values["draft"] = str(value or "")
        elif field == "topics":
            values["topics"] = [str(x) for x in value or []]
        elif field == "summary_mail":
            values["summary_mail"] = value or None
        elif field in ("quality", "screens") and len(parts) == 4:
            by_partner = dict(values.get(field, getattr(self, field)))
            if value is None:
                by_partner.pop(int(parts[3]), None)
            else:
                by_partner[int(parts[3])] = value
            values[field] = by_partner
        elif field == "devices" and len(parts) == 4:
            devices = dict(values.get("devices", self.devices))
            if value is None:
                devices.pop(parts[3], None)
            else:
                devices[parts[3]] = Device.from_dict(value)
            values["devices"] = devices
        elif field == "pairing":
            values["pairing"] = value or None
        elif field in LISTS and len(parts) == 4:
            name, kind = LISTS[field]
            if name not in lists:
                lists[name] = {item.id: item for item in getattr(self, name)}
            item_id = int(parts[3])
            if value is None:
                lists[name].pop(item_id, None)
            else:
                lists[name][item_id] = kind.from_dict(value)
