"""Benchmark of a partner across real networks: join time and picture on a degraded link.

tests/fieldnet.py's namespaces (agency with nginx and coturn; an office behind NAT that
passes only TCP 443; a ``direct`` partner, no NAT, no firewall), a room in this process
(TURN as in tests/test_field.py), Debian's Chromium in the namespaces; alternating:

1. Join time, link opened → first partner frame on /display: t0 ``Date.now()`` here just
   before the partner's fresh page goes to the link, t1 ``Date.now()`` in /display (same
   clock) when a loop there (every 5 ms, ``kioskFramesDecoded()``) first sees a decoded
   frame. "Beitreten" is clicked once enabled; the script admits and consents as soon as
   the room has the partner in its lobby (polled every 2 ms): no human step is timed.
   ``office`` (TURN over TLS, 443) against ``direct`` (same proxy and page, media to the
   room's host candidates). Targets: office median ≤ 1.5 × direct median, and < 2 s.
2. The office link degraded: 75 ms, 2 % loss, 1.5 Mbit/s, each way (150 ms round trip).
   No netem in this kernel (CONFIG_NET_SCH_NETEM unset): its model runs in user space
   (``emulate-link``, in the office namespace; the partner's veth bridged to a tap that
   takes over its address and MAC): a frame is lost with 2 % probability, else queued
   (≤ 1000, netem's limit), serialised at 1.5 Mbit/s and delivered 75 ms later. On the
   receiving page, after a warm-up: frozen time (requestVideoFrameCallback; a freeze is
   an interval between presented frames above max(3 × mean, mean + 150 ms) of the last
   30 normal ones, Chrome's definition; the window's edges count) and frame rate
   (presented frames / window). (a) Office partner (fake camera, TURN/TLS) → room → its
   tile on /display. (b) Baseline: a Chromium-to-Chromium call over the same link and
   TURN server, office (the partner page's TURN urls) to root namespace (the room's
   place and TURN url), both sending camera and sound. Beside: getStats of receiver and
   sender, how late the room's loop wakes. Targets: frozen (a) ≤ 1.2 × frozen (b), (b)
   floored at 0.1 s (a zero would leave the ratio undefined); frame rate (a) ≥ 0.9 × (b).

Each target's line says PASS or FAIL; the last line is the one with the least margin,
PASS only if all pass (exit code 1 otherwise). Needs root.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import fcntl
import json
import logging
import os
import random
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import CHROMIUM, CHROMIUM_ARGS, ThreadedRoom  # noqa: E402
from fieldnet import TURN_HOST, FieldNet  # noqa: E402
from verdict import verdict  # noqa: E402

from kiosk.app.room import free_port  # noqa: E402
from kiosk.config import RoomConfig  # noqa: E402
from kiosk.room.keys import Keyring  # noqa: E402

LINK = {"delay_ms": 75, "loss_pct": 2.0, "rate_kbit": 1500}
#: The partner pages' TURN urls (the room's config, as in tests/test_field.py).
TURN_URLS = [f"turns:{TURN_HOST}:443?transport=tcp", f"turn:{TURN_HOST}:3478?transport=udp"]
JOIN_RATIO, JOIN_MAX_S = 1.5, 2.0
FROZEN_RATIO, FPS_SHARE, FROZEN_FLOOR_S = 1.2, 0.9, 0.1

# --------------------------------------------------------------------------- link emulator


def checksummed(frame: bytes) -> bytes:
    """The frame with its IPv4 TCP/UDP checksum in full: a frame read from a veth may
    carry a partial one (offloaded), which the tap's side would drop."""
    proto = frame[23] if len(frame) >= 34 and frame[12:14] == b"\x08\x00" else 0
    if proto not in (6, 17) or int.from_bytes(frame[20:22]) & 0x3FFF:  # or a fragment
        return frame
    l4, end = 14 + (frame[14] & 15) * 4, 14 + int.from_bytes(frame[16:18])
    off = 16 if proto == 6 else 6
    seg = bytearray(frame[l4:end])
    if len(seg) < off + 2:
        return frame
    seg[off:off + 2] = b"\0\0"
    data = frame[26:34] + bytes((0, proto)) + len(seg).to_bytes(2) + seg
    s = sum(array("H", data + b"\0" * (len(data) & 1)))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    seg[off:off + 2] = struct.pack("=H", ~s & 0xFFFF or (0xFFFF if proto == 17 else 0))
    return frame[:l4] + bytes(seg) + frame[end:]


