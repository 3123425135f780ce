"""Sending email: over SMTP, or in a demo room as .eml files into the data dir.

Invitations to remote appointments and the client's summary leave the room by
mail. A real room names its SMTP server in ``[mail]`` (host, port, STARTTLS,
user and a password file); ``kiosk demo`` writes each mail as an ``.eml`` file
into ``<data dir>/outbox`` instead, where a person can open it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from kiosk.exceptions import ConfigError, MailError

#: What an attachment is: (file name, content, MIME type such as "text/calendar").
Attachment = tuple[str, bytes, str]


@dataclass(frozen=True)
class MailConfig:
    """Where mail goes."""

    host: str = ""
    """SMTP server; empty: no server (mail goes to ``outbox`` or is refused)."""
    port: int = 587
    """SMTP port: 587 with STARTTLS, 465 for implicit TLS, 25 inside a trusted network."""
    starttls: bool = True
    """Upgrade the connection with STARTTLS before logging in (port 587)."""
    tls: bool = False
    """Implicit TLS from the first byte (port 465)."""
    user: str = ""
    """Login name at the server; empty: no login."""
    password_file: Path | None = None
    """File holding the login's password (readable by the room's service only)."""
    sender: str = "Beratung <beratung@example.invalid>"
    """From: of every mail."""
    outbox: Path | None = None
    """Folder for .eml files instead of a server (``kiosk demo``)."""

    def __post_init__(self) -> None:
        if not 0 < int(self.port) < 65536:
            raise ConfigError(f"mail port {self.port} is out of range")
        if self.tls and self.starttls:
            raise ConfigError("mail: choose tls (port 465) or starttls (port 587), not both")
        if self.user and self.password_file is None:
            raise ConfigError("mail: a user needs a password_file")

    @property
    def ready(self) -> bool:
        """Whether mail can leave (a server or an outbox is set)."""
        return bool(self.host or self.outbox)


def message(config: MailConfig, to: str, subject: str, text: str, *, html: str | None = None,
            attachments: list[Attachment] = ()) -> EmailMessage:
    """One mail: plain text, an HTML alternative if given, and attachments."""
    msg = EmailMessage()
    msg["From"] = config.sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = make_msgid(domain=config.sender.rsplit("@", 1)[-1].strip("> ")
                                   or "kiosk.invalid")
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, content, mime in attachments:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype.split(";")[0],
                           filename=filename)
    return msg


def send(config: MailConfig, msg: EmailMessage) -> str:
    """Deliver ``msg``; return where it went. MailError when it could not leave."""
    if config.outbox is not None:
        config.outbox.mkdir(parents=True, exist_ok=True)
        name = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
        path = config.outbox / name
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(msg))
        tmp.replace(path)
        return str(path)
    if not config.host:
        raise MailError("no mail server is configured ([mail] host in the room's config)")
    context = ssl.create_default_context()
    try:
        cls = smtplib.SMTP_SSL if config.tls else smtplib.SMTP
        kwargs = {"context": context} if config.tls else {}
        with cls(config.host, config.port, timeout=15, **kwargs) as smtp:
            if config.starttls:
                smtp.starttls(context=context)
            if config.user:
                password = Path(config.password_file).read_text(encoding="utf-8").strip()
                smtp.login(config.user, password)
            refused = smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"the mail server {config.host}:{config.port} did not take the "
                        f"mail: {exc}") from None
    if refused:
        raise MailError(f"the mail server refused: {', '.join(refused)}")
    return f"{config.host}:{config.port}"


async def send_async(config: MailConfig, msg: EmailMessage) -> str:
    """:func:`send` in a worker thread (SMTP must not hold up the room's loop)."""
    return await asyncio.to_thread(send, config, msg)
