"""The partner directory on /control: who is there, ring them, or send them a link.

A sub-panel of the console's partner pane, shown during a talk. It reads the
site's mirror (``link.site.state``: directory, presence, rings) and forwards
the counsellor's actions: ``link.site.ring`` / ``cancel`` for calls, the room's
``partner.invite`` for the link fallback (shown once with a copy button, or
mailed by the room to the contact's directory address). By default it shows
the contacts for any of the talk's topics. It also tells the console's header
which duty desk one touch would ring, and how the last ring went. Without a
site, it says so and leaves the invitation form of the partner pane.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from kiosk.exceptions import BusError
from kiosk.room.agencies import AGENCY_TYPES, TOPICS
from kiosk.site.directory import Contact
from kiosk.site.ringing import RING_TIMEOUT, seconds_left
from kiosk.site.state import Ring, SiteState
from kiosk.views import touch
from kiosk.views.base import STYLES, escape
from kiosk.views.fields import CopyLink
from kiosk.views.itemlist import ItemList
from kiosk.views.plain import german_until, language_name, plain

#: A contact's presence in words (never by colour alone).
PRESENCE_LABELS = {"available": "Verfügbar", "busy": "Beschäftigt", "away": "Abwesend",
                   None: "nicht da"}
PRESENCE_ORDER = {"available": 0, "busy": 1, "away": 2, None: 3}
#: Why a partner declined, in German.
DECLINE_LABELS = {"busy": "keine Zeit", "not_our_matter": "nicht zuständig"}
#: The topic filter's values for "any of the talk's topics" and "every topic".
TALK, ALL = "talk", "all"


def ring_text(ring: Ring, contacts: dict[int, Contact], *, countdown: str = "") -> str:
    """Where a ring stands, in words (``countdown`` stands in for the seconds left)."""
    def name(contact: int | None) -> str:
        c = contacts.get(contact)
        return c.name if c else "ein Kontakt"
    declines = ", ".join(f"{name(c)}: {DECLINE_LABELS.get(r, r)}" for c, r in ring.declines)
    if ring.status == "ringing":
        left = countdown or str(seconds_left(ring))
        return f"klingelt – noch {left} s" + (f" ({declines})" if declines else "")
    if ring.status == "accepted":
        return f"angenommen von {name(ring.accepted_by)} – wird verbunden"
    if ring.status == "linked":
        return f"angenommen von {name(ring.accepted_by)} – kommt dazu (siehe Partnerliste)"
    if ring.status == "declined":
        if len(ring.declines) > 1:
            return f"abgelehnt – {declines}"
        return f"abgelehnt – {DECLINE_LABELS.get(ring.reason, ring.reason)}"
    if ring.status == "timeout":
        return f"keine Antwort ({int(RING_TIMEOUT)} s)"
    if ring.status == "cancelled":
        return "abgebrochen"
    reason = plain(ring.reason) or ring.reason
    return f"fehlgeschlagen – {reason}" if reason else "fehlgeschlagen"


def covers(contact: Contact, topics: list[str] | tuple[str, ...]) -> bool:
    """Whether a contact serves any of ``topics`` (one without topics serves every one)."""
    return not topics or not contact.topics or any(t in contact.topics for t in topics)


def desk_for(s: SiteState, topics: list[str]) -> tuple[int, str, str] | str:
    """The duty desk one touch rings for the talk: (agency id, name, topic), or why none."""
    if not topics:
        return "erst ein Thema wählen"
    for topic in topics:
        for agency in sorted(s.agencies.values(), key=lambda a: a.name):
            if any(topic in c.topics for c in s.desk(agency.id)):
                return agency.id, agency.name, topic
    return "gerade niemand verfügbar"



def readable_name(account: str) -> str:
    """A staff account's name as a person reads it on a ring: "frau-roth" → "Frau Roth"."""
    words = [w for w in account.replace("_", "-").replace(".", "-").split("-") if w]
    return " ".join(w[:1].upper() + w[1:] for w in words) or account

