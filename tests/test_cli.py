"""The ``kiosk`` command group, invoked as a person or a script would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kiosk.app.room import free_port

KIOSK = [sys.executable, "-m", "kiosk"]


def kiosk(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*KIOSK, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def health(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return json.loads(resp.read())
    except OSError:
        return None


class Running:
    """A ``kiosk`` process in the background, stopped with Ctrl-C (SIGINT)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*KIOSK, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def wait_healthy(self, url: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.communicate()[1]
            if (h := health(url)) and h["status"] == "ok":
                return h
            time.sleep(0.1)
        raise AssertionError(f"{url} not healthy within {timeout} s")

    def stop(self) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err


@pytest.fixture
def demo(data_dir):
    port = free_port()
    run = Running("demo", "--port", str(port), "--data-dir", str(data_dir))
    run.wait_healthy(f"http://localhost:{port}/healthz")
    yield run, port
    run.stop()


def test_demo_prints_urls_serves_and_stops_cleanly_on_ctrl_c(demo, data_dir):
    run, port = demo
    assert (data_dir / "room.json").exists() and (data_dir / "room.db").exists()
    code, out, err = run.stop()
    assert code == 0, err
    for page in ("kiosk", "control", "display"):
        assert f"http://localhost:{port}/{page}" in out
    assert not (data_dir / "room.json").exists()  # nothing stale for `kiosk ctl` to find


def test_ctl_steers_the_room_and_status_reads_it(demo, data_dir):
    _, port = demo
    d = ["--data-dir", str(data_dir)]
    status = json.loads(kiosk("ctl", "status", "--json", *d).stdout)
    assert status["phase"] == "idle" and status["room"]["id"] == "raum-1"
    assert status["bus"]["router"].startswith("tcp://127.0.0.1:")
    assert status["urls"]["kiosk"] == f"http://localhost:{port}/kiosk"
    assert kiosk("ctl", "session", "start", *d).stdout.startswith("ok session.start")
    kiosk("ctl", "note", "Lebenslauf aktualisieren", "--visible", *d)
    kiosk("ctl", "note", "intern: Rückfrage Jobcenter", *d)
    kiosk("ctl", "step", "Bewerbung abschicken", "--due", "2026-12-01", *d)
    status = json.loads(kiosk("ctl", "status", "--json", *d).stdout)
    assert status["phase"] == "consulting" and status["session"]["id"]
    assert [(n["text"], n["visible"]) for n in status["notes"]] == [
        ("Lebenslauf aktualisieren", True), ("intern: Rückfrage Jobcenter", False)]
    assert status["next_steps"][0]["due"] == "2026-12-01"
    assert health(f"http://localhost:{port}/healthz")["phase"] == "consulting"
    text = kiosk("ctl", "status", *d).stdout
    assert "phase    consulting" in text and "notes    2 (1 visible)" in text
    kiosk("ctl", "session", "end", *d)
    assert json.loads(kiosk("ctl", "status", "--json", *d).stdout)["phase"] == "wrap_up"


def test_ctl_finds_the_room_through_the_environment(demo, data_dir):
    out = kiosk("ctl", "session", "start", env={"KIOSK_DATA_DIR": str(data_dir)}).stdout
    assert out.startswith("ok session.start")


def test_ctl_as_another_role_is_checked_by_the_controller(demo, data_dir):
    d = ["--data-dir", str(data_dir)]
    refused = kiosk("ctl", "--as", "kiosk", "session", "start", *d, check=False)
    assert refused.returncode == 1
    assert "refused (role): the kiosk may not send 'session.start'" in refused.stderr
    kiosk("ctl", "--as", "kiosk", "send", "checkin", *d)
    assert json.loads(kiosk("ctl", "status", "--json", *d).stdout)["phase"] == "welcome"
    bad = kiosk("ctl", "note", "zu früh", *d, check=False)  # not in a session yet
    assert bad.returncode == 1 and "not allowed while the room is welcome" in bad.stderr


def test_ctl_without_a_running_room_says_how_to_start_one(tmp_path):
    proc = kiosk("ctl", "status", "--data-dir", str(tmp_path), check=False)
    assert proc.returncode == 1 and "no room is running" in proc.stderr
    assert "kiosk demo" in proc.stderr


def test_serve_runs_a_room_from_a_config_file_and_parts_in_separate_processes(tmp_path):
    http, router, pub = free_port(), free_port(), free_port()
    controller_conf = tmp_path / "controller.toml"
    controller_conf.write_text(f"""
[room]
id = "raum-7"
name = "Beratungsraum 7"
data_dir = "{tmp_path / 'ctl'}"
run = ["controller"]

[bus]
router = "tcp://127.0.0.1:{router}"
pub = "tcp://127.0.0.1:{pub}"
keys = "{tmp_path / 'keys'}"
""")
    # Without the room's bus keys the controller does not start.
    refused = kiosk("serve", "--config", str(controller_conf), check=False)
    assert refused.returncode == 1 and "kiosk keys init" in refused.stderr
    kiosk("keys", "init", "--keys", str(tmp_path / "keys"))
    web_conf = tmp_path / "web.toml"
    web_conf.write_text(controller_conf.read_text().replace('run = ["controller"]', 'run = ["web"]')
                        .replace(str(tmp_path / "ctl"), str(tmp_path / "web"))
                        + f"\n[http]\nport = {http}\n")
    ctl = Running("serve", "--config", str(controller_conf))
    web = Running("serve", "--config", str(web_conf))
    try:
        h = web.wait_healthy(f"http://localhost:{http}/healthz")
        assert (h["room"], h["phase"]) == ("raum-7", "idle")
        kiosk("ctl", "session", "start", "--data-dir", str(tmp_path / "ctl"))
        deadline = time.monotonic() + 5
        while health(f"http://localhost:{http}/healthz")["phase"] != "consulting":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not (tmp_path / "web" / "room.db").exists()  # only the controller writes state
    finally:
        assert web.stop()[0] == 0
        assert ctl.stop()[0] == 0


@pytest.mark.parametrize(("content", "message"), [
    ("[room]\nid = 'bad id!'\n", "may hold only letters"),
    ("[bus]\nrouter = 'http://x'\n", "is not a ZeroMQ endpoint"),
    ("[room]\ncolour = 'red'\n", "unknown setting [room] colour"),
    ("[room\n", "cannot read config"),
    ("[room]\nrun = ['everything']\n", "run must name some of"),
    ("[media]\nmicrophone_format = 'oss'\n", "microphone_format must be alsa or pulse"),
])
def test_serve_refuses_a_bad_config_with_a_clear_message(tmp_path: Path, content, message):
    conf = tmp_path / "room.toml"
    conf.write_text(content)
    proc = kiosk("serve", "--config", str(conf), check=False)
    assert proc.returncode == 1 and message in proc.stderr


def test_ctl_does_what_the_touch_screen_does(demo, data_dir):
    d = ["--data-dir", str(data_dir)]
    as_kiosk = ["ctl", "--as", "kiosk"]
    kiosk(*as_kiosk, "language", "ar", *d)
    kiosk(*as_kiosk, "checkin", "--code", "b-42", *d)
    status = json.loads(kiosk("ctl", "status", "--json", *d).stdout)
    assert (status["language"], status["arrival"], status["phase"]) == (
        "ar", {"code": "B-42"}, "welcome")
    kiosk("ctl", "session", "start", *d)
    kiosk("ctl", "send", "consent.request", "name=Frau Demir", "agency=Ausländerbehörde",
          "purpose=Arbeitserlaubnis", *d)
    kiosk(*as_kiosk, "consent", "yes", *d)
    kiosk(*as_kiosk, "privacy", "on", *d)
    status = json.loads(kiosk("ctl", "status", "--json", *d).stdout)
    assert status["partners"][0]["consent"] == "granted" and status["privacy"] is True
    none_waiting = kiosk(*as_kiosk, "consent", "no", *d, check=False)
    assert none_waiting.returncode == 1 and "no partner is waiting" in none_waiting.stderr
    kiosk("ctl", "session", "end", *d)
    kiosk(*as_kiosk, "send", "survey.begin", *d)
    kiosk(*as_kiosk, "survey", "4", "5", "10", *d)
    status = json.loads(kiosk("ctl", "status", "--json", *d).stdout)
    assert (status["phase"], status["language"], status["partners"]) == ("idle", "de", [])
    bad = kiosk(*as_kiosk, "survey", "6", "5", "10", *d, check=False)
    assert bad.returncode == 2 and "6 is not in the range 1<=x<=5" in bad.stderr


def test_ctl_invites_admits_and_hangs_up_a_partner(demo, data_dir):
    _, port = demo
    d = ["--data-dir", str(data_dir)]
    kiosk("ctl", "session", "start", *d)
    out = kiosk("ctl", "invite", "Jobcenter", "--name", "Herr Kaya", *d).stdout
    assert out.startswith("partner 1: ") and f"http://localhost:{port}/join/" in out
    refused = kiosk("ctl", "admit", "1", *d, check=False)  # not in the lobby yet
    assert refused.returncode == 1 and "not in the lobby" in refused.stderr
    status = json.loads(kiosk("ctl", "status", "--json", *d).stdout)
    assert status["partners"][0]["state"] == status["partners"][0]["status"] == "invited"
    assert "token" not in json.dumps(status)
    kiosk("ctl", "hangup", "1", *d)
    assert json.loads(kiosk("ctl", "status", "--json", *d).stdout)["partners"] == []


def test_partner_bot_joins_by_link_like_a_browser(demo, data_dir):
    d = ["--data-dir", str(data_dir)]
    kiosk("ctl", "session", "start", *d)
    link = kiosk("ctl", "invite", "Jobcenter", *d).stdout.split()[2]
    bot = subprocess.Popen([*KIOSK, "partner-bot", link, "--agency", "Jobcenter"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            partner = json.loads(kiosk("ctl", "status", "--json", *d).stdout)["partners"][0]
            if partner["state"] == "connected":
                break
            assert time.monotonic() < deadline and bot.poll() is None, bot.stderr.read()
            time.sleep(0.2)
        kiosk("ctl", "admit", "1", *d)
        kiosk("ctl", "--as", "kiosk", "consent", "yes", *d)
        time.sleep(2)
        partner = json.loads(kiosk("ctl", "status", "--json", *d).stdout)["partners"][0]
        assert partner["status"] == "connected"
        media = partner["media"]
        assert media["received"] > 10 and media["to_partner"] > 10
        assert "partner  1 Jobcenter" in kiosk("ctl", "status", *d).stdout
    finally:
        bot.send_signal(signal.SIGINT)
        out, err = bot.communicate(timeout=20)
    assert bot.returncode == 0, err
    assert "state: lobby" in out and "state: in_call" in out
    received = int(out.rsplit("frames received from the room: ", 1)[1])
    assert received > 10
    bad = kiosk("partner-bot", link, check=False)  # the link worked once
    assert bad.returncode == 1 and "schon benutzt" in bad.stderr
