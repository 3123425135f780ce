"""Issue 9, retention and erasure: what the policy no longer keeps is gone from the
database file and its WAL, byte for byte, while the anonymous evaluation stays.

Every talk writes distinctive strings; "gone" means a byte search of room.db,
room.db-wal, room.db-shm (and a journal, if one exists) finds none of them.
Time is injected (``purge(now=...)``) or rows are written backdated.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import ThreadedRoom, eventually

from kiosk.app.features import RoomController
from kiosk.config import RoomConfig
from kiosk.evaluation.stats import load_facts, report, to_json
from kiosk.exceptions import ConfigError
from kiosk.room.agencies import AGENCY_TYPES
from kiosk.room.messages import Command
from kiosk.room.retention import KINDS, RetentionPolicy
from kiosk.room.store import Store

KIOSK = [sys.executable, "-m", "kiosk"]
NOW = dt.datetime.now(dt.UTC)
ENDINGS = [("survey.submit", "kiosk"), ("survey.skip", "kiosk"), ("kiosk.reset", "kiosk"),
           ("room.reset", "counsellor")]


def leftovers(folder: Path, strings: list[str]) -> dict[str, list[str]]:
    """Which of ``strings`` the room's database files still hold, per file."""
    found = {}
    for path in sorted(folder.glob("room.db*")):
        data = path.read_bytes()
        hits = [s for s in strings if s.encode("utf-8") in data]
        if hits:
            found[path.name] = hits
    return found


def ok(ctl: RoomController, command: str, role: str = "counsellor", /, **args) -> dict:
    reply, _ = ctl.handle(Command(command, args, role))
    assert reply.ok, (command, reply.error)
    return reply.data


def talk(ctl: RoomController, tag: str, ending: tuple[str, str] = ENDINGS[0]) -> dict:
    """A whole appointment with a partner who joins, one invited by link, a follow-up;
    return its distinctive strings: ``content`` (notes, next steps, purposes, the
    arrival code) and ``metadata`` (partner names, agencies, roles, follow-up)."""
    ok(ctl, "checkin", "kiosk", code=f"TERMIN-{tag}")
    ok(ctl, "session.start")
    ok(ctl, "note.add", text=f"Internes NOTIZ-{tag}: " + "Schulden, Gesundheit. " * 150)
    ok(ctl, "note.add", text=f"Sichtbar NOTIZSICHT-{tag}", visible=True)
    ok(ctl, "step.add", what=f"Lebenslauf SCHRITT-{tag} schicken", who=f"WER-{tag}",
       due="2031-01-15")
    pid = ok(ctl, "consent.request", name=f"Frau NAME-{tag}", agency=f"STELLE-{tag}",
             role=f"ROLLE-{tag}", purpose=f"ANLIEGEN-{tag}", agency_type=AGENCY_TYPES[1])["id"]
    ok(ctl, "consent.answer", "kiosk", partner=pid, yes=True, version="de:v1")
    ok(ctl, "partner.state", "media", partner=pid, state="connected")
    ok(ctl, "partner.admit", partner=pid)
    ok(ctl, "partner.invite", agency=f"LINKSTELLE-{tag}", name=f"Herr LINKNAME-{tag}",
       purpose=f"LINKANLIEGEN-{tag}")
    ok(ctl, "session.outcome", outcome="follow_up", follow_up=f"FOLGE-{tag}")
    ok(ctl, "session.end")
    if ending[0].startswith("survey."):
        ok(ctl, "survey.begin", "kiosk")
    if ending[0] == "survey.submit":
        ok(ctl, "survey.submit", "kiosk", satisfaction=4, ease=5, recommend=9)
    else:
        ok(ctl, *ending)
    assert ctl.state.phase == "idle"
    return {"content": [f"TERMIN-{tag}", f"NOTIZ-{tag}", f"NOTIZSICHT-{tag}",
                        f"SCHRITT-{tag}", f"WER-{tag}", f"ANLIEGEN-{tag}", f"LINKANLIEGEN-{tag}"],
            "metadata": [f"NAME-{tag}", f"STELLE-{tag}", f"ROLLE-{tag}", f"LINKSTELLE-{tag}",
                         f"LINKNAME-{tag}", f"FOLGE-{tag}"]}


