"""The partner console's pages, served by the site (not a room): ``/partner``.

* ``GET /partner``: the sign-in form, or, signed in, the console (``assets/partner.*``);
* ``POST /partner``: sign in with e-mail address and password (5 failures a minute per
  address, then 429);
* ``POST /partner/logout``: sign out;
* ``GET /partner/ws``: websocket; pushes the contact's rings and status as they change,
  and keeps the contact present while it is open;
* ``POST /partner/status {status}``, ``/partner/accept {ring}`` -> ``{url}``,
  ``/partner/decline {ring, reason}``: JSON.

The sign-in token lives in a signed HttpOnly SameSite=Strict cookie, checked by the site
controller at each request (as the room's staff cookie, :mod:`kiosk.access.web`). Pages
load only this server's own script and style (CSP without inline script), refuse
framing, send no referrer; posts and the websocket must come from this origin.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tornado.httpserver
import tornado.web
import tornado.websocket

from kiosk.access.proxies import TrustedProxies, trust_proxies
from kiosk.access.ratelimit import FailureLimit
from kiosk.access.staff import SESSION_HOURS
from kiosk.access.web import TOO_MANY, SecurityHeaders, cookie_secret, same_origin
from kiosk.exceptions import BusError
from kiosk.resources import ASSETS
from kiosk.site.console import PartnerConsole
from kiosk.site.state import DECLINE_REASONS, STATUSES

COOKIE = "kiosk_partner"
SECRET_FILE = "site-cookie.secret"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws://{host} wss://{host}; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
#: Seconds an accepting partner waits for the room's join link.
LINK_WAIT = 20.0
AWAY = "Der Partnerdienst antwortet gerade nicht. Bitte gleich noch einmal versuchen."


class ConsoleHeaders(SecurityHeaders):
    """The room's security headers, with a CSP that allows no inline script at all."""

    def transform_first_chunk(self, status_code: int, headers: Any, chunk: bytes,
                              finishing: bool) -> tuple[int, Any, bytes]:
        headers.setdefault("Content-Security-Policy", CSP.format(host=self.host))
        return super().transform_first_chunk(status_code, headers, chunk, finishing)


def cookie_token(handler: tornado.web.RequestHandler) -> str | None:
    """The sign-in token of a request's signed cookie (not yet checked by the site)."""
    value = handler.get_signed_cookie(COOKIE, max_age_days=SESSION_HOURS / 24)
    return value.decode("ascii", "replace") if value else None


async def signed_in(console: PartnerConsole,
                    handler: tornado.web.RequestHandler) -> tuple[str, dict] | None:
    """(token, {contact, name, agency}) of the contact signed in on this request, or None."""
    token = cookie_token(handler)
    if not token:
        return None
    try:
        reply = await console.send("partner.verify", token)
    except BusError:
        return None
    return (token, reply.data) if reply.ok else None


class _Base(tornado.web.RequestHandler):
    def initialize(self, console: PartnerConsole, limit: FailureLimit | None = None) -> None:
        self.console, self.limit = console, limit

    async def contact(self) -> tuple[str, dict] | None:
        return await signed_in(self.console, self)

    def no_store(self) -> None:
        self.set_header("Cache-Control", "no-store")


