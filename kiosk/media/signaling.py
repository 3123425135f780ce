"""HTTP signalling in the style of WHIP (RFC 9725) and WHEP (RFC 9726).

``POST /api/whip`` with ``Authorization: Bearer <token>`` and an
``application/sdp`` offer answers ``201 Created`` with the SDP answer and a
``Location``; ``DELETE`` on that location leaves. The display pulls a
partner's streams with ``POST /api/whep/partners/<id>`` from the room's own
machine. Every refusal is a 4xx with a plain-text reason and changes nothing.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Awaitable

import tornado.web

from kiosk.access.proxies import from_room_pc
from kiosk.access.ratelimit import FailureLimit
from kiosk.exceptions import BusError
from kiosk.media.engine import TOKEN_STATUS, MediaEngine, SignalingError
from kiosk.resources import ASSETS

log = logging.getLogger(__name__)


MAX_SDP_BYTES = 64 * 1024


#: Answers to a join that mean the token was wrong, used, revoked or expired.
TOKEN_FAILURES = frozenset({401, 403, 409, 410})
TOO_MANY = "Too many failed tries from this address; wait a minute."


class _Base(tornado.web.RequestHandler):
    def initialize(self, engine: MediaEngine, limit: FailureLimit | None = None) -> None:
        self.engine = engine
        self.limit = limit or FailureLimit()

    def refuse(self, status: int, reason: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(reason)

    def offer(self) -> str | None:
        ctype = self.request.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype != "application/sdp":
            self.refuse(415, "The offer must be sent as application/sdp.")
            return None
        if len(self.request.body) > MAX_SDP_BYTES:
            self.refuse(413, "The offer is too large.")
            return None
        try:
            return self.request.body.decode("utf-8")
        except UnicodeDecodeError:
            self.refuse(400, "The offer is not UTF-8 text.")
            return None

    def unusable(self, exc: Exception) -> None:
        """aiortc failed on an offer beyond its own checks (e.g. closing a peer connection
        whose offer bundles a missing m= section): a 400 for the sender, details logged."""
        log.warning("signalling: the media engine failed on an offer", exc_info=exc)
        self.refuse(400, "The SDP offer could not be used.")

    async def respond(self, attempt: Awaitable[tuple[str, str]], base: str) -> None:
        """Answer with the SDP of ``attempt`` (resource, sdp) at ``base``/resource, or
        refuse: with the engine's reason, or 400 when aiortc failed on the offer."""
        try:
            resource, sdp = await attempt
        except SignalingError as exc:
            self.refuse(exc.status, exc.reason)
            return
        except Exception as exc:
            self.unusable(exc)
            return
        self.answer(f"{base}/{resource}", sdp)

    def answer(self, location: str, sdp: str) -> None:
        self.set_status(201)
        self.set_header("Content-Type", "application/sdp")
        self.set_header("Location", location)
        self.finish(sdp)

    async def delete_call(self, resource: str) -> None:
        if await self.engine.hang_up(resource):
            self.set_status(200)
            self.finish()
        else:
            self.refuse(404, "There is no such call.")

    def check_xsrf_cookie(self) -> None:  # WHIP clients carry a bearer token, not cookies
        pass


class WhipHandler(_Base):
    """POST /api/whip: a partner joins with the token of their link."""

    async def post(self) -> None:
        auth = self.request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            self.set_header("WWW-Authenticate", 'Bearer realm="kiosk"')
            self.refuse(401, "A Bearer token from the invitation link is needed.")
            return
        address = self.request.remote_ip or "?"
        if self.limit.blocked(address):  # guessing links: five failures a minute
            self.set_header("Retry-After", "60")
            self.refuse(429, TOO_MANY)
            return
        offer = self.offer()
        if offer is None:
            return
        try:
            resource, sdp = await self.engine.join(auth[7:].strip(), offer)
        except SignalingError as exc:
            if exc.status in TOKEN_FAILURES:
                self.limit.failed(address)
            self.refuse(exc.status, exc.reason)
            return
        except Exception as exc:  # never a 500 for what a client sent
            self.unusable(exc)
            return
        self.answer(f"/api/whip/{resource}", sdp)


class WhipResourceHandler(_Base):
    """GET /api/whip/<resource>: where the call stands; DELETE: the partner leaves."""

    def get(self, resource: str) -> None:
        status = self.engine.status(resource)
        if status is None:
            self.refuse(404, "There is no such call.")
            return
        self.set_header("Cache-Control", "no-store")
        self.finish(status)

    async def delete(self, resource: str) -> None:
        await self.delete_call(resource)

    async def post(self, resource: str) -> None:
        """A new offer on the same call, after a dropped network (the resource is the
        call's secret, known only to the partner's page)."""
        offer = self.offer()
        if offer is None:
            return

        async def rejoin() -> tuple[str, str]:
            return resource, await self.engine.rejoin(resource, offer)
        await self.respond(rejoin(), "/api/whip")


