"""GET /summary (print-ready HTML) and /summary.pdf: the client's handout of the running talk.

Only the room's own devices (the kiosk on the room PC, a paired tablet) and
signed-in staff who may open /control get it; anyone else gets 403. Outside a
talk there is nothing to hand out (404). Answers are never cached.
"""

from __future__ import annotations

import tornado.web

from kiosk.access.proxies import from_room_pc
from kiosk.access.web import paired_device, refuse, signed_in
from kiosk.handout.summary import Summary, filename, page_html
from kiosk.i18n import languages
from kiosk.room.link import RoomLink

#: Phases in which a summary exists (afterwards the room erases the talk's notes).
PHASES = ("consulting", "wrap_up", "survey")


class SummaryHandler(tornado.web.RequestHandler):
    """The running talk's summary, as HTML (``/summary``) or PDF (``/summary.pdf``)."""

    def initialize(self, link: RoomLink, kind: str) -> None:
        self.link, self.kind = link, kind

    async def allowed(self) -> bool:
        if from_room_pc(self.request):
            return True
        if await paired_device(self.link, self):
            return True
        staff = await signed_in(self.link, self)
        return bool(staff and "control" in staff["pages"])

    async def get(self) -> None:
        if not await self.allowed():
            return refuse(self, 403, "Nur im Beratungsraum",
                          "Die Zusammenfassung gibt es nur auf den Geräten des Raums und für "
                          "angemeldete Beraterinnen und Berater.", ("/login?next=/summary",
                                                                    "Anmelden"))
        state = self.link.state
        if state.phase not in PHASES or not state.session_id:
            return refuse(self, 404, "Keine Zusammenfassung",
                          "Gerade läuft kein Gespräch, dessen Zusammenfassung es gibt.")
        summary = Summary.of(state, agency=self.link.agency)
        self.set_header("Cache-Control", "no-store")
        if self.kind == "pdf":
            from kiosk.handout.pdf import pdf  # fpdf2 only where a PDF is asked for

            self.set_header("Content-Type", "application/pdf")
            self.set_header("Content-Disposition",
                            f'inline; filename="{filename(summary)}"')
            self.finish(pdf(summary))
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")
        ui = self.get_query_argument("ui", "")
        self.finish(page_html(summary, autoprint=self.get_query_argument("print", "") == "1",
                              tools_language=ui if ui in languages() else None))


def routes(link: RoomLink) -> list[tuple]:
    return [(r"/summary", SummaryHandler, {"link": link, "kind": "html"}),
            (r"/summary\.pdf", SummaryHandler, {"link": link, "kind": "pdf"})]
