"""Every command in every phase, from every role: accepted, or refused with no change."""

from __future__ import annotations

import pytest

from kiosk.commands import COMMANDS
from kiosk.controller import RoomController
from kiosk.messages import Command
from kiosk.state import PHASES, ROLES
from kiosk.store import Store

VALID_ARGS = {
    "ping": {}, "checkin": {"code": "A-17"}, "language.set": {"language": "ar"},
    "session.start": {}, "session.end": {}, "room.reset": {},
    "note.add": {"text": "Antrag stellen", "visible": True},
    "note.update": {"id": 1, "visible": False}, "note.delete": {"id": 1},
    "step.add": {"what": "Unterlagen mitbringen", "who": "client", "due": "2026-12-01"},
    "step.delete": {"id": 1}, "privacy.set": {"on": True}, "survey.begin": {},
    "survey.submit": {"satisfaction": 5, "ease": 4, "recommend": 9}, "survey.skip": {},
}

TO_PHASE = {
    "idle": [],
    "welcome": [("checkin", "kiosk", {})],
    "consulting": [("session.start", "counsellor", {})],
    "wrap_up": [("session.start", "counsellor", {}), ("session.end", "counsellor", {})],
    "survey": [("session.start", "counsellor", {}), ("session.end", "counsellor", {}),
               ("survey.begin", "kiosk", {})],
}


def dump(store: Store) -> dict[str, list]:
    db = store.db
    return {t: list(db[t].rows) for t in db.table_names() if t != "_migrations"}


def room_in(phase: str, store: Store) -> RoomController:
    ctl = RoomController(store, "r1", "Raum 1")
    for name, role, args in TO_PHASE[phase]:
        reply, _ = ctl.handle(Command(name, args, role))
        assert reply.ok, reply
    if phase in ("consulting", "wrap_up"):
        for name in ("note.add", "step.add"):
            assert ctl.handle(Command(name, VALID_ARGS[name]))[0].ok
    assert ctl.state.phase == phase
    return ctl


def test_table_covers_every_command():
    assert set(VALID_ARGS) == set(COMMANDS)


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_in_phase(name, role, phase, tmp_path):
    store = Store(tmp_path / "room.db")
    ctl = room_in(phase, store)
    spec = COMMANDS[name]
    before_state, before_db, before_seq = ctl.state.to_updates(), dump(store), ctl.seq
    reply, updates = ctl.handle(Command(name, VALID_ARGS[name], role))
    if role in spec.roles and phase in spec.phases:
        assert reply.ok, reply.error
        assert reply.seq == ctl.seq == before_seq + len(updates)
        if name != "ping":
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
]


@pytest.mark.parametrize(("name", "args", "code", "message"), BAD)
def test_bad_arguments_are_refused_with_reason(name, args, code, message, tmp_path):
    store = Store(tmp_path / "room.db")
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


def test_survey_answer_is_anonymous_and_returns_to_idle(tmp_path):
    store = Store(tmp_path / "room.db")
    ctl = room_in("survey", store)
    reply, _ = ctl.handle(Command("survey.submit", VALID_ARGS["survey.submit"], "kiosk"))
    assert reply.ok and ctl.state.phase == "idle"
    rows = list(store.db["survey_answers"].rows)
    assert [{k: v for k, v in r.items() if k != "day"} for r in rows] == [
        {"satisfaction": 5, "ease": 4, "recommend": 9}]
    assert set(store.db["survey_answers"].columns_dict) == {
        "day", "satisfaction", "ease", "recommend"}
    assert len(rows[0]["day"]) == 10  # a date, nothing finer
    store.close()


def test_back_to_idle_wipes_everything_personal(tmp_path):
    store = Store(tmp_path / "room.db")
    ctl = room_in("consulting", store)
    for name, role, args in [("language.set", "kiosk", {"language": "tr"}),
                             ("privacy.set", "kiosk", {"on": True}),
                             ("room.reset", "counsellor", {})]:
        assert ctl.handle(Command(name, args, role))[0].ok
    s = ctl.state
    assert (s.phase, s.language, s.privacy, s.notes, s.next_steps, s.session_id) == (
        "idle", "de", False, [], [], None)
    assert all(k.split("/")[2] in ("info", "phase", "language", "privacy") for k in ctl.kv)
    session = next(iter(store.db["sessions"].rows))
    assert session["ended_at"] and session["closed_at"]
    store.close()
