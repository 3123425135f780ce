"""The partner directory: CSV import (all or nothing) and export, accounts, the CLI."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk.cli.main import main
from kiosk.config import SiteConfig
from kiosk.exceptions import CommandError
from kiosk.room.messages import Command
from kiosk.room.store import Store
from kiosk.site.controller import SiteController
from kiosk.site.directory import CSV_FIELDS, DEMO_DIRECTORY, SITE_MIGRATIONS, Directory
from kiosk.site.service import Site, site_keyring
from kiosk.views.plain import rows_plain

HEADER = ",".join(CSV_FIELDS)
GOOD = [
    "Jobcenter Testhausen,Jobcenter,Anna Anfang,Vermittlung,de;en,Arbeit,"
    "anna@jobcenter.example.org,0123 456 1001,Mo–Fr 8–12",
    "Jobcenter Testhausen,Jobcenter,Bernd Beispiel,,de,,bernd@jobcenter.example.org,"
    "0123 456 1002,",
    "Sozialamt Testhausen,Sozialamt,Carla Code,Leistungen,de;ru,Bürgergeld und Leistungen,"
    "carla@sozialamt.example.org,0123 456 1003,Di 9–12",
]


def csv_of(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


@pytest.fixture
def directory(tmp_path: Path):
    store = Store(tmp_path / "site.db", SITE_MIGRATIONS)
    yield Directory(store)
    store.close()


def test_a_good_file_is_imported_and_an_export_imports_to_the_same(directory):
    assert directory.import_csv(csv_of(*GOOD)) == {"rows": 3, "added": 3, "updated": 0}
    agencies = {a.name: a.type for a in directory.agencies()}
    assert agencies == {"Jobcenter Testhausen": "Jobcenter", "Sozialamt Testhausen": "Sozialamt"}
    anna = directory.contacts()[0]
    assert (anna.languages, anna.topics, anna.account) == (("de", "en"), ("Arbeit",), False)
    exported = directory.export_csv()
    assert directory.import_csv(exported) == {"rows": 3, "added": 0, "updated": 3}
    assert directory.export_csv() == exported


@pytest.mark.parametrize(("row", "field"), [
    ("Jobcenter Testhausen,Zirkus,Dora,,de,,dora@x.example.org,0123 456 1,", "agency_type"),
    ("Jobcenter Testhausen,Jobcenter,,,de,,dora@x.example.org,0123 456 1,", "name"),
    ("Jobcenter Testhausen,Jobcenter,Dora,,deutsch,,dora@x.example.org,0123 456 1,",
     "languages"),
    ("Jobcenter Testhausen,Jobcenter,Dora,,de,Kochen,dora@x.example.org,0123 456 1,", "topics"),
    ("Jobcenter Testhausen,Jobcenter,Dora,,de,,dora-at-example,0123 456 1,", "email"),
    ("Jobcenter Testhausen,Jobcenter,Dora,,de,,dora@x.example.org,ruf mich an,", "phone"),
    ("Jobcenter Testhausen,Jobcenter,Dora,,de,,ANNA@jobcenter.example.org,0123 456 1,", "email"),
    ("Jobcenter Testhausen,Sozialamt,Dora,,de,,dora@x.example.org,0123 456 1,", "agency_type"),
])
def test_a_bad_row_names_row_and_field_and_nothing_of_the_file_is_imported(directory, row,
                                                                           field):
    directory.import_csv(csv_of(GOOD[2]))
    before = directory.export_csv()
    with pytest.raises(CommandError) as err:
        directory.import_csv(csv_of(GOOD[0], GOOD[1], row))
    assert err.value.message.startswith("row 4: ") and f"'{field}'" in err.value.message
    assert directory.export_csv() == before
    german = rows_plain(err.value.message)  # what /admin shows
    assert german.startswith("Zeile 4: ") and "must" not in german and "'" not in german


def test_a_file_without_the_columns_is_refused(directory):
    with pytest.raises(CommandError, match="row 1: .*languages") as err:
        directory.import_csv("agency,agency_type,name,email\nA,Jobcenter,B,b@x.example.org\n")
    assert rows_plain(err.value.message).startswith("Zeile 1: In der Kopfzeile fehlen die "
                                                   "Spalten role, languages")
    assert directory.contacts() == []


def test_accounts_sign_in_with_scrypt_and_end_with_a_new_password(directory):
    directory.import_csv(csv_of(*GOOD))
    assert directory.set_password(1, "erstes-passwort").account
    row = directory.store.db.execute("SELECT password_hash FROM partner_accounts").fetchone()
    assert row[0].startswith("scrypt$") and "erstes" not in row[0]
    signin = directory.signin("ANNA@jobcenter.example.org", "erstes-passwort")
    assert directory.verify(signin["token"]).name == "Anna Anfang"
    stored = directory.store.db.execute("SELECT token_hash FROM partner_sessions").fetchone()
    assert signin["token"] not in stored[0]
    with pytest.raises(CommandError, match="stimmt nicht"):
        directory.signin("anna@jobcenter.example.org", "falsch")
    directory.set_password(1, "zweites-passwort")
    with pytest.raises(CommandError) as err:
        directory.verify(signin["token"])
    assert err.value.code == "signed_out"


def test_the_demo_district_is_fictional_with_one_contact_per_agency_type(directory):
    from kiosk.room.agencies import AGENCY_TYPES

    directory.import_csv(DEMO_DIRECTORY.read_text(encoding="utf-8"))
    assert sorted(a.type for a in directory.agencies()) == sorted(AGENCY_TYPES)
    for contact in directory.contacts():
        assert contact.email.endswith(".example.org") and contact.phone.startswith("0123 456")


def test_admin_commands_check_roles_and_arguments(tmp_path):
    store = Store(tmp_path / "site.db", SITE_MIGRATIONS)
    ctl = SiteController(store)
    reply, updates = ctl.handle(Command("directory.import", {"csv": csv_of(*GOOD)}, "console"))
    assert reply.code == "role" and not updates
    reply, updates = ctl.handle(Command("directory.import", {"csv": csv_of(*GOOD)}, "admin"))
    assert reply.ok and {u.key for u in updates} >= {"site/directory/contacts/1",
                                                     "site/directory/agencies/1"}
    reply, updates = ctl.handle(Command("account.set", {"contact": 1, "password": "kurz"},
                                        "admin"))
    assert reply.code == "schema" and not updates
    reply, updates = ctl.handle(Command("contact.remove", {"id": 3}, "admin"))
    assert reply.ok and [(u.key, u.value) for u in updates] == [
        ("site/directory/agencies/2", None), ("site/directory/contacts/3", None)]
    store.close()


# -- CLI ------------------------------------------------------------------------------
def test_cli_imports_exports_and_sets_a_password_without_a_running_site(tmp_path):
    data = tmp_path / "data"
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(csv_of(*GOOD), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["site", "import", str(source), "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    assert "imported 3 contacts" in result.output
    result = runner.invoke(main, ["site", "export", str(out), "--data-dir", str(data)])
    assert result.exit_code == 0 and out.read_text(encoding="utf-8") == csv_of(*GOOD)
    bad = tmp_path / "bad.csv"
    bad.write_text(csv_of(GOOD[0], "X,Jobcenter,Y,,de,,kaputt,0123 456 1,"), encoding="utf-8")
    result = runner.invoke(main, ["site", "import", str(bad), "--data-dir", str(data)])
    assert result.exit_code == 1 and "row 3: 'email'" in result.output
    result = runner.invoke(main, ["site", "account", "carla@sozialamt.example.org",
                                  "--password", "carlas-passwort", "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    assert "Carla Code" in result.output
    result = runner.invoke(main, ["site", "account", "99", "--password", "carlas-passwort",
                                  "--data-dir", str(data)])
    assert result.exit_code == 1 and "no contact 99" in result.output


def test_cli_speaks_to_a_running_site_over_its_bus(tmp_path):
    data = tmp_path / "data"
    site_keyring(data / "site-keys").init()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    site = Site(SiteConfig(data_dir=data, router="tcp://127.0.0.1:0", pub="tcp://127.0.0.1:0",
                           http_port=0))
    asyncio.run_coroutine_threadsafe(site.start(), loop).result(30)
    try:
        source = tmp_path / "in.csv"
        source.write_text(csv_of(*GOOD), encoding="utf-8")
        result = CliRunner().invoke(main, ["site", "import", str(source), "--data-dir",
                                           str(data)])
        assert result.exit_code == 0, result.output
        # The running controller published it: its keyed state holds the contacts.
        assert "site/directory/contacts/3" in site.controller.kv
        result = CliRunner().invoke(main, ["site", "export", "-", "--data-dir", str(data)])
        assert result.output == csv_of(*GOOD)
    finally:
        asyncio.run_coroutine_threadsafe(site.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_kiosk_demo_runs_the_site_with_the_fictional_district(data_dir):
    from test_cli import Running, kiosk

    from kiosk.app.room import free_port

    port = free_port()
    run = Running("demo", "--port", str(port), "--data-dir", str(data_dir))
    try:
        run.wait_healthy(f"http://localhost:{port}/healthz")
        assert (data_dir / "site.json").exists() and (data_dir / "site.db").exists()
        exported = kiosk("site", "export", "-", "--data-dir", str(data_dir)).stdout
        assert exported == DEMO_DIRECTORY.read_text(encoding="utf-8")
    finally:
        code, out, err = run.stop()
    assert code == 0, err
    assert "partners sign in" in out and "site " in out
    assert not (data_dir / "site.json").exists()
