"""The mail that brings a partner's one-call join link (the fallback to ringing).

The counsellor picks a contact from the site's directory and has the room mail
the link to the contact's business address. The mail names the room, the
counsellor's agency, the topic and the link's expiry; never anything about the
client.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

from kiosk.mail import MailConfig, message

SUBJECT = "Bitte in eine Beratung per Video dazukommen ({room})"
BODY = (
    "Guten Tag{name},\n\n"
    "in einer Beratung von {agency} ({room}) wird Ihre Unterstützung gebraucht{topic}.\n\n"
    "Ihr Link zum Gespräch (gilt einmal, bis {expires} Uhr):\n{link}\n\n"
    "Der Link öffnet das Gespräch im Browser; Sie müssen nichts installieren. Sie kommen "
    "zuerst in einen Warteraum; die Beratung lässt Sie herein, sobald die Klientin oder "
    "der Klient zugestimmt hat. Das Gespräch wird nicht aufgezeichnet. Bitte geben Sie "
    "den Link nicht weiter.\n\nMit freundlichen Grüßen\n{agency}\n")


def join_mail(config: MailConfig, to: str, *, link: str, expires: str, name: str = "",
              topic: str = "", room: str = "", agency: str = "") -> EmailMessage:
    """The join-link mail to one partner contact."""
    try:
        until = dt.datetime.fromisoformat(expires).astimezone().strftime("%d.%m.%Y %H:%M")
    except ValueError:
        until = expires
    agency = agency or "der Beratung"
    body = BODY.format(name=f" {name}" if name else "", agency=agency, room=room or "Raum",
                       topic=f" (Thema: {topic})" if topic else "", expires=until, link=link)
    return message(config, to, SUBJECT.format(room=room or agency), body)
