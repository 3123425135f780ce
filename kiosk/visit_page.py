"""The client's pages of a remote appointment: /visit/<token> and /visit/optout/<token>.

A wrong, cancelled, early or finished link gets a friendly page that says what
to do and reveals nothing else; ten failed tries a minute from one address get
429. The opt-out page lets the client ask for a phone call or a talk in person.
"""

from __future__ import annotations

import html
import re

import tornado.web

from .access import same_origin
from .exceptions import BusError
from .invitation import local
from .link import RoomLink
from .ratelimit import FailureLimit

STATUS = {"visit_unknown": 404, "visit_cancelled": 410, "visit_early": 403, "visit_over": 410}
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,200}")
TOO_MANY = ("Zu viele Versuche mit ungültigen Links. Bitte warten Sie eine Minute und "
            "öffnen Sie dann den Link aus Ihrer E-Mail.")
CHOICES = {"phone": "Lieber telefonisch", "in_person": "Lieber persönlich vor Ort"}


class VisitPage(tornado.web.RequestHandler):
    """Shared by the two pages: rate limit, the bus, a page in the house style."""

    def initialize(self, link: RoomLink, limit: FailureLimit, phone: str) -> None:
        self.link, self.limit, self.phone = link, limit, phone

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")  # the token stays in this page
        self.set_header("Content-Security-Policy",
                        "default-src 'none'; style-src 'self'; form-action 'self'; "
                        "frame-ancestors 'none'; base-uri 'none'")

    def page(self, title: str, body: str, status: int = 200) -> None:
        e = html.escape
        call = (f"<p class='hint'>Fragen? Rufen Sie uns an: <a href='tel:{e(self.phone)}'>"
                f"{e(self.phone)}</a></p>") if self.phone else ""
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(f"""<!doctype html>
<html lang="de"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} – {e(self.link.agency or "Videoberatung")}</title>
<link rel="stylesheet" href="/assets/pair.css"></head>
<body><main><p class="room">{e(self.link.agency or "Videoberatung")}</p>
<h1>{e(title)}</h1>{body}{call}</main></body></html>""")

    def refused(self, why: str, message: str, status: int) -> None:
        self.page("Der Link öffnet gerade nicht", f"<p class='error' role='alert'>"
                  f"{html.escape(message)}</p>", status)

    def too_many(self) -> bool:
        if self.limit.blocked(self.request.remote_ip or "?"):
            self.set_header("Retry-After", "60")
            self.refused("rate", TOO_MANY, 429)
            return True
        return False

    async def ask(self, name: str, **args: str):
        """A bus command; None (and a 503 page) when the room does not answer."""
        try:
            return await self.link.send("admin", name, **args)
        except BusError:
            self.page("Bitte gleich noch einmal", "<p class='error' role='alert'>Der Dienst "
                      "antwortet gerade nicht. Bitte laden Sie die Seite gleich neu.</p>", 503)
            return None


class VisitHandler(VisitPage):
    """GET /visit/<token>: the client's entry to the appointment."""

    async def get(self, token: str) -> None:
        if self.too_many():
            return
        reply = await self.ask("visit.check", token=token if TOKEN.fullmatch(token) else "-")
        if reply is None:
            return
        if not reply.ok:
            self.limit.failed(self.request.remote_ip or "?")
            return self.refused(reply.code, reply.error, STATUS.get(reply.code, 400))
        start = local(reply.data["starts_at"])
        self.page("Ihr Videotermin", f"""
<p>Ihr Termin: <strong>{start:%d.%m.%Y} um {start:%H:%M} Uhr</strong>.</p>
<p>Der Warteraum und das Gespräch per Video folgen in der nächsten Version dieser Seite.
Bis dahin erreichen Sie uns telefonisch.</p>""")


class OptOutHandler(VisitPage):
    """GET shows the choice; POST passes it on to the counsellor."""

    async def get(self, token: str) -> None:
        if self.too_many():
            return
        self.form(token)

    def form(self, token: str, error: str = "", status: int = 200) -> None:
        e = html.escape
        alert = f"<p class='error' role='alert'>{e(error)}</p>" if error else ""
        options = "".join(
            f"<label class='choice'><input type='radio' name='choice' value='{k}' required> "
            f"{e(v)}</label>" for k, v in CHOICES.items())
        self.page("Lieber ohne Video?", f"""{alert}
<p>Die Videoberatung ist freiwillig. Sagen Sie uns, wie Sie lieber sprechen möchten;
Ihre Beraterin oder Ihr Berater meldet sich dann bei Ihnen.</p>
<form method="post" action="/visit/optout/{e(token)}">
<fieldset><legend>So möchte ich sprechen</legend>{options}</fieldset>
<label for="note">Telefonnummer oder wann wir Sie gut erreichen (freiwillig)</label>
<input id="note" name="note" maxlength="200" autocomplete="tel">
<button type="submit">Absenden</button></form>""", status)

    async def post(self, token: str) -> None:
        if not same_origin(self.request):
            return self.form(token, "Diese Anfrage kam nicht von dieser Seite.", 403)
        if self.too_many():
            return
        choice = self.get_body_argument("choice", "")
        note = self.get_body_argument("note", "").strip()[:200]
        if choice not in CHOICES:
            return self.form(token, "Bitte wählen Sie, wie Sie sprechen möchten.", 400)
        reply = await self.ask("appointment.optout", choice=choice, note=note,
                               token=token if TOKEN.fullmatch(token) else "-")
        if reply is None:
            return
        if not reply.ok:
            self.limit.failed(self.request.remote_ip or "?")
            return self.refused(reply.code, reply.error, STATUS.get(reply.code, 400))
        self.page("Danke, wir melden uns", f"<p role='status'>Wir haben Ihren Wunsch "
                  f"„{html.escape(CHOICES[choice])}“ an Ihre Beraterin oder Ihren Berater "
                  "weitergegeben.</p>")


def routes(link: RoomLink, phone: str = "") -> list[tuple]:
    opts = {"link": link, "limit": FailureLimit(per_address=10, total=100), "phone": phone}
    return [(r"/visit/optout/([^/]{1,400})", OptOutHandler, opts),
            (r"/visit/([^/]{1,400})", VisitHandler, opts)]
