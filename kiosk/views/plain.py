"""Plain German for the staff pages: the controller's refusals, dates and languages.

The room's controller and the site answer in developer English ("'text' must
be 1 to 4000 characters long"); a counsellor reads "Die Notiz fehlt oder ist zu
lang (höchstens 4000 Zeichen)." Known messages are matched by pattern; anything
unknown becomes a plain sentence that asks to try again, and the original goes
to the log for the technicians.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from kiosk.i18n import native_name

log = logging.getLogger(__name__)

PHASE_LABELS = {"idle": "Frei", "welcome": "Klient:in wartet", "consulting": "Im Gespräch",
                "wrap_up": "Abschluss", "survey": "Umfrage"}

#: Languages in German (the directory also lists languages the kiosk does not speak).
LANGUAGE_NAMES = {"de": "Deutsch", "de-simple": "Leichte Sprache", "en": "Englisch",
                  "ar": "Arabisch", "tr": "Türkisch", "uk": "Ukrainisch", "ru": "Russisch",
                  "fa": "Persisch", "pl": "Polnisch", "fr": "Französisch", "es": "Spanisch",
                  "it": "Italienisch", "ro": "Rumänisch", "bg": "Bulgarisch", "sq": "Albanisch",
                  "ku": "Kurdisch", "ti": "Tigrinya", "prs": "Dari", "ps": "Paschtu"}

#: A form field as the refusal names it: (what it is, what to do when it is missing).
FIELDS = {
    "text": ("Die Notiz", "Bitte zuerst eine Notiz schreiben."),
    "what": ("Der Schritt", "Bitte eintragen, was zu tun ist."),
    "who": ("Die Angabe „Wer“", "Bitte wählen, wer den Schritt erledigt."),
    "name": ("Der Name", "Bitte den Namen eintragen."),
    "agency": ("Die Stelle", "Bitte die Stelle eintragen (z. B. Jobcenter Musterstadt)."),
    "role": ("Die Funktion", "Bitte die Funktion eintragen."),
    "purpose": ("Der Grund", "Bitte eintragen, warum die Person dazukommen soll – die "
                             "Klient:in sieht es, bevor sie zustimmt."),
    "follow_up": ("Die Angabe „Folgetermin mit“", "Bitte die Stelle für den Folgetermin "
                                                  "eintragen."),
    "label": ("Der Hinweis", "Bitte einen Hinweis eintragen."),
    "email": ("Die E-Mail-Adresse", "Bitte eine E-Mail-Adresse eintragen."),
    "phone": ("Die Telefonnummer", "Bitte eine Telefonnummer eintragen."),
    "hours": ("Die Angabe „Erreichbar“", "Bitte eintragen, wann die Person erreichbar ist."),
    "languages": ("Die Angabe „Sprachen“", "Bitte Sprachen als Kürzel eintragen, z. B. de;en."),
    "topics": ("Die Angabe „Themen“", "Bitte Themen eintragen."),
    "password": ("Das Passwort", "Bitte ein Passwort eintragen."),
}
WHAT = {"note": "Diese Notiz", "step": "Dieser Schritt", "partner": "Diese Person",
        "appointment": "Dieser Termin", "tablet": "Dieses Tablet"}
RETRY = ("Das hat nicht geklappt. Bitte noch einmal versuchen; wenn es wieder nicht klappt, "
         "die Haustechnik fragen.")


def _length(m: re.Match) -> str:
    subject, missing = FIELDS.get(m["field"], ("Die Eingabe", "Bitte das Feld ausfüllen."))
    if m["lo"] == "0":
        return f"{subject} ist zu lang (höchstens {m['hi']} Zeichen)."
    return f"{subject} fehlt oder ist zu lang (höchstens {m['hi']} Zeichen). {missing}"


def _phase(m: re.Match) -> str:
    command, phase = m["command"], m["phase"]
    if command.startswith(("note.", "step.", "session.outcome", "session.topics")):
        return "Notizen, Schritte, Themen und Ergebnis gehen nur im Gespräch und im Abschluss."
    if command in ("partner.invite", "consent.request"):
        return "Partner lassen sich nur während des Gesprächs einladen."
    if command.startswith("partner."):
        return "Das geht nur während des Gesprächs oder im Abschluss."
    return f"Das geht gerade nicht (der Raum ist: {PHASE_LABELS.get(phase, phase)})."


#: (pattern, German): a str is used as it is, a callable gets the match.
PATTERNS: list[tuple[re.Pattern, object]] = [(re.compile(p), g) for p, g in [
    (r"^'(?P<field>\w+)' must be (?P<lo>\d+) to (?P<hi>\d+) characters long", _length),
    (r"^'(?P<field>\w+)' must be text", lambda m: FIELDS.get(m["field"], ("Die Eingabe", ""))[0]
     + " fehlt."),
    (r"^'due' must be a date", "Bitte ein gültiges Datum wählen."),
    (r"^'at' must be a date and time", "Beginn bitte als Datum und Uhrzeit angeben."),
    (r"^'at' lies in the past", "Der Beginn liegt in der Vergangenheit."),
    (r"^'at' lies more than a year ahead", "Der Beginn liegt mehr als ein Jahr in der Zukunft."),
    (r"^'email' must be a mail address", "Die E-Mail-Adresse stimmt nicht (so sieht eine aus: "
                                         "name@beispiel.de)."),
    (r"^'minutes' must be a whole number", "Die Dauer muss zwischen 5 und 240 Minuten liegen."),
    (r"^'language' must be one of", "Diese Sprache gibt es hier nicht."),
    (r"^'agency_type' must be one of", "Bitte eine Art der Stelle aus der Liste wählen."),
    (r"^'(?P<command>[\w.]+)' is not allowed while the room is (?P<phase>\w+)", _phase),
    (r"^the \w+ may not send", "Dieses Gerät darf das nicht. Bitte am Tablet der Beratung "
                               "versuchen."),
    (r"^there is no (?P<what>\w+) \d+ in this session",
     lambda m: f"{WHAT.get(m['what'], 'Das')} gibt es nicht mehr (vielleicht schon auf "
               "einem anderen Gerät geändert)."),
    (r"^partner \d+ is not in the lobby", "Zulassen geht erst, wenn die Person im Warteraum "
                                          "ist."),
    (r"^partner \d+ was not invited by link", "Diese Person wurde nicht per Link eingeladen."),
    (r"^this room cannot send mail", "Dieser Raum kann keine E-Mails senden. Bitte den Link "
                                     "anzeigen lassen und weitergeben."),
    (r"^(?P<who>.+) is not available now", lambda m: f"{m['who']} ist gerade nicht "
                                                     "erreichbar."),
    (r"^nobody at the duty desk of (?P<agency>.+) is available now",
     lambda m: f"Beim Dienst von {m['agency']} ist gerade niemand erreichbar."),
    (r"^ring \S+ (is \w+, no longer ringing|has already ended)", "Der Anruf ist schon beendet."),
    (r"^there is no ring", "Der Anruf ist schon beendet."),
    (r"^the room could not invite", "Der Raum konnte nicht einladen: es läuft kein Gespräch."),
    (r"^the contact is no longer in the directory", "Der Kontakt steht nicht mehr im "
                                                    "Verzeichnis."),
    (r"^appointment \d+ has nobody waiting", "Bei diesem Termin wartet niemand mehr."),
    (r"^appointment \d+ is already cancelled", "Dieser Termin ist schon abgesagt."),
    (r"^another client takes part by video", "Es ist schon eine Klient:in per Video im "
                                             "Gespräch. Bitte dieses Gespräch zuerst beenden."),
    (r"^a client has checked in at the room's screen", "Am Bildschirm im Raum hat sich eine "
                                                       "Klient:in angemeldet. Bitte zuerst "
                                                       "dieses Gespräch führen."),
    (r"^the summary is being sent already", "Die Zusammenfassung wird schon gesendet."),
    (r"^the pairing code", "Der Kopplungscode gilt nicht mehr. Bitte einen neuen anfordern."),
    (r"^command body too large|too large", "Das ist zu viel Text auf einmal."),
    # The directory's CSV import, one refusal per row.
    (r"^'(?P<field>\w+)' is missing", lambda m: FIELDS.get(m["field"], ("Eine Angabe", ""))[0]
     + " fehlt."),
    (r"^'(?P<field>\w+)' must be language codes", lambda m: FIELDS["languages"][1]),
    (r"^'(?P<field>\w+)' has unknown topics (?P<which>\[.*?\]) \(known: (?P<known>.*)\)$",
     lambda m: f"Unbekannte Themen: {m['which'][1:-1].replace(chr(39), '')}. Bekannt sind: "
               f"{m['known']}."),
    (r"^'(?P<field>\w+)' must be a phone number", "Die Telefonnummer stimmt nicht (so sieht "
                                                   "eine aus: 0123 456789)."),
    (r"^'email' (?P<address>\S+) is already in row (?P<row>\d+)",
     lambda m: f"Die E-Mail-Adresse {m['address']} steht schon in Zeile {m['row']}."),
    (r"^'agency_type' of (?P<agency>.+) differs from an earlier row",
     lambda m: f"Die Art der Stelle von {m['agency']} weicht von einer früheren Zeile ab."),
    (r"^more fields than the header names", "Mehr Spalten als in der Kopfzeile."),
    (r"^the header lacks the column\(s\) (?P<missing>.+) \(needs (?P<needs>.+)\)$",
     lambda m: f"In der Kopfzeile fehlen die Spalten {m['missing']} (nötig sind: "
               f"{m['needs']})."),
]]


def plain(message: str) -> str | None:
    """A known refusal in plain German, or None."""
    for pattern, german in PATTERNS:
        m = pattern.search(message.strip())
        if m:
            return german(m) if callable(german) else german
    return None


def refusal(message: str) -> str:
    """What a counsellor reads when the room refused an action."""
    german = plain(message)
    if german is not None:
        return german
    if re.search(r"[äöüß]|\b(Sie|Bitte|nicht|ist|der|die|das)\b", message):
        return message  # German already (the visit and token errors are)
    log.info("refusal without a plain German text: %s", message)
    return RETRY


def rows_plain(message: str) -> str:
    """The directory's row-by-row CSV refusal (``row 3: …`` a line) in plain German;
    a row without a known text keeps its original words."""
    lines = []
    for line in message.splitlines():
        m = re.match(r"row (?P<row>\d+): (?P<what>.*)", line)
        if m:
            lines.append(f"Zeile {m['row']}: {plain(m['what']) or m['what']}")
        elif (more := re.match(r"… and (\d+) more", line)):
            lines.append(f"… und {more[1]} weitere")
        else:
            lines.append(plain(line) or line)
    return "\n".join(lines)


def german_date(iso: str) -> str:
    """``2026-12-18`` as ``18.12.2026`` ("" stays "")."""
    try:
        return dt.date.fromisoformat(iso).strftime("%d.%m.%Y")
    except (TypeError, ValueError):
        return iso or ""


def german_until(iso: str) -> str:
    """A stored UTC time as ``bis 18.12.2026, 14:30 Uhr`` (the room's local time)."""
    try:
        when = dt.datetime.fromisoformat(iso).astimezone()
    except (TypeError, ValueError):
        return ""
    return f"bis {when:%d.%m.%Y}, {when:%H:%M} Uhr"


def language_name(code: str) -> str:
    """A language in German (``ar`` → ``Arabisch``), else its own name, else the code."""
    return LANGUAGE_NAMES.get(code) or native_name(code)


#: A partner's consent and connection, in words (never by colour alone).
CONSENT_LABELS = {"pending": "Zustimmung erfragt", "granted": "zugestimmt",
                  "declined": "abgelehnt", "withdrawn": "zurückgezogen"}
STATE_LABELS = {"invited": "eingeladen", "lobby": "im Warteraum", "connected": "verbunden",
                "reconnecting": "verbindet neu", "gone": "nicht mehr da"}
LINK_MAIL_LABELS = {"sending": " · Link-E-Mail wird gesendet",
                    "sent": " · Link per E-Mail gesendet",
                    "failed": " · Link-E-Mail fehlgeschlagen"}
