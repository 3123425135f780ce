"""The second display's video tiles, as plain data (``display.DisplayStage`` draws them).

A tile is one picture the display pulls from the room's media engine over WHEP
on loopback. Its ``kind`` says where it goes on the stage:

* ``partner``: an agency's expert (name · agency);
* ``client``: the client of a remote appointment, from home (their caption
  alone, "Klient:in (per Video)");
* ``screen``: a partner's shared screen (``/api/whep/partners/<id>/screen``,
  no sound). The stage gives it the large area and lines the people's tiles up
  beside it (``display_stage.css``, ``display_stage.js``).

Only people admitted by the counsellor with the client's consent are shown,
at most three, and nobody during a privacy pause. The display pulls the people
waiting in the lobby or for consent ahead, unseen (:func:`standby_for`): the
room's consent gate lets none of their frames through until they may be shown,
and then the picture starts at once instead of after a new connection.
"""

from __future__ import annotations

from typing import Any

from kiosk.i18n import t
from kiosk.room.state import Partner, RoomState

#: How many people the stage shows at once.
MAX_PEOPLE = 3
KINDS = ("partner", "client", "screen")


def caption(partner: Partner) -> str:
    """Name and agency, as far as they are known (never a dangling separator)."""
    return " · ".join(x for x in (partner.name, partner.agency) if x)


def person_tile(partner: Partner) -> dict[str, Any]:
    """A partner's or remote client's picture and sound."""
    return {"key": f"p{partner.id}", "partner": partner.id,
            "kind": "client" if partner.is_client else "partner",
            "url": f"/api/whep/partners/{partner.id}", "audio": True,
            "caption": caption(partner)}


def screen_tile(partner: Partner, label: str) -> dict[str, Any]:
    """A partner's shared screen: picture only; ``label`` names it (``display.screen``)."""
    return {"key": f"s{partner.id}", "partner": partner.id, "kind": "screen",
            "url": f"/api/whep/partners/{partner.id}/screen", "audio": False,
            "caption": label}


def shown(state: RoomState) -> list[Partner]:
    """The people whose picture the display shows now (none during a privacy pause)."""
    if state.privacy:
        return []
    return [p for p in state.partners if p.media_allowed and p.state == "connected"][:MAX_PEOPLE]


def reconnecting(state: RoomState) -> list[Partner]:
    """Admitted people whose connection dropped: the display says so."""
    if state.privacy:
        return []
    return [p for p in state.partners if p.media_allowed and p.state == "reconnecting"]


def standby_for(state: RoomState) -> list[dict[str, Any]]:
    """People of the talk whose picture may be shown soon (waiting in the lobby, for
    consent, or behind a privacy pause): the display connects to them unseen."""
    if state.phase != "consulting":
        return []
    on_stage = {p.id for p in shown(state)}
    return [person_tile(p) for p in state.partners
            if p.id not in on_stage and p.state in ("lobby", "connected")
            and p.consent not in ("declined", "withdrawn")][:MAX_PEOPLE]


def tiles_for(state: RoomState) -> list[dict[str, Any]]:
    """Every tile the stage shows, in order: shared screens first (only of people shown:
    the same consent and admission), then the people."""
    people = shown(state)
    screens = [screen_tile(p, t(state.language, "display.screen", who=caption(p)))
               for p in people if p.id in state.screens]
    return screens + [person_tile(p) for p in people]