def count(store: Store, table: str) -> int:
    return store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def dump(store: Store) -> dict[str, list]:
    return {t: list(store.db[t].rows) for t in store.db.table_names() if t != "_migrations"}


def stats_json(path: Path) -> str:
    return to_json(report(load_facts(path)))


# -- the policy and its config ---------------------------------------------------------
def test_default_policy_and_a_config_section(tmp_path):
    assert RoomConfig().retention == RetentionPolicy(
        notes_days=0, sessions_days=90, evaluation_days=0)
    path = tmp_path / "room.toml"
    path.write_text("[retention]\nnotes_days = 7\nsessions_days = 30\n"
                    "evaluation_days = 730\n", encoding="utf-8")
    assert RoomConfig.from_toml(path).retention == RetentionPolicy(7, 30, 730)


@pytest.mark.parametrize(("text", "message"), [
    ("notes_days = -1", "notes_days must be a whole number of days from 0 to 3650, got -1"),
    ("notes_days = '30'", "notes_days must be a whole number of days from 0 to 3650, got '30'"),
    ("sessions_days = 1.5", "sessions_days must be a whole number of days from 1"),
    ("sessions_days = 0", "sessions_days must be a whole number of days from 1 to 3650, got 0"),
    ("sessions_days = true", "sessions_days must be a whole number of days from 1"),
    ("evaluation_days = 99999", "evaluation_days must be a whole number of days from 0"),
    ("notes_days = 120", "notes_days (120) may not exceed sessions_days (90)"),
    ("evaluation_days = 30", "evaluation_days must be 0 (kept) or at least sessions_days (90)"),
    ("keep_forever = true", "unknown setting [retention] keep_forever"),
])
def test_bad_retention_settings_are_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "room.toml"
    path.write_text(f"[retention]\n{text}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        RoomConfig.from_toml(path)
    assert message in str(exc.value)


# -- at the end of a talk -------------------------------------------------------------------
@pytest.mark.parametrize("ending", ENDINGS, ids=[e[0] for e in ENDINGS])
def test_notes_stay_while_the_client_reads_and_are_gone_from_the_files_after(
        store, controller, data_dir, ending):
    ok(controller, "checkin", "kiosk", code="TERMIN-W1")
    ok(controller, "session.start")
    ok(controller, "note.add", text="Sichtbar NOTIZ-W1 " + "Bewerbung. " * 300, visible=True)
    ok(controller, "step.add", what="Unterlagen SCHRITT-W1")
    ok(controller, "session.end")
    if ending[0].startswith("survey."):
        ok(controller, "survey.begin", "kiosk")
    # On the summary (and survey) the client still reads them.
    assert [n.visible for n in controller.state.notes] == [True]
    assert count(store, "notes") == 1 and count(store, "next_steps") == 1
    store.checkpoint()
    assert leftovers(data_dir, ["NOTIZ-W1", "SCHRITT-W1"])["room.db"] == ["NOTIZ-W1",
                                                                        "SCHRITT-W1"]
    if ending[0] == "survey.submit":
        ok(controller, *ending, satisfaction=5, ease=5, recommend=10)
    else:
        ok(controller, *ending)
    assert count(store, "notes") == count(store, "next_steps") == 0
    assert store.wipe_pending
    assert store.checkpoint() and not store.wipe_pending
    assert leftovers(data_dir, ["NOTIZ-W1", "SCHRITT-W1", "TERMIN-W1"]) == {}
    assert (data_dir / "room.db-wal").stat().st_size == 0
    assert count(store, "sessions") == 1  # the session's metadata stays for now
    assert count(store, "survey_answers") == (ending[0] == "survey.submit")


def test_ten_talks_leave_no_content_but_keep_metadata_until_its_time(store, controller,
                                                                     data_dir):
    strings = [talk(controller, f"T{i:02d}", ENDINGS[i % 4]) for i in range(10)]
    content = [s for t in strings for s in t["content"]]
    metadata = [s for t in strings for s in t["metadata"]]
    store.checkpoint()
    assert leftovers(data_dir, content) == {}
    # Metadata is kept for 90 days: all 60 strings are still in the file.
    assert len(leftovers(data_dir, metadata)["room.db"]) == 60
    assert count(store, "survey_answers") == 3 and count(store, "consent_log") == 10


# -- after 90 days -------------------------------------------------------------------------
def test_after_90_days_only_anonymous_facts_remain_and_stats_are_unchanged(
        store, controller, data_dir):
    strings = [talk(controller, f"A{i:02d}") for i in range(6)]
    erased = [s for t in strings for s in t["content"] + t["metadata"]]
    # A talk that runs right now (backdated start) is never touched.
    ok(controller, "session.start")
    ok(controller, "note.add", text="Laufend NOTIZ-LIVE")
    ok(controller, "consent.request", name="Frau NAME-LIVE", agency="Jobcenter",
       purpose="Bürgergeld")
    store.db.execute("UPDATE sessions SET started_at = ? WHERE id = ?",
                     ["2020-01-01T09:00:00+00:00", controller.state.session_id])
    store.checkpoint()
    before = stats_json(store.path)
    facts = load_facts(store.path)

    assert controller.purge(now=NOW + dt.timedelta(days=89)) == dict.fromkeys(KINDS, 0)
    counts = controller.purge(now=NOW + dt.timedelta(days=91))
    assert counts == {**dict.fromkeys(KINDS, 0), "partners": 12, "invitations": 6,
                      "consent_log": 6, "sessions": 6, "partner_calls": 6}
    assert controller.purge(now=NOW + dt.timedelta(days=92)) == dict.fromkeys(KINDS, 0)
    assert store.checkpoint() and not store.wipe_pending

    assert leftovers(data_dir, erased) == {}
    assert leftovers(data_dir, ["NOTIZ-LIVE", "NAME-LIVE"]) == {"room.db": ["NOTIZ-LIVE",
                                                                            "NAME-LIVE"]}
    assert [n.text for n in controller.state.notes] == ["Laufend NOTIZ-LIVE"]
    # What is left of a session: its day, mode and outcome; of a partner call: the
    # day of joining, the kind of agency and the time from asking to joining.
    rows = list(store.db.execute(
        "SELECT started_at, ended_at, closed_at, follow_up, outcome FROM sessions "
        "WHERE id != ?", [controller.state.session_id]))
    assert {r[1:] for r in rows} == {(None, None, None, "follow_up")}
    assert all(r[0].endswith("T00:00:00+00:00") for r in rows)
    assert {tuple(r) for r in store.db.execute(
        "SELECT name, agency, role, purpose FROM partners WHERE session_id != ?",
        [controller.state.session_id])} == {("", "", "", "")}
    assert count(store, "survey_answers") == 6
    assert stats_json(store.path) == before
    after = load_facts(store.path)
    for name in ("sessions", "survey", "joins"):
        assert getattr(after.aggregated(), name).equals(getattr(facts.aggregated(), name))
    assert after.sessions["n"].sum() == 7 and after.joins["n"].sum() == 6


def test_the_evaluation_limit_removes_the_anonymous_facts_too(data_dir):
    store = Store(data_dir / "room.db")
    ctl = RoomController(store, "r1", "Raum 1",
                         retention=RetentionPolicy(evaluation_days=365))
    strings = [talk(ctl, f"E{i}") for i in range(3)]
    counts = ctl.purge(now=NOW + dt.timedelta(days=366))
    assert (counts["evaluation"], counts["survey_answers"], counts["sessions"]) == (3, 3, 3)
    assert all(count(store, t) == 0 for t in ("sessions", "partners", "partner_calls",
                                              "invitations", "consent_log", "survey_answers"))
    store.close()
    assert leftovers(data_dir, [s for t in strings for s in t["content"] + t["metadata"]]) == {}


def test_the_consent_log_gives_up_rows_only_to_the_purge(store, controller):
    talk(controller, "C1")
    conn = store.db.conn
    for sql in ("DELETE FROM consent_log", "UPDATE consent_log SET answer = 'declined'"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
    # Even with the purge's mark set, a row younger than it stays, and none can change.
    conn.execute("INSERT INTO retention_marks (name, before) VALUES ('consent_log', "
                 "'2000-01-01')")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM consent_log")
    conn.execute("UPDATE retention_marks SET before = '2999-01-01'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE consent_log SET answer = 'declined'")
    conn.execute("DELETE FROM retention_marks")
    assert count(store, "consent_log") == 1
    assert controller.purge(now=NOW + dt.timedelta(days=91))["consent_log"] == 1
    assert count(store, "retention_marks") == 0  # the mark lives only inside the purge


def test_notes_kept_for_days_go_with_the_daily_purge(data_dir):
    store = Store(data_dir / "room.db")
    ctl = RoomController(store, "r1", "Raum 1", retention=RetentionPolicy(notes_days=7))
    strings = talk(ctl, "K1")
    assert count(store, "notes") == 2
    assert ctl.purge(now=NOW + dt.timedelta(days=6))["notes"] == 0
    counts = ctl.purge(now=NOW + dt.timedelta(days=8))
    assert (counts["notes"], counts["next_steps"], counts["purposes"]) == (2, 1, 2)
    store.checkpoint()
    assert leftovers(data_dir, strings["content"][1:]) == {}
    store.close()


# -- the command ------------------------------------------------------------------------------
@pytest.mark.parametrize(("role", "args", "code"), [
    ("counsellor", {}, "role"), ("kiosk", {}, "role"), ("media", {}, "role"),
    ("admin", {"days": 0}, "schema"), ("janitor", {}, "schema")])
def test_purge_command_refused_changes_nothing(store, controller, role, args, code):
    talk(controller, "R1")
    before = dump(store)
    reply, updates = controller.handle(Command("retention.purge", args, role))
    assert (reply.ok, reply.code, updates) == (False, code, [])
    assert dump(store) == before


def test_purge_command_of_the_admin(store, controller, data_dir):
    controller.retention = RetentionPolicy(sessions_days=1)
    strings = talk(controller, "P1")
    store.db.execute("UPDATE sessions SET started_at = '2000-01-01T10:00:00+00:00'")
    reply, updates = controller.handle(Command("retention.purge", {}, "admin"))
    assert reply.ok and updates == []
    assert reply.data["erased"]["sessions"] == 1 and reply.data["wal_clean"] is True
    # The consent row is younger than a day: the proof of consent (agency, role) stays.
    assert reply.data["erased"]["consent_log"] == 0
    assert leftovers(data_dir, strings["metadata"]) == {"room.db": ["STELLE-P1", "ROLLE-P1"]}


# -- kiosk purge, without and with a running room ------------------------------------------
def backdated_session(db_path: Path, tag: str, days: int = 100) -> list[str]:
    """Write, as the controller would have done ``days`` ago, a closed session with a
    note left by a crash, a partner, a link and a consent row; return its strings."""
    at = (NOW - dt.timedelta(days=days)).isoformat(timespec="seconds")
    sid = uuid.uuid4().hex
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO sessions (id, room_id, mode, started_at, ended_at, "
                     "closed_at, outcome, follow_up) VALUES (?, 'r1', 'room', ?, ?, ?, "
                     "'follow_up', ?)", [sid, at, at, at, f"FOLGE-{tag}"])
        conn.execute("INSERT INTO notes (session_id, text, visible, created_at, updated_at) "
                     "VALUES (?, ?, 1, ?, ?)", [sid, f"NOTIZ-{tag}", at, at])
        pid = conn.execute(
            "INSERT INTO partners (session_id, name, agency, role, purpose, consent, "
            "created_at, agency_type) VALUES (?, ?, ?, '', ?, 'granted', ?, 'Jobcenter')",
            [sid, f"NAME-{tag}", f"STELLE-{tag}", f"ANLIEGEN-{tag}", at]).lastrowid
        conn.execute("INSERT INTO invitations (token_hash, partner_id, session_id, "
                     "created_at, expires_at, revoked, used) VALUES (?, ?, ?, ?, ?, 0, 1)",
                     [f"hash-{tag}", pid, sid, at, at])
        conn.execute("INSERT INTO consent_log (at, room_id, session_id, partner_agency, "
                     "partner_role, answer, text_version, language) VALUES "
                     "(?, 'r1', ?, ?, '', 'granted', 'de:v1', 'de')", [at, sid, f"STELLE-{tag}"])
        conn.execute("INSERT INTO partner_calls (partner_id, session_id, agency_type, "
                     "invited_at, joined_at) VALUES (?, ?, 'Jobcenter', ?, ?)", [pid, sid, at, at])
        conn.execute("INSERT INTO survey_answers (day, satisfaction, ease, recommend, mode, "
                     "agency_types) VALUES (?, 4, 4, 8, 'room_partners', 'Jobcenter')",
                     [at[:10]])
        conn.execute("COMMIT")
    finally:
        conn.close()
    return [f"FOLGE-{tag}", f"NOTIZ-{tag}", f"NAME-{tag}", f"STELLE-{tag}", f"ANLIEGEN-{tag}"]


def kiosk(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*KIOSK, *args], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "KIOSK_DATA_DIR"})
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_kiosk_purge_without_a_running_room_purges_the_file(data_dir):
    Store(data_dir / "room.db").close()
    strings = backdated_session(data_dir / "room.db", "F1")
    assert set(leftovers(data_dir, strings)["room.db"]) == set(strings)
    out = kiosk("purge", "--data-dir", str(data_dir)).stdout
    assert "kein Raum läuft" in out and "Gelöschtes ist auch aus dem WAL entfernt." in out
    assert "Notizen" in out and "Einträge im Einwilligungsprotokoll" in out
    assert leftovers(data_dir, strings) == {}
    again = json.loads(kiosk("purge", "--json", "--data-dir", str(data_dir)).stdout)
    assert again == {"erased": dict.fromkeys(KINDS, 0), "wal_clean": True,
                     "running_room": False}
    store = Store(data_dir / "room.db")
    assert (count(store, "sessions"), count(store, "survey_answers")) == (1, 1)
    store.close()