class ConsoleHandler(_Base):
    """GET: sign-in form or console; POST: sign in."""

    def form(self, *, email: str = "", error: str = "") -> None:
        e = html.escape
        alert = f"<p class='error' role='alert'>{e(error)}</p>" if error else ""
        self.no_store()
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(f"""<!doctype html>
<html lang="de"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Anmelden – Partnerkonsole</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/partner.css">
</head><body><main class="signin">
<p class="kicker">Partnerkonsole</p>
<h1>Anmelden</h1>
<p>Für Mitarbeitende der Partnerstellen: Hier klingeln Anrufe aus den Beratungsräumen.</p>
{alert}
<form method="post" action="/partner">
<label for="email">E-Mail-Adresse</label>
<input id="email" name="email" type="email" value="{e(email)}" required maxlength="254"
 autocomplete="username" autocapitalize="none" spellcheck="false">
<label for="password">Passwort</label>
<input id="password" name="password" type="password" required maxlength="200"
 autocomplete="current-password">
<button type="submit" class="primary">Anmelden</button>
</form></main></body></html>""")

    async def get(self) -> None:
        if await self.contact() is None:
            return self.form()
        self.no_store()
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish((ASSETS / "partner.html").read_text(encoding="utf-8"))

    async def post(self) -> None:
        address = self.request.remote_ip or "?"
        email = self.get_body_argument("email", "").strip()[:254]
        password = self.get_body_argument("password", "")[:200]
        if not same_origin(self.request):
            self.set_status(403)
            return self.form(email=email, error="Diese Anfrage kam nicht von dieser Seite.")
        if self.limit.blocked(address):
            self.set_status(429)
            self.set_header("Retry-After", "60")
            return self.form(email=email, error=TOO_MANY)
        try:
            reply = await self.console.client.request(
                "partner.signin", {"email": email or "-", "password": password or "-"},
                timeout=10.0)
        except BusError:
            self.set_status(503)
            return self.form(email=email, error=AWAY)
        if not reply.ok:
            self.limit.failed(address)
            self.set_status(403)
            return self.form(email=email, error="E-Mail-Adresse oder Passwort stimmt nicht.")
        self.set_signed_cookie(COOKIE, reply.data["token"], expires_days=None, httponly=True,
                               samesite="Strict", secure=(self.request.protocol == "https"
                                                           or self.settings["secure_cookies"]),
                               path="/partner")
        self.redirect("/partner", status=303)  # always here: no open redirect


class LogoutHandler(_Base):
    async def post(self) -> None:
        if not same_origin(self.request):
            raise tornado.web.HTTPError(403)
        token = cookie_token(self)
        if token:
            try:
                await self.console.send("partner.signout", token)
            except BusError:
                pass  # the cookie goes anyway; the sign-in expires by itself
        self.clear_cookie(COOKIE, path="/partner")
        self.redirect("/partner", status=303)


class ActionHandler(_Base):
    """POST /partner/<action> with a small JSON body, for the signed-in contact."""

    async def post(self, action: str) -> None:
        self.no_store()
        if not same_origin(self.request):
            return self.answer(403, error="Diese Anfrage kam nicht von dieser Seite.")
        who = await self.contact()
        if who is None:
            return self.answer(401, error="Bitte melden Sie sich wieder an.")
        try:
            body = json.loads(self.request.body[:4096] or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.answer(400, error="Die Anfrage ist unvollständig.")
        token = who[0]
        try:
            await getattr(self, action.replace("-", "_"))(token, body)
        except BusError:
            self.answer(503, error=AWAY)

    def answer(self, code: int, /, **data: Any) -> None:
        self.set_status(code)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(data, ensure_ascii=False))

    async def status(self, token: str, body: dict) -> None:
        status = body.get("status")
        if status not in STATUSES:
            return self.answer(400, error="Unbekannter Status.")
        reply = await self.console.set_status(token, status)
        if reply is None or not reply.ok:
            return self.answer(503, error=AWAY)
        self.answer(200, status=status)

    async def decline(self, token: str, body: dict) -> None:
        reason = body.get("reason")
        if reason not in DECLINE_REASONS or not isinstance(body.get("ring"), str):
            return self.answer(400, error="Bitte einen Grund wählen.")
        reply = await self.console.send("ring.decline", token, ring=body["ring"], reason=reason)
        if not reply.ok:
            return self.answer(409, error=_why(reply.error))
        self.answer(200, ring=body["ring"])

    async def accept(self, token: str, body: dict) -> None:
        """Take the call, wait for the room's join link, and answer with it."""
        ring = body.get("ring")
        if not isinstance(ring, str):
            return self.answer(400, error="Welcher Anruf?")
        reply = await self.console.send("ring.accept", token, ring=ring)
        if not reply.ok:
            return self.answer(409, error=_why(reply.error))
        state = self.console.state
        await self.console.until(
            lambda: ring not in state.rings or state.rings[ring].status != "accepted", LINK_WAIT)
        got = await self.console.send("ring.get", token, ring=ring)
        url = got.data.get("url", "") if got.ok else ""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.path.startswith("/join/"):
            return self.answer(502, error="Der Beratungsraum konnte Sie nicht einladen. "
                                          "Bitte rufen Sie den Raum zurück.")
        self.answer(200, url=url)


