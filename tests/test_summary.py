"""Topics of a talk and the client's summary: the PDF, the print page, the mail."""

from __future__ import annotations

import io
import json

import pypdf
import pytest
from conftest import ThreadedRoom
from playwright.sync_api import expect

from kiosk.app.room import free_port
from kiosk.handout.contacts import Contact, add_directory, remove_directory
from kiosk.handout.pdf import pdf
from kiosk.handout.summary import Summary, content, page_html
from kiosk.i18n import t
from kiosk.room.agencies import TOPICS
from kiosk.room.messages import Command

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
    from kiosk.app.features import RoomController

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


# -- in a running room: the kiosk, the mail, the print page ----------------------------------
@pytest.fixture
def mail_room(room_config, smtp):
    """A room whose mail goes to the test's SMTP server."""
    server, _ = smtp
    room = ThreadedRoom(room_config.with_(mail_host="127.0.0.1", mail_port=server.port,
                                          mail_starttls=False)).start()
    yield room
    room.stop()


def room_talk(room: ThreadedRoom, language: str = "de") -> None:
    assert room.command("language.set", as_="kiosk", language=language).ok
    assert room.command("session.start").ok
    assert room.command("note.add", text="Lebenslauf überarbeiten", visible=True).ok
    assert room.command("note.add", text=INTERNAL, visible=False).ok
    assert room.command("step.add", what="Antrag auf Arbeitserlaubnis stellen", who="client",
                        due="2026-12-15").ok
    assert room.command("step.add", what="Rückruf wegen Termin", who="Ausländerbehörde").ok
    assert room.command("session.topics", topics=["Aufenthalt und Arbeitserlaubnis",
                                                  "Arbeit"]).ok
    partner = room.command("consent.request", **PARTNER).data["id"]
    assert room.command("consent.answer", as_="kiosk", partner=partner, yes=True,
                        version="de:x").ok
    assert room.command("session.outcome", outcome="follow_up", follow_up="Ausländerbehörde").ok
    assert room.command("session.end").ok


def files_of(room: ThreadedRoom) -> dict[str, bytes]:
    """Every file of the room's SQLite database (main file, WAL, shared memory)."""
    db = room.room.config.db_path
    return {p.name: p.read_bytes() for p in db.parent.glob(db.name + "*")}


def test_the_summary_mail_arrives_with_the_pdf_and_the_address_is_kept_nowhere(
        mail_room, smtp, new_page, tmp_path):
    _, inbox = smtp
    address = "klientin.mustermann@example.org"
    room_talk(mail_room)
    kiosk = new_page(mail_room.urls["kiosk"])
    expect(kiosk.locator("h1")).to_have_text("Zusammenfassung")
    expect(kiosk.locator("ul.topics li")).to_have_text(
        ["Arbeit", "Aufenthalt und Arbeitserlaubnis"])
    expect(kiosk.locator("ul.people")).to_contain_text("Ausländerbehörde Musterstadt")
    expect(kiosk.locator("main")).to_contain_text("Folgetermin mit: Ausländerbehörde")
    assert "INTERN" not in kiosk.content()

    kiosk.get_by_label("Ihre E-Mail-Adresse").fill("klientin@@example")  # malformed
    kiosk.get_by_role("button", name="Per E-Mail senden").click()
    expect(kiosk.get_by_role("alert")).to_have_text(
        "Bitte geben Sie eine E-Mail-Adresse wie name@beispiel.de ein.")
    assert mail_room.state.summary_mail is None and inbox.mails == []  # nothing changed

    kiosk.get_by_label("Ihre E-Mail-Adresse").fill(address)
    kiosk.get_by_role("button", name="Per E-Mail senden").click()
    expect(kiosk.locator(".mail-status")).to_have_text("Die E-Mail wurde gesendet.")
    expect(kiosk.get_by_label("Ihre E-Mail-Adresse")).to_have_value("")
    kiosk.screenshot(path=str(tmp_path / "kiosk-summary.png"), full_page=True)

    (_, rcpts, msg), = inbox.received
    assert rcpts == [address]
    assert msg["Subject"].startswith("Zusammenfassung Ihres Beratungsgesprächs vom ")
    attachment, = msg.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    text = pdf_text(attachment.get_content())
    for shown in ("Antrag auf Arbeitserlaubnis stellen", "Rückruf wegen Termin",
                  "Ausländerbehörde Musterstadt", "Frau Demir", "Lebenslauf überarbeiten"):
        assert shown in text, shown
    assert "INTERN" not in text and "Schulden" not in text

    def nowhere() -> None:
        state = json.dumps(mail_room.state.to_updates(), ensure_ascii=False)
        controller = mail_room.room.controller
        kept = json.dumps({k: u.value for k, u in controller.kv.items()}, ensure_ascii=False)
        assert address not in state and address not in kept
        assert address not in json.dumps(controller.state.to_updates(), ensure_ascii=False)
        for name, data in files_of(mail_room).items():
            assert address.encode() not in data, name
            assert address.encode("utf-16-le") not in data, name
    nowhere()
    mail_room.call(_checkpoint(mail_room))  # also once the WAL went into the file
    nowhere()
    kiosk.get_by_role("button", name="Fertig, ohne Umfrage").click()
    expect(kiosk.locator("h1")).to_have_text("Vielen Dank!")
    nowhere()


