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


def test_display_never_shows_internal_notes_and_hides_the_video_during_privacy(link):
    view = DisplayView(link=link)
    talk(link, ("Für alle", True), ("Geheim", False))
    link.state.apply([("room/r1/partners/1", {
        "id": 1, "name": "Herr Kaya", "agency": "Jobcenter", "consent": "granted",
        "admitted": True, "state": "connected"})])
    stage = view._stage
    assert "Für alle" in stage.side and "Geheim" not in stage.side + stage.head
    assert [tile["caption"] for tile in stage.tiles] == ["Herr Kaya · Jobcenter"]
    link.state.apply([("room/r1/privacy", True)])
    # The pause stops the video; the notes are no video and stay (internal ones never show).
    assert stage.tiles == [] and "pausiert" in stage.head
    assert "Für alle" in stage.side and "Geheim" not in stage.side + stage.head


def test_control_lists_every_note_with_its_visibility(link):
    view = ControlView(link=link)

    def actions() -> list[str]:
        return [a["id"] for a in view.header.data["actions"]]
    assert "start" in actions() and "end" not in actions() and not view.talk.editor.visible
    talk(link, ("A", True), ("B", False))
    assert "end" in actions() and "start" not in actions() and view.talk.editor.visible
    assert [(i["text"], i["badge"]) for i in view.talk.notes.items] == [
        ("A", "sichtbar"), ("B", "intern")]
    assert [a["label"] for a in view.talk.notes.items[1]["actions"]] == [
        "Für Klient:in zeigen", "Löschen"]
    # Deleting asks first, in the row.
    assert view.talk.notes.items[1]["actions"][1]["confirm"] == "Diese Notiz löschen?"


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
    assert "Weiter sichtbar" in good._stage.side
    assert broken._watchers == []  # it let go of the shared state
    link.state.apply([("room/r1/notes/2", {"id": 2, "text": "Noch eine", "visible": True})])
    assert "Noch eine" in good._stage.side


@pytest.mark.parametrize("view", [KioskView, ControlView, DisplayView])
def test_views_render_in_a_notebook(link, view):
    pn.extension()
    bundle = view(link=link)._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.holoviews_exec.v0+json" in data or "text/html" in data