def _why(error: str) -> str:
    """A site refusal of a partner's action, in German."""
    if "already taken" in error:
        return "Eine Kollegin oder ein Kollege hat den Anruf schon angenommen."
    if "no longer ringing" in error or "no ring" in error:
        return "Dieser Anruf klingelt nicht mehr."
    if "signed" in error or "sign-in" in error:
        return "Bitte melden Sie sich wieder an."
    return "Das ging nicht: der Anruf ist nicht mehr für Sie."


class PushHandler(tornado.websocket.WebSocketHandler):
    """GET /partner/ws: the contact's state, pushed; open means present."""

    def initialize(self, console: PartnerConsole) -> None:
        self.console = console
        self.who: tuple[str, dict] | None = None

    def check_origin(self, origin: str) -> bool:
        return urlsplit(origin).netloc == self.request.host

    async def get(self, *args: Any, **kwargs: Any) -> None:
        origin = self.request.headers.get("Origin")
        if origin is None or not self.check_origin(origin):
            self.set_status(403)
            return self.finish("Cross-origin websocket refused.")
        self.who = await signed_in(self.console, self)
        if self.who is None:
            self.set_status(403)
            return self.finish("Not signed in.")
        await super().get(*args, **kwargs)

    def open(self, *args: Any) -> None:
        token, data = self.who
        self.console.attach(self, token, int(data["contact"]))

    def on_message(self, message: str | bytes) -> None:
        pass  # the page only listens

    def on_close(self) -> None:
        self.console.detach(self)


class ConsoleServer:
    """The site's small HTTP server for the partner console."""

    def __init__(self, console: PartnerConsole, *, address: str, port: int,
                 data_dir: Path, proxies: TrustedProxies | None = None,
                 public_url: str = "") -> None:
        self.console = console
        self.address, self.port = address, port
        self.proxies = proxies or TrustedProxies()
        self.public_url = public_url
        opts = {"console": console}
        self.app = tornado.web.Application(
            [(r"/partner", ConsoleHandler, {**opts, "limit": FailureLimit()}),
             (r"/partner/logout", LogoutHandler, opts),
             (r"/partner/ws", PushHandler, opts),
             (r"/partner/(status|accept|decline)", ActionHandler, opts),
             (r"/assets/(partner\.(?:js|css)|chime\.js)", tornado.web.StaticFileHandler,
              {"path": str(ASSETS)})],
            cookie_secret=cookie_secret(data_dir, SECRET_FILE), websocket_ping_interval=20,
            secure_cookies=public_url.startswith("https://"))
        self.app.transforms.append(ConsoleHeaders)
        self.server: tornado.httpserver.HTTPServer | None = None

    def start(self) -> None:
        self.server = self.app.listen(self.port, self.address, xheaders=False)
        trust_proxies(self.server, self.proxies)
        if not self.port:
            self.port = next(iter(self.server._sockets.values())).getsockname()[1]

    @property
    def url(self) -> str:
        if self.public_url:
            return f"{self.public_url}/partner"
        host = self.address
        host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "") else host
        return f"http://{host}:{self.port}/partner"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            await self.server.close_all_connections()
            self.server = None
