"""Topics of a talk and the client's summary: the PDF, the print page, the mail."""

from __future__ import annotations

import io
import json

import pypdf
import pytest

from kiosk.agencies import TOPICS
from kiosk.contacts import Contact, add_directory, remove_directory
from kiosk.messages import Command
from kiosk.summary import Summary, content, page_html
from kiosk.summary_pdf import pdf

INTERNAL = "INTERN-Vermerk: Schulden beim Vermieter"
PARTNER = {"name": "Frau Demir", "agency": "Ausländerbehörde Musterstadt",
           "role": "Sachbearbeitung", "purpose": "Arbeitserlaubnis klären"}


def ok(controller, command: str, /, as_: str = "counsellor", **args):
    reply, _ = controller.handle(Command(command, args, as_))
    assert reply.ok, reply.error
    return reply


def a_talk(controller, language: str = "de") -> None:
    """A talk with a visible and an internal note, two steps, a partner who took part."""
    ok(controller, "language.set", language=language)
    ok(controller, "session.start")
    ok(controller, "note.add", text="Lebenslauf überarbeiten", visible=True)
    ok(controller, "note.add", text=INTERNAL, visible=False)
    ok(controller, "step.add", what="Antrag auf Arbeitserlaubnis stellen", who="client",
       due="2026-12-15")
    ok(controller, "step.add", what="Rückruf wegen Termin", who="Ausländerbehörde")
    ok(controller, "session.topics", topics=["Aufenthalt und Arbeitserlaubnis", "Arbeit"])
    partner = ok(controller, "consent.request", **PARTNER).data["id"]
    ok(controller, "consent.answer", as_="kiosk", partner=partner, yes=True, version="de:x")
    ok(controller, "session.outcome", outcome="follow_up", follow_up="Ausländerbehörde")
    ok(controller, "session.end")


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1  # one page to hand out
    return reader.pages[0].extract_text()


# -- topics ------------------------------------------------------------------------
def test_topics_are_checked_kept_in_order_stored_and_cleared(controller, store):
    ok(controller, "session.start")
    assert ok(controller, "session.topics", topics=["Rente", "Ausbildung", "Rente"])
    assert controller.state.topics == ["Ausbildung", "Rente"]  # TOPICS' order, each once
    sid = controller.state.session_id
    assert json.loads(store.db["sessions"].get(sid)["topics"]) == ["Ausbildung", "Rente"]
    for bad in (["Urlaub"], "Rente", [1]):
        reply, updates = controller.handle(Command("session.topics", {"topics": bad},
                                                   "counsellor"))
        assert not reply.ok and reply.code == "schema" and updates == []
    assert controller.state.topics == ["Ausbildung", "Rente"]  # a refusal changes nothing
    reply, _ = controller.handle(Command("session.topics", {"topics": ["Rente"]}, "kiosk"))
    assert reply.code == "role"
    ok(controller, "room.reset")
    assert controller.state.topics == []
    assert json.loads(store.db["sessions"].get(sid)["topics"]) == ["Ausbildung", "Rente"]


def test_topics_survive_a_restart_of_the_controller(store):
    from kiosk.controller import RoomController

    first = RoomController(store, "r1", "Raum 1")
    ok(first, "session.start")
    ok(first, "session.topics", topics=list(TOPICS[:2]))
    again = RoomController(store, "r1", "Raum 1")
    assert again.state.topics == list(TOPICS[:2])
    assert "room/r1/topics" in again.state.to_updates()


# -- the handout -------------------------------------------------------------------
def test_the_pdf_holds_steps_contacts_topics_outcome_and_no_internal_note(controller):
    a_talk(controller)
    summary = Summary.of(controller.state, agency="Agentur für Arbeit Musterstadt")
    text = pdf_text(pdf(summary))
    for shown in ("Agentur für Arbeit Musterstadt", "Nächste Schritte",
                  "Antrag auf Arbeitserlaubnis stellen", "15.12.2026", "Rückruf wegen Termin",
                  "Ihre Ansprechpersonen", "Ausländerbehörde Musterstadt", "Frau Demir",
                  "Sachbearbeitung", "Aufenthalt und Arbeitserlaubnis", "Lebenslauf überarbeiten",
                  "Folgetermin mit: Ausländerbehörde"):
        assert shown in text, shown
    assert "INTERN" not in text and "Schulden" not in text
    assert "Arbeitserlaubnis klären" not in text  # the partner's purpose is not a contact
    assert "INTERN" not in page_html(summary)


@pytest.mark.parametrize("language, heading", [
    ("ar", "الخطوات التالية"), ("uk", "Наступні кроки"), ("ru", "Следующие шаги"),
    ("tr", "Sonraki adımlar"), ("en", "Next steps")])
def test_the_pdf_is_german_and_the_clients_language(controller, language, heading):
    a_talk(controller, language)
    text = pdf_text(pdf(Summary.of(controller.state)))
    assert "Nächste Schritte" in text and heading in text


def test_a_directory_adds_mail_and_phone_to_a_contact(controller):
    a_talk(controller)

    def directory(c: Contact) -> Contact:
        if c.agency.startswith("Ausländerbehörde"):
            return Contact(**{**c.__dict__, "email": "abh@musterstadt.example",
                              "phone": "030 1234-56"})
        return c
    add_directory(directory)
    try:
        text = pdf_text(pdf(Summary.of(controller.state)))
    finally:
        remove_directory(directory)
    assert "abh@musterstadt.example" in text and "030 1234-56" in text


def test_only_partners_who_took_part_are_contacts(controller):
    ok(controller, "session.start")
    declined = ok(controller, "consent.request", **{**PARTNER, "name": "Herr Nein"}).data["id"]
    ok(controller, "consent.answer", as_="kiosk", partner=declined, yes=False, version="de:x")
    ok(controller, "consent.request", **{**PARTNER, "name": "Frau Offen"})
    sections = {s.key: s for s in content(Summary.of(controller.state))}
    assert "contacts" not in sections
    assert sections["steps"].items[0].lines[0][1] == "Keine Einträge."
