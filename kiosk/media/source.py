"""Where the room's picture and sound come from.

A configured V4L2 camera and ALSA or PulseAudio microphone are opened through
aiortc's ``MediaPlayer``; without one, a synthetic source stands in: a test
pattern with the room's name and a running clock, and a soft tone. Either way
the engine gets a pair of aiortc tracks, so both go through the same path.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import os
import time
from dataclasses import dataclass

import av
import numpy as np
from aiortc import MediaStreamTrack, VideoStreamTrack
from aiortc.contrib.media import MediaPlayer
from PIL import Image, ImageDraw, ImageFont

SAMPLE_RATE = 48_000
AUDIO_PTIME = 0.020


class PatternTrack(VideoStreamTrack):
    """A test pattern: colour bars, a moving marker, the label and the time of day."""

    def __init__(self, label: str, width: int = 640, height: int = 480) -> None:
        super().__init__()
        self.width, self.height = width, height
        bars = [(235, 235, 235), (235, 235, 16), (16, 235, 235), (16, 235, 16),
                (235, 16, 235), (235, 16, 16), (16, 16, 235)]
        base = Image.new("RGB", (width, height), (16, 16, 16))
        draw = ImageDraw.Draw(base)
        for i, colour in enumerate(bars):
            x0, x1 = i * width // len(bars), (i + 1) * width // len(bars)
            draw.rectangle([x0, 0, x1, int(height * 0.6)], fill=colour)
        size = max(16, height // 16)
        try:  # DejaVu Sans has the umlauts of "Ausländerbehörde" (the default font has not)
            self._font = ImageFont.truetype("DejaVuSans.ttf", size)
        except OSError:
            self._font = ImageFont.load_default(size=size)
        draw.text((width // 20, int(height * 0.65)), label, fill=(255, 255, 255),
                  font=self._font)
        self._base = base
        self.frames = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        # Drawn in a worker thread: the loop that runs the peer connections stays free
        # for their packets (a frame takes milliseconds, thirty times a second).
        frame = await asyncio.to_thread(self._draw, self.frames)
        frame.pts, frame.time_base = pts, time_base
        self.frames += 1
        return frame

    def _draw(self, n: int) -> av.VideoFrame:
        """Frame ``n``, in the encoders' format (yuv420p)."""
        image = self._base.copy()
        draw = ImageDraw.Draw(image)
        draw.text((self.width // 20, int(self.height * 0.8)), time.strftime("%H:%M:%S"),
                  fill=(255, 255, 255), font=self._font)
        x = (n * 8) % self.width
        draw.rectangle([x, int(self.height * 0.6) - 12, x + 24, int(self.height * 0.6)],
                       fill=(0, 0, 0))
        return av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24").reformat(
            format="yuv420p")


class ToneTrack(MediaStreamTrack):
    """A soft 440 Hz tone, 20 ms frames of 48 kHz mono."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, level: float = 0.05) -> None:
        super().__init__()
        self.frequency, self.level = frequency, level
        self._start: float | None = None
        self._samples = 0

    async def recv(self) -> av.AudioFrame:
        count = int(SAMPLE_RATE * AUDIO_PTIME)
        if self._start is None:
            self._start = time.time()
        else:
            wait = self._start + self._samples / SAMPLE_RATE - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        t = (np.arange(count) + self._samples) / SAMPLE_RATE
        wave = (self.level * 32767 * np.sin(2 * math.pi * self.frequency * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(wave.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._samples += count
        return frame


class Yuv420Track(MediaStreamTrack):
    """The room's video in the encoders' own format, converted once at the source.

    Several peer connections encode the same frames in worker threads; a frame
    that each encoder had to convert itself would share one converter between
    threads (PyAV keeps it on the frame), which crashes.
    """

    kind = "video"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self._source = source

    async def recv(self) -> av.VideoFrame:
        frame = await self._source.recv()
        if frame.format.name != "yuv420p":  # in a worker thread, as PatternTrack draws
            converted = await asyncio.to_thread(frame.reformat, format="yuv420p")
            converted.pts, converted.time_base = frame.pts, frame.time_base
            frame = converted
        return frame

    def stop(self) -> None:
        super().stop()
        self._source.stop()


@dataclass
class RoomMedia:
    """The room's camera and microphone as aiortc tracks."""

    video: MediaStreamTrack
    audio: MediaStreamTrack
    players: tuple[MediaPlayer, ...] = ()

    def stop(self) -> None:
        for track in (self.video, self.audio):
            track.stop()


def open_room_media(label: str, camera: str | None = None, microphone: str | None = None,
                    microphone_format: str = "alsa") -> RoomMedia:
    """Open the configured devices, or the synthetic source when none is configured."""
    players = []
    if camera:
        player = MediaPlayer(camera, format="v4l2",
                             options={"video_size": "640x480", "framerate": "30"})
        players.append(player)
        video = player.video
    else:
        video = PatternTrack(label)
    if microphone:
        if microphone_format == "alsa" and os.path.isdir("/usr/share/alsa"):
            # PyAV's wheel bundles libasound, which looks for its configuration where
            # the wheel was built; without the system's, every "hw:1,0" is "Unknown PCM".
            os.environ.setdefault("ALSA_CONFIG_DIR", "/usr/share/alsa")
        player = MediaPlayer(microphone, format=microphone_format)
        players.append(player)
        audio = player.audio
    else:
        audio = ToneTrack()
    return RoomMedia(Yuv420Track(video), audio, tuple(players))
