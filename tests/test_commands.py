"""Every command in every phase, from every role: accepted, or refused with no change."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from kiosk.app.features import COMMANDS, RoomController
from kiosk.room.messages import Command
from kiosk.room.state import PHASES, ROLES
from kiosk.room.store import Store

#: An appointment whose link is open while the tests run.
#: Stands for "in five minutes" (an appointment whose link is already open), taken when
#: the command is sent: a time taken at import lies in the past on a slow run.
SOON = "<in five minutes>"


def timed(args: dict) -> dict:
    """``args`` with SOON as a time five minutes from now."""
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat(timespec="seconds")
    return {k: soon if v == SOON else v for k, v in args.items()}
VALID_ARGS = {
    "ping": {}, "checkin": {"code": "A-17"}, "language.set": {"language": "ar"},
    "session.start": {}, "session.end": {}, "room.reset": {},
    "note.add": {"text": "Antrag stellen", "visible": True},
    "note.draft": {"text": "Antrag wird gest"},
    "note.update": {"id": 1, "visible": False}, "note.delete": {"id": 1},
    "step.add": {"what": "Unterlagen mitbringen", "who": "client", "due": "2026-12-01"},
    "step.delete": {"id": 1}, "privacy.set": {"on": True}, "survey.begin": {},
    "survey.submit": {"satisfaction": 5, "ease": 4, "recommend": 9}, "survey.skip": {},
    "kiosk.reset": {},
    "room.camera": {"on": False},
    "room.mic": {"on": False},
    "consent.request": {"name": "Frau Demir", "agency": "Ausländerbehörde",
                        "role": "Sachbearbeitung", "purpose": "Arbeitserlaubnis klären"},
    "consent.answer": {"partner": 1, "yes": True, "version": "de:abc123"},
    "consent.withdraw": {"partner": 2, "version": "de:abc123"},
    "partner.remove": {"partner": 1},
    "partner.invite": {"agency": "Jobcenter", "name": "Herr Kaya"},
    "partner.admit": {"partner": 3},
    "partner.mute": {"partner": 3, "on": True},
    "partner.mailed": {"partner": 4, "ok": True},
    "partner.state": {"partner": 3, "state": "connected"},
    "partner.quality": {"partner": 3, "rtt_ms": 12, "loss_pct": 0, "kbps": 800, "fps": 30},
    "partner.screen": {"partner": 3, "on": True}, "screen.stop": {"partner": 3},
    "invite.revoke": {"partner": 4},
    "invite.claim": {"token": "set by room_in"}, "invite.check": {"token": "set by room_in"},
    "device.heartbeat": {"device": "touch", "kind": "touch", "browser": "Chromium 140"},
    "device.forget": {"device": "camera"},
    "pairing.start": {}, "pairing.cancel": {},
    "pairing.claim": {"code": "set by room_in", "name": "Tablet Raum 1"},
    "tablet.revoke": {"tablet": 1},
    "tablet.verify": {"token": "set by room_in"},
    "session.outcome": {"outcome": "follow_up", "follow_up": "Jobcenter"},
    "session.topics": {"topics": ["Arbeit", "Rente"]},
    "summary.mail": {"email": "klientin@example.org"},
    "summary.mailed": {"ok": True},
    "retention.purge": {},
    "staff.add": {"name": "herr-neu", "role": "evaluator", "password": "ein langes Passwort"},
    "staff.remove": {"name": "frau-berg"},
    "staff.password": {"name": "frau-berg", "password": "noch ein Passwort"},
    "staff.list": {},
    "staff.signin": {"name": "frau-berg", "password": "ihr Passwort 1"},
    "staff.directory": {"name": "anna.berger", "role": "counsellor"},
    "staff.verify": {"token": "set by room_in"},
    "staff.signout": {"token": "set by room_in"},
    "appointment.create": {"at": SOON, "email": "a@example.org"},
    "appointment.cancel": {"id": 1},
    "appointment.mailed": {"id": 1, "ok": True},
    "appointment.optout": {"token": "set by room_in", "choice": "phone"},
    "visit.check": {"token": "set by room_in"},
    "visit.wait": {"token": "set by room_in"},
    "visit.admit": {"id": 1},
    "visit.claim": {"token": "set by room_in"},
    "visit.survey": {"token": "set by room_in", "satisfaction": 4, "ease": 5, "recommend": 8},
}
#: Set by room_in from earlier replies: a pairing code on offer, a tablet's credential.
LATER = {"invite.claim": ("token", "test_token"), "invite.check": ("token", "test_token"),
         "pairing.claim": ("code", "test_code"),
         "tablet.verify": ("token", "test_credential"), "staff.verify": ("token", "test_signin"),
         "staff.signout": ("token", "test_signin"), "appointment.optout": ("token", "test_optout"),
         "visit.check": ("token", "test_visit"), "visit.wait": ("token", "test_visit"),
         "visit.claim": ("token", "test_visit"), "visit.survey": ("token", "test_visit")}
#: Accepted without publishing: nothing the screens show changes.
READ_ONLY = {"ping", "tablet.verify", "retention.purge", "staff.add", "staff.remove",
             "staff.password", "staff.list", "staff.signin", "staff.directory", "staff.verify",
             "staff.signout", "visit.check", "visit.wait", "invite.check"}
#: Allowed, but in this table's rooms refused for the state they find: nobody has been
#: admitted for the link to be claimed, nor talked for a survey (tests/test_visit.py), nor
#: shares a screen to be stopped (tests/test_call_ends.py).
NEEDS_A_TALK = {"visit.claim", "visit.survey", "screen.stop"}

PARTNER = {"name": "Herr Kaya", "agency": "Jobcenter", "purpose": "Bürgergeld"}
IN_SESSION = [("session.start", "counsellor", {}),
              ("note.add", "counsellor", VALID_ARGS["note.add"]),
              ("step.add", "counsellor", VALID_ARGS["step.add"]),
              ("consent.request", "counsellor", PARTNER),  # partner 1: pending
              ("consent.request", "counsellor", PARTNER),  # partner 2: granted
              ("consent.answer", "kiosk", {"partner": 2, "yes": True, "version": "de:x"}),
              ("partner.invite", "counsellor", {"agency": "Rentenversicherung"}),  # 3: lobby
              ("invite.claim", "media", {}),
              ("partner.invite", "counsellor", {"agency": "IHK"})]  # 4: link unused
#: In every phase: a camera reports, tablet 1 is paired, and a fresh code is on offer.
DEVICES = [("device.heartbeat", "media", {"device": "camera", "kind": "camera", "fps": 30}),
           ("pairing.start", "admin", {}), ("pairing.claim", "admin", {}),
           ("pairing.start", "admin", {}),
           ("staff.add", "admin", {"name": "frau-berg", "role": "counsellor",
                                   "password": "ihr Passwort 1"}),
           ("staff.signin", "admin", {"name": "frau-berg", "password": "ihr Passwort 1"}),
           ("appointment.create", "counsellor", {"at": SOON, "email": "b@example.org"}),
           ("visit.wait", "admin", {})]  # the client of appointment 1 waits
TO_PHASE = {
    "idle": DEVICES,
    "welcome": [*DEVICES, ("checkin", "kiosk", {"walk_in": True})],
    "consulting": DEVICES + IN_SESSION,
    "wrap_up": [*DEVICES, *IN_SESSION, ("session.end", "counsellor", {})],
    "survey": [*DEVICES, *IN_SESSION, ("session.end", "counsellor", {}),
               ("survey.begin", "kiosk", {})],
}


def dump(store: Store) -> dict[str, list]:
    db = store.db
    return {t: list(db[t].rows) for t in db.table_names() if t != "_migrations"}


def room_in(phase: str, store: Store) -> RoomController:
    ctl = RoomController(store, "r1", "Raum 1")
    for name, role, args in TO_PHASE[phase]:
        if name in LATER:
            arg, attr = LATER[name]
            args = {**args, arg: getattr(ctl, attr)}
        reply, _ = ctl.handle(Command(name, timed(args), role))
        assert reply.ok, reply
        if name == "partner.invite":
            ctl.test_token = reply.data["token"]  # the last link, still unused
        elif name == "pairing.start":
            ctl.test_code = reply.data["code"]  # the last code, still on offer
        elif name == "pairing.claim":
            ctl.test_credential = reply.data["token"]
        elif name == "staff.signin":
            ctl.test_signin = reply.data["token"]
        elif name == "appointment.create":
            ctl.test_visit, ctl.test_optout = reply.data["visit_token"], reply.data["optout_token"]
    assert ctl.state.phase == phase
    return ctl


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """An empty room file, migrated once for the module's ~1,600 rooms."""
    path = tmp_path_factory.mktemp("migrated") / "room.db"
    Store(path).close()
    return path