async def _checkpoint(room: ThreadedRoom) -> None:
    room.room.store.checkpoint()


def test_a_failed_mail_is_shown_as_failed(live_room, new_page):
    # The demo's outbox is off and no server is set: the mail cannot leave.
    live_room.room.link.mail_ready = True
    room_talk(live_room, "en")
    kiosk = new_page(live_room.urls["kiosk"])
    expect(kiosk.locator("h1")).to_have_text("Summary")
    kiosk.get_by_label("Your email address").fill("client@example.org")
    kiosk.get_by_role("button", name="Send by email").click()
    expect(kiosk.locator(".mail-status")).to_have_text(
        "The email could not be sent. Please ask your counsellor.")
    assert live_room.state.summary_mail == {"status": "failed"}


#: Every property value of every model in the page's Bokeh documents, as JSON text.
BOKEH_MODELS = """() => {
  const out = [];
  for (const doc of Bokeh.documents) for (const model of doc.all_models) {
    out.push(JSON.stringify(model.attributes, (key, value) =>
      typeof value === "function" ? undefined :
      key !== "" && value && typeof value === "object" && "attributes" in value ?
        `ref:${value.id}` : value));
  }
  return out.join("\\n");
}"""


def test_control_notes_steps_and_topics_reach_the_kiosk_but_internal_notes_never(
        live_room, new_page):
    frames: list[str] = []

    def record(ws) -> None:
        ws.on("framereceived", lambda payload: frames.append(
            payload if isinstance(payload, str) else payload.decode("utf-8", "replace")))
    control = new_page(live_room.urls["control"])
    kiosk = new_page()
    kiosk.on("websocket", record)
    kiosk.goto(live_room.urls["kiosk"])
    display = new_page(live_room.urls["display"])
    control.get_by_role("button", name="Sitzung starten").click()
    expect(kiosk.locator("h1")).to_have_text("Ihr Gespräch")

    control.get_by_role("button", name="Ausbildung").click()
    control.get_by_role("button", name="Anerkennung ausländischer Abschlüsse").click()
    expect(control.get_by_role("button", name="✓ Ausbildung")).to_have_attribute(
        "aria-pressed", "true")
    expect(kiosk.locator("ul.topics li")).to_have_text(
        ["Ausbildung", "Anerkennung ausländischer Abschlüsse"])
    expect(display.locator("ul.topics li")).to_have_count(2)
    control.get_by_role("button", name="✓ Ausbildung").click()  # off again
    expect(kiosk.locator("ul.topics li")).to_have_text(["Anerkennung ausländischer Abschlüsse"])

    control.get_by_role("button", name="Für Klient:in sichtbar").click()  # internal now
    control.get_by_label("Neue Notiz").fill(INTERNAL)
    control.get_by_role("button", name="Notiz hinzufügen").click()
    expect(control.get_by_text(f"[intern] {INTERNAL}")).to_be_visible()
    control.get_by_role("button", name="Für Klient:in sichtbar").click()  # visible again
    control.get_by_label("Neue Notiz").fill("Zeugnisse übersetzen lassen")
    # A visible note shows on the client's screens as it is typed, before it is saved.
    expect(kiosk.locator("ul.notes li")).to_have_text("Zeugnisse übersetzen lassen")
    expect(display.locator("li[data-note]")).to_have_text("Zeugnisse übersetzen lassen")
    assert live_room.sql("SELECT COUNT(*) FROM notes WHERE text LIKE 'Zeugnisse%'") == [(0,)]
    control.get_by_role("button", name="Notiz hinzufügen").click()
    expect(control.get_by_text("[sichtbar] Zeugnisse übersetzen lassen")).to_be_visible()
    expect(kiosk.locator("ul.notes li")).to_have_count(1)
    assert live_room.state.draft == ""
    expect(kiosk.locator("ul.notes li")).to_have_text("Zeugnisse übersetzen lassen")
    expect(display.locator("li[data-note]")).to_have_text("Zeugnisse übersetzen lassen")

    control.get_by_label("Was").fill("Unterlagen zur IHK bringen")
    control.locator("select").first.select_option("Kammer (IHK/HWK)")
    control.get_by_role("button", name="Schritt hinzufügen").click()
    expect(kiosk.locator("ul.steps li")).to_contain_text("Unterlagen zur IHK bringen")
    expect(kiosk.locator("ul.steps li .meta")).to_have_text("Kammer (IHK/HWK)")
    assert live_room.state.next_steps[0].who == "Kammer (IHK/HWK)"

    control.get_by_role("button", name="Sitzung beenden").click()
    expect(kiosk.locator("h1")).to_have_text("Zusammenfassung")
    for page in (kiosk, display):
        assert "Schulden" not in page.content()
        bokeh = page.evaluate(BOKEH_MODELS)
        assert "Zeugnisse" in bokeh or page is display  # the check can see the notes
        assert "Schulden" not in bokeh
    assert any("Zeugnisse" in f for f in frames)  # the recorder saw the kiosk's traffic
    assert not any("Schulden" in f for f in frames)


