"""The client's summary of a talk: what it holds, as a print-ready page, and as a mail.

At the end of a talk (phase ``wrap_up``) the client gets a one-page handout:
the topics, the notes shown to them, the next steps, the contacts of the
agencies that took part, and the outcome. Internal notes never enter it. The
handout is in German and, when the client chose another language, in that
language too; the counsellor's own words (notes, steps) appear as typed.

:class:`Summary` is a frozen copy taken from the room state, so that a mail
can still be built after the room has gone back to idle and erased the notes
(kiosk/retention.py). :func:`content` turns it into sections that both the
HTML page here and the PDF (kiosk/summary_pdf.py) draw.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from email.message import EmailMessage

from kiosk.handout.contacts import Contact, contacts
from kiosk.i18n import direction, local_date, t, tag
from kiosk.mail import MailConfig, message
from kiosk.room.state import RoomState, Step

#: One line of text in a language (None: no language of its own, e.g. a name).
Line = tuple[str | None, str]


@dataclass(frozen=True)
class Summary:
    """What the client takes home, copied from the room state (visible notes only)."""

    language: str
    day: str
    room: str = ""
    agency: str = ""
    topics: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()
    contacts: tuple[Contact, ...] = ()
    outcome: tuple[str, str] | None = None  # (settled|follow_up, with whom)

    @classmethod
    def of(cls, state: RoomState, *, agency: str = "") -> Summary:
        """The summary of the room's running talk."""
        started = state.session_started
        try:
            day = dt.datetime.fromisoformat(started).astimezone().date() if started else None
        except ValueError:
            day = None
        outcome = state.outcome
        return cls(
            language=state.language, day=(day or dt.date.today()).isoformat(),
            room=state.room_name, agency=agency, topics=tuple(state.topics),
            notes=tuple(n.text for n in state.visible_notes), steps=tuple(state.next_steps),
            contacts=tuple(contacts(state.partners)),
            outcome=(outcome["outcome"], outcome.get("follow_up") or "") if outcome else None)

    @property
    def languages(self) -> tuple[str, ...]:
        """German first, then the client's language if it is another."""
        return ("de",) if self.language == "de" else ("de", self.language)

    @property
    def date(self) -> str:
        return dt.date.fromisoformat(self.day).strftime("%d.%m.%Y")

    def label(self, key: str, **values: object) -> list[Line]:
        """``key`` in every language of the summary (a language repeating German is left out)."""
        out: list[Line] = []
        for lang in self.languages:
            text = t(lang, key, **values)
            if all(text != seen for _, seen in out):
                out.append((lang, text))
        return out


@dataclass(frozen=True)
class Item:
    """One entry of a section: its main text (as typed) and smaller lines below it."""

    text: str
    lines: tuple[Line, ...] = ()
    lang: str | None = None  # the main text's language, when known


@dataclass(frozen=True)
class Section:
    key: str
    title: tuple[Line, ...]
    items: tuple[Item, ...]


def _step_lines(summary: Summary, step: Step) -> tuple[Line, ...]:
    lines: list[Line] = []
    for lang in summary.languages:
        who = t(lang, "who.client") if step.who == "client" else step.who
        due = ""
        if step.due:
            due = f" · {t(lang, 'talk.due')} {local_date(lang, step.due)}"
        line = f"{who}{due}"
        if all(line != seen for _, seen in lines):
            lines.append((lang, line))
    return tuple(lines)


def _contact_lines(summary: Summary, c: Contact) -> tuple[Line, ...]:
    lines: list[Line] = []
    person = " · ".join(filter(None, [c.name, c.role]))
    if person:
        lines.append((None, person))
    for key, value in (("summary.email", c.email), ("summary.phone", c.phone)):
        if value:
            label = " / ".join(text for _, text in summary.label(key))
            lines.append((None, f"{label}: {value}"))
    return tuple(lines)


def content(summary: Summary) -> list[Section]:
    """The handout's sections, in order; empty ones are left out (next steps say so)."""
    sections = []
    if summary.topics:
        sections.append(Section("topics", tuple(summary.label("talk.topics")), tuple(
            Item(topic, tuple((lang, text) for lang, text in summary.label(f"topic.{topic}")
                              if lang != "de"), lang="de") for topic in summary.topics)))
    if summary.notes:
        sections.append(Section("notes", tuple(summary.label("talk.notes")),
                                tuple(Item(text) for text in summary.notes)))
    steps = tuple(Item(s.what, _step_lines(summary, s)) for s in summary.steps)
    sections.append(Section("steps", tuple(summary.label("talk.steps")), steps or (
        Item("", tuple(summary.label("summary.empty"))),)))
    if summary.contacts:
        sections.append(Section("contacts", tuple(summary.label("summary.contacts")), tuple(
            Item(c.agency, _contact_lines(summary, c)) for c in summary.contacts)))
    if summary.outcome:
        kind, who = summary.outcome
        key = ("summary.settled" if kind == "settled" else
               "summary.follow_up_with" if who else "summary.follow_up")
        lines = summary.label(key, who=who)
        sections.append(Section("outcome", tuple(summary.label("summary.outcome")),
                                (Item(lines[0][1], tuple(lines[1:]), lang="de"),)))
    return sections


