"""The kinds of partner agency and the topics of a talk, as the evaluation counts them."""

from __future__ import annotations

#: Partner agency types (German names, as staff and reports show them).
AGENCY_TYPES = (
    "Ausländerbehörde", "Jobcenter", "Sozialamt", "Amt für Jugend und Bildung",
    "Deutsche Rentenversicherung", "Kammer (IHK/HWK)", "Bildungsträger", "Dolmetscherdienst",
)

#: How an appointment ran, for the evaluation: in the room without a partner, in the
#: room with partners by video, or remote (the client at home).
MODES = ("room", "room_partners", "remote")
MODE_LABELS = {"room": "im Raum ohne Partner", "room_partners": "im Raum mit Partnern",
               "remote": "per Video von zu Hause"}

#: Outcome of an appointment as the counsellor records it.
OUTCOMES = ("settled", "follow_up")

#: Topics of a talk (German names, as staff, clients and reports show them).
TOPICS = (
    "Ausbildung", "Arbeit", "Weiterbildung", "Aufenthalt und Arbeitserlaubnis",
    "Bürgergeld und Leistungen", "Reha und Schwerbehinderung", "Kinderbetreuung", "Rente",
    "Anerkennung ausländischer Abschlüsse",
)
