"""/control/pair: the page on which a tablet types the pairing code.

A right code sets the tablet's device credential as a cookie bound to this
room (HttpOnly, SameSite=Strict) and leads to /control. Wrong, used and
expired codes are told apart for the person typing, and all count as
failures: after five a minute from one address (or thirty from all) the page
answers 429 until the minute has passed.
"""

from __future__ import annotations

import html
from urllib.parse import urlsplit

import tornado.web

from kiosk.access.pairing import PAIRING_ERRORS
from kiosk.access.proxies import secure_cookie
from kiosk.access.ratelimit import FailureLimit
from kiosk.exceptions import BusError
from kiosk.resources import ASSETS
from kiosk.room.link import RoomLink

#: A paired tablet keeps its credential this long (it is revoked on /admin).
CREDENTIAL_DAYS = 400
STATUS = {"pairing_wrong": 403, "pairing_used": 410, "pairing_expired": 410}
TOO_MANY = "Zu viele falsche Versuche. Bitte warten Sie eine Minute und versuchen Sie es erneut."


def cookie_name(room_id: str) -> str:
    """The credential's cookie: one per room, so rooms on one host keep theirs apart."""
    return f"kiosk_tablet_{room_id}"


class PairPageHandler(tornado.web.RequestHandler):
    """GET shows the form (a QR code fills in the code); POST claims the code."""

    def initialize(self, link: RoomLink, limit: FailureLimit) -> None:
        self.link, self.limit = link, limit

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        # same-origin, not no-referrer: with no-referrer a browser's form sends
        # "Origin: null", and the code in a QR link must not leave the host anyway.
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy",
                        "default-src 'none'; style-src 'self'; form-action 'self'; "
                        "frame-ancestors 'none'; base-uri 'none'")

    def page(self, *, code: str = "", name: str = "Tablet", error: str = "") -> None:
        e = html.escape
        room = e(self.link.state.room_name or self.link.state.room_id)
        alert = f"<p class='error' role='alert'>{e(error)}</p>" if error else ""
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(f"""<!doctype html>
<html lang="de"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tablet koppeln – {room}</title><link rel="stylesheet" href="/assets/pair.css"></head>
<body><main>
<p class="room">{room}</p>
<h1>Tablet mit dem Raum koppeln</h1>
<p class="hint">Den Code zeigt die zweite Anzeige im Raum, wenn die Haustechnik
auf der Verwaltungsseite „Tablet koppeln“ wählt. Er gilt fünf Minuten und einmal.</p>
{alert}
<form method="post" action="/control/pair">
<label for="code">Code (8 Zeichen)</label>
<input id="code" name="code" value="{e(code)}" required maxlength="20" autocomplete="off"
 autocapitalize="characters" spellcheck="false" inputmode="text">
<label for="name">Name dieses Tablets</label>
<input id="name" name="name" value="{e(name)}" required maxlength="60">
<button type="submit">Koppeln</button>
</form></main></body></html>""")

    def get(self) -> None:
        self.page(code=self.get_query_argument("code", "")[:20])

    def _same_origin(self) -> bool:
        origin = self.request.headers.get("Origin")
        return origin is None or urlsplit(origin).netloc == self.request.host

    async def post(self) -> None:
        address = self.request.remote_ip or "?"
        code = self.get_body_argument("code", "")[:32]
        name = self.get_body_argument("name", "").strip()[:60] or "Tablet"
        if not self._same_origin():
            self.set_status(403)
            self.page(code="", name=name, error="Diese Anfrage kam nicht von dieser Seite.")
            return
        if self.limit.blocked(address):
            self.set_status(429)
            self.set_header("Retry-After", "60")
            self.page(code="", name=name, error=TOO_MANY)
            return
        try:
            reply = await self.link.send("admin", "pairing.claim", code=code or "-", name=name)
        except BusError:
            self.set_status(503)
            self.page(code=code, name=name, error="Der Raum antwortet gerade nicht. "
                                                   "Bitte gleich noch einmal versuchen.")
            return
        if not reply.ok:
            self.limit.failed(address)
            self.set_status(STATUS.get(reply.code, 400))
            self.page(code="", name=name, error=PAIRING_ERRORS.get(reply.code, reply.error))
            return
        self.set_signed_cookie(cookie_name(self.link.state.room_id), reply.data["token"],
                               expires_days=CREDENTIAL_DAYS, httponly=True, samesite="Strict",
                               secure=secure_cookie(self), path="/")
        self.redirect("/control", status=303)


def routes(link: RoomLink) -> list[tuple]:
    limit = FailureLimit()
    return [(r"/control/pair", PairPageHandler, {"link": link, "limit": limit}),
            (r"/assets/(pair\.css)", tornado.web.StaticFileHandler, {"path": str(ASSETS)})]
