"""Issue 9, consent log: every partner call has its consent row before media flows,
and a withdrawal stops media within one second.

One room serves all calls of a test; partners join over real WebRTC (aiortc, the
same ``PartnerBot`` the demo uses) through the WHIP endpoint, exactly as a
browser would. "Media flows" is taken where the room lets it through: the
partner's consent gate, which notes (in memory) when it first and last passed
a frame, and the partner's own receiver, which notes when frames arrived.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ThreadedRoom, until
from media_calls import (
    VERSION,
    Display,
    TimedBot,
    command,
    consent,
    has_call,
    on_room_loop,
    partner_state,
)

from kiosk.app.features import RoomController
from kiosk.media.bot import _http
from kiosk.media.gate import Gate
from kiosk.room.agencies import AGENCY_TYPES
from kiosk.room.messages import Command
from kiosk.room.store import MIGRATIONS, Store

CALLS = 50
#: The three orders in which a partner may come in; each leaves media to the gate.
ORDERS = ("admit, then consent", "consent, then admit", "consent before joining")
#: How a call ends.
ENDINGS = ("withdrawal", "removed by the counsellor", "partner leaves")


@pytest.fixture
def room(live_room) -> ThreadedRoom:
    """One room in a talk, for every call of a test."""
    assert live_room.command("session.start").ok
    return live_room


class ProbeGate(Gate):
    """A consent gate that, the moment it first lets a frame through, looks at what the
    database holds as committed (on its own connection, which sees only commits)."""

    def __init__(self, db_path: Path, partner: int) -> None:
        super().__init__()
        self.db_path, self.partner = db_path, partner
        self.granted_at_first_frame: int | None = None

    def passed(self) -> None:
        if self.first_passed is None:
            conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
            try:
                self.granted_at_first_frame = conn.execute(
                    "SELECT count(*) FROM consent_log WHERE partner_id = ? "
                    "AND answer = 'granted'", [self.partner]).fetchone()[0]
            finally:
                conn.close()
        super().passed()


def consent_rows(db_path: Path) -> dict[int, list[dict]]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows: dict[int, list[dict]] = {}
        for row in conn.execute("SELECT * FROM consent_log ORDER BY id"):
            rows.setdefault(row["partner_id"], []).append(dict(row))
        return rows
    finally:
        conn.close()


def seconds(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


@dataclass
class CallRecord:
    partner: int
    agency: str
    agency_type: str
    order: str
    ending: str
    gate: ProbeGate
    bot: TimedBot
    withdrawn_at: float | None = None


async def one_call(room: ThreadedRoom, n: int) -> CallRecord:
    """Invite, consent and admit in one of three orders, see media flow, end the call."""
    engine, db_path = room.room.engine, room.config.db_path
    order, ending = ORDERS[n % len(ORDERS)], ENDINGS[n % len(ENDINGS)]
    agency, agency_type = f"Stelle {n}", AGENCY_TYPES[n % len(AGENCY_TYPES)]
    data = await command(room, "partner.invite", agency=agency, name=f"Partner {n}",
                         purpose="Test", agency_type=agency_type)
    partner = data["id"]
    gate = ProbeGate(db_path, partner)
    # A fresh partner id has no gate yet: the probe becomes this partner's gate.
    assert await on_room_loop(room, lambda: engine.gates.setdefault(partner, gate)) is gate
    if order == "consent before joining":
        await consent(room, partner)
    bot = TimedBot(room.urls["kiosk"].rsplit("/", 1)[0] + data["link"], agency)
    await bot.join()
    await until(lambda: partner_state(room, partner) == "connected", 15)
    if order == "admit, then consent":
        await command(room, "partner.admit", partner=partner)
        # Connected and admitted, the partner's frames arriving: only consent is missing.
        await until(lambda: engine.counters().get(partner, {}).get("received", 0) > 0, 15)
        assert gate.first_passed is None and bot.received["video"] == 0
        await consent(room, partner)
    elif order == "consent, then admit":
        await consent(room, partner)
        await command(room, "partner.admit", partner=partner)
    else:
        await command(room, "partner.admit", partner=partner)
    await until(lambda: bot.received["video"] >= 3 and bot.received["audio"] >= 3, 15)

    record = CallRecord(partner, agency, agency_type, order, ending, gate, bot)
    if ending == "withdrawal":
        record.withdrawn_at = await consent(room, partner, "consent.withdraw")
    elif ending == "removed by the counsellor":
        await command(room, "partner.remove", partner=partner)
    else:
        await asyncio.to_thread(_http, "DELETE", f"{bot.base}{bot.resource}")
    await until(lambda: not has_call(room, partner), 10)
    bot.state = "gone"  # the room ended the call: nothing left to DELETE
    await bot.leave()
    return record


def consent_came_first(record: CallRecord, rows: list[dict]) -> list[str]:
    """What is wrong with this call's consent record (nothing: an empty list)."""
    problems = []
    granted = [r for r in rows if r["answer"] == "granted"]
    if len(granted) != 1:
        return [f"{len(granted)} granted rows"]
    row = granted[0]
    expected = {"partner_agency": record.agency, "agency_type": record.agency_type,
                "text_version": VERSION, "language": "de"}
    if {k: row[k] for k in expected} != expected:
        problems.append(f"row {row} is not {expected}")
    first_media = min([record.gate.first_passed or float("inf"), *record.bot.first.values()])
    if not seconds(row["at"]) <= first_media:
        problems.append(f"consent at {row['at']}, media at {first_media}")
    if record.gate.granted_at_first_frame != 1:
        problems.append("the first frame passed before the consent row was committed")
    return problems


