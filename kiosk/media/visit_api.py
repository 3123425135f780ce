"""The remote client's page talks to the room through these endpoints.

Every request carries the visit link's token as ``Authorization: Bearer``, so
the secret stays out of URLs the page fetches and out of server logs:

- ``GET /api/visit/status``: where the client stands (waiting, admitted, done);
  while admitted and in the talk also what they may see: the visible notes, the
  next steps, the partners and a partner waiting for their consent. Internal
  notes never leave the room. Asking keeps the client in the waiting room.
- ``POST /api/visit/whip``: the admitted client's offer (WHIP); the call's
  resource then works as a partner's does (status, leave, reconnect).
- ``POST /api/visit/consent``: the client's yes or no to a partner joining.
- ``POST /api/visit/survey``: the anonymous survey, once.

A participant's page (partner or client) pulls another participant's media with
``POST /api/whip/<resource>/watch/<id>``; the resource is that call's secret.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kiosk import i18n
from kiosk.access.ratelimit import FailureLimit
from kiosk.access.web import same_origin
from kiosk.exceptions import BusError
from kiosk.media.engine import MediaEngine
from kiosk.media.signaling import TOO_MANY, _Base
from kiosk.room.state import RoomState

#: The texts the client's page shows before a partner joins (kiosk/assets/visit.js).
CONSENT_KEYS = ("consent.title", "visit.consent_ask", "consent.why", "visit.consent_sees",
                "consent.recorded", "visit.consent_no", "consent.yes", "consent.no")


def consent_version(language: str) -> str:
    """Names the consent question a client was shown on the visit page, in the language the
    page showed: ``<language>:visit:<hash of its wording>`` (for the consent log)."""
    language = language if language in i18n.languages() else i18n.FALLBACK
    wording = "\n".join(i18n.t(language, key) for key in CONSENT_KEYS)
    return f"{language}:visit:{hashlib.sha256(wording.encode()).hexdigest()[:12]}"


#: Refusals of a visit token that count as a failed try (guessing links).
TOKEN_CODES = frozenset({"visit_unknown", "visit_cancelled", "visit_early", "visit_over",
                         "token_unknown"})


def talk(state: RoomState, partner_id: int) -> dict[str, Any]:
    """What the remote client may see of the talk: never an internal note."""
    pending = state.pending_consent
    return {
        "phase": state.phase, "privacy": state.privacy,
        "notes": [n.text for n in state.notes_on_screen],
        "steps": [{"what": s.what, "who": s.who, "due": s.due} for s in state.next_steps],
        "partners": [{"id": p.id, "agency": p.agency, "name": p.name, "consent": p.consent}
                     for p in state.partners if not p.is_client and p.state != "gone"],
        "consent": None if pending is None else {
            "id": pending.id, "agency": pending.agency, "name": pending.name,
            "role": pending.role, "purpose": pending.purpose},
    }


class VisitApi(_Base):
    """Shared by the client's endpoints: the bearer token, the rate limit, the bus."""

    def bearer(self) -> str | None:
        """The token, or None after answering 401/429."""
        address = self.request.remote_ip or "?"
        if self.limit.blocked(address):
            self.set_header("Retry-After", "60")
            self.refuse(429, TOO_MANY)
            return None
        auth = self.request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            self.refuse(401, "A Bearer token from the appointment link is needed.")
            return None
        return auth[7:].strip()

    async def ask(self, name: str, role: str = "admin", **args: Any):
        """A bus command's reply, or None after answering (refused: 4xx; room away: 503)."""
        try:
            reply = await self.engine.link.send(role, name, **args)
        except BusError:
            self.refuse(503, "Der Dienst antwortet gerade nicht. Bitte gleich noch einmal.")
            return None
        if not reply.ok:
            if reply.code in TOKEN_CODES:
                self.limit.failed(self.request.remote_ip or "?")
            self.refuse(409 if reply.code in ("state", "phase") else 403, reply.error)
            return None
        return reply

    def send_json(self, obj: dict[str, Any]) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(obj))

    def body_json(self) -> dict[str, Any] | None:
        if not same_origin(self.request):
            self.refuse(403, "This request did not come from the appointment's page.")
            return None
        try:
            obj = json.loads(self.request.body or b"{}")
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            self.refuse(400, "The body must be a JSON object.")
            return None
        return obj


class StatusHandler(VisitApi):
    async def get(self) -> None:
        token = self.bearer()
        if token is None:
            return
        reply = await self.ask("visit.wait", token=token)
        if reply is None:
            return
        out: dict[str, Any] = {"status": reply.data["status"]}
        state = self.engine.link.state
        partner = reply.data.get("partner")
        if out["status"] == "admitted" and any(p.id == partner for p in state.partners):
            out.update(talk(state, partner))
        self.send_json(out)


class WhipHandler(VisitApi):
    async def post(self) -> None:
        token = self.bearer()
        offer = None if token is None else self.offer()
        if offer is None:
            return
        await self.respond(self.engine.join(token, offer, claim="visit.claim"), "/api/whip")


class ConsentHandler(VisitApi):
    async def post(self) -> None:
        token = self.bearer()
        body = None if token is None else self.body_json()
        if body is None:
            return
        partner, yes = body.get("partner"), body.get("yes")
        if not isinstance(partner, int) or not isinstance(yes, bool):
            self.refuse(400, "'partner' (a number) and 'yes' (true or false) are needed.")
            return
        reply = await self.ask("visit.wait", token=token)
        if reply is None:
            return
        if reply.data["status"] != "admitted":
            self.refuse(409, "Sie sind nicht im Gespräch.")
            return
        language = body.get("language")
        version = consent_version(language if isinstance(language, str) else "")
        if await self.ask("consent.answer", role="kiosk", partner=partner, yes=yes,
                          version=version) is not None:
            self.send_json({"ok": True})


class SurveyHandler(VisitApi):
    async def post(self) -> None:
        token = self.bearer()
        body = None if token is None else self.body_json()
        if body is None:
            return
        answers = {k: body.get(k) for k in ("satisfaction", "ease", "recommend")}
        if await self.ask("visit.survey", token=token, **answers) is not None:
            self.send_json({"ok": True})


class WatchHandler(_Base):
    """POST /api/whip/<resource>/watch/<id>[/screen]: a participant's page pulls another's
    media (or their shared screen)."""

    async def post(self, resource: str, partner: str, screen: str | None = None) -> None:
        offer = self.offer()
        if offer is None:
            return
        await self.respond(self.engine.watch(int(partner), offer, viewer=resource,
                                             screen=bool(screen)), "/api/whep")


def routes(engine: MediaEngine, limit: FailureLimit) -> list[tuple]:
    """The client's endpoints; ``limit`` is shared with the visit pages."""
    opts = {"engine": engine, "limit": limit}
    return [(r"/api/visit/status", StatusHandler, opts),
            (r"/api/visit/whip", WhipHandler, opts),
            (r"/api/visit/consent", ConsentHandler, opts),
            (r"/api/visit/survey", SurveyHandler, opts),
            (r"/api/whip/([0-9a-f]{32})/watch/([0-9]{1,12})(?:/(screen))?", WatchHandler,
             opts)]