def test_kiosk_purge_reads_the_policy_and_a_stale_runtime_file_is_no_room(data_dir):
    Store(data_dir / "room.db").close()
    backdated_session(data_dir / "room.db", "G1", days=40)
    (data_dir / "room.json").write_text(json.dumps({"pid": 2**22 + 12345, "bus": {}}))
    out = json.loads(kiosk("purge", "--json", "--data-dir", str(data_dir)).stdout)
    assert out["erased"]["notes"] == 1 and out["erased"]["sessions"] == 0  # 40 < 90 days
    (data_dir / "room.toml").write_text("[retention]\nsessions_days = 30\n")
    out = json.loads(kiosk("purge", "--json", "--data-dir", str(data_dir)).stdout)
    assert (out["erased"]["sessions"], out["erased"]["consent_log"]) == (1, 1)
    assert not out["running_room"]


def test_kiosk_purge_bad_input_changes_nothing(data_dir, tmp_path):
    missing = tmp_path / "nothing-here"
    proc = kiosk("purge", "--data-dir", str(missing), check=False)
    assert proc.returncode == 1 and "Keine Raum-Datenbank" in proc.stderr
    assert not missing.exists()
    Store(data_dir / "room.db").close()
    backdated_session(data_dir / "room.db", "B1")
    files = {p.name: p.read_bytes() for p in data_dir.iterdir()}
    (data_dir / "room.toml").write_text("[retention]\nsessions_days = -5\n")
    proc = kiosk("purge", "--data-dir", str(data_dir), check=False)
    assert proc.returncode == 1 and "sessions_days must be a whole number" in proc.stderr
    assert {p.name: p.read_bytes() for p in data_dir.iterdir() if p.name != "room.toml"} \
        == files


