"""The partner directory on /control and /admin: a room with its site on real sockets,
signed-in partner consoles over the site bus, Chromium, and a real SMTP server."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
from conftest import ThreadedRoom, eventually
from playwright.sync_api import expect

from kiosk.config import RoomConfig, SiteConfig
from kiosk.room.client import CommandClient
from kiosk.room.keys import Keyring
from kiosk.site.ringing import RING_TIMEOUT
from kiosk.site.state import Ring, SiteState
from kiosk.views.directory import ring_text

MAX = "max.mustermann@jobcenter.example.org"
ERIKA = "erika.musterfrau@abh.example.org"
MAX_ID, ERIKA_ID, PAULA_ID, FRITZ_ID = 2, 1, 3, 8  # the demo district's contact ids
JOBCENTER = 2
SHOTS = Path(__file__).resolve().parent.parent / ".cache" / "screens"




class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def start_site_room(data_dir, port, **room) -> ThreadedRoom:
    """A room with an embedded demo site (as ``kiosk demo``), its partner console on a free
    port, and the site's ring clock in the test's hand (``room.clock.now += …``)."""
    Keyring(data_dir / "keys").init()
    config = RoomConfig(data_dir=data_dir, http_port=port, bus_router="tcp://127.0.0.1:0",
                        bus_pub="tcp://127.0.0.1:0", camera_watch=False, **room)
    site = SiteConfig(data_dir=data_dir / "site", router="tcp://127.0.0.1:0",
                      pub="tcp://127.0.0.1:0", heartbeat=0.2, demo=True, http_port=0)
    started = ThreadedRoom(config, site=site).start()
    rings = started.room.site.controller.rings
    started.clock = Clock(rings.clock())
    rings.clock = started.clock
    return started


@pytest.fixture
def site_room(data_dir, port, smtp):
    """A site room whose mail goes to the test's SMTP server."""
    room = start_site_room(data_dir, port, mail_host="127.0.0.1", mail_port=smtp[0].port,
                           mail_starttls=False)
    yield room
    room.stop()


class Console:
    """A signed-in partner console's server side: console-role commands on the site bus."""

    def __init__(self, room: ThreadedRoom, address: str) -> None:
        site = room.room.site
        self.room = room
        self.client = room.call(self._client(site))
        reply = self.send("partner.signin", email=address, password=site.demo_password)
        assert reply.ok, reply.error
        self.token = reply.data["token"]

    @staticmethod
    async def _client(site) -> CommandClient:
        return CommandClient(site.endpoints[0], role="console", context=site.context,
                             keys=site.keyring.client("console"))

    def send(self, name: str, **args):
        if getattr(self, "token", None):
            args = {"token": self.token, **args}
        return self.room.call(self.client.request(name, args))

    def close(self) -> None:
        self.room.call(self.client.close())


def site_state(room: ThreadedRoom) -> SiteState:
    return room.room.site_link.state


def row(page, item: str):
    return page.locator(f".directory-contacts li[data-item='{item}']")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_ring_texts_name_state_reason_and_countdown():
    contacts = {}
    base = dict(id="r", room="raum", room_name="Raum", counsellor="A", topic="Arbeit", agency=2)
    assert ring_text(Ring(**base, status="declined", reason="busy"), contacts) == \
        "abgelehnt – keine Zeit"
    assert ring_text(Ring(**base, status="declined", reason="not_our_matter"), contacts) == \
        "abgelehnt – nicht zuständig"
    assert ring_text(Ring(**base, status="timeout"), contacts) == \
        f"keine Antwort ({int(RING_TIMEOUT)} s)"
    assert ring_text(Ring(**base, status="failed", reason="kein Gespräch"), contacts) == \
        "fehlgeschlagen – kein Gespräch"
    assert re.fullmatch(r"klingelt – noch \d+ s", ring_text(Ring(**base), contacts))


