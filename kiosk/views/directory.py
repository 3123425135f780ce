"""The partner directory on /control: who is there, ring them, or send them a link.

A sub-panel of :class:`~kiosk.views.control.ControlView`, shown during a talk.
It reads the site's mirror (``link.site.state``: directory, presence, rings)
and forwards the counsellor's actions: ``link.site.ring`` / ``cancel`` for
calls, the room's ``partner.invite`` for the link fallback (shown once to
copy, or mailed by the room to the contact's directory address). Without a
site, it says so and leaves the link invitation of the partner form.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from kiosk.exceptions import BusError
from kiosk.room.agencies import AGENCY_TYPES, TOPICS
from kiosk.site.directory import Contact
from kiosk.site.ringing import RING_TIMEOUT, seconds_left
from kiosk.site.state import Ring
from kiosk.views.base import STYLES, escape
from kiosk.views.itemlist import ItemList

#: A contact's presence in words (never by colour alone).
PRESENCE_LABELS = {"available": "Verfügbar", "busy": "Beschäftigt", "away": "Abwesend",
                   None: "nicht da"}
PRESENCE_ORDER = {"available": 0, "busy": 1, "away": 2, None: 3}
#: Why a partner declined, in German.
DECLINE_LABELS = {"busy": "keine Zeit", "not_our_matter": "nicht zuständig"}


def ring_text(ring: Ring, contacts: dict[int, Contact]) -> str:
    """Where a ring stands, in words."""
    def name(contact: int | None) -> str:
        c = contacts.get(contact)
        return c.name if c else "ein Kontakt"
    declines = ", ".join(f"{name(c)}: {DECLINE_LABELS.get(r, r)}" for c, r in ring.declines)
    if ring.status == "ringing":
        return f"klingelt – noch {seconds_left(ring)} s" + (f" ({declines})" if declines else "")
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
    return f"fehlgeschlagen – {ring.reason}" if ring.reason else "fehlgeschlagen"


class DirectoryPanel(pn.viewable.Viewer):
    """Directory with presence, filters, calls and their state, for one /control session."""

    topic = param.Selector(objects=["", *TOPICS], default="",
                           doc="Show contacts for this topic (none: all).")
    language = param.Selector(objects=[""], default="",
                              doc="Show contacts who speak this language (none: all).")
    agency_type = param.Selector(objects=["", *AGENCY_TYPES], default="",
                                 doc="Show contacts of this kind of agency (none: all).")

    def __init__(self, view: Any, **params: Any) -> None:
        super().__init__(**params)
        self.view = view
        self.site = view.link.site
        css = [STYLES]
        self._info = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=css,
                                  css_classes=["directory-info"])
        self._link = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=css,
                                  css_classes=["directory-link"])
        self._contacts = ItemList(on_action=self._on_action, sizing_mode="stretch_width",
                                  css_classes=["directory-contacts"],
                                  empty="Kein Kontakt passt zu diesen Filtern.")
        self._rings = ItemList(on_action=self._on_ring_action, sizing_mode="stretch_width",
                               css_classes=["directory-rings"], empty="Noch kein Anruf.")
        heading = pn.pane.HTML("<h2>Partner aus dem Verzeichnis</h2>", stylesheets=css,
                               css_classes=["directory-heading"])
        self._language = pn.widgets.Select.from_param(self.param.language, name="Sprache",
                                                      description=None, width=160,
                                                css_classes=["directory-language"])
        if self.site is None:
            self._info.object = (
                "<p class='notice' role='status'>Für diesen Raum ist kein Partnernetz "
                "eingerichtet: Anrufen und das Verzeichnis gibt es hier nicht. Partner laden "
                "Sie oben mit „Per Link einladen“ ein.</p>")
            self._layout = pn.Column(heading, self._info, sizing_mode="stretch_width")
            return
        self._layout = pn.Column(
            heading,
            pn.Row(pn.widgets.Select.from_param(self.param.topic, name="Thema",
                                                description=None,
                                                css_classes=["directory-topic"],
                                                options={"alle Themen": "",
                                                         **{t: t for t in TOPICS}}),
                   self._language,
                   pn.widgets.Select.from_param(self.param.agency_type, name="Art der Stelle",
                                                description=None,
                                                options={"alle Stellen": "",
                                                         **{t: t for t in AGENCY_TYPES}}),
                   sizing_mode="stretch_width"),
            self._info, self._link, self._contacts,
            pn.pane.HTML("<h3>Anrufe</h3>", stylesheets=css), self._rings,
            sizing_mode="stretch_width")
        self._topics_seen: tuple[str, ...] = ()
        view.watch_state(self._render, "agencies", "contacts", "presence", "synced",
                         on=self.site.state)
        view.watch_state(self._render_rings, "rings", "contacts", on=self.site.state)
        view.watch_state(self._follow_topics, "topics")
        self.param.watch(self._render, ["topic", "language", "agency_type"])
        self._follow_topics()
        self._render()
        self._render_rings()
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.add_periodic_callback(self._tick, period=1000)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def show(self, visible: bool) -> None:
        self._layout.visible = visible

    # -- what is shown ---------------------------------------------------------------
    def _follow_topics(self, *events: Any) -> None:
        """Preselect the talk's first topic while the counsellor has not chosen another."""
        topics = tuple(self.view.state.topics)
        if topics != self._topics_seen:
            if self.topic in ("", *self._topics_seen[:1]):
                self.topic = topics[0] if topics else ""
            self._topics_seen = topics

    def _matches(self, c: Contact, agency_type: str) -> bool:
        return ((not self.topic or self.topic in c.topics)
                and (not self.language or self.language in c.languages)
                and (not self.agency_type or agency_type == self.agency_type))

    def _render(self, *events: Any) -> None:
        s = self.site.state
        languages = sorted({code for c in s.contacts.values() for code in c.languages})
        options = {"alle Sprachen": "", **{code: code for code in languages}}
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
                details = ", ".join(x for x in (c.role, "/".join(c.languages),
                                                "; ".join(c.topics)) if x)
                actions = [{"action": "ring", "label": "Anrufen", "kind": "primary"}] \
                    if status == "available" else []
                if mail and c.email:
                    actions.append({"action": "mail", "label": "Link per E-Mail"})
                actions.append({"action": "show", "label": "Link anzeigen"})
                items.append({"id": f"c{c.id}", "badge": PRESENCE_LABELS[status],
                              "text": c.name + (f" ({details})" if details else ""),
                              "actions": actions})
        self._contacts.items = items

    def _render_rings(self, *events: Any) -> None:
        s = self.site.state
        items = []
        for ring in self.site.rings:
            agency = s.agencies.get(ring.agency)
            whom = (s.contacts[ring.contact].name if ring.contact in s.contacts
                    else f"Dienst {agency.name if agency else ''}".strip())
            items.append({"id": ring.id, "badge": whom,
                          "text": f"{ring_text(ring, s.contacts)} · {ring.topic}",
                          "actions": [{"action": "cancel", "label": "Abbrechen"}]
                          if ring.status == "ringing" else []})
        self._rings.items = items

    def _tick(self) -> None:
        """The countdown of ringing calls, once a second."""
        if self._layout.visible and any(r.status == "ringing" for r in self.site.rings):
            self._render_rings()

    # -- what the counsellor does -----------------------------------------------------
    def _topic_for_call(self) -> str:
        topic = self.topic or next(iter(self.view.state.topics), "")
        if not topic:
            self.view.error = "Bitte zuerst ein Thema wählen (Filter „Thema“ oder Themen " \
                              "des Gesprächs): die Partner sehen, worum es geht."
        return topic

    def _counsellor(self) -> str:
        user = pn.state.user if pn.state.curdoc is not None else None
        if user and user not in ("public", "room-pc") and not user.startswith("tablet-"):
            return user
        return f"Beratung {self.view.state.room_name}".strip()

    def _on_action(self, action: str, item: Any) -> None:
        s = self.site.state
        if not isinstance(item, str) or not item[1:].isdigit():
            return
        kind, ident = item[0], int(item[1:])
        if kind == "a" and action == "desk" and ident in s.agencies:
            self._ring(agency=ident)
        elif kind == "c" and ident in s.contacts:
            contact = s.contacts[ident]
            if action == "ring":
                self._ring(contact=ident)
            elif action in ("mail", "show"):
                self._invite(contact, mail=action == "mail")

    def _ring(self, **target: int) -> None:
        topic = self._topic_for_call()
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

    def _on_ring_action(self, action: str, ring_id: Any) -> None:
        if action != "cancel" or ring_id not in self.site.state.rings:
            return

        async def cancel() -> None:
            try:
                reply = await self.site.cancel(ring_id)
            except BusError:
                self.view.error = "Das Partnernetz antwortet nicht. Bitte erneut versuchen."
                return
            self.view.error = "" if reply.ok else self.view.refused_text(reply.error)
        self.view.act_async(cancel())

    def _invite(self, contact: Contact, *, mail: bool) -> None:
        """Invite the contact by a one-call link: mailed by the room, or shown once here."""
        agency = self.site.state.agencies.get(contact.agency)
        args = {"agency": agency.name if agency else contact.name, "name": contact.name,
                "role": contact.role, "purpose": self.topic or ", ".join(self.view.state.topics),
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
                self._link.object = (f"<p role='status'>Link an {escape(contact.name)} "
                                     f"({escape(contact.email)}) geht per E-Mail hinaus; ob er "
                                     "gesendet wurde, steht in der Partnerliste.</p>")
            else:
                url = link.base_url + reply.data["link"]
                self._link.object = (f"<p>Link für {escape(contact.name)} (einmal gültig, "
                                     f"bis {escape(reply.data['expires'])}):<br>"
                                     f"<code>{escape(url)}</code></p>")
        self.view.act_async(settle())