def test_kiosk_purge_asks_the_running_room(room_config, data_dir):
    room = ThreadedRoom(room_config).start()
    try:
        assert room.command("session.start").ok
        assert room.command("note.add", text="Laufend NOTIZ-RUN").ok
        strings = backdated_session(data_dir / "room.db", "L1")
        out = kiosk("purge", "--data-dir", str(data_dir)).stdout
        assert "im laufenden Raum raum-1" in out, out
        assert leftovers(data_dir, strings) == {}
        assert "NOTIZ-RUN" in str(leftovers(data_dir, ["NOTIZ-RUN"]))  # the running talk
        assert [n.text for n in room.state.notes] == ["Laufend NOTIZ-RUN"]
        out = json.loads(kiosk("purge", "--json", "--data-dir", str(data_dir)).stdout)
        assert out["running_room"] and out["erased"] == dict.fromkeys(KINDS, 0)
    finally:
        room.stop()


# -- without anyone running kiosk purge -------------------------------------------------------
def test_a_talk_s_content_leaves_the_files_by_itself(live_room, data_dir):
    room = live_room
    assert room.command("checkin", as_="kiosk", code="TERMIN-AUTO").ok
    assert room.command("session.start").ok
    assert room.command("note.add", text="NOTIZ-AUTO " + "x" * 3000, visible=True).ok
    assert room.command("step.add", what="SCHRITT-AUTO").ok
    assert room.command("session.end").ok
    assert room.command("survey.begin", as_="kiosk").ok
    eventually(lambda: room.state.phase == "survey")
    assert [n.visible for n in room.state.notes] == [True]  # still on the client's screen
    assert room.command("survey.skip", as_="kiosk").ok
    eventually(lambda: leftovers(data_dir, ["NOTIZ-AUTO", "SCHRITT-AUTO", "TERMIN-AUTO"])
               == {}, timeout=15)