def test_the_print_page_and_the_pdf_for_the_room_and_staff_only(live_room, new_page,
                                                                  tmp_path):
    import urllib.error
    import urllib.request

    base = live_room.urls["kiosk"].rsplit("/", 1)[0]
    with pytest.raises(urllib.error.HTTPError) as idle:
        urllib.request.urlopen(f"{base}/summary", timeout=10)
    assert idle.value.code == 404  # no talk, nothing to hand out
    room_talk(live_room, "ar")
    with urllib.request.urlopen(f"{base}/summary.pdf", timeout=10) as resp:
        assert resp.headers["Content-Type"] == "application/pdf"
        assert resp.headers["Cache-Control"] == "no-store"
        text = pdf_text(resp.read())
    assert "الخطوات التالية" in text and "Frau Demir" in text and "Schulden" not in text

    page = new_page(f"{base}/summary")
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    expect(page.locator("h1")).to_contain_text("Zusammenfassung Ihres Beratungsgesprächs")
    expect(page.locator("section.steps li")).to_have_count(2)
    assert "Schulden" not in page.content()
    expect(page.locator(".tools button").first).to_have_text(t("ar", "summary.print"))
    page.emulate_media(media="print")
    expect(page.locator(".tools")).to_be_hidden()
    page.screenshot(path=str(tmp_path / "summary-print.png"), full_page=True)
    tablet = new_page(f"{base}/summary?ui=de")  # the counsellor's link from /control
    expect(tablet.locator(".tools button").first).to_have_text("Drucken")
    expect(tablet.locator(".tools")).to_have_attribute("lang", "de")
    expect(tablet.locator("section.steps li")).to_have_count(2)


def test_the_summary_is_refused_to_other_hosts_without_a_staff_sign_in(data_dir):
    from test_access import own_address, request

    from kiosk.config import RoomConfig
    from kiosk.room.keys import Keyring

    address = own_address()
    assert address, "this test needs a non-loopback IPv4 address (see `ip addr`)"
    Keyring(data_dir / "keys").init()
    room = ThreadedRoom(RoomConfig(data_dir=data_dir, http_port=free_port(),
                                   http_address="0.0.0.0", bus_router="tcp://127.0.0.1:0",
                                   bus_pub="tcp://127.0.0.1:0", camera_watch=False)).start()
    try:
        room_talk(room)
        for path in ("/summary", "/summary.pdf"):
            assert request(room, "GET", path).status == 200  # the kiosk on the room PC
            refused = request(room, "GET", path, host=address)
            assert refused.status == 403 and "Schritte" not in refused.text
            name = room.test_cookies()[0]["name"]
            staff = request(room, "GET", path, host=address,
                            cookies={name: room.sign_in("counsellor")})
            assert staff.status == 200
            evaluator = request(room, "GET", path, host=address,
                                cookies={name: room.sign_in("evaluator")})
            assert evaluator.status == 403
    finally:
        room.stop()