class Lane:
    """One direction of the emulated link: loss, then serialisation, then delay."""

    def __init__(self, send, delay: float, loss: float, rate: float, limit: int = 1000):
        self.send, self.delay, self.loss, self.rate, self.limit = send, delay, loss, rate, limit
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.busy_until = 0.0
        self.counts = {"in": 0, "lost": 0, "overflow": 0}

    def push(self, frame: bytes, now: float) -> None:
        self.counts["in"] += 1
        if random.random() < self.loss:
            self.counts["lost"] += 1
        elif len(self.queue) >= self.limit:
            self.counts["overflow"] += 1
        else:
            self.busy_until = max(now, self.busy_until) + len(frame) * 8 / self.rate
            self.queue.append((self.busy_until + self.delay, frame))

    def flush(self, now: float) -> None:
        while self.queue and self.queue[0][0] <= now:
            try:
                self.send(self.queue.popleft()[1])
            except OSError:
                self.counts["overflow"] += 1


def emulate_link(dev: str, tap: str, delay_ms: str, loss_pct: str, rate_kbit: str) -> int:
    """Inside a namespace: move ``dev``'s address, MAC and default route to a new tap and
    forward frames between the two through a Lane each way. Prints ``ready``, then its
    counters (JSON) every 2 s."""
    def ip(*args: str) -> str:
        return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout

    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", tap.encode(), 0x1002))  # TAP, NO_PI
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sock.bind((dev, 0))
    sock.setblocking(False)
    addr = json.loads(ip("-j", "-4", "addr", "show", "dev", dev))[0]["addr_info"][0]
    cidr = f"{addr['local']}/{addr['prefixlen']}"
    gateway = json.loads(ip("-j", "-4", "route", "show", "default"))[0]["gateway"]
    mac = Path(f"/sys/class/net/{dev}/address").read_text().strip()
    for args in (["link", "set", tap, "address", mac, "up"], ["addr", "del", cidr, "dev", dev],
                 ["addr", "add", cidr, "dev", tap], ["link", "set", dev, "promisc", "on"],
                 ["route", "replace", "default", "via", gateway, "dev", tap]):
        ip(*args)
    # The kernel must not take the frames on ``dev`` itself (the packet socket still
    # gets them: taps come before the ingress hook).
    subprocess.run(["nft", "-f", "-"], check=True, text=True, input=(
        f'table netdev bench_link {{\n chain kernel_in {{\n  type filter hook ingress device '
        f'"{dev}" priority 0; policy drop;\n }}\n}}\n'))
    delay, loss, rate = float(delay_ms) / 1000, float(loss_pct) / 100, float(rate_kbit) * 1000
    up = Lane(sock.send, delay, loss, rate)
    down = Lane(lambda f: os.write(fd, f), delay, loss, rate)
    print("ready", flush=True)
    reported = time.monotonic()
    while True:
        due = [lane.queue[0][0] for lane in (up, down) if lane.queue]
        ready, _, _ = select.select([fd, sock], [], [],
                                    max(0.0, min(due) - time.monotonic()) if due else 0.5)
        now = time.monotonic()
        while fd in ready:
            try:
                up.push(checksummed(os.read(fd, 65536)), now)
            except BlockingIOError:
                break
        while sock in ready:
            try:
                data, (_, _, pkttype, _, _) = sock.recvfrom(65536)
            except BlockingIOError:
                break
            if pkttype != socket.PACKET_OUTGOING:
                down.push(checksummed(data), now)
        now = time.monotonic()
        up.flush(now)
        down.flush(now)
        if now - reported > 2:
            reported = now
            print(json.dumps({"up": up.counts, "down": down.counts}), flush=True)


# --------------------------------------------------------------------------- pages

