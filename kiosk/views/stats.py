"""/stats: the evaluation for evaluators, as charts and tables with a date range.

The view shows and forwards only: it asks the room for its anonymous facts
(a loader handed in by the server), computes the report with
:mod:`kiosk.evaluation.stats` and draws it. Figures from fewer than five answers,
sessions or partner calls are shown as "–". CSV and Excel downloads carry
the same tables.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, FactorRange, Label
from bokeh.plotting import figure

from kiosk.evaluation import stats as st
from kiosk.room.agencies import MODE_LABELS, MODES
from kiosk.views import touch
from kiosk.views.base import STYLES, escape

MODE_COLOURS = {"room": "#8a949e", "room_partners": "#0b5cad", "remote": "#1e6b34"}
COLUMNS = {"segment": "Aufteilung", "label": "Gruppe", "sessions": "Termine",
           "share_with_partner": "Anteil mit Partner", "partners_per_session": "Partner je Termin",
           "share_settled": "In einem Termin geklärt", "answers": "Antworten",
           "response_rate": "Rücklauf", "satisfaction_mean": "Zufriedenheit (1–5)",
           "ease_mean": "Bedienung (1–5)", "nps": "NPS"}
PARTNER_COLUMNS = {"agency_type": "Stelle", "partners": "Partner", "per_session": "je Termin",
                   "ring_to_join_median_s": "Anruf bis Beitritt, Median (s)",
                   "ring_to_join_mean_s": "Mittel (s)", "ring_to_join_p90_s": "90 % (s)"}
SHARES = ("share_with_partner", "share_settled", "response_rate")
WEEKS_HEIGHT, SCORES_HEIGHT = 300, 300


def parse_day(text: str) -> dt.date | None:
    """``31.01.2026`` (or ``2026-01-31``) as a date; "" as None; else ValueError."""
    if not text:
        return None
    try:
        return dt.datetime.strptime(text, "%d.%m.%Y").date()
    except ValueError:
        return dt.date.fromisoformat(text)


def overview_html(table: pd.DataFrame, columns: dict[str, str]) -> str:
    """A report table with German headings; shares in percent, hidden figures as '–'."""
    head = "".join(f"<th scope='col'>{escape(v)}</th>" for v in columns.values())
    rows = []
    for record in table.to_dict("records"):
        cells = []
        for key in columns:
            value = record[key]
            if value is None or (isinstance(value, float) and pd.isna(value)):
                text = "–"
            elif key in SHARES:
                text = f"{value * 100:.0f} %"
            elif isinstance(value, float):
                text = f"{value:.2f}".replace(".", ",")
            else:
                text = str(value)
            cells.append(f"<td>{escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table class='report'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}"
            "</tbody></table>")


TABLE_STYLES = """
table.report { border-collapse: collapse; font-size: .95rem; width: 100%; }
table.report th, table.report td { border-bottom: 1px solid #d5dce3; padding: .4rem .6rem;
                                   text-align: left; }