@pytest.fixture
def new_store(migrated, tmp_path):
    """A new room's file: a copy of the migrated one (as a restarted room opens its file;
    twenty times faster than migrating each)."""
    def open_store() -> Store:
        shutil.copyfile(migrated, tmp_path / "room.db")
        return Store(tmp_path / "room.db")
    return open_store


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch):
    """A few hundred rooms get staff accounts here: hash their passwords cheaply."""
    from kiosk.access import staff

    monkeypatch.setitem(staff.SCRYPT, "n", 16)


def test_table_covers_every_command():
    assert set(VALID_ARGS) == set(COMMANDS)


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_in_phase(name, role, phase, new_store):
    store = new_store()
    ctl = room_in(phase, store)
    spec = COMMANDS[name]
    before_state, before_db, before_seq = ctl.state.to_updates(), dump(store), ctl.seq
    args = timed(VALID_ARGS[name])
    if name in LATER:
        arg, attr = LATER[name]
        args = {**args, arg: getattr(ctl, attr, "no-such-secret-in-this-phase")}
    reply, updates = ctl.handle(Command(name, args, role))
    if role in spec.roles and phase in spec.phases and name in NEEDS_A_TALK:
        assert (reply.ok, reply.code, updates) == (False, "state", [])
        assert ctl.state.to_updates() == before_state and dump(store) == before_db
    elif role in spec.roles and phase in spec.phases:
        assert reply.ok, reply.error
        assert reply.seq == ctl.seq == before_seq + len(updates)
        if name not in READ_ONLY:
            assert updates, "an accepted change publishes updates"
    else:
        assert not reply.ok
        assert reply.code == ("role" if role not in spec.roles else "phase")
        assert name in reply.error and (role in reply.error or phase in reply.error)
        assert updates == []
        assert ctl.state.to_updates() == before_state
        assert dump(store) == before_db
        assert ctl.seq == before_seq
    store.close()


