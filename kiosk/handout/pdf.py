"""The client's summary as a one-page PDF (fpdf2), in German and the client's language.

The font must hold every glyph of the room's languages (German umlauts, Turkish,
Cyrillic, Arabic): DejaVu Sans from the machine (Debian: ``fonts-dejavu-core``),
never downloaded. Arabic is shaped and ordered right to left with HarfBuzz
(``uharfbuzz``) through fpdf2's text shaping.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fpdf import FPDF

from kiosk.exceptions import ConfigError
from kiosk.handout.summary import Line, Summary, content
from kiosk.i18n import direction

#: Where the Unicode font is looked for: (regular, bold), first found wins.
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
             Path("/usr/local/share/fonts/dejavu"), Path("/usr/share/fonts/TTF"))
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
INK, MUTED, ACCENT, OK = (27, 31, 35), (74, 82, 90), (11, 92, 173), (30, 107, 52)


@cache
def font_files() -> tuple[Path, Path]:
    """The regular and bold TTF of DejaVu Sans on this machine; ConfigError if missing."""
    for folder in FONT_DIRS:
        regular, bold = (folder / name for name in FONT_FILES)
        if regular.is_file() and bold.is_file():
            return regular, bold
    raise ConfigError("no DejaVu Sans font for the summary PDF (looked in "
                      f"{', '.join(map(str, FONT_DIRS))}); install Debian's fonts-dejavu-core")


class _Handout(FPDF):
    def __init__(self) -> None:
        super().__init__(format="A4", unit="mm")
        regular, bold = font_files()
        self.add_font("handout", "", str(regular))
        self.add_font("handout", "B", str(bold))
        self.set_text_shaping(True)
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(True, margin=16)
        self.set_title("Zusammenfassung")
        self.set_creator("kiosk")

    def para(self, line: Line, *, size: float, bold: bool = False,
             color: tuple[int, int, int] = INK, gap: float = 0.5, indent: float = 0) -> None:
        lang, text = line
        self.set_font("handout", "B" if bold else "", size)
        self.set_text_color(*color)
        self.set_x(self.l_margin + indent)
        align = "R" if lang and direction(lang) == "rtl" else "L"
        self.multi_cell(self.epw - indent, size * 0.48, text, align=align,
                        new_x="LMARGIN", new_y="NEXT")
        self.ln(gap)


def pdf(summary: Summary) -> bytes:
    """The handout as PDF bytes."""
    doc = _Handout()
    doc.add_page()
    doc.para((None, summary.agency), size=11, bold=True, color=ACCENT)
    for i, title in enumerate(summary.label("summary.handout")):
        doc.para(title, size=17 if i == 0 else 13, bold=i == 0, color=INK if i == 0 else MUTED)
    when = " · ".join(filter(None, [summary.date, summary.room]))
    doc.para(("de", f"Datum: {when}"), size=10, color=MUTED)
    doc.set_draw_color(*ACCENT)
    doc.set_line_width(0.8)
    y = doc.get_y() + 1
    doc.line(doc.l_margin, y, doc.w - doc.r_margin, y)
    doc.set_y(y + 3)
    for section in content(summary):
        first, *rest = section.title
        doc.para(first, size=13, bold=True, gap=0)
        for other in rest:
            doc.para(other, size=10, color=MUTED, gap=0)
        doc.ln(1.5)
        bar = OK if section.key == "steps" else ACCENT
        for item in section.items:
            top = doc.get_y()
            if item.text:
                doc.para((item.lang, item.text), size=11, bold=True, gap=0.3, indent=4)
            for extra in item.lines:
                doc.para(extra, size=9.5, color=MUTED, gap=0.3, indent=4)
            doc.set_fill_color(*bar)
            if doc.get_y() > top:
                doc.rect(doc.l_margin, top, 1.2, doc.get_y() - top, style="F")
            doc.ln(1.5)
        doc.ln(1)
    doc.ln(2)
    for line in summary.label("summary.footer"):
        doc.para(line, size=8.5, color=MUTED, gap=0.3)
    return bytes(doc.output())
