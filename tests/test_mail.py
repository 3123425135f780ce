"""Mail leaves over a real SMTP server (aiosmtpd), or into a demo room's outbox."""

from __future__ import annotations

import email
import email.policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from conftest import Inbox

from kiosk.app.room import free_port
from kiosk.config import RoomConfig
from kiosk.exceptions import ConfigError, MailError
from kiosk.mail import MailConfig, message, send


@pytest.fixture
def smtp_login():
    inbox = Inbox()

    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) \
            == (b"raum-1", b"geheim-123")
        return AuthResult(success=ok)

    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(),
                            authenticator=check, auth_require_tls=False)
    controller.start()
    yield controller, inbox
    controller.stop()


def test_a_mail_with_an_attachment_reaches_the_server(smtp_login, tmp_path):
    controller, inbox = smtp_login
    secret = tmp_path / "smtp-password"
    secret.write_text("geheim-123\n")
    config = MailConfig(host="127.0.0.1", port=controller.port, starttls=False, user="raum-1",
                        password_file=secret, sender="Beratung <beratung@agentur.example>")
    msg = message(config, "klientin@example.org", "Ihr Termin", "Guten Tag,\nbis bald.",
                  html="<p>Guten Tag</p>",
                  attachments=[("termin.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                                "text/calendar")])
    assert send(config, msg) == f"127.0.0.1:{controller.port}"
    (sender, rcpts, got), = inbox.received
    assert sender == "beratung@agentur.example" and rcpts == ["klientin@example.org"]
    assert got["Subject"] == "Ihr Termin"
    assert "bis bald" in got.get_body(("plain",)).get_content()
    (attachment,) = list(got.iter_attachments())
    assert attachment.get_filename() == "termin.ics"
    assert attachment.get_content_type() == "text/calendar"


def test_a_wrong_login_or_an_absent_server_is_a_clear_error(smtp_login, tmp_path):
    controller, inbox = smtp_login
    secret = tmp_path / "smtp-password"
    secret.write_text("falsch")
    config = MailConfig(host="127.0.0.1", port=controller.port, starttls=False, user="raum-1",
                        password_file=secret)
    with pytest.raises(MailError, match="did not take the mail"):
        send(config, message(config, "a@example.org", "x", "y"))
    down = MailConfig(host="127.0.0.1", port=free_port(), starttls=False)
    with pytest.raises(MailError, match=f"127.0.0.1:{down.port}"):
        send(down, message(down, "a@example.org", "x", "y"))
    nowhere = MailConfig()
    with pytest.raises(MailError, match="no mail server is configured"):
        send(nowhere, message(nowhere, "a@example.org", "x", "y"))
    assert inbox.mails == []


def test_a_demo_room_writes_mails_into_its_outbox(tmp_path):
    config = RoomConfig(data_dir=tmp_path, demo=True).mail
    path = send(config, message(config, "a@example.org", "Ihre Zusammenfassung", "Text"))
    assert path.startswith(str(tmp_path / "outbox")) and path.endswith(".eml")
    got = email.message_from_bytes(open(path, "rb").read(), policy=email.policy.default)
    assert got["Subject"] == "Ihre Zusammenfassung"
    assert RoomConfig(data_dir=tmp_path).mail.outbox is None  # a real room: none


@pytest.mark.parametrize(("settings", "why"), [
    ("[mail]\nport = 70000\n", "out of range"),
    ("[mail]\nuser = 'raum'\n", "password_file"),
    ("[mail]\nfrom = 'x'\n", "unknown setting"),
])
def test_bad_mail_settings_are_refused(tmp_path, settings, why):
    path = tmp_path / "room.toml"
    path.write_text(settings)
    with pytest.raises(ConfigError, match=why):
        RoomConfig.from_toml(path)
