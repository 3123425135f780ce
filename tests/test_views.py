"""View-models without a server: what each page shows for a given room state."""

from __future__ import annotations

import panel as pn
import pytest

from kiosk.room.link import RoomLink
from kiosk.views import ControlView, DisplayView, KioskView


@pytest.fixture
def link():
    """A link whose state the test sets directly (nothing is connected)."""
    lk = RoomLink("inproc://nobody", "inproc://nobody")
    lk.state.apply([("room/r1/info", {"name": "Raum 1"}), ("room/r1/phase", "idle")],
                   replace=True, seq=3)
    return lk


def talk(link, *notes):
    items = [("room/r1/phase", "consulting"), ("room/r1/session", {"id": "s", "started": "t"})]
    items += [(f"room/r1/notes/{i}", {"id": i, "text": text, "visible": visible})
              for i, (text, visible) in enumerate(notes, 1)]
    link.state.apply(items)


def test_kiosk_follows_the_phase(link):
    view = KioskView(link=link)
    screen = view._screen.screen
    assert (screen["kind"], screen["title"]) == ("welcome", "Willkommen")
    assert [a["id"] for a in screen["actions"]] == ["checkin.open"]
    talk(link, ("Sichtbar <b>fett</b>", True), ("Nur intern", False))
    screen = view._screen.screen
    assert screen["kind"] == "session" and screen["privacy"]["label"] == "Video pausieren"
    notes = next(b for b in screen["blocks"] if b.get("variant") == "notes")
    assert [i["text"] for i in notes["items"]] == ["Sichtbar <b>fett</b>"]  # drawn as text
    assert "Nur intern" not in repr(screen)
    link.state.apply([("room/r1/privacy", True)])
    screen = view._screen.screen
    assert screen["blocks"][0] == {"type": "notice", "text": (
        "Das Video ist pausiert. Niemand sieht oder hört Sie per Video.")}
    assert screen["privacy"] == {"on": True, "label": "Video fortsetzen"}
    link.state.apply([("room/r1/phase", "survey")])
    assert view._screen.screen["title"] == "Drei kurze Fragen"


def test_display_never_shows_internal_notes_and_blanks_during_privacy(link):
    view = DisplayView(link=link)
    talk(link, ("Für alle", True), ("Geheim", False))
    assert "Für alle" in view._body.object and "Geheim" not in view._body.object
    link.state.apply([("room/r1/privacy", True)])
    assert "Für alle" not in view._body.object and "pausiert" in view._body.object


def test_control_lists_every_note_with_its_visibility(link):
    view = ControlView(link=link)
    assert view._start.visible and not view._end.visible and not view._editor.visible
    talk(link, ("A", True), ("B", False))
    assert view._end.visible and view._editor.visible
    assert [(i["text"], i["badge"]) for i in view._notes.items] == [
        ("A", "sichtbar"), ("B", "intern")]
    assert [a["label"] for a in view._notes.items[1]["actions"]] == [
        "Für Klient:in zeigen", "Löschen"]


def test_kiosk_survey_needs_all_three_answers(link):
    view = KioskView(link=link)
    link.state.apply([("room/r1/phase", "survey")])
    view._on_action({"action": "answer", "q": "ease", "v": 4})
    view._on_action({"action": "answer", "q": "ease", "v": 99})  # not on the scale: ignored
    view._on_action({"action": "survey.send"})  # refused locally, before any bus traffic
    assert view.ease == 4 and "alle drei Fragen" in view.error


def test_a_broken_view_is_detached_and_the_others_keep_updating(link):
    good, broken = DisplayView(link=link), DisplayView(link=link)

    def fail(*events):
        raise RuntimeError("session gone")

    broken._render = fail
    broken.detach()
    broken.watch_state(fail, "notes")
    talk(link, ("Weiter sichtbar", True))
    assert "Weiter sichtbar" in good._body.object
    assert broken._watchers == []  # it let go of the shared state
    link.state.apply([("room/r1/notes/2", {"id": 2, "text": "Noch eine", "visible": True})])
    assert "Noch eine" in good._body.object


@pytest.mark.parametrize("view", [KioskView, ControlView, DisplayView])
def test_views_render_in_a_notebook(link, view):
    pn.extension()
    bundle = view(link=link)._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.holoviews_exec.v0+json" in data or "text/html" in data
