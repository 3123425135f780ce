"""The client's pages of a remote appointment: /visit/<token> and /visit/optout/<token>.

A wrong, cancelled, early or finished link gets a friendly page that says what
to do and reveals nothing else; ten failed tries a minute from one address get
429. The opt-out page lets the client ask for a phone call or a talk in person.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Callable

import tornado.web

from kiosk import i18n
from kiosk.access.ratelimit import FailureLimit
from kiosk.access.web import same_origin
from kiosk.exceptions import BusError
from kiosk.resources import ASSETS
from kiosk.room.link import RoomLink
from kiosk.visits.invitation import local

STATUS = {"visit_unknown": 404, "visit_cancelled": 410, "visit_early": 403, "visit_over": 410}
#: Mints a page's ``iceServers`` (the media engine's ``page_ice_servers``).
IceServers = Callable[[str], list[dict[str, object]]]
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,200}")
TOO_MANY = ("Zu viele Versuche mit ungültigen Links. Bitte warten Sie eine Minute und "
            "öffnen Sie dann den Link aus Ihrer E-Mail.")
CHOICES = {"phone": "Lieber telefonisch", "in_person": "Lieber persönlich vor Ort"}


class VisitPage(tornado.web.RequestHandler):
    """Shared by the two pages: rate limit, the bus, a page in the house style."""

    def initialize(self, link: RoomLink, limit: FailureLimit, phone: str,
                   ice: IceServers = lambda label: []) -> None:
        self.link, self.limit, self.phone = link, limit, phone
        self.ice = ice

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
        self.visit_page(reply.data)

    def visit_page(self, appointment: dict) -> None:
        """The client's page: device check, waiting room, talk, survey (assets/visit.*), in
        the language the link asks for (``?lang=``) or else the booked one."""
        booked = appointment["language"]
        booked = booked if booked in i18n.languages() else i18n.FALLBACK
        asked = self.get_query_argument("lang", "")
        lang = asked if asked in i18n.languages() else booked
        page = render(lang, booked, local(appointment["starts_at"]),
                      agency=self.link.agency, phone=self.phone, ice=self.ice("client"))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Language", i18n.tag(lang))
        self.set_header("Content-Security-Policy",
                        "default-src 'self'; media-src 'self' blob: mediastream:; "
                        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
        self.finish(page)


# -- the visit page in the client's language -------------------------------------------
#: The survey's questions and their scales, as on the room's screen.
SCALES = {"satisfaction": (1, 5), "ease": (1, 5), "recommend": (0, 10)}
#: What the page's scripts show (visit.js and call.js): handed over in ``data-texts``.
SCRIPT_TEXTS = (
    "visit.in_call", "visit.paused", "visit.reconnecting", "visit.relink",
    "visit.closed_title", "visit.ended_title", "visit.ended_text", "visit.steps_empty",
    "visit.consent_ask", "visit.consent_sees", "visit.consent_no", "visit.survey_failed",
    "consent.why", "consent.recorded", "talk.empty", "talk.due", "date.format", "date.months",
    "call.mic_off", "call.camera_off", "call.share", "call.share_stop", "call.screen_of",
    "call.picture_of", "call.screen_caption", "call.camera_n", "call.microphone_n",
    "call.no_webrtc", "call.insecure", "call.denied", "call.join_refused",
    "call.join_refused_text", "call.lost_title", "call.lost_text", "call.ended_title",
    "call.ended_text", "call.left_title")
#: ``{name}`` in visit.html: a value made here, else the text of a locale key.
PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.-]+)\}")


def text(lang: str, key: str) -> str:
    """The text of ``key`` in ``lang`` (German where it has none), not yet escaped."""
    return i18n.t(lang, key)


def render(lang: str, booked: str, start: dt.datetime, *, agency: str = "", phone: str = "",
           ice: list | None = None) -> str:
    """visit.html in ``lang``: every ``{key}`` a locale text (escaped), the rest made here.
    User text (the agency's name) is isolated for right-to-left pages."""
    e = html.escape
    service = agency or text(lang, "visit.service")
    values = {
        "lang": e(i18n.tag(lang)), "dir": i18n.direction(lang), "language": e(lang),
        # The agency's own name is German: in Turkish capitals "Arbeit" must not become
        # "ARBEİT".
        "agency": f'<bdi lang="de">{e(agency)}</bdi>' if agency else e(service),
        "agency_title": e(service),
        "ice": e(json.dumps(ice or []), quote=True),
        "texts": e(json.dumps({k: text(lang, k) for k in SCRIPT_TEXTS}, ensure_ascii=False),
                   quote=True),
        "when": e(when(lang, start)), "languages": switch(lang, booked),
        "no_video": no_video(lang, phone),
        **{f"scale.{name}": scale(name, low, high) for name, (low, high) in SCALES.items()}}

    def fill(match: re.Match) -> str:
        key = match.group(1)
        return values[key] if key in values else e(text(lang, key))

    return PLACEHOLDER.sub(fill, (ASSETS / "visit.html").read_text(encoding="utf-8"))


def when(lang: str, start: dt.datetime) -> str:
    """The appointment's day and time, as ``lang`` says it (``visit.when``)."""
    return text(lang, "visit.when").format(date=i18n.local_date(lang, start.date()),
                                           time=f"{start:%H:%M}")


def switch(lang: str, booked: str) -> str:
    """Links to the page in each language, each named in its own: the booked language
    first, then the others in the catalog's order; the shown one marked current."""
    e = html.escape
    links = []
    for code in (booked, *(c for c in i18n.languages() if c != booked)):
        current = ' aria-current="true"' if code == lang else ""
        tag = e(i18n.tag(code))
        links.append(f'<li><a href="?lang={e(code)}" hreflang="{tag}" lang="{tag}" '
                     f'dir="{i18n.direction(code)}"{current}>{e(i18n.native_name(code))}</a></li>')
    label = e(text(lang, "toolbar.language"))
    return (f'<nav id="languages" class="languages" aria-label="{label}">'
            f'<ul>{"".join(links)}</ul></nav>')


def no_video(lang: str, phone: str) -> str:
    """The hint for those who would rather not use video: with the agency's number when
    there is one, else a sentence that promises no call."""
    e = html.escape
    if not phone:
        return e(text(lang, "visit.no_video"))
    dial = re.sub(r"[^0-9+]", "", phone)
    link = f'<a href="tel:{e(dial)}" dir="ltr">{e(phone)}</a>'  # digits keep their order
    return e(text(lang, "visit.no_video_phone")).replace("{phone}", link)


def scale(name: str, low: int, high: int) -> str:
    """Radio buttons from ``low`` to ``high``, large enough to tap."""
    return "<div class='scale'>" + "".join(
        f"<label><input type='radio' name='{name}' value='{v}'><span>{v}</span></label>"
        for v in range(low, high + 1)) + "</div>"


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


def visit_limit() -> FailureLimit:
    """Ten failed tries a minute from one address, a hundred from all."""
    return FailureLimit(per_address=10, total=100)


def routes(link: RoomLink, phone: str = "", limit: FailureLimit | None = None,
           ice: IceServers = lambda label: []) -> list[tuple]:
    """The visit and opt-out pages; ``ice`` mints the client's page its ICE servers
    (TURN credentials made for that page)."""
    opts = {"link": link, "limit": limit or visit_limit(), "phone": phone, "ice": ice}
    return [(r"/visit/optout/([^/]{1,400})", OptOutHandler, opts),
            (r"/visit/([^/]{1,400})", VisitHandler, opts)]
