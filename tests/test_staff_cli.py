"""kiosk staff: accounts from the command line (a module without a browser: the CLI runs
its own event loop in the main thread, where playwright's sync API keeps one)."""

from __future__ import annotations

from test_access import cookie_of, request, sign_in


def test_staff_cli_adds_lists_changes_and_removes_accounts(live_room):
    from click.testing import CliRunner

    from kiosk.cli.main import main

    run = CliRunner().invoke
    data = ["--data-dir", str(live_room.config.data_dir)]
    added = run(main, ["staff", "add", "Frau-Ost", "--role", "admin", *data],
                input="ein gutes Passwort\nein gutes Passwort\n")
    assert added.exit_code == 0 and "added frau-ost (admin)" in added.output
    short = run(main, ["staff", "add", "herr-west", "--role", "counsellor", *data],
                input="kurz\nkurz\n")
    assert short.exit_code == 1 and "10 to 200 characters" in short.output
    listing = run(main, ["staff", "list", *data]).output
    assert "frau-ost" in listing and "admin" in listing and "herr-west" not in listing
    jar = dict([cookie_of(sign_in(live_room, "frau-ost", "ein gutes Passwort"))[:2]])
    assert request(live_room, "GET", "/admin", cookies=jar).status == 200
    changed = run(main, ["staff", "password", "frau-ost", *data],
                  input="ein neues Passwort\nein neues Passwort\n")
    assert changed.exit_code == 0
    assert request(live_room, "GET", "/admin", cookies=jar).status == 302  # signed out
    assert run(main, ["staff", "remove", "frau-ost", *data]).exit_code == 0
    assert sign_in(live_room, "frau-ost", "ein neues Passwort").status == 403
    assert run(main, ["staff", "remove", "frau-ost", *data]).exit_code == 1
