"""Benchmark of partner video through the room, beside a direct call, in one run.

For each resolution (640×480, 1280×720) at 30 fps with VP8 and H.264: a partner (aiortc)
joins a room started as its own process (`kiosk demo`), is admitted, the client
consents, and a display (aiortc, WHEP) pulls the partner. Measured:

* display start (after admission and consent) → first frame decoded on the display;
* frames per second delivered to the display, against the source's 30;
* one-way latency partner → display (a send timestamp is drawn into each frame
  as large black/white blocks and read back after decoding);
* CPU of the room's process per relayed stream (/proc/<pid>/stat): the room's
  CPU with the display pulling the partner, less its CPU just before;

and, beside them, a direct call between two aiortc peers (sender → receiver) as
the baseline. Targets: delivered ≥ 99 % of the source; the room adds at most one
frame interval (33 ms) to the direct call's latency; ≤ 5 % of one core per 720p
stream; admit → first frame within 300 ms. The last line is the latency verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import av
import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kiosk.app.room import free_port  # noqa: E402
from kiosk.room.link import RoomLink  # noqa: E402

BITS, FPS = 32, 30
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def now_ms() -> int:
    return int(time.time() * 1000) & 0xFFFFFFFF


class StampedTrack(VideoStreamTrack):
    """Grey frames with the send time (ms, 32 bits) drawn as blocks in the top band."""

    def __init__(self, width: int, height: int) -> None:
        super().__init__()
        self.width, self.height = width, height
        self.block = width // BITS
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        img = np.full((self.height, self.width, 3), 96, dtype=np.uint8)
        stamp = now_ms()
        for i in range(BITS):
            if stamp >> (BITS - 1 - i) & 1:
                img[: self.block * 2, i * self.block:(i + 1) * self.block] = 255
            else:
                img[: self.block * 2, i * self.block:(i + 1) * self.block] = 0
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        self.sent += 1
        return frame


def read_stamp(frame: av.VideoFrame) -> int:
    img = frame.to_ndarray(format="gray")
    block = frame.width // BITS
    row = img[block]  # the middle of the band
    value = 0
    for i in range(BITS):
        value = value << 1 | int(row[i * block + block // 2] > 128)
    return value


class Receiver:
    """Counts frames and one-way latencies of a received video track."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.latencies: list[float] = []
        self.first_at: float | None = None
        self.task: asyncio.Task | None = None

    def attach(self, track) -> None:
        if track.kind == "video":
            self.task = asyncio.ensure_future(self._run(track))

    async def _run(self, track) -> None:
        with contextlib.suppress(Exception):
            while True:
                frame = await track.recv()
                t = time.monotonic()
                if self.first_at is None:
                    self.first_at = t
                self.times.append(t)
                delay = (now_ms() - read_stamp(frame)) & 0xFFFFFFFF
                if delay < 10_000:
                    self.latencies.append(delay)


def window(rx: Receiver, seconds: float) -> tuple[float, list[float]]:
    """Frames per second over the last ``seconds`` and the latencies in that window."""
    end = rx.times[-1]
    frames = [t for t in rx.times if t > end - seconds]
    return len(frames) / seconds, rx.latencies[-len(frames):]


def only(transceiver, codec: str) -> None:
    """Offer just this video codec (and its retransmission)."""
    transceiver.setCodecPreferences([
        c for c in RTCRtpSender.getCapabilities("video").codecs
        if c.mimeType.lower() in (f"video/{codec}".lower(), "video/rtx")])


async def direct_call(width: int, height: int, codec: str,
                      seconds: float) -> tuple[float, float]:
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    rx = Receiver()
    receiver.on("track", rx.attach)
    only(sender.addTransceiver(StampedTrack(width, height), direction="sendonly"), codec)
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    await asyncio.sleep(2 + seconds)
    fps, lat = window(rx, seconds)
    await sender.close()
    await receiver.close()
    return fps, statistics.median(lat)


def http(method: str, url: str, body: bytes = b"", headers: dict | None = None):
    req = urllib.request.Request(url, data=body or None, headers=headers or {}, method=method)
    with urllib.request.urlopen(req, timeout=20) as resp:
        return resp.status, dict(resp.headers), resp.read().decode()