#: Every page: keep its RTCPeerConnections (getStats of the <video>'s receiver); find the
#: first partner tile's <video> through /display's shadow roots.
HOOK = """(() => {
  const Orig = window.RTCPeerConnection;
  if (!Orig || Orig.benchHooked) return;
  window.benchPcs = [];
  const Hooked = function (...args) { const pc = new Orig(...args); benchPcs.push(pc); return pc; };
  Hooked.prototype = Orig.prototype;
  Object.setPrototypeOf(Hooked, Orig);
  window.RTCPeerConnection = Object.assign(Hooked, {benchHooked: true});
  const find = (root) => root.querySelector('figure.tile video') || [...root.querySelectorAll('*')]
    .reduce((found, el) => found || (el.shadowRoot && find(el.shadowRoot)), null);
  window.benchVideo = () => find(document);
})();"""
#: /display: Date.now() when the tile appears, and when the tiles' getStats first count
#: a decoded frame (polled every 5 ms in the page).
ARM_FIRST = """() => {
  window.benchFirst = window.benchTile = null;
  const gen = window.benchGen = (window.benchGen || 0) + 1;
  const tick = async () => {
    if (gen !== window.benchGen) return;
    if (!window.benchTile && benchVideo()) window.benchTile = Date.now();
    if (window.kioskFramesDecoded && await kioskFramesDecoded() > 0) benchFirst = Date.now();
    else setTimeout(tick, 5);
  };
  tick();
}"""
#: Record the presented frames of benchVideo() (requestVideoFrameCallback).
RECORD = """() => {
  const v = benchVideo();
  const rec = window.benchRec = {start: performance.now(), times: [], frames: []};
  const cb = (now, meta) => {
    if (window.benchRec !== rec) return;
    rec.times.push(now); rec.frames.push(meta.presentedFrames);
    v.requestVideoFrameCallback(cb);
  };
  v.requestVideoFrameCallback(cb);
}"""
READ = "() => { const r = benchRec; benchRec = null; return {...r, end: performance.now()}; }"
#: getStats of the receiver whose track benchVideo() shows.
STATS = """async () => {
  const v = benchVideo(), track = v && v.srcObject && v.srcObject.getVideoTracks()[0];
  const r = track && benchPcs.flatMap((pc) => pc.getReceivers()).find((r) => r.track === track);
  if (!r) return null;
  const stats = await r.getStats();
  let out = null;
  stats.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') out = {
    decoded: s.framesDecoded || 0, freezes: s.freezeCount || 0,
    frozen: s.totalFreezesDuration || 0, size: `${s.frameWidth}x${s.frameHeight}`,
    codec: ((stats.get(s.codecId) || {}).mimeType || '?').replace('video/', '')}; });
  return out;
}"""
#: The sender's side: selected path, bandwidth estimate, video sent, why limited.
SENDER = """async (which) => {
  const stats = await (which === 'partner' ? kioskCall.call.pc : benchPc).getStats();
  const out = {path: '?', bwe: 0, rtt: 0, limits: {}, plis: 0, nacks: 0, size: '?'};
  stats.forEach((s) => {
    const pair = s.type === 'transport' && stats.get(s.selectedCandidatePairId);
    if (pair) Object.assign(out, {bwe: (pair.availableOutgoingBitrate || 0) / 1000,
      rtt: (pair.currentRoundTripTime || 0) * 1000, path: [stats.get(pair.localCandidateId)]
        .map((c) => `${c.candidateType}/${c.relayProtocol || ''}`)[0]});
    if (s.type === 'outbound-rtp' && s.kind === 'video') Object.assign(out, {
      limits: s.qualityLimitationDurations || {}, plis: s.pliCount || 0,
      nacks: s.nackCount || 0, size: `${s.frameWidth}x${s.frameHeight}`,
      target: (s.targetBitrate || 0) / 1000, fps: s.framesPerSecond || 0});
  });
  return out;
}"""
#: The baseline call, one side: camera and sound, a <video> for the other side; returns
#: the offer (or the answer to ``offer``) once gathered as the partner page gathers.
SETUP = """async ({ice, offer}) => {
  const stream = await navigator.mediaDevices.getUserMedia({video: true, audio: true});
  const pc = window.benchPc = new RTCPeerConnection({iceServers: ice});
  stream.getTracks().forEach((t) => pc.addTrack(t, stream));
  const video = Object.assign(document.createElement('video'),
    {autoplay: true, playsInline: true, muted: true, srcObject: new MediaStream()});
  document.body.replaceChildren(video);
  pc.ontrack = (e) => video.srcObject.addTrack(e.track);
  window.benchVideo = () => video;
  if (offer) await pc.setRemoteDescription({type: 'offer', sdp: offer});
  await pc.setLocalDescription(await (offer ? pc.createAnswer() : pc.createOffer()));
  await new Promise((done) => {
    pc.addEventListener('icegatheringstatechange',
      () => pc.iceGatheringState === 'complete' && done());
    pc.addEventListener('icecandidate',
      (e) => e.candidate && e.candidate.type === 'relay' && setTimeout(done, 300));
    setTimeout(done, pc.iceGatheringState === 'complete' ? 0 : 8000);
  });
  return pc.localDescription.sdp;
}"""


