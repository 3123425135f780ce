"""A partner's network really drops and comes back: Chromium in a network namespace of
its own, joined to the room by a veth pair that the test takes down and up again."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time

import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS, ThreadedRoom
from playwright.sync_api import expect, sync_playwright

HOST, GUEST = "10.213.7.1", "10.213.7.2"  # a /30 that exists only between the two ends


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture
def netns(tmp_path):
    """A network namespace with a veth link to this host; yields (name, host veth)."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.fail("this test needs root and iproute2 (the test command runs as root)")
    tag = os.urandom(3).hex()
    name, veth = f"kiosk-{tag}", f"kv{tag}"
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", f"{veth}p")
        sh("ip", "link", "set", f"{veth}p", "netns", name)
        sh("ip", "addr", "add", f"{HOST}/30", "dev", veth)
        sh("ip", "link", "set", veth, "up")
        sh("ip", "netns", "exec", name, "ip", "addr", "add", f"{GUEST}/30", "dev", f"{veth}p")
        sh("ip", "netns", "exec", name, "ip", "link", "set", f"{veth}p", "up")
        sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name, veth
    finally:
        subprocess.run(["ip", "link", "del", veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def decoded(page) -> int:
    return page.evaluate("() => document.getElementById('room').getVideoPlaybackQuality()"
                         ".totalVideoFrames")


def join_as_partner(room, page, base: str) -> None:
    assert room.command("session.start").ok
    reply = room.command("partner.invite", agency="Jobcenter", name="Herr Kaya")
    page.goto(base + reply.data["link"])
    page.get_by_role("button", name="Beitreten").click()
    expect(page.get_by_role("heading", name="Sie werden gleich zugelassen")).to_be_visible()
    assert room.command("partner.admit", partner=reply.data["id"]).ok
    assert room.command("consent.answer", as_="kiosk", partner=reply.data["id"],
                        yes=True, version="de:test").ok


def join_as_client(room, page, base: str) -> None:
    """The client of a remote appointment, from home: waiting room, then admitted."""
    start = (dt.datetime.now().astimezone() + dt.timedelta(minutes=5)).isoformat()
    reply = room.command("appointment.create", at=start, email="k@example.org")
    page.goto(f"{base}/visit/{reply.data['visit_token']}")
    page.get_by_role("button", name="Weiter zum Warteraum").click()
    expect(page.get_by_role("heading", name="Bitte warten Sie einen Moment")).to_be_visible()
    deadline = time.monotonic() + 15
    while not room.state.waiting:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert room.command("visit.admit", id=reply.data["id"]).ok


@pytest.mark.parametrize("join", [join_as_partner, join_as_client], ids=["partner", "client"])
def test_the_page_reconnects_after_a_cut_network(netns, room_config, tmp_path, join):
    name, veth = netns
    config = room_config.with_(http_address="0.0.0.0",
                               allowed_origins=(f"{HOST}:{room_config.http_port}",))
    room = ThreadedRoom(config).start()
    wrapper = tmp_path / "chromium-in-netns"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {name} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    try:
        with sync_playwright() as pw:
            # A partner reaches a real room over https; here the plain-http test origin
            # is declared secure so that the browser gives out camera and microphone.
            origin = f"http://{HOST}:{config.http_port}"
            browser = pw.chromium.launch(executable_path=str(wrapper), args=[
                *CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={origin}"])
            page = browser.new_page()
            join(room, page, origin)
            expect(page.get_by_role("status")).to_have_text("Sie sind im Gespräch.")
            while decoded(page) < 10:
                time.sleep(0.1)

            sh("ip", "link", "set", veth, "down")  # the network is gone
            expect(page.get_by_role("status")).to_contain_text("verbinde neu", timeout=15000)
            time.sleep(2)
            sh("ip", "link", "set", veth, "up")  # and back
            back = time.monotonic()
            expect(page.get_by_role("status")).to_have_text("Sie sind im Gespräch.",
                                                            timeout=15000)
            before = decoded(page)
            while decoded(page) < before + 10:  # the room's picture flows again
                assert time.monotonic() - back < 15
                time.sleep(0.1)
            took = time.monotonic() - back
            assert took < 5.0, f"took {took:.1f} s after the network came back"
            partner = room.state.partners[0]
            assert partner.admitted and partner.state == "connected"  # no new admission
            assert len(room.state.partners) == 1
            browser.close()
    finally:
        room.stop()