async def connect(pc: RTCPeerConnection, url: str, headers: dict) -> str:
    await pc.setLocalDescription(await pc.createOffer())
    _, hdrs, answer = await asyncio.to_thread(
        http, "POST", url, pc.localDescription.sdp.encode(),
        {"Content-Type": "application/sdp", **headers})
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return hdrs["Location"]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def via_room(width: int, height: int, codec: str, seconds: float,
                   tmp: str) -> dict[str, float]:
    port = free_port()
    data = Path(tmp) / f"room-{width}-{codec}"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "kiosk"), "demo", "--port",
                             str(port), "--data-dir", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://localhost:{port}"
        for _ in range(100):
            with contextlib.suppress(OSError):
                if json.loads(http("GET", base + "/healthz")[2])["status"] == "ok":
                    break
            await asyncio.sleep(0.1)
        link = await RoomLink.connect(data)
        assert (await link.send("counsellor", "session.start")).ok
        reply = await link.send("counsellor", "partner.invite", agency="Bench")
        partner_id, token = reply.data["id"], reply.data["token"]
        partner = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        only(partner.addTransceiver(StampedTrack(width, height), direction="sendonly"), codec)
        await connect(partner, base + "/api/whip", {"Authorization": f"Bearer {token}"})
        await asyncio.sleep(1.5)  # connected, in the lobby
        assert (await link.send("counsellor", "partner.admit", partner=partner_id)).ok
        assert (await link.send("kiosk", "consent.answer", partner=partner_id, yes=True,
                                version="bench")).ok
        # The room's CPU before the display pulls the partner (it already sends its own
        # camera to the partner), then with the relay: the difference is the relay's.
        await asyncio.sleep(1)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        await asyncio.sleep(seconds)
        before = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
        display = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        display.addTransceiver("video", direction="recvonly")
        rx = Receiver()
        display.on("track", rx.attach)
        admitted = time.monotonic()
        await connect(display, f"{base}/api/whep/partners/{partner_id}", {})
        await asyncio.sleep(2)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        await asyncio.sleep(seconds)
        cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0) - before
        fps, lat = window(rx, seconds)
        first = (rx.first_at - admitted) * 1000 if rx.first_at else float("inf")
        await partner.close()
        await display.close()
        await link.close()
        return {"fps": fps, "latency": statistics.median(lat), "cpu": cpu, "first_ms": first}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)


async def bench(seconds: float) -> int:
    ok = True
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for codec, width, height in (("VP8", 640, 480), ("VP8", 1280, 720),
                                     ("H264", 640, 480), ("H264", 1280, 720)):
            d_fps, d_lat = await direct_call(width, height, codec, seconds)
            room = await via_room(width, height, codec, seconds, tmp)
            added = room["latency"] - d_lat
            print(f"{width}x{height} {codec}: direct {d_fps:.1f} fps, {d_lat:.0f} ms | room "
                  f"{room['fps']:.1f} fps, {room['latency']:.0f} ms (+{added:.0f} ms), "
                  f"display start→first frame {room['first_ms']:.0f} ms, relay CPU "
                  f"{room['cpu'] * 100:.1f}% of a core")
            checks = {"delivered": room["fps"] >= 0.99 * FPS, "added": added <= 1000 / FPS,
                      "first": room["first_ms"] <= 300,
                      "cpu": height < 720 or room["cpu"] <= 0.05}
            for name, passed in checks.items():
                ok &= passed
                if not passed:
                    print(f"  {name}: FAIL")
            lines.append((room["latency"], d_lat, added))
    room_lat = max(r for r, _, _ in lines)  # the worst of the four
    direct_lat = next(d for r, d, _ in lines if r == room_lat)
    verdict = "PASS" if ok else "FAIL"
    print(f"worst one-way latency via the room: {room_lat:.0f} ms vs direct call "
          f"{direct_lat:.0f} ms = {room_lat / direct_lat:.2f}x "
          f"(target: at most +33 ms, ≥99% frames, ≤5% core per 720p stream, first frame "
          f"≤300 ms) {verdict}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring window")
    return asyncio.run(bench(parser.parse_args().seconds))


if __name__ == "__main__":
    sys.exit(main())