def test_control_shows_the_directory_with_presence_filters_and_rings(site_room, new_page):
    room = site_room
    assert room.command("session.start").ok
    assert room.command("session.topics", topics=["Arbeit"]).ok
    max_, erika = Console(room, MAX), Console(room, ERIKA)
    try:
        assert max_.send("presence.beat").ok
        assert erika.send("presence.beat", status="busy").ok
        eventually(lambda: site_state(room).status(ERIKA_ID) == "busy")
        page = new_page(room.urls["control"])
        # The talk's topic is preselected: the Jobcenter's Max, not Erika.
        expect(row(page, f"c{MAX_ID}")).to_contain_text("[Verfügbar]")
        expect(row(page, f"a{JOBCENTER}")).to_contain_text("Dienst: 1 verfügbar")
        expect(row(page, f"c{ERIKA_ID}")).to_have_count(0)
        shot(page, "control-directory")
        # Every topic, language tr: Erika (busy) and Fritz (not signed in).
        page.locator(".directory-topic select").select_option(label="alle Themen")
        expect(row(page, f"c{ERIKA_ID}")).to_contain_text("[Beschäftigt]")
        language = page.locator(".directory-language select")
        language.select_option(label="Türkisch (tr)")
        expect(language).to_have_value("Türkisch (tr)")  # the choice holds
        expect(row(page, f"c{FRITZ_ID}")).to_contain_text("[nicht da]")
        expect(row(page, f"c{MAX_ID}")).to_have_count(0)
        expect(row(page, f"c{ERIKA_ID}").get_by_role("button", name="Anrufen")).to_have_count(0)
        page.locator(".directory-language select").select_option(label="alle Sprachen")
        page.locator(".directory-topic select").select_option(label="Arbeit")

        # Anrufen rings Max; his decline with its reason shows on /control.
        row(page, f"c{MAX_ID}").get_by_role("button", name="Anrufen").click()
        eventually(lambda: len(site_state(room).rings) == 1)
        ring = next(iter(site_state(room).rings.values()))
        assert (ring.contact, ring.topic, ring.status) == (MAX_ID, "Arbeit", "ringing")
        rings = page.locator(".directory-rings")
        expect(rings).to_contain_text("klingelt – noch")
        assert max_.send("ring.decline", ring=ring.id, reason="busy").ok
        expect(rings).to_contain_text("abgelehnt – keine Zeit")

        # Nobody answers for 60 s: "keine Antwort".
        row(page, f"c{MAX_ID}").get_by_role("button", name="Anrufen").click()
        eventually(lambda: len(site_state(room).rings) == 2)
        room.clock.now += RING_TIMEOUT + 1
        expect(rings).to_contain_text(f"keine Antwort ({int(RING_TIMEOUT)} s)")

        # The duty desk: every available Jobcenter contact rings; the room cancels it.
        assert max_.send("presence.beat").ok
        row(page, f"a{JOBCENTER}").get_by_role("button", name="Dienst anrufen").click()
        eventually(lambda: any(r.contact is None and r.status == "ringing"
                               for r in site_state(room).rings.values()))
        desk = next(r for r in site_state(room).rings.values() if r.contact is None)
        assert (desk.agency, desk.ringing) == (JOBCENTER, (MAX_ID,))
        page.locator(f".directory-rings li[data-item='{desk.id}']").get_by_role(
            "button", name="Abbrechen").click()
        expect(page.locator(f".directory-rings li[data-item='{desk.id}']")).to_contain_text(
            "abgebrochen")
        shot(page, "control-rings")
    finally:
        max_.close()
        erika.close()


def test_a_link_by_mail_reaches_the_contact_and_the_partner_can_be_muted(site_room, smtp,
                                                                          new_page):
    room, inbox = site_room, smtp[1]
    assert room.command("session.start").ok
    assert room.command("session.topics", topics=["Arbeit"]).ok
    page = new_page(room.urls["control"])
    row(page, f"c{MAX_ID}").get_by_role("button", name="Link per E-Mail").click()
    eventually(lambda: inbox.mails, timeout=15)
    _, to, msg = inbox.received[0]
    assert to == [MAX]
    body = msg.get_body(("plain",)).get_content()
    link = re.search(r"http://\S+/join/\S+", body).group(0)
    assert "Arbeit" in body and link.startswith(room.room.link.base_url)
    partners = page.locator(".control-partners")
    expect(partners).to_contain_text("Link per E-Mail gesendet")
    partner = room.state.partners[0]
    assert (partner.name, partner.agency, partner.agency_type, partner.purpose,
            partner.link_mail) == ("Max Mustermann", "Jobcenter Musterstadt", "Jobcenter",
                                   "Arbeit", "sent")
    # The link works: the partner's page opens with it.
    with urllib.request.urlopen(link, timeout=10) as answer:
        assert answer.status == 200

    # Shown once, to copy.
    row(page, f"c{MAX_ID}").get_by_role("button", name="Link anzeigen").click()
    expect(page.locator(".directory-link")).to_contain_text("/join/")

    # Mute: the engine's gate in front of Max's sound closes.
    engine = room.room.engine
    gate = room.call(_mute_gate(engine, partner.id))
    assert gate.open
    page.locator(f".control-partners li[data-item='{partner.id}']").get_by_role(
        "button", name="Stumm").click()
    eventually(lambda: room.state.partners[0].muted)
    eventually(lambda: not gate.open)
    expect(partners).to_contain_text("stumm")
    shot(page, "control-partner-muted")
    page.locator(f".control-partners li[data-item='{partner.id}']").get_by_role(
        "button", name="Ton an").click()
    eventually(lambda: gate.open)

    # The handout: the client agreed to Max; his agency's phone from the directory.
    assert room.command("consent.answer", as_="kiosk", partner=partner.id, yes=True,
                        version="de:x").ok
    with urllib.request.urlopen(room.urls["kiosk"].rsplit("/", 1)[0] + "/summary",
                                timeout=10) as answer:
        handout = answer.read().decode("utf-8")
    assert "Jobcenter Musterstadt" in handout and "0123 456 7802" in handout
    assert MAX in handout