# -- the print-ready page ---------------------------------------------------------------
PAGE_CSS = """
@page { size: A4; margin: 16mm 18mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Noto Sans", "Liberation Sans", sans-serif; color: #1b1f23;
       margin: 0; background: #eef3f8; font-size: 12pt; line-height: 1.45; }
main { background: #fff; max-width: 210mm; margin: 1.5rem auto; padding: 16mm 18mm;
       box-shadow: 0 1px 6px rgba(0,0,0,.15); }
header { border-bottom: 3px solid #0b5cad; padding-bottom: .6rem; margin-bottom: .4rem; }
.agency { font-weight: 700; color: #0b5cad; margin: 0; }
h1 { font-size: 19pt; margin: .2rem 0 0; line-height: 1.25; }
h1 .other, h2 .other { display: block; font-weight: 400; color: #4a525a; font-size: .8em; }
.when { color: #4a525a; margin: .3rem 0 0; }
h2 { font-size: 13pt; margin: 1.1rem 0 .3rem; border-bottom: 1px solid #c9d3de;
     padding-bottom: .15rem; }
ul { list-style: none; padding: 0; margin: 0; }
li { padding: .3rem 0 .3rem .8rem; border-inline-start: 4px solid #0b5cad; margin: .35rem 0;
     break-inside: avoid; }
section.steps li { border-inline-start-color: #1e6b34; }
li .text { font-weight: 600; }
li .line { display: block; color: #4a525a; font-size: .92em; }
footer { margin-top: 1.4rem; color: #4a525a; font-size: .85em; border-top: 1px solid #c9d3de;
         padding-top: .4rem; }
.tools { max-width: 210mm; margin: 1rem auto 0; display: flex; gap: 1rem; }
.tools button { min-height: 56px; min-width: 10rem; font: inherit; font-weight: 700;
                border-radius: 8px; border: 2px solid #0b5cad; background: #0b5cad; color: #fff;
                cursor: pointer; }
.tools button.secondary { background: #fff; color: #0b5cad; }
@media print {
  body { background: #fff; font-size: 11pt; }
  main { margin: 0; padding: 0; box-shadow: none; max-width: none; }
  .tools { display: none; }
}
"""


def _span(line: Line, cls: str) -> str:
    lang, text = line
    attrs = f" lang='{tag(lang)}' dir='{direction(lang)}'" if lang else " dir='auto'"
    return f"<span class='{cls}'{attrs}>{html.escape(text)}</span>"


def _title(lines: tuple[Line, ...] | list[Line]) -> str:
    first, *rest = lines
    return html.escape(first[1]) + "".join(_span(line, "other") for line in rest)


def page_html(summary: Summary, *, tools: bool = True, autoprint: bool = False,
              tools_language: str | None = None) -> str:
    """The handout as a standalone, print-ready HTML page (every text escaped).

    The print and close buttons speak ``tools_language`` (the counsellor's tablet asks
    for German), otherwise the client's language.
    """
    e = html.escape
    body = []
    for section in content(summary):
        items = "".join(
            "<li>" + (_span((item.lang, item.text), "text") if item.text else "")
            + "".join(_span(line, "line") for line in item.lines) + "</li>"
            for item in section.items)
        body.append(f"<section class='{section.key}'><h2>{_title(section.title)}</h2>"
                    f"<ul>{items}</ul></section>")
    lang = tools_language or summary.language
    buttons = ""
    if tools:
        buttons = (
            f"<div class='tools' lang='{tag(lang)}' dir='{direction(lang)}'>"
            f"<button type='button' onclick='window.print()'>{e(t(lang, 'summary.print'))}"
            f"</button><button type='button' class='secondary' onclick='window.close()'>"
            f"{e(t(lang, 'summary.close'))}</button></div>")
    script = "<script>window.addEventListener('load', () => window.print());</script>" \
        if autoprint else ""
    footer = "".join(f"<p lang='{tag(lang)}' dir='{direction(lang)}'>{e(text)}</p>"
                     for lang, text in summary.label("summary.footer"))
    when = " · ".join(filter(None, [summary.date, summary.room]))
    return f"""<!doctype html>
<html lang="de"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(t('de', 'summary.handout'))} – {e(summary.date)}</title>
<style>{PAGE_CSS}</style></head><body>{buttons}
<main><header><p class="agency">{e(summary.agency)}</p>
<h1>{_title(summary.label('summary.handout'))}</h1>
<p class="when">{e(t('de', 'summary.date'))}: {e(when)}</p></header>
{''.join(body)}<footer>{footer}</footer></main>{script}</body></html>"""


# -- the mail -------------------------------------------------------------------------
RULE = "\n" + "—" * 40 + "\n\n"


def filename(summary: Summary) -> str:
    return f"zusammenfassung-{summary.day}.pdf"


def mail(config: MailConfig, to: str, summary: Summary, pdf: bytes) -> EmailMessage:
    """The summary mail: German, then the client's language, with the PDF attached."""
    values = {"date": summary.date, "agency": summary.agency or summary.room}
    subjects = [text for _, text in summary.label("summary.mail_subject", **values)]
    bodies = [text for _, text in summary.label("summary.mail_body", **values)]
    return message(config, to, " / ".join(subjects), RULE.join(bodies) + "\n",
                   attachments=[(filename(summary), pdf, "application/pdf")])