table.report th { background: #eef3f8; }
"""


class StatsView(pn.viewable.Viewer):
    """Charts and tables of the evaluation, for one browser session."""

    facts = param.Callable(doc="Returns the anonymous facts to report on.")
    since = param.CalendarDate(default=None, allow_None=True, doc="First day shown.")
    until = param.CalendarDate(default=None, allow_None=True, doc="Last day shown.")
    error = param.String(default="", doc="Why the report could not be made.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._facts = self.facts()
        css = [STYLES, TABLE_STYLES]
        self._header = pn.pane.HTML(
            "<div class='room'>Auswertung</div><h1>Beratung mit Partnern: Zahlen</h1>"
            f"<p class='lead'>Anonym: keine Zahl aus weniger als {st.MIN_N} Antworten, "
            "Terminen oder Partneranrufen (dann „–“).</p>", stylesheets=css,
            sizing_mode="stretch_width")
        self._refresh = touch.button("Neu laden")
        self._refresh.on_click(self._reload)
        self._csv = touch.styled(pn.widgets.FileDownload, callback=self._as_csv,
                                 filename="auswertung.csv", label="CSV herunterladen")
        self._xlsx = touch.styled(pn.widgets.FileDownload, callback=self._as_excel,
                                  filename="auswertung.xlsx", label="Excel herunterladen")
        self._error = pn.pane.HTML(stylesheets=css, sizing_mode="stretch_width")
        self._overview = pn.pane.HTML(stylesheets=css, sizing_mode="stretch_width",
                                      css_classes=["stats-overview"])
        self._partners = pn.pane.HTML(stylesheets=css, sizing_mode="stretch_width",
                                      css_classes=["stats-partners"])
        # The charts keep their height, however few the figures (an empty one says so).
        self._weeks = pn.pane.Bokeh(sizing_mode="stretch_width", height=WEEKS_HEIGHT,
                                    css_classes=["stats-weeks"])
        self._scores = pn.pane.Bokeh(sizing_mode="stretch_width", height=SCORES_HEIGHT,
                                     css_classes=["stats-scores"])
        self._layout = pn.Column(
            self._header,
            touch.wrap(self._day_input("since", "Von (TT.MM.JJJJ)"),
                       self._day_input("until", "Bis (TT.MM.JJJJ)"),
                       self._refresh, self._csv, self._xlsx),
            self._error,
            pn.pane.HTML("<h2>Termine je Woche</h2>", stylesheets=css), self._weeks,
            pn.pane.HTML("<h2>Zufriedenheit, Bedienung und Weiterempfehlung</h2>",
                         stylesheets=css), self._scores,
            pn.pane.HTML("<h2>Übersicht</h2>", stylesheets=css), self._overview,
            pn.pane.HTML("<h2>Partner nach Stelle</h2>", stylesheets=css), self._partners,
            sizing_mode="stretch_width", margin=0,
            styles={"padding": "1rem 1.5rem", "box-sizing": "border-box", **touch.BASE_FONT})
        self.param.watch(self._render, ["since", "until"])
        self._render()

    def __panel__(self):
        return self._layout

    def _day_input(self, name: str, label: str) -> pn.widgets.TextInput:
        """A plain date field (typed or pasted, German or ISO); a bad date says why."""
        field = touch.styled(pn.widgets.TextInput, label=label, placeholder="z. B. 31.01.2026",
                             width=200)

        def parse(event) -> None:
            text = event.new.strip()
            try:
                day = parse_day(text)
            except ValueError:
                self._error.object = (f"<p class='error' role='alert'>„{escape(text)}“ ist "
                                      "kein Datum: bitte als TT.MM.JJJJ eingeben, z. B. "
                                      "31.01.2026.</p>")
                return
            setattr(self, name, day)
        field.param.watch(parse, "value")
        return field

    def tables(self) -> dict[str, pd.DataFrame]:
        return st.report(self._facts, since=self.since, until=self.until)

    def _reload(self, event=None) -> None:
        self._facts = self.facts()
        self._render()

    def _render(self, *events) -> None:
        try:
            tables = self.tables()
        except st.StatsError as exc:
            self._error.object = f"<p class='error' role='alert'>{escape(str(exc))}</p>"
            return
        self._error.object = ""
        self._overview.object = overview_html(tables["overview"], COLUMNS)
        self._partners.object = overview_html(tables["partners"], PARTNER_COLUMNS)
        self._weeks.object = weeks_chart(tables["per_week"])
        self._scores.object = scores_chart(tables["overview"])

    def _as_csv(self) -> io.StringIO:
        return io.StringIO(st.to_csv(self.tables()))

    def _as_excel(self) -> io.BytesIO:
        return io.BytesIO(st.to_excel(self.tables()))


def weeks_chart(per_week: pd.DataFrame):
    """Sessions per week, stacked by how the appointment ran."""
    weeks = [d.strftime("%d.%m.%y") for d in pd.to_datetime(per_week["week"])]
    data = {"week": weeks, **{m: per_week[m].tolist() if m in per_week else [0] * len(weeks)
                              for m in MODES}}
    fig = figure(x_range=FactorRange(*weeks) if weeks else FactorRange("–"),
                 height=WEEKS_HEIGHT,
                 sizing_mode="stretch_width", toolbar_location=None,
                 title="Termine je Woche (Wochenbeginn)")
    fig.vbar_stack(list(MODES), x="week", width=0.8, source=ColumnDataSource(data),
                   color=[MODE_COLOURS[m] for m in MODES],
                   legend_label=[MODE_LABELS[m] for m in MODES])
    fig.y_range.start = 0
    if not weeks:
        fig.add_layout(empty_note("Keine Termine in diesem Zeitraum"))
    fig.xaxis.major_label_orientation = 0.8
    fig.legend.orientation = "horizontal"
    fig.add_layout(fig.legend[0], "above")
    return fig


def scores_chart(overview: pd.DataFrame):
    """Satisfaction, ease (1–5) and NPS (−100…100) by segment; hidden ones left out.

    The chart keeps its height: with no figure to show (fewer than five answers),
    it says so instead of shrinking."""
    shown = overview.dropna(subset=["satisfaction_mean"])
    labels = shown["label"].tolist() or ["–"]
    fig = figure(y_range=FactorRange(*reversed(labels)), height=SCORES_HEIGHT,
                 sizing_mode="stretch_width", toolbar_location=None, x_range=(0, 5),
                 title="Mittelwerte (1 = gar nicht, 5 = sehr); NPS in der Tabelle")
    source = ColumnDataSource({"label": shown["label"].tolist(),
                               "satisfaction": shown["satisfaction_mean"].tolist(),
                               "ease": shown["ease_mean"].tolist()})
    fig.hbar(y="label", right="satisfaction", height=0.4, source=source, color="#0b5cad",
             legend_label="Zufriedenheit")
    fig.scatter(y="label", x="ease", size=12, marker="diamond", source=source,
                color="#8a4b00", legend_label="Bedienung")
    fig.legend.orientation = "horizontal"
    fig.add_layout(fig.legend[0], "above")
    if shown.empty:
        fig.add_layout(empty_note(f"Noch zu wenige Antworten (mindestens {st.MIN_N} je "
                                  "Gruppe)"))
    return fig


def empty_note(text: str) -> Label:
    """What an empty chart says (the chart keeps its size)."""
    return Label(x=0.5, y=0.5, x_units="screen", y_units="screen", text=text,
                 text_font_size="16px", text_color="#4a525a", x_offset=20, y_offset=60)


def stats_page(facts: Callable[[], st.Facts]) -> Callable[[], StatsView]:
    def page() -> StatsView:
        return StatsView(facts=facts)
    page.__name__ = "StatsView"
    return page

