"""The evaluation: known data in, known figures out; exports merge; the CLI; /stats."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kiosk.app.features import RoomController
from kiosk.evaluation.stats import (
    MIN_N,
    Facts,
    StatsError,
    export,
    load_facts,
    merge,
    report,
    to_excel,
)
from kiosk.room.agencies import AGENCY_TYPES, MODES
from kiosk.room.messages import Command
from kiosk.room.store import Store

KIOSK = [sys.executable, "-m", "kiosk"]
JOBCENTER = 1 << AGENCY_TYPES.index("Jobcenter")
SOZIALAMT = 1 << AGENCY_TYPES.index("Sozialamt")
WITH, REMOTE = MODES.index("room_partners"), MODES.index("remote")


def known() -> Facts:
    """Six answers after talks with the Jobcenter, three remote ones; 14 sessions."""
    survey = [(WITH, JOBCENTER, s, 4, r) for s, r in
              zip([5, 4, 4, 3, 2, 1], [10, 9, 9, 7, 3, 0], strict=True)]
    survey += [(REMOTE, 0, 5, 5, 10)] * 3
    sessions = ([(WITH, JOBCENTER, 1, 0)] * 6 + [(WITH, JOBCENTER, 1, 1)] * 2
                + [(WITH, JOBCENTER, 2, -1)] * 2 + [(REMOTE, 0, 0, -1)] * 4)
    joins = [(AGENCY_TYPES.index("Jobcenter"), t) for t in (10, 20, 30, 40, 100)]
    joins += [(AGENCY_TYPES.index("Sozialamt"), 5)] * 2
    day = "2026-11-02"
    return Facts.from_frames(
        survey=pd.DataFrame(survey, columns=["mode", "types", "satisfaction", "ease",
                                             "recommend"]).assign(day=day),
        sessions=pd.DataFrame(sessions, columns=["mode", "types", "partners", "outcome"])
        .assign(day=day),
        joins=pd.DataFrame(joins, columns=["agency_type", "ring_s"]).assign(day=day))


def row(tables, label: str) -> dict:
    overview = tables["overview"]
    return overview[overview["label"] == label].iloc[0].to_dict()


def test_known_data_gives_known_figures():
    tables = report(known())
    jobcenter = row(tables, "Jobcenter")
    assert jobcenter["answers"] == 6 and jobcenter["sessions"] == 10
    assert jobcenter["nps"] == pytest.approx(100 * (3 - 2) / 6, abs=1e-3)  # 10,9,9 vs 3,0
    assert jobcenter["satisfaction_mean"] == pytest.approx(19 / 6, abs=1e-3)
    assert jobcenter["ease_mean"] == 4.0
    assert jobcenter["share_settled"] == 0.75  # 6 settled of 8 with an outcome
    assert jobcenter["share_with_partner"] == 1.0
    assert jobcenter["partners_per_session"] == pytest.approx(12 / 10)
    assert jobcenter["response_rate"] == 0.6
    everyone = row(tables, "alle")
    assert (everyone["sessions"], everyone["answers"]) == (14, 9)
    assert everyone["nps"] == pytest.approx(100 * (6 - 2) / 9, abs=1e-3)
    assert everyone["share_with_partner"] == pytest.approx(10 / 14, abs=1e-3)
    dist = tables["distribution"]
    sat = dist[(dist["label"] == "Jobcenter") & (dist["question"] == "satisfaction")]
    assert sat.set_index("value")["share"].round(3).to_dict() == {
        1: 0.167, 2: 0.167, 3: 0.167, 4: 0.333, 5: 0.167}
    partners = tables["partners"].set_index("agency_type")
    assert partners.loc["Jobcenter", "partners"] == 5
    assert partners.loc["Jobcenter", "ring_to_join_median_s"] == 30
    assert partners.loc["Jobcenter", "ring_to_join_mean_s"] == 40
    assert partners.loc["Jobcenter", "per_session"] == pytest.approx(5 / 14, abs=1e-3)
    week = tables["per_week"].iloc[0]  # 2026-11-02 is a Monday
    assert (str(week["week"].date()), week["room_partners"], week["remote"], week["all"]) == (
        "2026-11-02", 10, 4, 14)
    month = tables["per_month"].iloc[0]
    assert (str(month["month"].date()), month["all"]) == ("2026-11-01", 14)


def test_figures_from_fewer_than_five_are_hidden():
    tables = report(known())
    remote = row(tables, "per Video von zu Hause")
    assert (remote["answers"], remote["sessions"]) == (3, 4)
    for figure in ("nps", "satisfaction_mean", "ease_mean", "share_with_partner",
                   "share_settled", "response_rate"):
        assert remote[figure] is None or pd.isna(remote[figure]), figure
    dist = tables["distribution"]
    assert dist[dist["label"] == "per Video von zu Hause"]["share"].isna().all()
    sozialamt = tables["partners"].set_index("agency_type").loc["Sozialamt"]
    assert sozialamt["partners"] == 2 and pd.isna(sozialamt["ring_to_join_median_s"])
    assert MIN_N == 5


def test_a_date_range_keeps_only_its_days():
    facts = known()
    later = Facts.from_frames(
        survey=facts.survey.assign(day=pd.Timestamp("2026-12-01")), sessions=facts.sessions,
        joins=facts.joins)
    both = Facts.concat([facts, later])
    assert row(report(both), "alle")["answers"] == 18
    december = report(both, since=dt.date(2026, 12, 1))
    assert row(december, "alle")["answers"] == 9 and row(december, "alle")["sessions"] == 0
    with pytest.raises(StatsError, match="starts"):
        report(both, since=dt.date(2026, 12, 2), until=dt.date(2026, 12, 1))


def talk(ctl: RoomController, *, agency_type: str, settled: bool, answer: tuple | None):
    """One appointment through the real commands: a partner joins, the client answers."""
    def do(name, role="counsellor", **args):
        reply, _ = ctl.handle(Command(name, args, role))
        assert reply.ok, (name, reply.error)
        return reply
    do("session.start")
    partner = do("partner.invite", agency="Stelle", agency_type=agency_type)
    do("invite.claim", "media", token=partner.data["token"])
    pid = partner.data["id"]
    do("partner.state", "media", partner=pid, state="connected")
    do("partner.admit", partner=pid)
    do("consent.answer", "kiosk", partner=pid, yes=True, version="de:test")
    do("session.outcome", outcome="settled" if settled else "follow_up",
       follow_up="" if settled else "Jobcenter")
    do("session.end")
    if answer:
        do("survey.begin", "kiosk")
        do("survey.submit", "kiosk", satisfaction=answer[0], ease=answer[1],
           recommend=answer[2])
    else:
        do("room.reset")


def room_db(path, n: int, agency_type: str) -> None:
    store = Store(path)
    ctl = RoomController(store, "r1", "Raum 1")
    for i in range(n):
        talk(ctl, agency_type=agency_type, settled=i % 3 != 0,
             answer=(5, 4, 10 - i % 4) if i % 2 == 0 else None)
    store.close()


def test_a_room_database_gives_its_facts(tmp_path):
    room_db(tmp_path / "room.db", 6, "Jobcenter")
    facts = load_facts(tmp_path / "room.db")
    assert facts.sessions["n"].sum() == 6 and facts.survey["n"].sum() == 3
    assert set(facts.sessions["mode"]) == {WITH} and set(facts.sessions["types"]) == {JOBCENTER}
    assert set(facts.survey["types"]) == {JOBCENTER} and set(facts.survey["mode"]) == {WITH}
    assert facts.joins["n"].sum() == 6 and (facts.joins["ring_s"] >= 0).all()
    everyone = row(report(facts), "alle")
    assert everyone["share_settled"] == pytest.approx(4 / 6, abs=1e-3)
    assert pd.isna(everyone["nps"])  # three answers: hidden


def test_merged_exports_equal_the_report_over_the_union(tmp_path):
    room_db(tmp_path / "a.db", 6, "Jobcenter")
    room_db(tmp_path / "b.db", 5, "Sozialamt")
    a, b = load_facts(tmp_path / "a.db"), load_facts(tmp_path / "b.db")
    export(a, tmp_path / "a.json", source="raum-a")
    export(b, tmp_path / "b.json", source="raum-b")
    merged = report(merge([tmp_path / "a.json", tmp_path / "b.json"]))
    union = report(Facts.concat([a, b]))
    for name in union:
        assert_frame_equal(merged[name], union[name], check_dtype=False)
    assert row(merged, "alle")["answers"] == 6 and row(merged, "alle")["nps"] is not None
    text = (tmp_path / "a.json").read_text()
    assert "Stelle" not in text and "token" not in text  # no names, no secrets
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(StatsError, match="not a kiosk stats export"):
        merge([tmp_path / "bad.json"])


def test_excel_has_a_sheet_per_table(tmp_path):
    import openpyxl

    (tmp_path / "r.xlsx").write_bytes(to_excel(report(known())))
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert book.sheetnames == ["overview", "distribution", "partners", "per_week", "per_month"]


def test_the_stats_commands(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    room_db(data / "room.db", 10, "Jobcenter")
    run = subprocess.run([*KIOSK, "stats", "report", "--data-dir", str(data), "--format",
                          "json"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    body = json.loads(run.stdout)
    everyone = next(r for r in body["overview"] if r["label"] == "alle")
    assert everyone["sessions"] == 10 and everyone["answers"] == 5
    table = subprocess.run([*KIOSK, "stats", "report", "--data-dir", str(data)],
                           capture_output=True, text=True, timeout=60)
    assert "Overview by segment" in table.stdout and "Jobcenter" in table.stdout
    csv = subprocess.run([*KIOSK, "stats", "report", "--data-dir", str(data), "--format",
                          "csv", "--since", "2000-01-01"], capture_output=True, text=True,
                         timeout=60)
    assert csv.stdout.splitlines()[0].startswith("segment,label,sessions")
    out = tmp_path / "raum-1.json"
    assert subprocess.run([*KIOSK, "stats", "export", "--data-dir", str(data), "--out",
                           str(out)], timeout=60).returncode == 0
    merged = subprocess.run([*KIOSK, "stats", "merge", str(out), str(out), "--format", "json"],
                            capture_output=True, text=True, timeout=60)
    assert next(r for r in json.loads(merged.stdout)["overview"]
                if r["label"] == "alle")["sessions"] == 20
    bad = subprocess.run([*KIOSK, "stats", "report", "--data-dir", str(data), "--since",
                          "yesterday"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "yesterday" in bad.stderr


def test_the_stats_page_draws_charts_and_tables(room_config, new_page, axe_source):
    from conftest import ThreadedRoom, axe_findings
    from playwright.sync_api import expect

    room_db(room_config.data_dir / "room.db", 10, "Jobcenter")
    room = ThreadedRoom(room_config).start()
    try:
        page = new_page(room.urls["stats"])
        overview = page.locator(".stats-overview table")
        expect(overview).to_contain_text("Jobcenter")
        expect(overview.locator("tr", has_text="alle").first).to_contain_text("10")
        expect(page.locator("canvas").first).to_be_visible()  # the Bokeh charts drew
        assert page.locator(".bk-Canvas, canvas").count() >= 2
        with page.expect_download() as download:
            page.get_by_role("button", name="CSV herunterladen").click()
        csv = download.value.path().read_text()
        assert csv.startswith("segment,label,sessions") and "Jobcenter" in csv
        assert axe_findings(page, axe_source) == []
        # A date range with no appointments: the figures go to nought and '–'.
        page.get_by_label("Von (TT.MM.JJJJ)").fill("01.01.2099")
        page.get_by_label("Von (TT.MM.JJJJ)").press("Enter")
        expect(overview.locator("tr", has_text="alle").first.locator("td").nth(2)
               ).to_have_text("0")
        page.get_by_label("Bis (TT.MM.JJJJ)").fill("gestern")
        page.get_by_label("Bis (TT.MM.JJJJ)").press("Enter")
        expect(page.get_by_role("alert")).to_contain_text("kein Datum")
    finally:
        room.stop()


def test_a_new_room_reports_noughts(tmp_path):
    Store(tmp_path / "room.db").close()
    tables = report(load_facts(tmp_path / "room.db"))
    assert row(tables, "alle")["sessions"] == 0 and tables["per_week"].empty
    with pytest.raises(StatsError, match="no room database"):
        load_facts(tmp_path / "missing.db")


def test_the_example_notebook_runs_on_a_data_dir(tmp_path, monkeypatch):
    from pathlib import Path

    notebook = Path(__file__).resolve().parent.parent / "docs" / "evaluation.ipynb"
    cells = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    room_db(tmp_path / "room.db", 6, "Jobcenter")
    monkeypatch.setenv("KIOSK_DATA_DIR", str(tmp_path))
    scope: dict = {}
    for cell in cells:
        exec(compile("".join(cell["source"]), str(notebook), "exec"), scope)
    assert scope["overview"].loc[("Gesamt", "alle"), "sessions"] == 6
    # The worked example merges this room's export with a made-up room of four sessions.
    assert scope["merged"]["overview"].iloc[0]["sessions"] == 6 + 4
    assert len(scope["charts"]) == 2


def test_the_counsellor_records_agency_type_and_outcome_on_control(live_room, new_page):
    from playwright.sync_api import expect

    control = new_page(live_room.urls["control"])
    control.get_by_role("button", name="Sitzung starten").click()
    control.get_by_label("Stelle", exact=True).fill("Jobcenter Mitte")
    control.get_by_label("Art der Stelle").select_option("Jobcenter")
    control.get_by_role("button", name="Per Link einladen").click()
    expect(control.locator(".invite-link")).to_contain_text("/join/")
    partner = live_room.state.partners[0]
    assert (partner.agency, partner.agency_type) == ("Jobcenter Mitte", "Jobcenter")
    control.get_by_label("Folgetermin mit (Stelle)").fill("Ausländerbehörde")
    control.get_by_role("button", name="Folgetermin nötig").click()
    expect(control.locator(".control-outcome")).to_contain_text(
        "Folgetermin mit Ausländerbehörde")
    assert live_room.state.outcome == {"outcome": "follow_up", "follow_up": "Ausländerbehörde"}
    control.get_by_role("button", name="In diesem Termin geklärt").click()
    expect(control.locator(".control-outcome")).to_contain_text("in diesem Termin geklärt")
    row = live_room.room.store.db.execute("SELECT outcome, follow_up FROM sessions").fetchone()
    assert row == ("settled", "")