def until(predicate, what: str, timeout: float = 30.0, step: float = 0.05):
    """Poll ``predicate`` until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(step)
    return value


def frozen_fps(rec: dict) -> tuple[float, float, int]:
    """Frozen seconds, presented frames per second and freezes of a recording."""
    marks = [rec["start"], *rec["times"], rec["end"]]
    normal: collections.deque[float] = collections.deque(maxlen=30)
    frozen, freezes = 0.0, 0
    for a, b in zip(marks, marks[1:], strict=False):
        mean = statistics.fmean(normal) if normal else 50.0  # the fake camera's 20 fps
        if b - a > max(3 * mean, mean + 150):
            frozen, freezes = frozen + b - a, freezes + 1
        else:
            normal.append(b - a)
    frames = rec["frames"][-1] - rec["frames"][0] + 1 if rec["frames"] else 0
    return frozen / 1000, frames / ((rec["end"] - rec["start"]) / 1000), freezes


async def loop_lag(seconds: float) -> float:
    """95th percentile of how late a 10 ms sleep wakes on the running loop (ms)."""
    loop, late = asyncio.get_running_loop(), []
    end = loop.time() + seconds
    while (t := loop.time()) < end:
        await asyncio.sleep(0.01)
        late.append((loop.time() - t - 0.01) * 1000)
    return sorted(late)[int(0.95 * len(late))]


def measure(room: ThreadedRoom, page, sender, which: str, seconds: float) -> dict:
    """Frozen time and frame rate of benchVideo() on ``page`` over ``seconds``; getStats
    of its receiver and of the sender (``which``) on ``sender``; the room loop's lag."""
    s0, o0 = page.evaluate(STATS), sender.evaluate(SENDER, which)
    page.evaluate(RECORD)
    lag = asyncio.run_coroutine_threadsafe(loop_lag(seconds), room.loop)
    media_lag = asyncio.run_coroutine_threadsafe(loop_lag(seconds), room.room.engine.loop)
    time.sleep(seconds)
    rec, s1, o1 = page.evaluate(READ), page.evaluate(STATS), sender.evaluate(SENDER, which)
    frozen, fps, freezes = frozen_fps(rec)
    span = (rec["end"] - rec["start"]) / 1000
    limits = {k: v - o0["limits"].get(k, 0) for k, v in o1["limits"].items()}
    return {"frozen": frozen, "fps": fps, "freezes": freezes, "seconds": span,
            "stats_frozen": s1["frozen"] - s0["frozen"], "stats_freezes": s1["freezes"]
            - s0["freezes"], "stats_fps": (s1["decoded"] - s0["decoded"]) / span,
            "got": f"{s1['codec']} {s1['size']}", "lag": lag.result(10),
            "media_lag": media_lag.result(10), "sender": o1 | {
                "plis": o1["plis"] - o0["plis"], "nacks": o1["nacks"] - o0["nacks"],
                "bw_limited": limits.get("bandwidth", 0) / max(sum(limits.values()), 1e-9)}}


# --------------------------------------------------------------------------- the bench