async def test_every_partner_call_in_a_run_of_50_has_its_consent_row_first(room):
    records = []
    for n in range(CALLS):
        records.append(await one_call(room, n))
    rows = consent_rows(room.config.db_path)
    problems = {r.partner: consent_came_first(r, rows.get(r.partner, [])) for r in records}
    first = sum(not p for p in problems.values())
    print(f"\n{first} of {CALLS} calls had consent first "
          f"(orders: {', '.join(ORDERS)}; endings: {', '.join(ENDINGS)})")
    assert first == CALLS, {k: v for k, v in problems.items() if v}

    # Every call that reached the talk is in the evaluation, each with its consent row.
    conn = sqlite3.connect(f"file:{room.config.db_path}?mode=ro", uri=True)
    calls = {row[0]: row[1] for row in conn.execute(
        "SELECT partner_id, joined_at FROM partner_calls")}
    conn.close()
    assert set(calls) == {r.partner for r in records}
    for record in records:
        granted = next(r for r in rows[record.partner] if r["answer"] == "granted")
        assert granted["at"][:19] <= calls[record.partner][:19]

    withdrawals = [r for r in records if r.ending == "withdrawal"]
    lags = [max([r.gate.last_passed, *r.bot.last.values()]) - r.withdrawn_at
            for r in withdrawals]
    print(f"withdrawals: {len(lags)}, media stopped after at most {max(lags):.3f} s "
          f"(median {sorted(lags)[len(lags) // 2]:.3f} s)")
    assert max(lags) < 1.0
    for record in withdrawals:
        assert [r["answer"] for r in rows[record.partner]] == ["granted", "withdrawn"]


async def withdrawn_call(room: ThreadedRoom, n: int) -> tuple[float, Gate, TimedBot, Display]:
    """A partner in the talk, shown on the display, until the client withdraws consent."""
    engine, base = room.room.engine, room.urls["kiosk"].rsplit("/", 1)[0]
    data = await command(room, "partner.invite", agency=f"Stelle {n}", name="P")
    partner = data["id"]
    bot = TimedBot(base + data["link"], f"Stelle {n}")
    await bot.join()
    await until(lambda: engine.counters().get(partner, {}).get("received", 0) > 0, 15)
    await command(room, "partner.admit", partner=partner)
    await consent(room, partner)
    display = Display()
    await display.pull(base, partner)
    await until(lambda: min(bot.received["video"], display.received["video"],
                            bot.received["audio"], display.received["audio"]) >= 5, 15)
    sent = await consent(room, partner, "consent.withdraw")
    await until(lambda: not has_call(room, partner), 10)  # the partner is told, hung up
    bot.state = "withdrawn"
    await bot.leave()
    return sent, engine.gates[partner], bot, display