class ScreenHandler(_Base):
    """POST /api/whip/<resource>/screen: the call's page shares a screen (a send-only
    offer); DELETE on the answer's Location (/api/screen/<id>) stops it."""

    async def post(self, resource: str) -> None:
        offer = self.offer()
        if offer is None:
            return
        await self.respond(self.engine.share(resource, offer), "/api/screen")


class ScreenResourceHandler(_Base):
    async def delete(self, resource: str) -> None:
        call = self.engine.calls.get(resource)
        if call is None or call.kind != "screen":
            self.refuse(404, "There is no such shared screen.")
            return
        await self.delete_call(resource)


class IceHandler(_Base):
    """GET /api/whip/<resource>/ice: fresh ICE servers (TURN credentials) for a call's
    page before it offers again after a dropped network; the resource is the call's
    secret."""

    def get(self, resource: str) -> None:
        call = self.engine.calls.get(resource)
        if call is None or call.kind != "partner":
            self.refuse(404, "There is no such call.")
            return
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"iceServers": self.engine.page_ice_servers(
            f"p{call.partner}")}))


class JoinPageHandler(tornado.web.RequestHandler):
    """GET /join/<token>: the partner's page. A link that no longer works (unknown, used,
    revoked, expired, or the talk is over) is refused here, before the page asks for
    camera and microphone; wrong links count towards the same limit as joins."""

    def initialize(self, engine: MediaEngine, limit: FailureLimit) -> None:
        self.engine, self.limit = engine, limit

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Referrer-Policy", "no-referrer")  # the link must not leak onwards
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy",
                        "default-src 'self'; media-src 'self' blob: mediastream:; "
                        "img-src 'self' data:; frame-ancestors 'none'")

    async def get(self, token: str) -> None:
        address = self.request.remote_ip or "?"
        if self.limit.blocked(address):
            self.set_header("Retry-After", "60")
            return self.refused(429, "Zu viele Versuche",
                                "Bitte warten Sie eine Minute und öffnen Sie dann den Link "
                                "aus Ihrer Einladung.")
        try:
            reply = await self.engine.link.send("media", "invite.check", token=token)
        except BusError:
            return self.refused(503, "Der Beratungsraum ist gerade nicht erreichbar",
                                "Bitte versuchen Sie es in einer Minute noch einmal.")
        if not reply.ok:
            self.limit.failed(address)
            text = reply.error if reply.code.startswith("token_") else (
                "Dieses Gespräch ist vorbei. Bitte bitten Sie die Beratung um einen neuen "
                "Link.")
            return self.refused(TOKEN_STATUS.get(reply.code, 403), "Link nicht gültig", text)
        page = (ASSETS / "join.html").read_text(encoding="utf-8")
        ice = json.dumps(self.engine.page_ice_servers("partner"))
        self.finish(page.replace("{room}", html.escape(self.engine.label))
                    .replace("{ice}", html.escape(ice, quote=True)))

    def refused(self, status: int, title: str, text: str) -> None:
        e = html.escape
        self.set_status(status)
        self.finish(f"""<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} – {e(self.engine.label)}</title>
<link rel="stylesheet" href="/assets/join.css"></head>
<body><header><p class="room">{e(self.engine.label)}</p><h1>{e(title)}</h1></header>
<main><p role="alert">{e(text)}</p></main></body></html>""")


class WhepHandler(_Base):
    """POST /api/whep/partners/<id> (a partner) or /api/whep/room (the self-view):
    the display, on this machine, pulls media of the room."""

    async def post(self, partner: str | None = None, screen: str | None = None) -> None:
        if not from_room_pc(self.request):
            self.refuse(403, "Only the room's own display may pull media.")
            return
        offer = self.offer()
        if offer is None:
            return
        await self.respond(self.engine.self_view(offer) if partner is None
                           else self.engine.watch(int(partner), offer, screen=bool(screen)),
                           "/api/whep")


class WhepResourceHandler(_Base):
    async def delete(self, resource: str) -> None:
        await self.delete_call(resource)


def routes(engine: MediaEngine) -> list[tuple]:
    """The signalling endpoints, for the page server."""
    opts = {"engine": engine, "limit": FailureLimit()}
    return [(r"/join/([A-Za-z0-9_-]{16,200})", JoinPageHandler, opts),
            (r"/assets/((?:join|call|visit)\.(?:js|css))", tornado.web.StaticFileHandler,
             {"path": str(ASSETS)}),
            (r"/api/whip", WhipHandler, opts),
            (r"/api/whip/([0-9a-f]{32})", WhipResourceHandler, opts),
            (r"/api/whip/([0-9a-f]{32})/ice", IceHandler, opts),
            (r"/api/whip/([0-9a-f]{32})/screen", ScreenHandler, opts),
            (r"/api/screen/([0-9a-f]{32})", ScreenResourceHandler, opts),
            (r"/api/whep/partners/([0-9]{1,12})(?:/(screen))?", WhepHandler, opts),
            (r"/api/whep/room", WhepHandler, opts),
            (r"/api/whep/([0-9a-f]{32})", WhepResourceHandler, opts)]