class Bench:
    """The room's /display and a Chromium in each of root, office and direct."""

    def __init__(self, pw, net: FieldNet, room: ThreadedRoom) -> None:
        self.net, self.room, self.browsers = net, room, {}
        self.room_turn = [room.config.turn.room_url]  # the room's own TURN uri
        for ns in (net.office, net.direct):
            self.browsers[ns.label] = pw.chromium.launch(
                executable_path=str(net.chromium_executable(ns)),
                args=[*CHROMIUM_ARGS, *net.chromium_args()])
        self.browsers["root"] = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        self.display = self.page("root", room.urls["display"])
        assert room.command("session.start").ok

    def page(self, where: str, url: str | None = None):
        """A page in a fresh context of ``where``'s Chromium, at ``url``."""
        ctx = self.browsers[where].new_context(viewport={"width": 1280, "height": 800})
        ctx.add_init_script(HOOK)
        page = ctx.new_page()
        if url:
            page.goto(url)
        return page

    def partner_joins(self, ns: str, times: dict[str, float]) -> tuple[int, object]:
        """Invite, open the link in ``ns`` and join; admit and consent once the room has
        the partner in its lobby. Notes in ``times`` (ms since the epoch): t0 (link
        opened), click (on Beitreten, done) and lobby. Returns the partner's id and page."""
        room = self.room
        reply = room.command("partner.invite", agency="Ausländerbehörde", name="Frau Demir")
        assert reply.ok, reply.error
        pid = reply.data["id"]
        page = self.page(ns)
        times["t0"] = time.time() * 1000
        page.goto(self.net.room_url + reply.data["link"])
        page.get_by_role("button", name="Beitreten").click(timeout=30_000)
        times["click"] = time.time() * 1000
        until(lambda: any(p.id == pid and p.state in ("lobby", "connected")
                          for p in room.state.partners), "the partner never reached the lobby",
              step=0.002)
        times["lobby"] = time.time() * 1000
        assert room.command("partner.admit", partner=pid).ok
        assert room.command("consent.answer", as_="kiosk", partner=pid, yes=True,
                            version="de:bench").ok
        return pid, page

    def hang_up(self, pid: int, page) -> None:
        assert self.room.command("partner.remove", partner=pid).ok
        page.context.close()
        until(lambda: self.display.evaluate("!benchVideo()"), "the tile stays", 30)

    def join_time(self, ns: str) -> dict:
        """Link opened → first partner frame on /display, with the steps between (s)."""
        self.display.evaluate(ARM_FIRST)
        times: dict[str, float] = {}
        pid, page = self.partner_joins(ns, times)

        def first_frame():
            if "connected" not in times and any(p.id == pid and p.state == "connected"
                                                for p in self.room.state.partners):
                times["connected"] = time.time() * 1000
            return self.display.evaluate("benchFirst")

        times["frame"] = until(first_frame, "no partner frame on /display", 30, 0.005)
        times["tile"] = self.display.evaluate("benchTile")
        times.setdefault("connected", times["frame"])
        path = page.evaluate(SENDER, "partner")["path"]
        self.hang_up(pid, page)
        return {k: (v - times["t0"]) / 1000 for k, v in times.items()} | {"path": path}

    def via_room(self, warmup: float, seconds: float) -> dict:
        """(a): the office partner's picture on /display, through the room."""
        pid, page = self.partner_joins("office", {})
        until(lambda: (self.display.evaluate(STATS) or {}).get("decoded"),
              "no partner frame on /display", 60)
        time.sleep(warmup)
        out = measure(self.room, self.display, page, "partner", seconds)
        self.hang_up(pid, page)
        return out

    def browser_call(self, warmup: float, seconds: float) -> dict:
        """(b): office Chromium → Chromium in the root namespace, the same TURN server."""
        net = self.net
        ice = [[{"urls": urls, **dict(zip(("username", "credential"),
                                            net.turn_credentials(label), strict=True))}]
               for urls, label in ((TURN_URLS, "bench"), (self.room_turn, "bench-room"))]
        office = self.page("office", f"{net.room_url}/healthz")
        root = self.page("root", self.room.urls["healthz"])
        try:
            offer = office.evaluate(SETUP, {"ice": ice[0], "offer": None})
            answer = root.evaluate(SETUP, {"ice": ice[1], "offer": offer})
            office.evaluate("(sdp) => benchPc.setRemoteDescription({type: 'answer', sdp})",
                            answer)
            until(lambda: (root.evaluate(STATS) or {}).get("decoded"),
                  "no frame in the browser call", 60)
            time.sleep(warmup)
            return measure(self.room, root, office, "bench", seconds)
        finally:
            office.context.close()
            root.context.close()

    def degrade(self) -> Path:
        """The office partner's link: LINK each way, by the emulator in the office."""
        net = self.net
        # Forwarded TCP (coturn's, nginx's) leaves the office router in MTU-sized frames.
        net.office_gw.run(["ip", "link", "set", "dev", "lan", "gso_max_segs", "1"], check=True)
        log = net.workdir / "link.log"
        with open(log, "w") as out:
            net.office.popen([sys.executable, str(Path(__file__).resolve()), "emulate-link",
                              "eth0", "bench0", *map(str, LINK.values())],
                             stdout=out, stderr=subprocess.STDOUT)
        until(lambda: "ready" in log.read_text() or "Error" in log.read_text(),
              "the link emulator did not start", 20)
        if "ready" not in log.read_text():
            raise RuntimeError(log.read_text())
        return log


