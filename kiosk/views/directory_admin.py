"""The partner directory on /admin: contacts, accounts, CSV import and export.

A sub-panel of :class:`~kiosk.views.admin.AdminView`. It reads the site's
mirror (``link.site.state``) and sends the site's admin commands through
``link.site.manage`` — only where the room holds the site's admin key;
otherwise it lists the directory and points to ``kiosk site import/export``.
The site validates everything; its refusals are shown as they come.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import panel as pn
import param

from kiosk.exceptions import BusError
from kiosk.room.agencies import AGENCY_TYPES
from kiosk.views import touch
from kiosk.views.base import STYLES, escape
from kiosk.views.itemlist import ItemList
from kiosk.views.plain import plain, rows_plain

FIELDS = ("agency", "agency_type", "name", "role", "languages", "topics", "email", "phone",
          "hours")


class DirectoryAdminPanel(pn.viewable.Viewer):
    """Facility staff edit the site's partner directory."""

    edit_id = param.Integer(default=None, allow_None=True,
                            doc="The contact being edited; None: a new one.")
    agency = param.String(default="", doc="Agency's name.")
    agency_type = param.Selector(objects=["", *AGENCY_TYPES], default="", doc="Kind of agency.")
    person = param.String(default="", doc="Contact's name (``name`` is every Parameterized's).")
    role = param.String(default="", doc="Contact's function.")
    languages = param.String(default="de", doc="Language codes, e.g. de;en;ar.")
    topics = param.String(default="", doc="Topics separated by ';'.")
    email = param.String(default="", doc="Business mail address (also the sign-in name).")
    phone = param.String(default="", doc="Business phone.")
    hours = param.String(default="", doc="When the contact is reachable.")
    password = param.String(default="", doc="A new password for the edited contact.")

    def __init__(self, view: Any, **params: Any) -> None:
        super().__init__(**params)
        self.view = view
        self.site = view.link.site
        css = [STYLES]
        heading = pn.pane.HTML("<h2>Partnerverzeichnis</h2>", stylesheets=css)
        self._status = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=css,
                                    css_classes=["directory-status"])
        self._list = ItemList(on_action=self._on_action, sizing_mode="stretch_width",
                              css_classes=["admin-directory"], empty="Das Verzeichnis ist leer.")
        if self.site is None:
            self._layout = pn.Column(heading, pn.pane.HTML(
                "<p>Für diesen Raum ist kein Partnernetz eingerichtet.</p>", stylesheets=css),
                sizing_mode="stretch_width")
            return
        self._export_csv = ""
        if not self.site.admin:
            self._layout = pn.Column(heading, pn.pane.HTML(
                "<p class='notice'>Das Verzeichnis pflegt der Betrieb des Partnernetzes "
                "mit <code>kiosk site import</code> und <code>kiosk site export</code>; "
                "hier steht, was es enthält.</p>", stylesheets=css), self._list,
                sizing_mode="stretch_width")
        else:
            self._layout = pn.Column(heading, *self._editor(css), sizing_mode="stretch_width")
        view.watch_state(self._render, "agencies", "contacts", on=self.site.state)
        self._render()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def _editor(self, css: list[str]) -> list[Any]:
        def field(name: str, label: str, **kw: Any) -> pn.widgets.TextInput:
            kw.setdefault("width", 240)
            return touch.text(self.param[name], label, css_classes=[f"directory-{name}"], **kw)
        self._form_title = pn.pane.HTML("<h3>Neuer Kontakt</h3>", stylesheets=css)
        save = touch.button("Kontakt speichern", "primary")
        save.on_click(lambda e: self._save())
        new = touch.button("Neuer Kontakt", "light")
        new.on_click(lambda e: self._clear())
        self._set_password = touch.button("Passwort setzen", "primary", disabled=True)
        self._set_password.on_click(lambda e: self._password())
        self._upload = touch.styled(pn.widgets.FileInput, accept=".csv,text/csv",
                                    multiple=False, label="CSV-Datei importieren")
        self._upload.param.watch(self._import, "value")
        self._download = touch.styled(pn.widgets.FileDownload, callback=self._export,
                                      filename="partner.csv", embed=False,
                                      label="Verzeichnis als CSV herunterladen")
        return [
            self._status, self._list, self._form_title,
            touch.wrap(field("person", "Name"), field("role", "Funktion"),
                       field("agency", "Stelle"),
                       touch.select(self.param.agency_type, "Art der Stelle", width=240,
                                    options={"– bitte wählen –": "",
                                             **{t: t for t in AGENCY_TYPES}})),
            touch.wrap(field("email", "E-Mail"), field("phone", "Telefon"),
                       field("languages", "Sprachen (z. B. de;en)"),
                       field("hours", "Erreichbar")),
            touch.wrap(touch.grow(field("topics", "Themen (mit ; getrennt)")), save, new),
            touch.wrap(touch.password(self.param.password, "Passwort für die Partnerkonsole",
                                      css_classes=["directory-password"], width=300),
                       self._set_password),
            pn.pane.HTML("<h3>CSV-Datei</h3><p>Spalten: " + ", ".join(FIELDS) + ". Eine "
                         "Datei wird ganz oder gar nicht übernommen.</p>", stylesheets=css),
            touch.wrap(self._upload, self._download)]

    # -- showing ---------------------------------------------------------------------
    def _render(self, *events: Any) -> None:
        s = self.site.state
        items = []
        for c in sorted(s.contacts.values(), key=lambda c: c.id):
            agency = s.agencies.get(c.agency)
            actions = ([{"action": "edit", "label": "Bearbeiten"},
                        {"action": "remove", "label": "Entfernen", "kind": "quiet-danger",
                         "confirm": f"{c.name} aus dem Verzeichnis entfernen? Ein Konto für "
                                    "die Partnerkonsole geht mit.", "yes": "Ja, entfernen"}]
                       if self.site.admin else [])
            items.append({"id": c.id, "badge": "Konto" if c.account else "kein Konto",
                          "text": f"{c.name} – {agency.name if agency else '?'} · Sprachen "
                                  f"{'/'.join(c.languages)} · Themen "
                                  f"{'; '.join(c.topics) or '–'}",
                          "actions": actions})
        self._list.items = items
        if self.site.admin:
            self._refresh_export()

    def _say(self, text: str, *, error: bool = False) -> None:
        lines = "<br>".join(escape(line) for line in text.splitlines())
        self._status.object = (f"<p class='{'error' if error else ''}' role='"
                               f"{'alert' if error else 'status'}'>{lines}</p>")

    # -- acting ----------------------------------------------------------------------
    def _send(self, command: str, done: Any = None, /, *, failed: str = "Nicht übernommen",
              **args: Any) -> None:
        async def run() -> None:
            try:
                reply = await self.site.manage(command, **args)
            except BusError:
                self._say("Das Partnernetz antwortet nicht. Bitte erneut versuchen.", error=True)
                return
            if not reply.ok:
                self._say(f"{failed}: {plain(reply.error) or reply.error}", error=True)
            elif done is not None:
                done(reply)
        self.view.act_async(run())

    def _on_action(self, action: str, contact_id: Any) -> None:
        contact = self.site.state.contacts.get(contact_id)
        if contact is None:
            return
        if action == "edit":
            agency = self.site.state.agencies.get(contact.agency)
            self.param.update(edit_id=contact.id, agency=agency.name if agency else "",
                              agency_type=agency.type if agency else "", person=contact.name,
                              role=contact.role, languages=";".join(contact.languages),
                              topics=";".join(contact.topics), email=contact.email,
                              phone=contact.phone, hours=contact.hours, password="")
            self._form_title.object = f"<h3>{escape(contact.name)} bearbeiten</h3>"
            self._set_password.disabled = False
        elif action == "remove":
            self._send("contact.remove", lambda r: self._say(f"{contact.name} entfernt."),
                       id=contact.id)

    def _clear(self) -> None:
        self.param.update(edit_id=None, agency="", agency_type="", person="", role="",
                          languages="de", topics="", email="", phone="", hours="", password="")
        self._form_title.object = "<h3>Neuer Kontakt</h3>"
        self._set_password.disabled = True

    def _save(self) -> None:
        args = {f: getattr(self, "person" if f == "name" else f) for f in FIELDS}
        if self.edit_id is not None:
            args["id"] = self.edit_id

        def saved(reply: Any) -> None:
            self._say(f"{args['name']} gespeichert.")
            self._clear()
        self._send("contact.save", saved, failed="Nicht gespeichert", **args)

    def _password(self) -> None:
        if self.edit_id is None:
            return
        who = self.person
        self._send("account.set", lambda r: (self._say(f"Passwort für {who} gesetzt."),
                                             setattr(self, "password", "")),
                   contact=self.edit_id, password=self.password)

    def _import(self, event: Any) -> None:
        if not event.new:
            return
        try:
            text = event.new.decode("utf-8-sig")
        except UnicodeDecodeError:
            self._say("Die Datei ist kein UTF-8-Text. Nichts wurde übernommen.", error=True)
            return

        async def run() -> None:
            try:
                reply = await self.site.manage("directory.import", csv=text)
            except BusError:
                self._say("Das Partnernetz antwortet nicht. Nichts wurde übernommen.",
                          error=True)
                return
            if reply.ok:
                d = reply.data
                self._say(f"Importiert: {d['rows']} Zeilen ({d['added']} neu, "
                          f"{d['updated']} aktualisiert).")
            else:
                self._say("Nichts wurde übernommen: die Datei hat Fehler.\n"
                          + rows_plain(reply.error),
                          error=True)
        self.view.act_async(run())

    def _refresh_export(self) -> None:
        """Keep the site's own export at hand for the download (its callback is sync)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not served (a notebook, a test of the view)
            return

        async def run() -> None:
            try:
                reply = await self.site.manage("directory.export")
            except BusError:
                return
            if reply.ok:
                self._export_csv = reply.data["csv"]
        self.view.act_async(run())

    def _export(self) -> io.BytesIO:
        return io.BytesIO(self._export_csv.encode("utf-8"))