BAD = [
    ("nonsense", {}, "schema", "unknown command 'nonsense'"),
    ("note.add", {}, "schema", "needs the argument 'text'"),
    ("note.add", {"text": ""}, "schema", "'text' must be 1 to 4000"),
    ("note.add", {"text": "x" * 4001}, "schema", "'text' must be 1 to 4000"),
    ("note.add", {"text": 5}, "schema", "'text' must be text"),
    ("note.add", {"text": "ok", "visible": "yes"}, "schema", "'visible' must be true or false"),
    ("note.add", {"text": "ok", "colour": "red"}, "schema", "takes no argument 'colour'"),
    ("note.update", {"id": 999}, "state", "no note 999"),
    ("note.update", {"id": "1"}, "schema", "'id' must be a whole number"),
    ("step.add", {"what": "x", "due": "next week"}, "schema", "'due' must be a date"),
    ("step.delete", {"id": 5}, "state", "no next step 5"),
    ("language.set", {"language": "xx"}, "schema", "'language' must be one of"),
    ("privacy.set", {"on": 1}, "schema", "'on' must be true or false"),
    ("consent.request", {"name": "X", "agency": "Y"}, "schema", "needs the argument 'purpose'"),
]


@pytest.mark.parametrize(("name", "args", "code", "message"), [
    ("consent.answer", {"partner": 2, "yes": False, "version": "v"}, "state",
     "not waiting for consent (consent is granted)"),
    ("consent.answer", {"partner": 9, "yes": True, "version": "v"}, "state", "no partner 9"),
    ("consent.withdraw", {"partner": 1, "version": "v"}, "state", "no consent to withdraw"),
    ("checkin", {"code": "A 17; DROP"}, "schema", "only letters, digits and dashes"),
])
def test_client_commands_refused_with_reason(name, args, code, message, new_store):
    store = new_store()
    ctl = room_in("consulting", store)
    before_state, before_db = ctl.state.to_updates(), dump(store)
    reply, updates = ctl.handle(Command(name, args, "kiosk"))
    assert (reply.ok, reply.code) == (False, code) and message in reply.error
    assert updates == [] and ctl.state.to_updates() == before_state and dump(store) == before_db
    store.close()