#: Hold-ups of the room's loop longer than this are counted, with where they were.
STALL_S = 0.1


class HeldUp(logging.Handler):
    """The room loop's hold-ups (see kiosk.app.stalls): how many, and where most often."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.where: collections.Counter[str] = collections.Counter()
        self.took: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "runs again after" in text:
            self.took.append(float(text.rsplit("after ", 1)[1].split()[0]))
        else:  # the innermost two frames of the loop thread's stack
            frames = [line.strip() for line in text.splitlines() if line.strip().startswith(
                "File ")]
            self.where[" <- ".join(reversed(frames[-2:]))] += 1

    def summary(self) -> str:
        if not self.took:
            return f"room or media loop held up > {STALL_S * 1000:.0f} ms: never"
        top = "\n".join(f"    {n}× {where}" for where, n in self.where.most_common(5))
        return (f"room or media loop held up > {STALL_S * 1000:.0f} ms: {len(self.took)} times, "
                f"{sum(self.took):.1f} s in all, longest {max(self.took):.2f} s; most often "
                f"in:\n{top}")


def bench(runs: int, blocks: int, warmup: float, seconds: float) -> int:
    from playwright.sync_api import sync_playwright

    held = HeldUp()

    joins: dict[str, list[float]] = {"office": [], "direct": []}
    results: dict[str, list[dict]] = {"room": [], "browser": []}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        port, data = free_port(), Path(tmp) / "data"
        data.mkdir()
        with FieldNet(Path(tmp) / "net", port) as net:
            Keyring(data / "keys").init()
            turn = {"urls": TURN_URLS, "secret": net.turn_secret, "ttl": 14400,
                    "room_url": f"turn:{net.addresses.turn}:3478?transport=udp"}
            room = ThreadedRoom(RoomConfig(
                data_dir=data, http_port=port, bus_router="tcp://127.0.0.1:0",
                bus_pub="tcp://127.0.0.1:0", camera_watch=False, public_url=net.room_url,
                trusted_proxies=("127.0.0.1",), turn=turn))
            watch = room.room.loop_watch  # every hold-up the bench should explain
            watch.after, watch.every = STALL_S, STALL_S / 5
            media = room.room.media_watch  # and of the media loop (kiosk/media/loop.py)
            media.after, media.every = STALL_S, STALL_S / 5
            logging.getLogger("kiosk.app.stalls").addHandler(held)
            room.start()
            b = None
            try:
                b = Bench(pw, net, room)
                print(f"join time, link opened → first partner frame on /display ({runs} "
                      "each, alternating, after one warm-up each)", flush=True)
                for i in range(-1, runs):
                    for ns in ("office", "direct"):
                        r = b.join_time(ns)
                        if i >= 0:
                            joins[ns].append(r["frame"])
                        print(f"  {'warm-up' if i < 0 else f'run {i + 1}':>7} {ns:6}: "
                              f"{r['frame']:.3f} s (joined {r['click']:.2f}, lobby "
                              f"{r['lobby']:.2f}, connected {r['connected']:.2f}, tile "
                              f"{r['tile']:.2f} s; {r['path']})", flush=True)
                log = b.degrade()
                print(f"degraded office link: {LINK['delay_ms']} ms, {LINK['loss_pct']:g} % "
                      f"loss, {LINK['rate_kbit']} kbit/s, each way; {blocks} × {seconds:g} s "
                      f"per side after {warmup:g} s warm-up, alternating", flush=True)
                for i in range(blocks):
                    for side, run in (("room", b.via_room), ("browser", b.browser_call)):
                        r = run(warmup, seconds)
                        results[side].append(r)
                        o = r["sender"]
                        print(f"  block {i + 1} {side:7}: frozen {r['frozen']:.2f} s "
                              f"({r['freezes']}), {r['fps']:.1f} fps | getStats frozen "
                              f"{r['stats_frozen']:.2f} s ({r['stats_freezes']}), "
                              f"{r['stats_fps']:.1f} fps decoded, {r['got']}\n"
                              f"{'':19}sender {o['path']}: {o['size']} {o['fps']:.0f} fps, "
                              f"BWE {o['bwe']:.0f} kbit/s, target {o['target']:.0f} kbit/s, "
                              f"bandwidth-limited {o['bw_limited']:.0%}, RTT {o['rtt']:.0f} "
                              f"ms, PLIs {o['plis']}, NACKs {o['nacks']}; late (p95): room "
                              f"loop {r['lag']:.0f} ms, media loop {r['media_lag']:.0f} ms",
                              flush=True)
                counts = json.loads(log.read_text().strip().splitlines()[-1])
            finally:
                for browser in b.browsers.values() if b else ():
                    browser.close()
                room.stop()
    print(held.summary(), flush=True)
    lost = {k: v["lost"] / max(1, v["in"]) for k, v in counts.items()}
    print(f"link emulator: lost {lost['up']:.1%} up, {lost['down']:.1%} down "
          f"({counts['up']['in']} + {counts['down']['in']} frames); {len(results['room'])} "
          f"blocks each; total {time.monotonic() - started:.0f} s")
    office, direct = statistics.median(joins["office"]), statistics.median(joins["direct"])
    frozen = {k: sum(r["frozen"] for r in v) for k, v in results.items()}
    fps = {k: sum(r["fps"] * r["seconds"] for r in v) / sum(r["seconds"] for r in v)
           for k, v in results.items()}
    frozen_ratio = frozen["room"] / max(frozen["browser"], FROZEN_FLOOR_S)
    share = fps["room"] / fps["browser"] if fps["browser"] else 0.0
    span = sum(r["seconds"] for r in results["room"])
    last, ok = verdict([
        (f"join time (median) office via TURN/TLS: {office:.3f} s vs direct {direct:.3f} s = "
         f"{office / direct:.2f}x (target ≤ {JOIN_RATIO}x)", office / direct / JOIN_RATIO,
         office / direct <= JOIN_RATIO),
        (f"join time (median) office via TURN/TLS: {office:.3f} s vs direct {direct:.3f} s = "
         f"{office / direct:.2f}x (target office < {JOIN_MAX_S} s)", office / JOIN_MAX_S,
         office < JOIN_MAX_S),
        (f"frozen time on /display in {span:.0f} s via the room: {frozen['room']:.2f} s vs "
         f"browser call {frozen['browser']:.2f} s = {frozen_ratio:.2f}x (baseline floored at "
         f"{FROZEN_FLOOR_S} s; target ≤ {FROZEN_RATIO}x)", frozen_ratio / FROZEN_RATIO,
         frozen_ratio <= FROZEN_RATIO),
        (f"frame rate on /display via the room: {fps['room']:.1f} fps vs browser call "
         f"{fps['browser']:.1f} fps = {share:.2f}x (target ≥ {FPS_SHARE}x)",
         FPS_SHARE / share if share else float("inf"), share >= FPS_SHARE),
    ])
    print(last, flush=True)
    return 0 if ok else 1


def main() -> int:
    if sys.argv[1:2] == ["emulate-link"]:  # the link emulator, inside the office namespace
        return emulate_link(*sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="join runs per side")
    parser.add_argument("--blocks", type=int, default=3, help="degraded blocks per side")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before a window")
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring window")
    args = parser.parse_args()
    return bench(args.runs, args.blocks, args.warmup, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
