"""The room's SQLite file: migrations, and no committed data lost on a crash."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from kiosk.app.features import RoomController
from kiosk.exceptions import StoreError
from kiosk.room.store import MIGRATIONS, Store

ALL = [name for name, _ in MIGRATIONS]


def test_migrations_on_an_empty_file(tmp_path):
    store = Store(tmp_path / "room.db")
    assert store.applied == ALL
    assert {"rooms", "sessions", "notes", "next_steps", "survey_answers"} <= set(
        store.db.table_names())
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    # No table can hold a client's name or contact.
    assert set(store.db["sessions"].columns_dict) == {
        "id", "room_id", "mode", "started_at", "ended_at", "closed_at", "outcome", "follow_up",
        "topics"}
    store.close()


def test_migrations_on_an_existing_file_apply_only_what_is_new(tmp_path, monkeypatch):
    path = tmp_path / "room.db"
    monkeypatch.setattr("kiosk.room.store.MIGRATIONS", MIGRATIONS[:1])
    old = Store(path)
    old.db["rooms"].insert({"id": "r1", "name": "Raum 1", "phase": "consulting", "language": "de",
                            "privacy": 0, "session_id": "s1"})
    old.db["sessions"].insert({"id": "s1", "room_id": "r1", "started_at": "2026-11-21"})
    assert old.applied == ALL[:1] and "survey_answers" not in old.db.table_names()
    old.close()
    monkeypatch.undo()
    new = Store(path)
    assert new.applied == ALL and "survey_answers" in new.db.table_names()
    assert new.db["sessions"].count == 1  # data from before the upgrade is kept
    assert new.migrate() == []  # and opening again changes nothing
    assert RoomController(new, "r1", "Raum 1").state.phase == "consulting"
    new.close()


def test_a_file_that_is_not_a_database_gets_a_clear_error(tmp_path):
    path = tmp_path / "room.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the room database"):
        Store(path)


CRASH = textwrap.dedent("""
    import os, signal, sys
    from kiosk.app.features import RoomController
    from kiosk.room.messages import Command
    from kiosk.room.store import Store
    ctl = RoomController(Store(sys.argv[1]), "r1", "Raum 1")
    assert ctl.handle(Command("session.start"))[0].ok
    for i in range(int(sys.argv[2])):
        reply, _ = ctl.handle(Command("note.add", {"text": f"note {i}", "visible": True}))
        assert reply.ok
        print(i, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # between two commands, nothing closed
""")


@pytest.mark.parametrize("count", [1, 25])
def test_a_crash_between_commands_loses_no_committed_data(tmp_path, count):
    path = tmp_path / "room.db"
    proc = subprocess.run([sys.executable, "-c", CRASH, str(path), str(count)],
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    acked = proc.stdout.split()
    assert len(acked) == count
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = Store(path)
    ctl = RoomController(store, "r1", "Raum 1")  # the restarted controller
    assert ctl.state.phase == "consulting"
    assert [n.text for n in ctl.state.notes] == [f"note {i}" for i in range(count)]
    store.close()