@pytest.mark.parametrize(("name", "args", "code", "message"), BAD)
def test_bad_arguments_are_refused_with_reason(name, args, code, message, new_store):
    store = new_store()
    ctl = room_in("consulting", store)
    before_state, before_db = ctl.state.to_updates(), dump(store)
    reply, updates = ctl.handle(Command(name, args))
    assert (reply.ok, reply.code) == (False, code)
    assert message in reply.error
    assert updates == [] and ctl.state.to_updates() == before_state and dump(store) == before_db
    store.close()


def test_unknown_role_is_refused(controller):
    reply, _ = controller.handle(Command("ping", {}, "janitor"))
    assert (reply.ok, reply.code) == (False, "schema") and "unknown role 'janitor'" in reply.error


def test_survey_answer_is_anonymous_and_returns_to_idle(new_store):
    store = new_store()
    ctl = room_in("survey", store)
    reply, _ = ctl.handle(Command("survey.submit", VALID_ARGS["survey.submit"], "kiosk"))
    assert reply.ok and ctl.state.phase == "idle"
    rows = list(store.db["survey_answers"].rows)
    # No partner was in the talk (partner 3 waits in the lobby): an answer "in the room".
    assert [{k: v for k, v in r.items() if k != "day"} for r in rows] == [
        {"satisfaction": 5, "ease": 4, "recommend": 9, "mode": "room", "agency_types": ""}]
    assert set(store.db["survey_answers"].columns_dict) == {
        "day", "satisfaction", "ease", "recommend", "mode", "agency_types"}
    assert len(rows[0]["day"]) == 10  # a date, nothing finer
    store.close()


def test_back_to_idle_wipes_everything_personal(new_store):
    store = new_store()
    ctl = room_in("consulting", store)
    for name, role, args in [("language.set", "kiosk", {"language": "tr"}),
                             ("privacy.set", "kiosk", {"on": True}),
                             ("room.reset", "counsellor", {})]:
        assert ctl.handle(Command(name, args, role))[0].ok
    s = ctl.state
    assert (s.phase, s.language, s.privacy, s.notes, s.next_steps, s.session_id, s.partners,
            s.arrival) == ("idle", "de", False, [], [], None, [], None)
    assert all(k.split("/")[2] in ("info", "phase", "language", "privacy", "camera", "mic",
                                   "devices", "tablets", "pairing", "appointments")
               for k in ctl.kv)
    session = next(iter(store.db["sessions"].rows))
    assert session["ended_at"] and session["closed_at"]
    store.close()


def test_consent_log_is_append_only_and_records_every_answer(new_store):
    import sqlite3

    store = new_store()
    ctl = room_in("consulting", store)
    assert ctl.handle(Command("consent.answer", {"partner": 1, "yes": False, "version": "v2"},
                              "kiosk"))[0].ok
    assert ctl.handle(Command("consent.withdraw", {"partner": 2, "version": "v2"}, "kiosk"))[0].ok
    rows = [(r["partner_agency"], r["answer"], r["text_version"])
            for r in store.db["consent_log"].rows_where(order_by="id")]
    assert rows == [("Jobcenter", "granted", "de:x"), ("Jobcenter", "declined", "v2"),
                    ("Jobcenter", "withdrawn", "v2")]
    assert [p.consent for p in ctl.state.partners][:2] == ["declined", "withdrawn"]
    for sql in ("UPDATE consent_log SET answer = 'granted'", "DELETE FROM consent_log"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            store.db.execute(sql)
    store.close()


def test_checkin_tells_the_counsellor_and_a_restart_keeps_the_talk(new_store):
    store = new_store()
    ctl = RoomController(store, "r1", "Raum 1")
    assert ctl.handle(Command("checkin", {"code": "a-17"}, "kiosk"))[0].ok
    assert ctl.state.arrival == {"code": "A-17"}
    token = ""
    for name, role, args in IN_SESSION:
        if name == "invite.claim":
            args = {"token": token}
        reply = ctl.handle(Command(name, args, role))[0]
        assert reply.ok, reply
        token = reply.data.get("token", token)
    again = RoomController(store, "r1", "Raum 1")  # the controller restarts
    assert again.state.to_updates() == ctl.state.to_updates()
    assert [p.consent for p in again.state.partners] == ["pending", "granted", "pending",
                                                         "pending"]
    assert [p.state for p in again.state.partners][2:] == ["lobby", "invited"]
    store.close()