class DirectoryPanel(pn.viewable.Viewer):
    """Directory with presence, filters, calls and their state, for one /control session."""

    topic = param.Selector(objects=[TALK, ALL, *TOPICS], default=TALK,
                           doc="Show contacts for this topic (talk: any of the talk's "
                               "topics; all: every topic).")
    language = param.Selector(objects=[""], default="",
                              doc="Show contacts who speak this language (none: all).")
    agency_type = param.Selector(objects=["", *AGENCY_TYPES], default="",
                                 doc="Show contacts of this kind of agency (none: all).")

    def __init__(self, view: Any, **params: Any) -> None:
        super().__init__(**params)
        self.view = view
        self.site = view.link.site
        css = [STYLES + "h2 { font-size: 1.3rem; margin: .9rem 0 .4rem 0; } "
                        "h3 { font-size: 1.15rem; margin: .8rem 0 .3rem 0; } "
                        "p.hint { font-size: 1rem; color: #4a525a; margin: .2rem 0; }"]
        self._info = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=css,
                                  css_classes=["directory-info"])
        heading = pn.pane.HTML("<h2>Partner aus dem Verzeichnis</h2>", stylesheets=css,
                               css_classes=["directory-heading"], margin=(0, 10))
        if self.site is None:
            self._info.object = (
                "<p class='hint' role='status'>Für diesen Raum ist kein Partnernetz "
                "eingerichtet: Anrufen und das Verzeichnis gibt es hier nicht. Partner laden "
                "Sie oben mit „Per Link einladen“ ein.</p>")
            self._layout = pn.Column(heading, self._info, sizing_mode="stretch_width")
            return
        self._link = CopyLink(sizing_mode="stretch_width", css_classes=["directory-link"],
                              visible=False)
        self._mail = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=css,
                                  css_classes=["directory-mail"])
        self._contacts = ItemList(on_action=self._on_action, sizing_mode="stretch_width",
                                  css_classes=["directory-contacts"],
                                  empty="Kein Kontakt passt zu diesen Filtern.")
        self._rings = ItemList(on_action=self._on_ring_action, sizing_mode="stretch_width",
                               css_classes=["directory-rings"], empty="Noch kein Anruf.")
        self._language = touch.select(self.param.language, "Sprache", width=200,
                                      css_classes=["directory-language"])
        self._layout = pn.Column(
            heading,
            touch.wrap(
                touch.select(self.param.topic, "Thema", width=260,
                             css_classes=["directory-topic"],
                             options={"Themen des Gesprächs": TALK, "alle Themen": ALL,
                                      **{t: t for t in TOPICS}}),
                self._language,
                touch.select(self.param.agency_type, "Art der Stelle", width=230,
                             options={"alle Stellen": "", **{t: t for t in AGENCY_TYPES}})),
            self._info, self._link, self._mail,
            pn.pane.HTML("<h3>Anrufe</h3>", stylesheets=css, margin=(0, 10)), self._rings,
            pn.pane.HTML("<h3>Kontakte</h3>", stylesheets=css, margin=(0, 10)),
            self._contacts, sizing_mode="stretch_width")
        view.watch_state(self._render, "agencies", "contacts", "presence", "synced",
                         on=self.site.state)
        view.watch_state(self._render_rings, "rings", "contacts", on=self.site.state)
        view.watch_state(self._render, "topics")
        self.param.watch(self._render, ["topic", "language", "agency_type"])
        self._render()
        self._render_rings()
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.add_periodic_callback(self._tick, period=1000)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def show(self, visible: bool) -> None:
        self._layout.visible = visible

    # -- what the header shows ---------------------------------------------------------
    def desk(self) -> tuple[int, str, str] | str | None:
        """The duty desk one touch rings now (or why there is none); None: no site."""
        if self.site is None:
            return None
        return desk_for(self.site.state, list(self.view.state.topics))

    def latest_ring(self) -> tuple[str, str, str, int | None] | None:
        """The room's latest ring: whom, status, text (``{s}``: seconds left), seconds."""
        if self.site is None or not self.site.rings:
            return None
        ring = self.site.rings[-1]
        ringing = ring.status == "ringing"
        text = ring_text(ring, self.site.state.contacts, countdown="{s}" if ringing else "")
        return (self._whom(ring), ring.status, text,
                seconds_left(ring) if ringing else None)

    # -- what is shown ---------------------------------------------------------------
    def _topics(self) -> list[str]:
        if self.topic == TALK:
            return list(self.view.state.topics)
        return [] if self.topic == ALL else [self.topic]

    def _matches(self, c: Contact, agency_type: str) -> bool:
        return (covers(c, self._topics())
                and (not self.language or self.language in c.languages)
                and (not self.agency_type or agency_type == self.agency_type))

    def _render(self, *events: Any) -> None:
        s = self.site.state
        languages = sorted({code for c in s.contacts.values() for code in c.languages},
                           key=language_name)
        options = {"alle Sprachen": "", **{f"{language_name(code)} ({code})": code
                                           for code in languages}}
        if self._language.options != options:
            self.param.language.objects = ["", *languages]
            self._language.options = options
        mail = self.view.link.mail_ready
        self._info.object = ("" if s.synced else
                             "<p class='error' role='status'>Keine Verbindung zum Partnernetz "
                             "– Anwesenheit und Anrufe sind nicht aktuell.</p>")
        items = []
        for agency in sorted(s.agencies.values(), key=lambda a: a.name):
            people = sorted((c for c in s.contacts.values()
                             if c.agency == agency.id and self._matches(c, agency.type)),
                            key=lambda c: (PRESENCE_ORDER[s.status(c.id)], c.name))
            if not people:
                continue
            desk = len(s.desk(agency.id))
            items.append({
                "id": f"a{agency.id}", "badge": agency.type,
                "text": f"{agency.name} – Dienst: {desk} verfügbar",
                "actions": [{"action": "desk", "label": "Dienst anrufen", "kind": "primary"}]
                if desk else []})
            for c in people:
                status = s.status(c.id)
                details = ", ".join(x for x in (c.role, " / ".join(
                    language_name(code) for code in c.languages), "; ".join(c.topics)) if x)
                actions = [{"action": "ring", "label": "Anrufen", "kind": "primary"}] \
                    if status == "available" else []
                if mail and c.email:
                    actions.append({"action": "mail", "label": "Link per E-Mail"})
                actions.append({"action": "show", "label": "Link anzeigen"})
                items.append({"id": f"c{c.id}", "badge": PRESENCE_LABELS[status],
                              "text": c.name, "detail": details, "actions": actions})
        self._contacts.items = items

    def _whom(self, ring: Ring) -> str:
        s = self.site.state
        agency = s.agencies.get(ring.agency)
        return (s.contacts[ring.contact].name if ring.contact in s.contacts
                else f"Dienst {agency.name if agency else ''}".strip())

    def _render_rings(self, *events: Any) -> None:
        s = self.site.state
        self._rings.items = [
            {"id": ring.id, "badge": self._whom(ring),
             "text": f"{ring_text(ring, s.contacts)} · {ring.topic}",
             "actions": [{"action": "cancel", "label": "Abbrechen"}]
             if ring.status == "ringing" else []}
            for ring in self.site.rings]

    def _tick(self) -> None:
        """The countdown of ringing calls, once a second."""
        if self._layout.visible and any(r.status == "ringing" for r in self.site.rings):
            self._render_rings()

    def clear(self) -> None:
        """Nothing of the last talk stays: no link shown, filters back to the talk's."""
        if self.site is None:
            return
        self._link.param.update(url="", text="", visible=False)
        self._mail.object = ""
        self.param.update(topic=TALK, language="", agency_type="")

    # -- what the counsellor does -----------------------------------------------------
    def _topic_for_call(self, contact: Contact | None = None) -> str:
        """The topic a call carries: the filter's, else one the contact serves, else the
        talk's first."""
        talk = list(self.view.state.topics)
        if self.topic not in (ALL, TALK):
            return self.topic
        served = [t for t in talk if contact is not None and t in contact.topics]
        topic = (served or talk or [""])[0]
        if not topic:
            self.view.error = ("Bitte zuerst ein Thema wählen (Themen des Gesprächs oder "
                               "Filter „Thema“): die Partner sehen, worum es geht.")
        return topic

    def _counsellor(self) -> str:
        user = pn.state.user if pn.state.curdoc is not None else None
        if user and user not in ("public", "room-pc") and not user.startswith("tablet-"):
            return readable_name(user)
        return f"Beratung {self.view.state.room_name}".strip()

    def _on_action(self, action: str, item: Any) -> None:
        s = self.site.state
        if not isinstance(item, str) or not item[1:].isdigit():
            return
        kind, ident = item[0], int(item[1:])
        if kind == "a" and action == "desk" and ident in s.agencies:
            people = s.desk(ident)
            served = [t for t in self._topics() if any(t in c.topics for c in people)]
            self.ring(served[0] if served else self._topic_for_call(), agency=ident)
        elif kind == "c" and ident in s.contacts:
            contact = s.contacts[ident]
            if action == "ring":
                self.ring(self._topic_for_call(contact), contact=ident)
            elif action in ("mail", "show"):
                self._invite(contact, mail=action == "mail")

    def ring(self, topic: str, **target: int) -> None:
        """Ring a contact or an agency's duty desk about ``topic``."""
        if not topic:
            return

        async def ring() -> None:
            try:
                reply = await self.site.ring(counsellor=self._counsellor(), topic=topic,
                                             **target)
            except BusError:
                self.view.error = "Das Partnernetz antwortet nicht. Bitte erneut versuchen."
                return
            self.view.error = "" if reply.ok else self.view.refused_text(reply.error)
        self.view.act_async(ring())

    def cancel(self, ring_id: str) -> None:
        """Stop a ring nobody accepted yet."""
        if ring_id not in self.site.state.rings:
            return

        async def cancel() -> None:
            try:
                reply = await self.site.cancel(ring_id)
            except BusError:
                self.view.error = "Das Partnernetz antwortet nicht. Bitte erneut versuchen."
                return
            self.view.error = "" if reply.ok else self.view.refused_text(reply.error)
        self.view.act_async(cancel())

    def _on_ring_action(self, action: str, ring_id: Any) -> None:
        if action == "cancel":
            self.cancel(ring_id)

    def _invite(self, contact: Contact, *, mail: bool) -> None:
        """Invite the contact by a one-call link: mailed by the room, or shown once here."""
        agency = self.site.state.agencies.get(contact.agency)
        topics = self._topics()
        args = {"agency": agency.name if agency else contact.name, "name": contact.name,
                "role": contact.role, "purpose": ", ".join(t for t in topics
                                                           if covers(contact, [t])),
                "agency_type": agency.type if agency else ""}
        if mail:
            args["email"] = contact.email
        link = self.view.link
        try:
            future = link.post(self.view.role, "partner.invite", **args)
        except BusError:
            self.view.error = self.view.offline_text
            return

        async def settle() -> None:
            try:
                reply = await link.settle(future)
            except BusError:
                self.view.error = self.view.offline_text
                return
            if not reply.ok:
                self.view.error = self.view.refused_text(reply.error)
                return
            self.view.error = ""
            if mail:
                self._mail.object = (f"<p role='status'>Der Link geht per E-Mail an "
                                     f"{escape(contact.name)} ({escape(contact.email)}); ob er "
                                     "gesendet wurde, steht oben in der Liste „Im "
                                     "Gespräch“.</p>")
            else:
                self._link.param.update(
                    url=link.base_url + reply.data["link"], visible=True,
                    text=f"Link für {contact.name} – einmal gültig, "
                         f"{german_until(reply.data['expires'])}:")
        self.view.act_async(settle())