def test_the_daily_purge_runs_at_start_and_again(room_config, data_dir):
    Store(data_dir / "room.db").close()
    first = backdated_session(data_dir / "room.db", "D1")
    room = ThreadedRoom(room_config)
    room.room.purge_every = 0.05
    room.start()
    try:
        eventually(lambda: leftovers(data_dir, first) == {}, timeout=15)
        second = backdated_session(data_dir / "room.db", "D2")
        eventually(lambda: leftovers(data_dir, second) == {}, timeout=15)
        assert room.command("ping").ok
    finally:
        room.stop()
    store = Store(data_dir / "room.db")
    assert count(store, "survey_answers") == 2 and count(store, "consent_log") == 0
    store.close()


def test_a_pending_truncation_never_holds_the_rooms_commands_back(live_room):
    """A reader (here: a report over the file) keeps the WAL from being truncated after an
    erasure; the room's checkpoints then give up quickly instead of stopping writers
    (they used to wait 5 s for the reader, with every command of the room behind them)."""
    import sqlite3
    import time

    link = live_room.room.link
    assert live_room.command("session.start").ok
    assert live_room.command("note.add", text="wird gelöscht", visible=True).ok
    assert live_room.command("room.reset").ok  # back to idle: erased, a truncation pending
    reader = sqlite3.connect(live_room.config.data_dir / "room.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM sessions").fetchall()  # holds its snapshot
    written = 0
    try:
        deadline = time.monotonic() + 6  # three of the room's checkpoints
        while time.monotonic() < deadline:
            # Commands that write, with a view's patience (3 s): each is answered.
            assert live_room.call(link.send("kiosk", "checkin", walk_in=True)).ok
            assert live_room.call(link.send("counsellor", "room.reset")).ok
            written += 2
    finally:
        reader.close()
    assert written > 10
