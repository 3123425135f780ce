"""Who may open which page, and the headers every answer carries.

* /control, /admin and /stats need a member of staff signed in on /login
  whose role opens that page (:data:`kiosk.access.staff.STAFF_PAGES`);
* /kiosk and /display need a device of the room: a browser on the room PC
  itself (a loopback address) or a paired device's credential;
* everything else (the partners' and pairing pages, assets, /healthz) is public
  and guards itself.

The sign-in lives in a signed cookie (Tornado's HMAC with the room's cookie
secret) around a token that the room controller knows by its hash, so a forged
cookie fails the signature and an expired or signed-out one the controller.
Bokeh calls :class:`RoomAuth` for every page, websocket and asset request. An
open staff page is checked again every :data:`PAGE_RECHECK` seconds: once its
sign-in ended (signed out, account removed, or refused by the agency's
directory) its websocket closes, and the page stops working.

/login checks a name against the room's own accounts first; a name that is
none goes to the agency's directory when the room has one (``link.directory``,
a :class:`kiosk.access.ldap.StaffDirectory`).
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import tornado.web
from bokeh.server.auth_provider import AuthProvider

from kiosk.access.pairing_page import CREDENTIAL_DAYS
from kiosk.access.pairing_page import cookie_name as tablet_cookie
from kiosk.access.proxies import from_room_pc, secure_cookie
from kiosk.access.ratelimit import FailureLimit
from kiosk.access.staff import DIRECTORY_NAME_MAX, SESSION_HOURS, STAFF_PAGES, directory_name
from kiosk.exceptions import BusError, CommandError
from kiosk.room.link import RoomLink

log = logging.getLogger(__name__)

#: Pages and who opens them: "device" (the room's own), or a staff page.
PAGES = {"kiosk": "device", "display": "device", "control": "staff", "admin": "staff",
         "stats": "staff"}
HOME = {"counsellor": "/control", "admin": "/admin", "evaluator": "/stats"}
SECRET_FILE = "cookie.secret"
TOO_MANY = "Zu viele falsche Versuche. Bitte warten Sie eine Minute."
SIGNIN_FAILED = "Name oder Passwort stimmt nicht."
DIRECTORY_DOWN = ("Das Anmeldeverzeichnis der Agentur ist gerade nicht erreichbar, darum geht "
                  "die Anmeldung mit dem Agentur-Konto im Moment nicht. Bitte versuchen Sie es "
                  "in einigen Minuten noch einmal. Die Haustechnik kann sich mit einem lokalen "
                  "Konto des Raums anmelden.")
#: Seconds between two checks that the sign-in behind an open staff page still holds.
PAGE_RECHECK = 5.0
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; "
       "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
       "media-src 'self' blob: mediastream:; connect-src 'self' ws://{host} wss://{host} blob: "
       "data:; worker-src 'self' "
       "blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def staff_cookie(room_id: str) -> str:
    return f"kiosk_staff_{room_id}"


def cookie_secret(data_dir: Path, name: str = SECRET_FILE) -> str:
    """The room's cookie secret (or another server's, in file ``name``), made once and
    kept in the data dir (owner only)."""
    path = Path(data_dir) / name
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secret, encoding="ascii")
        tmp.chmod(0o600)
        tmp.replace(path)
        return secret


def page_of(path: str) -> str | None:
    """The guarded page a request path belongs to (``/control/ws`` → control)."""
    first = path.lstrip("/").split("/", 1)[0]
    return first if first in PAGES else None


def local_path(target: str, default: str) -> str:
    """``target`` if it is a path on this host, else ``default`` (no open redirect)."""
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(c in target for c in "\\\r\n\t"):
        return default
    return target


def refuse(handler: tornado.web.RequestHandler, status: int, title: str, text: str,
           link: tuple[str, str] | None = None) -> None:
    """Finish ``handler`` with a small German page saying why."""
    e = html.escape
    more = f"<p><a href='{e(link[0])}'>{e(link[1])}</a></p>" if link else ""
    handler.set_status(status)
    handler.set_header("Content-Type", "text/html; charset=utf-8")
    handler.set_header("Cache-Control", "no-store")
    handler.finish(f"""<!doctype html><html lang="de"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{e(title)}</title>
<link rel="stylesheet" href="/assets/pair.css"></head><body><main>
<h1>{e(title)}</h1><p class="error" role="alert">{e(text)}</p>{more}</main></body></html>""")


async def _verified(link: RoomLink, handler: tornado.web.RequestHandler, cookie: str,
                    max_age_days: float, command: str) -> dict | None:
    """What the controller says of the token in a signed cookie; None if unsigned or refused."""
    token = handler.get_signed_cookie(cookie, max_age_days=max_age_days)
    if not token:
        return None
    try:
        reply = await link.send("admin", command, token=token.decode("ascii", "replace"))
    except BusError:
        return None
    return reply.data if reply.ok else None


async def signed_in(link: RoomLink, handler: tornado.web.RequestHandler) -> dict | None:
    """The member of staff whose sign-in cookie ``handler``'s request carries, if valid."""
    return await _verified(link, handler, staff_cookie(link.state.room_id),
                           SESSION_HOURS / 24, "staff.verify")


