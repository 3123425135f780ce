"""The room's page server: Panel with /kiosk, /control, /display and /healthz.

Each page is a factory, so every browser session gets its own view over the
process's one :class:`RoomLink`. Every asset is served by this server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import tornado.web
from bokeh.server.server import BaseServer
from bokeh.server.tornado import BokehTornado
from bokeh.server.urls import per_app_patterns
from panel.io.server import WSHandler, get_server
from panel.io.state import state as panel_state
from tornado.ioloop import IOLoop

from kiosk.access import web as access
from kiosk.access.pairing_page import routes as pairing_routes
from kiosk.app import writes
from kiosk.exceptions import DependencyError
from kiosk.handout.page import routes as summary_routes
from kiosk.room.link import RoomLink
from kiosk.views import AdminView, ControlView, DisplayView, KioskView

PAGES = {"kiosk": (KioskView, "Kiosk"), "control": (ControlView, "Beratung"),
         "display": (DisplayView, "Anzeige"), "admin": (AdminView, "Verwaltung")}


class NoDelayWSHandler(WSHandler):
    """Panel's websocket with Nagle's algorithm off.

    Bokeh leaves TCP_NODELAY unset, so small updates can wait 40 ms for a
    delayed ACK; a screen that follows a tap must not.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        self.set_nodelay(True)
        return super().open(*args, **kwargs)


def _use_nodelay_websocket() -> None:
    for i, (pattern, handler) in enumerate(per_app_patterns):
        if pattern == r"/ws" and handler is not NoDelayWSHandler:
            per_app_patterns[i] = (pattern, NoDelayWSHandler)


def check() -> None:
    """Raise :class:`DependencyError` unless Bokeh and Panel have what this module patches.

    The websocket patch is quiet when it misses: the route must still be Bokeh's
    ``/ws`` in ``per_app_patterns``, read when the server is built, with Panel's
    handler on it (or ours); ``build_server`` and the room read ``Server._tornado``
    and ``Server._http``; the views ask Panel's ``state._unblocked``.
    """
    handlers = [handler for pattern, handler in per_app_patterns if pattern == r"/ws"]
    problems = []
    if not handlers or "per_app_patterns" not in BokehTornado.__init__.__code__.co_names:
        problems.append(("bokeh", "bokeh.server.urls.per_app_patterns '/ws'",
                         "the websocket route, read when BokehTornado is built"))
    if handlers and handlers[0] not in (WSHandler, NoDelayWSHandler):
        problems.append(("panel", "panel.io.server.WSHandler on '/ws'",
                         "Panel's websocket handler on Bokeh's '/ws' route"))
    if not {"_tornado", "_http"} <= set(BaseServer.__init__.__code__.co_names):
        problems.append(("bokeh", "Server._tornado, Server._http",
                         "the Tornado application and HTTP server of a Bokeh Server"))
    if not callable(getattr(panel_state, "_unblocked", None)):
        problems.append(("panel", "panel.io.state.state._unblocked",
                         "whether a view may change its session's models now (views/base.py)"))
    if problems:
        raise DependencyError(problems)


class HealthHandler(tornado.web.RequestHandler):
    """GET /healthz: JSON with status, room, phase, bus sequence and uptime."""

    def initialize(self, health: Callable[[], dict[str, Any]]) -> None:
        self._health = health

    def get(self) -> None:
        body = self._health()
        self.set_status(200 if body["status"] == "ok" else 503)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write(json.dumps(body))


def page_factory(view: type, link: RoomLink) -> Callable[[], Any]:
    def page() -> Any:
        return view(link=link, device=True)  # the room's own page; elsewhere views only watch
    page.__name__ = view.__name__
    return page


def build_server(link: RoomLink, *, address: str, port: int, origins: list[str],
                 health: Callable[[], dict[str, Any]], cookie_secret: str,
                 loop: IOLoop | None = None, extra_routes: list[tuple] | None = None,
                 facts: Callable[[], Any] | None = None) -> Any:
    """A started-on-demand Panel server for the room's pages (and /stats given ``facts``).

    Pages are guarded by :class:`kiosk.access.web.RoomAuth`; the websocket opens only
    for ``origins`` (``host:port``); every answer carries the security headers.
    """
    check()
    _use_nodelay_websocket()
    writes.install()
    routes = {name: page_factory(view, link) for name, (view, _) in PAGES.items()}
    titles = {name: title for name, (_, title) in PAGES.items()}
    if facts is not None:
        from kiosk.views.stats import stats_page

        routes["stats"], titles["stats"] = stats_page(facts), "Auswertung"
    server = get_server(
        routes, port=port, address=address, websocket_origin=origins, title=titles,
        loop=loop or IOLoop.current(), start=False, show=False,
        auth_provider=access.RoomAuth(link), cookie_secret=cookie_secret,
        extra_patterns=[(r"/healthz", HealthHandler, {"health": health}),
                        *access.routes(link), *pairing_routes(link), *summary_routes(link),
                        *(extra_routes or [])],
        # A closed tab's session (and its watchers on the shared state) goes within
        # seconds, not Bokeh's default quarter of a minute; but a session counts as unused
        # from its making until its page's websocket comes, and a loaded tablet or room PC
        # may take seconds to load the scripts: a session dropped meanwhile is made anew
        # when the websocket comes (a second build that holds the room's loop again).
        check_unused_sessions_milliseconds=1000, unused_session_lifetime_milliseconds=8000,
    )
    server._tornado.transforms.append(access.SecurityHeaders)
    return server


def health_of(link: RoomLink, started: float) -> dict[str, Any]:
    state = link.state
    return {"status": "ok" if state.synced else "degraded", "room": state.room_id,
            "phase": state.phase, "bus_seq": state.seq,
            "uptime_s": round(time.monotonic() - started, 3)}
