"""The room's operations at a glance: its state, its devices' health over time and the
latest changes on its bus. For facility staff, in a notebook or served::

    panel serve kiosk/apps/operations.py      # behind the room's sign-in (role admin)

It only watches: the view sends nothing, and the served app's connection has
the watch-only key of :func:`kiosk.notebook.watching`, shared by every session
of the process, so its journal goes back to the process's start.
"""

from __future__ import annotations

import time

import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, DatetimeTickFormatter, FactorRange
from bokeh.plotting import figure

from kiosk.notebook import Journal, watching
from kiosk.views.admin import KIND_LABELS, TABLE_STYLES, alerts_html, devices_html
from kiosk.views.base import STYLES, RoomView, escape, local_time
from kiosk.views.plain import PHASE_LABELS, language_name

#: How a device's health shows on the chart: (words, colour).
HEALTH = {"": ("bereit", "#1e6b34"), "offline": ("offline", "#9b1c1c"),
          "no_frames": ("keine Bilder", "#8a4b00"), "no_display": ("Anzeige fehlt", "#8a4b00")}
CHANGES_SHOWN = 12


def health_segments(health: pd.DataFrame, now: pd.Timestamp) -> dict[str, list]:
    """The journal's health rows as one bar per device and stretch of unchanged health,
    each from its row's time to the next one's (the last to ``now``)."""
    out: dict[str, list] = {"device": [], "start": [], "end": [], "state": [], "colour": []}
    for _, rows in health.sort_values("time").groupby("device", sort=True):
        label = f"{rows['label'].iloc[-1]} ({KIND_LABELS.get(rows['kind'].iloc[-1], '–')})"
        ends = [*rows["time"].iloc[1:], now]
        for (_, row), end in zip(rows.iterrows(), ends, strict=True):
            words, colour = HEALTH.get(row["alert"], (row["alert"], "#8a4b00"))
            out["device"].append(label)
            out["start"].append(row["time"])
            out["end"].append(end)
            out["state"].append(words)
            out["colour"].append(colour)
    return out


def health_chart(health: pd.DataFrame, now: pd.Timestamp | None = None):
    """Each device's health over time, a lane per device."""
    data = health_segments(health, now or pd.Timestamp.now())
    lanes = sorted(set(data["device"])) or ["–"]
    fig = figure(y_range=FactorRange(*lanes), x_axis_type="datetime",
                 height=110 + 36 * len(lanes), sizing_mode="stretch_width",
                 toolbar_location=None, tooltips="@device: @state",
                 title="Grün: bereit · Rot: offline · Braun: keine Bilder, Anzeige fehlt")
    fig.hbar(y="device", left="start", right="end", height=0.6, color="colour",
             source=ColumnDataSource(data))
    clock = "%H:%M:%S"
    fig.xaxis.formatter = DatetimeTickFormatter(milliseconds=clock, seconds=clock,
                                                minsec=clock, minutes="%H:%M", hourmin="%H:%M",
                                                hours="%H:%M", days="%d.%m.", context=None)
    return fig


def state_html(view: OperationsView) -> str:
    """The room's state in one line of facts (how many notes, never what they say)."""
    s = view.state
    facts = [f"<span class='phase'>{escape(PHASE_LABELS[s.phase])}</span>"]
    if s.session_started:
        facts.append(f"Gespräch seit {escape(local_time(s.session_started))}")
    facts += [f"Sprache: {escape(language_name(s.language))}",
              f"Partner: {len(s.partners)}", f"Notizen: {len(s.notes)}",
              f"Schritte: {len(s.next_steps)}", "Video pausiert" if s.privacy else "Video an",
              f"Bus: Nr. {s.seq}" + ("" if s.synced else " – keine Verbindung")]
    return (f"<div class='room'>Raumbetrieb</div><h1>{escape(s.room_name or s.room_id)}</h1>"
            f"<p class='lead'>{' · '.join(facts)}</p>")


def changes_html(changes: pd.DataFrame) -> str:
    """The latest changes on the bus, newest first."""
    if changes.empty:
        return "<p class='empty'>Seit dem Verbinden hat sich nichts geändert.</p>"
    rows = "".join(
        f"<tr><td>{row.time:%H:%M:%S}</td><td>{row.seq}</td><td>{escape(str(row.what))}</td>"
        f"<td>{escape(str(row.change))}</td></tr>"
        for row in changes.tail(CHANGES_SHOWN).iloc[::-1].itertuples())
    return ("<table class='devices changes'><thead><tr><th scope='col'>Zeit</th>"
            "<th scope='col'>Nr.</th><th scope='col'>Was</th><th scope='col'>Änderung</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>")


class OperationsView(RoomView):
    """The room's state, its devices now and over time, and the latest bus changes."""

    journal = param.ClassSelector(class_=Journal, doc="What the connection saw (its journal).")

    precedence = 2
    defer = 0.25  # heartbeats change the devices every second: one render covers a burst
    #: Seconds after which the chart is drawn again though no health changed (its bars
    #: reach up to now).
    chart_every = 10.0

    def __init__(self, **params) -> None:
        super().__init__(**params)
        css = [STYLES, TABLE_STYLES]
        self._state = pn.pane.HTML(stylesheets=css, sizing_mode="stretch_width")
        self._devices = pn.pane.HTML(stylesheets=css, sizing_mode="stretch_width",
                                     css_classes=["ops-devices"])
        # Drawn anew as a whole (a Panel pane, not a Bokeh model changed in place): the
        # state may change on another thread, and only Panel carries that into a session.
        self._chart = pn.pane.Bokeh(sizing_mode="stretch_width", css_classes=["ops-health"])
        self._drawn = 0.0
        self._changes = pn.pane.HTML(stylesheets=css, sizing_mode="stretch_width",
                                     css_classes=["ops-changes"])
        self._layout = pn.Column(
            self._state, pn.pane.HTML("<h2>Geräte jetzt</h2>", stylesheets=css), self._devices,
            pn.pane.HTML("<h2>Geräte im Verlauf</h2>", stylesheets=css), self._chart,
            pn.pane.HTML("<h2>Zuletzt auf dem Bus</h2>", stylesheets=css), self._changes,
            sizing_mode="stretch_width", styles={"padding": "1rem 1.5rem"})
        self.watch_state(self._render, "phase", "language", "room_name", "session_started",
                         "partners", "notes", "next_steps", "privacy", "devices", "synced")
        self.watch_state(self._render, "changes", on=self.journal)
        self.watch_state(self._draw, "health", on=self.journal)
        self._render()
        self._draw()

    def __panel__(self) -> pn.Column:
        return self._layout

    def _render(self, *events) -> None:
        self._state.object = state_html(self)
        self._devices.object = alerts_html(self.state.alerts) + "<div class='scroll'>" + \
            devices_html(self.state.devices) + "</div>"
        self._changes.object = changes_html(self.journal.changes)
        if time.monotonic() - self._drawn > self.chart_every:
            self._draw()

    def _draw(self, *events) -> None:
        self._drawn = time.monotonic()
        self._chart.object = health_chart(self.journal.health)


def page() -> OperationsView:
    """One session's view over the process's shared watch-only connection."""
    room = watching()
    return OperationsView(link=room.link, journal=room.journal)


if pn.state.served:  # `panel serve kiosk/apps/operations.py`, jupyter-panel-proxy
    from kiosk.apps.access import staff_only

    staff_only("admin", page).servable(title="Raumbetrieb")