async def paired_device(link: RoomLink, handler: tornado.web.RequestHandler) -> dict | None:
    """The paired device whose signed credential the request carries, if valid."""
    return await _verified(link, handler, tablet_cookie(link.state.room_id),
                           CREDENTIAL_DAYS, "tablet.verify")


class RoomAuth(AuthProvider):
    """Bokeh's authentication hook for the room's pages."""

    def __init__(self, link: RoomLink) -> None:
        self.link = link
        #: The websockets of open staff pages, rechecked by :meth:`_recheck_pages`.
        self._pages: weakref.WeakSet = weakref.WeakSet()
        self._next: asyncio.TimerHandle | None = None
        self._round: asyncio.Future | None = None
        super().__init__()

    @property
    def get_user_async(self) -> Any:
        return self.user

    @property
    def login_url(self) -> str:
        return "/login"

    async def user(self, handler: tornado.web.RequestHandler) -> str | None:
        """A name for whoever may open the requested page; None asks for a sign-in.

        Refusals that a sign-in cannot cure answer 403 at once.
        """
        page = page_of(handler.request.path)
        if page is None:
            return "public"
        if PAGES[page] == "device":
            if from_room_pc(handler.request):
                return "room-pc"
            device = await paired_device(self.link, handler)
            if device:
                return f"tablet-{device['tablet']}"
            refuse(handler, 403, "Nur für die Geräte des Raums",
                   "Diese Seite zeigen nur die Bildschirme im Beratungsraum.")
            return None
        staff = await signed_in(self.link, handler)
        if staff is None:
            if handler.request.path.endswith("/ws"):
                refuse(handler, 403, "Bitte anmelden", "Die Anmeldung fehlt oder ist abgelaufen.")
            return None  # a page: Bokeh sends the browser to /login?next=…
        if page not in staff["pages"]:
            refuse(handler, 403, "Keine Berechtigung",
                   f"Das Konto „{staff['name']}“ darf diese Seite nicht öffnen.",
                   ("/login", "Mit einem anderen Konto anmelden"))
            return None
        if handler.request.path.endswith("/ws"):
            self._keep_checking(handler)
        return staff["name"]

    def _keep_checking(self, socket: Any) -> None:
        self._pages.add(socket)
        if self._next is None:  # a timer, not a sleeping task: a room that stops drops it
            self._next = asyncio.get_running_loop().call_later(PAGE_RECHECK, self._recheck)

    def _recheck(self) -> None:
        self._round = asyncio.ensure_future(self._recheck_pages())

    async def _recheck_pages(self) -> None:
        """Close the websocket of each open staff page whose sign-in the controller no
        longer knows; while the controller does not answer, pages stay open."""
        cookie = staff_cookie(self.link.state.room_id)
        try:
            for socket in list(self._pages):
                if socket.ws_connection is None:  # closed by the browser
                    self._pages.discard(socket)
                    continue
                token = socket.get_signed_cookie(cookie, max_age_days=SESSION_HOURS / 24)
                reply = await self.link.send("admin", "staff.verify", token=(
                    token or b"-").decode("ascii", "replace"))
                if not reply.ok:
                    self._pages.discard(socket)
                    socket.close(4001, "the sign-in ended")
        except BusError:
            pass  # the next round asks again
        finally:
            self._next = asyncio.get_running_loop().call_later(
                PAGE_RECHECK, self._recheck) if self._pages else None


