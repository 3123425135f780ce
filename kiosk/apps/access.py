"""Who may open a page that Panel's own tools serve: the room's staff sign-in.

``panel serve``, jupyter-panel-proxy and JupyterLab's Panel preview bring no
sign-in of their own, so a served app asks the room, as the room's own pages
do (:class:`kiosk.access.web.RoomAuth`): the browser must carry the signed
cookie of the room's ``/login`` (served on the same host name: a cookie does not
keep to a port), the room controller must know its token, and that member of
staff's role must open the page. Without a running room, or its cookie secret,
a served app shows nothing but why. In a kernel, where nothing is served, the
view shows at once: whoever runs the kernel holds the room's files anyway.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import panel as pn
import param
from tornado.web import decode_signed_value

from kiosk.access.staff import SESSION_HOURS
from kiosk.access.web import SECRET_FILE, staff_cookie
from kiosk.config import default_data_dir, read_runtime
from kiosk.exceptions import BusError, ConfigError, KioskError
from kiosk.room.client import CommandClient
from kiosk.room.link import runtime_keyring
from kiosk.views.base import STYLES

#: One command client per room, key and event loop: every session of a process shares it.
_clients: dict[tuple[str, bytes, int], CommandClient] = {}


@dataclass(frozen=True)
class Refusal:
    """Why a page is not shown: a title, a sentence and where to sign in."""

    title: str
    text: str
    login: str = ""

    def html(self) -> str:
        e = html.escape
        more = f"<p><a href='{e(self.login)}'>Zur Anmeldung am Raum</a></p>" if self.login else ""
        return f"<h1>{e(self.title)}</h1><p class='notice' role='alert'>{e(self.text)}</p>{more}"


def _verifier(info: dict[str, Any]) -> CommandClient:
    """The client that asks the room whose sign-in a token is. It holds the key of the
    room's page server (``room``): a served app is one more page server of the room."""
    keys = runtime_keyring(info).client("room")
    slot = (info["bus"]["router"], keys.public, id(asyncio.get_running_loop()))
    if slot not in _clients:
        _clients[slot] = CommandClient(info["bus"]["router"], keys=keys)
    return _clients[slot]


def cookie(request: dict[str, Any], name: str) -> str | None:
    """The cookie ``name`` of a session's request (``{"cookies": …, "headers": …}``).
    JupyterLab's Panel preview hands on its cookies without their values (Panel 1.9): then
    the request's ``Cookie`` header has them."""
    value = request["cookies"].get(name)
    if isinstance(value, str):
        return value
    jar = SimpleCookie()
    jar.load(str(request["headers"].get("Cookie", "")))
    return jar[name].value if name in jar else None


async def signed_in(request: dict[str, Any], page: str, data_dir: Path) -> str | Refusal:
    """The name of the member of staff whose sign-in the ``request`` (its cookies and
    headers) carries, if their role opens the room's ``page`` (``stats``, ``admin``,
    ``control``); else why not."""
    try:
        info = read_runtime(data_dir)
        secret = (data_dir / SECRET_FILE).read_text(encoding="ascii").strip()
        verifier = _verifier(info)
    except (ConfigError, OSError):
        return Refusal("Kein Raum erreichbar", f"Unter {data_dir} läuft kein Raum, dessen "
                       "Anmeldung diese Seite prüfen könnte; sie zeigt darum nichts.")
    login = f"{info.get('base_url', '')}/login"
    name = staff_cookie(info["room_id"])
    raw = cookie(request, name)
    token = raw and decode_signed_value(secret, name, raw, max_age_days=SESSION_HOURS / 24)
    if not token:
        return Refusal("Bitte anmelden", "Diese Seite zeigt der Raum nur angemeldeten "
                       "Mitarbeitenden. Bitte am Raum anmelden und die Seite neu laden.", login)
    try:
        reply = await verifier.request(
            "staff.verify", {"token": token.decode("ascii", "replace")}, role="admin")
    except BusError:
        return Refusal("Raum antwortet nicht", "Die Anmeldung kann gerade nicht geprüft "
                       "werden. Bitte gleich die Seite neu laden.")
    if not reply.ok:
        return Refusal("Bitte anmelden", "Die Anmeldung ist abgelaufen oder beendet. Bitte am "
                       "Raum neu anmelden und die Seite neu laden.", login)
    if page not in reply.data["pages"]:
        return Refusal("Keine Berechtigung", f"Das Konto „{reply.data['name']}“ darf diese "
                       "Seite nicht öffnen.", login)
    return reply.data["name"]


class StaffOnly(pn.viewable.Viewer):
    """A served page's content for signed-in staff whose role opens ``page``; for
    anyone else, why not. The browser gets the content (made then, if ``make`` makes it)
    only once the room said yes."""

    page = param.Selector(objects=["stats", "admin", "control"], doc="The room's page whose "
                          "staff may see this one.")
    data_dir = param.Path(default=None, check_exists=False, allow_None=True,
                          doc="The room's data dir (default: $KIOSK_DATA_DIR).")
    staff = param.String(default="", doc="Who is signed in, once the room confirmed it.")

    def __init__(self, make: Callable[[], Any], **params: Any) -> None:
        super().__init__(**params)
        self._make = make
        # The request that opened this session (the check runs after it).
        self._request = {"cookies": dict(pn.state.cookies), "headers": dict(pn.state.headers)}
        self._layout = pn.Column(
            pn.pane.HTML("<p class='lead'>Anmeldung wird geprüft …</p>", stylesheets=[STYLES]),
            sizing_mode="stretch_width")
        pn.state.execute(self._check)

    def __panel__(self) -> pn.Column:
        return self._layout

    async def _check(self) -> None:
        data_dir = Path(self.data_dir) if self.data_dir else default_data_dir()
        who = await signed_in(self._request, self.page, data_dir)
        if isinstance(who, Refusal):
            self._layout[:] = [pn.pane.HTML(who.html(), stylesheets=[STYLES],
                                            css_classes=["refused"])]
            return
        self.staff = who
        try:
            content = self._make()
        except KioskError as exc:  # e.g. no room file to evaluate: say so, as /stats does
            content = pn.pane.HTML(f"<p class='error' role='alert'>{html.escape(str(exc))}</p>",
                                   stylesheets=[STYLES])
        self._layout[:] = [content]


def staff_only(page: str, content: Any, data_dir: str | Path | None = None) -> Any:
    """``content`` (a view, or a function that makes one) as a served page shows it: to
    the room's signed-in staff whose role opens ``page`` only. In a kernel: as it is."""
    shown = (pn.viewable.Viewable, pn.viewable.Viewer)
    make = content if callable(content) and not isinstance(content, shown) else lambda: content
    if pn.state.curdoc is None or pn.state.curdoc.session_context is None:
        return make()
    return StaffOnly(make, page=page, data_dir=str(data_dir) if data_dir else None)