async def test_a_withdrawal_stops_media_both_ways_within_one_second(room):
    """Ten calls with the display showing the partner: from the client's withdrawal to
    the last frame the gate let through, and the last that reached the partner and the
    display (frames still in flight count: the lags are taken a second after the end)."""
    calls = [await withdrawn_call(room, n) for n in range(10)]
    await asyncio.sleep(1.0)
    lags = {"gate": [gate.last_passed - sent for sent, gate, _, _ in calls],
            "to partner": [max(bot.last.values()) - sent for sent, _, bot, _ in calls],
            "to display": [max(d.last.values()) - sent for sent, _, _, d in calls]}
    for *_, display in calls:
        await display.close()
    print("\nwithdrawal to last frame, max of 10: " + ", ".join(
        f"{k} {max(v):.3f} s" for k, v in lags.items()))
    assert all(max(v) < 1.0 for v in lags.values()), lags


def test_a_consent_row_names_its_partner_agency_text_version_and_time(tmp_path):
    store = Store(tmp_path / "room.db")
    ctl = RoomController(store, "r1", "Raum 1")
    for name, role, args in [
            ("session.start", "counsellor", {}),
            ("partner.invite", "counsellor", {"agency": "Sozialamt Nord", "role": "Beratung",
                                              "agency_type": "Sozialamt"}),
            ("consent.answer", "kiosk", {"partner": 1, "yes": True, "version": "de:abc"}),
            ("language.set", "kiosk", {"language": "tr"}),
            ("consent.withdraw", "kiosk", {"partner": 1, "version": "tr:def"})]:
        assert ctl.handle(Command(name, args, role))[0].ok, name
    rows = list(store.db["consent_log"].rows_where(order_by="id"))
    assert [{k: r[k] for k in ("partner_id", "partner_agency", "agency_type", "partner_role",
                               "answer", "text_version", "language")} for r in rows] == [
        {"partner_id": 1, "partner_agency": "Sozialamt Nord", "agency_type": "Sozialamt",
         "partner_role": "Beratung", "answer": "granted", "text_version": "de:abc",
         "language": "de"},
        {"partner_id": 1, "partner_agency": "Sozialamt Nord", "agency_type": "Sozialamt",
         "partner_role": "Beratung", "answer": "withdrawn", "text_version": "tr:def",
         "language": "tr"}]
    times = [dt.datetime.fromisoformat(r["at"]) for r in rows]
    assert times[0] <= times[1] <= dt.datetime.now(dt.UTC)
    assert all(t.tzinfo is not None for t in times)
    assert all(len(r["at"]) == len("2026-01-01T00:00:00.000+00:00") for r in rows)  # ms
    for sql in ("UPDATE consent_log SET partner_id = 2", "DELETE FROM consent_log"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            store.db.execute(sql)
    store.close()


def test_a_removed_partners_id_is_never_given_to_another(tmp_path, monkeypatch):
    """Consent rows, invitations and partner_calls name partners by id: a new partner
    must not get the id of one removed before, also in a file made before migration 008."""
    path = tmp_path / "room.db"
    monkeypatch.setattr("kiosk.room.store.MIGRATIONS", [m for m in MIGRATIONS if m[0] < "008"])
    old = Store(path)
    old.db["rooms"].insert({"id": "r1", "name": "Raum 1", "phase": "idle"})
    old.db["sessions"].insert({"id": "s1", "room_id": "r1", "started_at": "2026-11-21"})
    for n in (1, 2, 3):
        old.db["partners"].insert({"id": n, "session_id": "s1", "name": f"P{n}",
                                   "agency": "Jobcenter", "consent": "granted"})
    old.db["partner_calls"].insert({"partner_id": 5, "session_id": "s1",
                                    "agency_type": "Jobcenter"})
    old.db.execute("DELETE FROM partners WHERE id = 3")
    old.close()
    monkeypatch.undo()
    store = Store(path)
    assert [r["id"] for r in store.db["partners"].rows] == [1, 2]  # rows kept
    assert store.db["partners"].indexes[0].columns == ["session_id"]
    assert store.insert("partners", {"session_id": "s1", "name": "P6"}) == 6
    store.close()

    store = Store(tmp_path / "fresh.db")
    ctl = RoomController(store, "r1", "Raum 1")
    assert ctl.handle(Command("session.start", {}, "counsellor"))[0].ok
    ids = []
    for _ in range(3):
        reply, _ = ctl.handle(Command("partner.invite", {"agency": "Jobcenter"}, "counsellor"))
        ids.append(reply.data["id"])
        assert ctl.handle(Command("partner.remove", {"partner": ids[-1]}, "counsellor"))[0].ok
    assert ids == [1, 2, 3]
    store.close()