async def _mute_gate(engine, partner: int):
    return engine.mute_gate(partner)


def test_without_a_site_control_offers_only_the_link(live_room, new_page):
    assert live_room.command("session.start").ok
    page = new_page(live_room.urls["control"])
    expect(page.locator(".directory-info")).to_contain_text("kein Partnernetz")
    expect(page.locator(".directory-contacts")).to_have_count(0)


GOOD = ("agency,agency_type,name,role,languages,topics,email,phone,hours\n"
        "Jobcenter Musterstadt,Jobcenter,Mia Musterkollegin,Vermittlung,de;en,Arbeit,"
        "mia@jobcenter.example.org,0123 456 7809,Mo–Fr\n")
BAD = (GOOD + "Sozialamt Musterstadt,Sozialamt,Nina Neu,,deutsch,,nina@sozialamt.example.org,"
       "0123 456 7810,\nSozialamt Musterstadt,Sozialamt,Olga Ohne,,de,,olga-at-example,"
       "0123 456 7811,\n")


def test_admin_imports_all_or_nothing_and_exports_the_directory(site_room, new_page,
                                                                tmp_path):
    room = site_room
    before = len(site_state(room).contacts)
    page = new_page(room.urls["admin"])
    status = page.locator(".directory-status")
    upload = page.locator("input[type=file]")
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD, encoding="utf-8")
    upload.set_input_files(str(bad))
    expect(status).to_contain_text("Nichts wurde übernommen")
    expect(status).to_contain_text("Zeile 3: Bitte Sprachen als Kürzel eintragen")
    expect(status).to_contain_text("Zeile 4: Die E-Mail-Adresse stimmt nicht")
    expect(status).not_to_contain_text("must be")
    shot(page, "admin-import-error")
    assert len(site_state(room).contacts) == before
    assert "mia@jobcenter.example.org" not in {c.email for c in
                                               site_state(room).contacts.values()}
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    upload.set_input_files(str(good))
    expect(status).to_contain_text("Importiert: 1 Zeilen (1 neu, 0 aktualisiert)")
    eventually(lambda: len(site_state(room).contacts) == before + 1)
    expect(page.locator(".admin-directory")).to_contain_text("Mia Musterkollegin")
    # Export: what the site exports, Mia included.
    for _ in range(5):  # the panel fetches the site's export after each change
        with page.expect_download() as download:
            page.get_by_role("button", name="Verzeichnis als CSV herunterladen").click()
        text = Path(download.value.path()).read_text(encoding="utf-8")
        if "mia@" in text:
            break
        page.wait_for_timeout(300)
    assert text.startswith("agency,agency_type,name,")
    assert "mia@jobcenter.example.org" in text and MAX in text
    # Edit Mia: a new phone, and an account for the partner console.
    mia = next(c for c in site_state(room).contacts.values() if c.email.startswith("mia@"))
    page.locator(f".admin-directory li[data-item='{mia.id}']").get_by_role(
        "button", name="Bearbeiten").click()
    expect(page.locator(".directory-person input")).to_have_value("Mia Musterkollegin")
    expect(page.locator(".directory-phone input")).to_have_value("0123 456 7809")  # loaded
    page.locator(".directory-phone input").fill("0123 456 7999")
    expect(page.locator(".directory-phone input")).to_have_value("0123 456 7999")
    page.locator(".directory-phone input").press("Enter")
    page.locator(".directory-password input").fill("ein-gutes-passwort-1")
    page.locator(".directory-password input").press("Enter")
    page.get_by_role("button", name="Passwort setzen").click()
    expect(status).to_contain_text("Passwort für Mia Musterkollegin gesetzt")
    eventually(lambda: site_state(room).contacts[mia.id].account, timeout=15)
    page.get_by_role("button", name="Kontakt speichern").click()
    expect(status).to_contain_text("Mia Musterkollegin gespeichert")
    eventually(lambda: site_state(room).contacts[mia.id].phone == "0123 456 7999", timeout=15)
    expect(page.locator(f".admin-directory li[data-item='{mia.id}']")).to_contain_text(
        "[Konto]")
    # A bad address is refused by the site, with its reason.
    page.get_by_role("button", name="Neuer Kontakt").click()
    page.locator(".directory-person input").fill("Ohne Adresse")
    page.locator(".directory-person input").press("Enter")
    page.get_by_role("button", name="Kontakt speichern").click()
    expect(status).to_contain_text("Nicht gespeichert: Die Stelle fehlt")
    shot(page, "admin-directory")
