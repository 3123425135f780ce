"""/admin: the room's devices at a glance, for facility staff.

Every device that reports a heartbeat is listed with whether it is online,
when it was last heard, the camera's frame rate, whether its screen is
connected and which browser it runs. Anything wrong is raised as an alert at
the top. Tablets are paired (the code shows on the second display) and
unpaired here.
"""

from __future__ import annotations

import panel as pn

from kiosk.room.state import Device
from kiosk.views import touch
from kiosk.views.base import STYLES, RoomView, alert_text, escape, local_time
from kiosk.views.directory_admin import DirectoryAdminPanel
from kiosk.views.itemlist import ItemList
from kiosk.views.plain import refusal

KIND_LABELS = {"touch": "Touchscreen", "display": "Zweite Anzeige", "tablet": "Tablet",
               "camera": "Kamera", "agent": "Geräte-Agent"}

TABLE_STYLES = """
.scroll { overflow-x: auto; }
table.devices { border-collapse: collapse; width: 100%; font-size: 1rem; }
table.devices th, table.devices td { text-align: left; padding: .55rem .7rem;
                                     border-bottom: 1px solid #d5dce3; vertical-align: top; }
table.devices th { background: #eef3f8; }
.online { color: #1e6b34; font-weight: 700; }
.offline { color: #9b1c1c; font-weight: 700; }
.alerts { background: #fdf0f0; border: 2px solid #9b1c1c; color: #5c1010; border-radius: 6px;
          padding: .6rem 1rem; font-size: 1.15rem; }
.alerts ul { margin: .3rem 0 0 1.2rem; padding: 0; }
.allgood { background: #edf7ef; border: 2px solid #1e6b34; color: #12401f; border-radius: 6px;
           padding: .6rem 1rem; font-size: 1.15rem; }
.code { font: 700 1.6rem "DejaVu Sans Mono", monospace; letter-spacing: .1em; }
"""


def alerts_html(alerts: list[Device]) -> str:
    if not alerts:
        return "<div class='allgood' role='status'>Alle Geräte melden sich.</div>"
    items = "".join(f"<li>{escape(alert_text(d))}</li>" for d in alerts)
    return (f"<div class='alerts' role='alert'><b>⚠ {len(alerts)} Gerät(e) mit Problem"
            f"</b><ul>{items}</ul></div>")


def devices_html(devices: dict[str, Device]) -> str:
    """Every device as a table row (all text escaped)."""
    if not devices:
        return "<p class='empty'>Noch hat sich kein Gerät gemeldet.</p>"
    rows = []
    for device_id, d in sorted(devices.items()):
        state = ("<span class='online'>online</span>" if d.online
                 else "<span class='offline'>offline</span>")
        seen = "jetzt" if d.online else local_time(d.last_seen)
        fps = "–" if d.fps is None else f"{d.fps} Bilder/s"
        display = {None: "–", True: "verbunden", False: "nicht verbunden"}[d.display]
        rows.append(
            f"<tr data-device='{escape(device_id)}'><td>{escape(d.label or device_id)}"
            f"<br><small>{escape(device_id)}</small></td>"
            f"<td>{escape(KIND_LABELS.get(d.kind, d.kind))}</td><td>{state}</td>"
            f"<td>{escape(seen)}</td><td>{escape(fps)}</td><td>{escape(display)}</td>"
            f"<td>{escape(d.browser or '–')}</td><td>{escape(d.detail)}</td></tr>")
    return ("<div class='scroll'><table class='devices'><thead><tr><th scope='col'>Gerät</th>"
            "<th scope='col'>Art</th><th scope='col'>Status</th>"
            "<th scope='col'>Zuletzt gesehen</th><th scope='col'>Kamera</th>"
            "<th scope='col'>Anzeige</th><th scope='col'>Browser</th>"
            "<th scope='col'>Details</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></div>")


class AdminView(RoomView):
    """Facility staff's page: device health, tablet pairing."""

    role = "admin"

    def __init__(self, **params) -> None:
        super().__init__(**params)
        css = [STYLES, TABLE_STYLES]
        self._header = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=css)
        self._alerts = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=css,
                                    css_classes=["admin-alerts"])
        self._devices = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=css,
                                     css_classes=["admin-devices"])
        self._pair = touch.button("Tablet koppeln", "primary")
        self._pair.on_click(lambda e: self.act("pairing.start"))
        self._cancel = touch.button("Code zurückziehen", "light")
        self._cancel.on_click(lambda e: self.act("pairing.cancel"))
        self._offer = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=css,
                                   css_classes=["admin-pairing"])
        self._tablets = ItemList(on_action=self._on_tablet, sizing_mode="stretch_width",
                                 css_classes=["admin-tablets"], empty="Kein Tablet gekoppelt.")
        self._error = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=css)
        self._directory = DirectoryAdminPanel(self)
        self._layout = pn.Column(
            pn.Row(self._header, touch.sign_out(), sizing_mode="stretch_width"), self._alerts,
            self._error,
            pn.pane.HTML("<h2>Geräte</h2>", stylesheets=css), self._devices,
            pn.pane.HTML("<h2>Tablets</h2>", stylesheets=css),
            pn.Row(self._pair, self._cancel), self._offer, self._tablets, self._directory,
            sizing_mode="stretch_width", margin=0,
            styles={"padding": "1rem 1.5rem", "box-sizing": "border-box", **touch.BASE_FONT})
        self.watch_state(self._render_devices, "devices", "room_name", "synced")
        self.watch_state(self._render_tablets, "tablets", "pairing")
        self.param.watch(lambda e: setattr(self._error, "object", (
            f"<p class='error' role='alert'>{escape(e.new)}</p>" if e.new else "")), "error")
        self._render_devices()
        self._render_tablets()

    def __panel__(self):
        return self._layout

    def refused_text(self, reason: str) -> str:
        return refusal(reason)

    def _render_devices(self, *events) -> None:
        s = self.state
        offline = "" if s.synced else " · <span class='error'>keine Verbindung zum Raum</span>"
        self._header.object = (f"<div class='room'>Verwaltung{offline}</div>"
                               f"<h1>{escape(s.room_name)}: Geräte</h1>")
        self._alerts.object = alerts_html(s.alerts)
        self._devices.object = devices_html(s.devices)

    def _render_tablets(self, *events) -> None:
        offer = self.state.pairing
        self._cancel.visible = bool(offer)
        self._offer.object = (
            f"<p>Auf der zweiten Anzeige steht jetzt der Code <span class='code'>"
            f"{escape(offer['code'][:4])} {escape(offer['code'][4:])}</span>, gültig bis "
            f"{escape(local_time(offer['expires']))} Uhr. Auf dem Tablet "
            f"<b>{escape(self.link.base_url)}/control/pair</b> öffnen.</p>" if offer else "")
        self._tablets.items = [
            {"id": t.id, "text": f"{t.name} — gekoppelt {local_time(t.paired_at)}",
             "actions": [{"action": "revoke", "label": "Entkoppeln", "kind": "quiet-danger",
                          "confirm": f"„{t.name}“ entkoppeln? Das Tablet öffnet die Beratung "
                                     "dann erst nach neuem Koppeln.", "yes": "Ja, entkoppeln"}]}
            for t in self.state.tablets]

    def _on_tablet(self, action: str, tablet_id) -> None:
        if action == "revoke" and isinstance(tablet_id, int):
            self.act("tablet.revoke", tablet=tablet_id)