class LoginHandler(tornado.web.RequestHandler):
    """GET /login shows the form; POST signs in and goes back to ``next``."""

    def initialize(self, link: RoomLink, limit: FailureLimit) -> None:
        self.link, self.limit = link, limit

    def page(self, *, name: str = "", error: str = "", target: str = "") -> None:
        e = html.escape
        room = e(self.link.state.room_name or self.link.state.room_id)
        alert = f"<p class='error' role='alert'>{e(error)}</p>" if error else ""
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(f"""<!doctype html>
<html lang="de"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Anmelden – {room}</title><link rel="stylesheet" href="/assets/pair.css"></head>
<body><main>
<p class="room">{room}</p>
<h1>Anmelden</h1>
{alert}
<form method="post" action="/login?{e(urlencode({"next": target}))}">
<label for="name">Name</label>
<input id="name" name="name" value="{e(name)}" required maxlength="{DIRECTORY_NAME_MAX}"
 autocomplete="username"
 autocapitalize="none" spellcheck="false">
<label for="password">Passwort</label>
<input id="password" name="password" type="password" required maxlength="200"
 autocomplete="current-password">
<button type="submit">Anmelden</button>
</form></main></body></html>""")

    def get(self) -> None:
        self.page(target=local_path(self.get_query_argument("next", ""), ""))

    async def post(self) -> None:
        address = self.request.remote_ip or "?"
        name = self.get_body_argument("name", "").strip()[:DIRECTORY_NAME_MAX]
        password = self.get_body_argument("password", "")[:200]
        target = local_path(self.get_query_argument("next", ""), "")
        if not same_origin(self.request):
            self.set_status(403)
            return self.page(name=name, error="Diese Anfrage kam nicht von dieser Seite.",
                             target=target)
        if self.limit.blocked(address):
            self.set_status(429)
            self.set_header("Retry-After", "60")
            return self.page(name=name, error=TOO_MANY, target=target)
        try:
            reply = await self.link.send("admin", "staff.signin", name=name or "-",
                                         password=password or "-")
        except BusError:
            self.set_status(503)
            return self.page(name=name, target=target, error="Der Raum antwortet gerade "
                             "nicht. Bitte gleich noch einmal versuchen.")
        if not reply.ok and reply.code == "not_local" and self.link.directory is not None:
            return await self._from_directory(address, name, password, target)
        if not reply.ok:
            return self._failed(address, name, target)
        self._signed_in(reply.data, target)

    def _failed(self, address: str, name: str, target: str) -> None:
        self.limit.failed(address)
        self.set_status(403)
        self.page(name=name, error=SIGNIN_FAILED, target=target)

    def _signed_in(self, signin: dict[str, Any], target: str) -> None:
        self.set_signed_cookie(staff_cookie(self.link.state.room_id), signin["token"],
                               expires_days=None, httponly=True, samesite="Strict",
                               secure=secure_cookie(self), path="/")
        home = HOME[signin["role"]]
        allowed = page_of(urlsplit(target).path) in STAFF_PAGES[signin["role"]]
        self.redirect(target if target and allowed else home, status=303)

    async def _from_directory(self, address: str, name: str, password: str,
                              target: str) -> None:
        """No local account of that name: the agency's directory decides (its refusals
        read like a wrong password and count as failures; its absence does not)."""
        try:
            name = directory_name("name", name)
        except CommandError:  # no possible account name: never sent to the directory
            return self._failed(address, name, target)
        outcome = await self.link.directory.sign_in(name, password)
        if outcome.unavailable:
            self.set_status(503)
            return self.page(name=name, error=DIRECTORY_DOWN, target=target)
        if not outcome.ok:
            log.info("directory sign-in of %s refused: %s", name, outcome.refused)
            return self._failed(address, name, target)
        try:
            reply = await self.link.send("admin", "staff.directory", name=name,
                                         role=outcome.role)
        except BusError:
            self.set_status(503)
            return self.page(name=name, target=target, error="Der Raum antwortet gerade "
                             "nicht. Bitte gleich noch einmal versuchen.")
        if not reply.ok:
            log.warning("directory sign-in of %s not opened: %s", name, reply.error)
            return self._failed(address, name, target)
        log.info("%s signed in from the directory as %s", name, outcome.role)
        self._signed_in(reply.data, target)


class LogoutHandler(tornado.web.RequestHandler):
    """POST /logout ends the sign-in (from this page's own form only)."""

    def initialize(self, link: RoomLink) -> None:
        self.link = link

    async def post(self) -> None:
        if not same_origin(self.request):
            raise tornado.web.HTTPError(403)
        name = staff_cookie(self.link.state.room_id)
        token = self.get_signed_cookie(name, max_age_days=SESSION_HOURS / 24)
        if token:
            try:
                await self.link.send("admin", "staff.signout",
                                     token=token.decode("ascii", "replace"))
            except BusError:
                pass  # the cookie goes anyway; the sign-in expires by itself
        self.clear_cookie(name, path="/")
        self.redirect("/login", status=303)


def same_origin(request: Any) -> bool:
    """A form post from this host's own pages.

    Under ``Referrer-Policy: no-referrer`` browsers send ``Origin: null`` with a
    form; then their ``Sec-Fetch-Site`` must say same-origin. A client that sends
    neither header (a script, curl) is no browser that another site could steer.
    """
    origin = request.headers.get("Origin")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if origin and origin != "null":
        return urlsplit(origin).netloc == request.host
    if fetch_site is not None:
        return fetch_site == "same-origin"
    return origin is None


class SecurityHeaders(tornado.web.OutputTransform):
    """Headers on every answer of the page server (a handler's own stay as they are)."""

    def __init__(self, request: Any) -> None:
        self.host = request.host

    def transform_first_chunk(self, status_code: int, headers: Any, chunk: bytes,
                              finishing: bool) -> tuple[int, Any, bytes]:
        headers.setdefault("Content-Security-Policy", CSP.format(host=self.host))
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "geolocation=(), payment=(), usb=()")
        return status_code, headers, chunk


def routes(link: RoomLink) -> list[tuple]:
    limit = FailureLimit()
    return [(r"/login", LoginHandler, {"link": link, "limit": limit}),
            (r"/logout", LogoutHandler, {"link": link})]
