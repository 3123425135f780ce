"""Issue 9, no recording: after a run of calls no media file exists under the data
dir, the room's process held no file open for writing but its SQLite files, and no
code path in kiosk/ writes media.
"""

from __future__ import annotations

import ast
import asyncio
import os
import sqlite3
import threading
from pathlib import Path

from conftest import ThreadedRoom, until
from media_calls import Display, TimedBot, command, consent, has_call

import kiosk

KIOSK = Path(kiosk.__file__).resolve().parent

# -- what may be in a data dir -------------------------------------------------------
#: Names a room's data dir may hold (glob patterns, relative to it), and why.
KNOWN = {
    "room.db": "the room's SQLite file", "room.db-wal": "its write-ahead log",
    "room.db-shm": "its WAL index", "room.json": "endpoints and URLs for kiosk ctl",
    "room.tmp": "room.json while it is replaced",
    "cookie.secret": "the key that signs the pages' cookies",
    "keys/*.key": "public CURVE keys", "keys/*.key_secret": "secret CURVE keys",
    "keys/clients.toml": "the bus allow-list", "keys/*.tmp": "the allow-list while replaced",
}
SQLITE_HEADER = b"SQLite format 3\x00"
WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")
#: Leading bytes of media containers, elementary streams, raw captures and images.
MAGIC = {
    "webm/mkv (EBML)": lambda h: h[:4] == b"\x1a\x45\xdf\xa3",
    "mp4/mov (ISO BMFF)": lambda h: h[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"),
    "ogg": lambda h: h[:4] == b"OggS",
    "wav/avi (RIFF)": lambda h: h[:4] == b"RIFF",
    "ivf (VP8/VP9 frames)": lambda h: h[:4] == b"DKIF",
    "y4m (raw video)": lambda h: h[:9] == b"YUV4MPEG2",
    "h264/h265 Annex B": lambda h: h[:4] == b"\x00\x00\x00\x01" or h[:3] == b"\x00\x00\x01",
    "flv": lambda h: h[:3] == b"FLV",
    "mpeg-ts": lambda h: len(h) > 188 and h[0] == 0x47 and h[188] == 0x47,
    "mp3": lambda h: h[:3] == b"ID3" or (len(h) > 1 and h[0] == 0xFF and h[1] & 0xE0 == 0xE0),
    "flac": lambda h: h[:4] == b"fLaC",
    "rtp dump": lambda h: h[:9] == b"#!rtpplay",
    "pcap": lambda h: h[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x0a\x0d\x0d\x0a"),
    "jpeg": lambda h: h[:3] == b"\xff\xd8\xff",
    "png": lambda h: h[:8] == b"\x89PNG\r\n\x1a\n",
}
#: A file beside the SQLite ones as large as this could hold raw frames or samples (a
#: 640×480 I420 frame is 450 KiB; one second of 48 kHz mono PCM, 94 KiB).
RAW_LIMIT = 64 * 1024


def media_kind(head: bytes) -> str | None:
    if head.startswith(SQLITE_HEADER) or head[:4] in WAL_MAGIC:
        return None
    return next((name for name, test in MAGIC.items() if test(head)), None)


def findings(data_dir: Path) -> tuple[int, list[str]]:
    """How many files the data dir holds, and what is wrong with any of them."""
    problems, count = [], 0
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        count += 1
        name = path.relative_to(data_dir)
        head = path.read_bytes()[:256]
        if not any(name.match(pattern) for pattern in KNOWN):
            problems.append(f"{name}: not a file a room keeps ({len(head)} bytes read)")
        kind = media_kind(head)
        if kind:
            problems.append(f"{name}: {kind} data")
        sqlite = head.startswith(SQLITE_HEADER) or head[:4] in WAL_MAGIC or name.match("*-shm")
        if not sqlite and path.stat().st_size > RAW_LIMIT:
            problems.append(f"{name}: {path.stat().st_size} bytes, room for raw media")
    return count, problems


def large_values(db_path: Path, limit: int = 16 * 1024) -> list[str]:
    """Blobs, or texts longer than ``limit``, in any table: media kept in the database."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        found = []
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = "
                                             "'table' AND name NOT LIKE 'sqlite_%'")]
        for table in tables:
            for row in conn.execute(f"SELECT * FROM [{table}]"):
                for value in row:
                    if isinstance(value, bytes) or (isinstance(value, str)
                                                    and len(value) > limit):
                        found.append(f"{table}: {type(value).__name__} of {len(value)}")
        return found
    finally:
        conn.close()


class OpenForWriting:
    """Samples, every 50 ms, the files this process holds open for writing."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = str(data_dir)
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> OpenForWriting:
        # What the test process itself holds outside the data dir (pytest's output, a
        # redirected log) is not the room's doing.
        self.before = {p for p in self._writers() if not p.startswith(self.data_dir)}
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    @staticmethod
    def _writers() -> set[str]:
        found = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
                info = Path(f"/proc/self/fdinfo/{fd}").read_text()
                flags = int(info.split("flags:")[1].split()[0], 8)
            except (OSError, IndexError, ValueError):
                continue  # closed meanwhile
            if target.startswith("/") and flags & (os.O_WRONLY | os.O_RDWR):
                found.add(target)
        return found

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen |= self._writers() - self.before
            self._stop.wait(0.05)


def unexpected_writers(seen: set[str], data_dir: Path) -> list[str]:
    """Files open for writing that are neither the room's SQLite files nor the test's
    own (pytest's output capture, the devices of the terminal)."""
    db = str(data_dir / "room.db")
    return sorted(p for p in seen if p not in (db, db + "-wal", db + "-shm")
                  and not p.startswith("/dev/") and not p.endswith(" (deleted)"))


async def test_after_a_run_of_calls_no_media_file_exists_and_none_was_open(room_config):
    data_dir = room_config.data_dir
    room = await asyncio.to_thread(lambda: ThreadedRoom(room_config).start())
    try:
        assert (await asyncio.to_thread(room.command, "session.start")).ok
        engine, base = room.room.engine, room.urls["kiosk"].rsplit("/", 1)[0]
        frames = 0
        with OpenForWriting(room.config.data_dir) as files:
            self_view = Display()
            status, _ = await self_view.pull_path(base, "/api/whep/room")
            assert status == 201
            for n in range(6):
                data = await command(room, "partner.invite", agency=f"Stelle {n}")
                partner = data["id"]
                bot = TimedBot(base + data["link"], f"Stelle {n}")
                await bot.join()
                await until(lambda p=partner: engine.counters().get(p, {}).get("received",
                                                                               0) > 0, 15)
                await command(room, "partner.admit", partner=partner)
                await consent(room, partner)
                display = Display()
                await display.pull(base, partner)
                await until(lambda b=bot, d=display: min(b.received["video"],
                                                         d.received["video"]) >= 20, 15)
                frames += bot.received["video"] + display.received["video"]
                await command(room, "partner.remove", partner=partner)
                await until(lambda p=partner: not has_call(room, partner=p), 10)
                bot.state = "gone"
                await bot.leave()
                await display.close()
            frames += self_view.received["video"]
            await self_view.close()
            running_count, running = findings(data_dir)
        writers = unexpected_writers(files.seen, data_dir)
    finally:
        await asyncio.to_thread(room.stop)
    stopped_count, stopped = findings(data_dir)
    blobs = large_values(data_dir / "room.db")
    print(f"\n6 calls, {frames} video frames received: data dir {running_count} files while "
          f"running, {stopped_count} after stop, {len(running) + len(stopped)} media or "
          f"unknown files, {len(blobs)} blobs or large texts in the database; files open "
          f"for writing: {len(files.seen)}, unexpected: {len(writers)}")
    assert frames > 200
    assert running == [] and stopped == [] and blobs == [] and writers == []
    assert str(data_dir / "room.db") in files.seen  # the sampler does see what is open


def test_the_data_dir_check_finds_media_and_strangers(tmp_path):
    """The check above is not blind: each kind of media file, an unknown file and a
    large raw one are all reported; the room's own files are not."""
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "server.key").write_text("public-key = \"x\"\n")
    (tmp_path / "room.json").write_text("{}")
    sqlite3.connect(tmp_path / "room.db").execute("CREATE TABLE t (x)").connection.close()
    samples = {
        "webm/mkv (EBML)": b"\x1a\x45\xdf\xa3", "mp4/mov (ISO BMFF)": b"\0\0\0\x20ftypisom",
        "ogg": b"OggS\0", "wav/avi (RIFF)": b"RIFF\0\0\0\0WAVE", "ivf (VP8/VP9 frames)": b"DKIF",
        "y4m (raw video)": b"YUV4MPEG2 W640", "h264/h265 Annex B": b"\0\0\0\x01\x67",
        "flv": b"FLV\x01", "mpeg-ts": b"\x47" + b"\0" * 187 + b"\x47",
        "mp3": b"ID3\x04", "flac": b"fLaC", "rtp dump": b"#!rtpplay1.0",
        "pcap": b"\xd4\xc3\xb2\xa1", "jpeg": b"\xff\xd8\xff\xe0", "png": b"\x89PNG\r\n\x1a\n"}
    assert set(samples) == set(MAGIC)
    for n, head in enumerate(samples.values()):
        (tmp_path / f"room.db-{n}").write_bytes(head + b"\0" * 300)
    (tmp_path / "room.json.bak").write_bytes(os.urandom(RAW_LIMIT + 1))  # raw, unknown
    count, problems = findings(tmp_path)
    assert count == 4 + len(samples)
    assert sorted(p.split(": ", 1)[1] for p in problems if " data" in p) == sorted(
        f"{kind} data" for kind in samples)
    assert any(p.startswith("room.json.bak: ") and "raw media" in p for p in problems)
    assert not any(p.startswith(("room.db:", "room.json:", "keys/")) for p in problems)


# -- no code path writes media --------------------------------------------------------
#: Names whose mere use means writing media (aiortc, OpenCV, imageio, numpy, PIL).
WRITERS = {"MediaRecorder", "VideoWriter", "VideoWriter_fourcc", "imwrite", "mimwrite",
           "imsave", "get_writer", "tofile", "savez"}
#: Modules that exist to write (or transcode) media files.
WRITER_MODULES = {"cv2", "imageio", "soundfile", "pydub", "moviepy", "ffmpeg", "scipy.io.wavfile"}
#: Programs that record or capture when started from Python.
RECORDERS = {"ffmpeg", "gst-launch-1.0", "arecord", "parecord", "pw-record", "tcpdump",
             "tshark", "dumpcap", "v4l2-ctl"}
#: Calls that write files; in kiosk/media, which holds the frames, there must be none.
FILE_WRITES = {"write_text", "write_bytes", "save", "mkstemp", "mkdtemp", "NamedTemporaryFile",
               "TemporaryFile", "SpooledTemporaryFile", "copyfile", "copy2", "copyfileobj",
               "mkfifo", "memmap"}
OPEN_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"}
SPAWN = {"run", "Popen", "call", "check_call", "check_output", "system", "popen",
         "create_subprocess_exec", "create_subprocess_shell", "spawnl", "execv"}


def _mode(call: ast.Call, position: int) -> str | None:
    """The constant mode argument of an open-like call ('r' if none is given)."""
    node = call.args[position] if len(call.args) > position else next(
        (k.value for k in call.keywords if k.arg == "mode"), None)
    if node is None:
        return "r"
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _opens_for_writing(call: ast.Call) -> bool:
    """An ``open``-like call (builtin, Path.open, io.open, os.open) that may write."""
    values = [*call.args, *(k.value for k in call.keywords if k.arg in ("mode", "flags"))]
    modes = [v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)
             and v.value and set(v.value) <= set("rwabxt+")]
    flags = {getattr(n, "attr", None) or getattr(n, "id", None) for n in ast.walk(call)}
    return any(set(m) & set("wax+") for m in modes) or bool(flags & OPEN_FLAGS)


def _name(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")


def media_writes(source: str, filename: str, *, media_module: bool = False) -> list[str]:
    """Calls and imports in ``source`` that write (or may write) media to a file;
    ``media_module``: also any file write at all (kiosk/media holds the frames)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names]
            modules = names if isinstance(node, ast.Import) else [
                node.module or "", *(f"{node.module}.{n}" for n in names)]
            found += [f"{where}: imports {m}" for m in modules
                      if m in WRITER_MODULES or m.split(".")[0] in WRITER_MODULES]
            found += [f"{where}: imports {n}" for n in names if n in WRITERS]
        elif isinstance(node, ast.Name | ast.Attribute) and _name(node) in WRITERS:
            found.append(f"{where}: uses {_name(node)}")
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        owner = _name(node.func.value) if isinstance(node.func, ast.Attribute) else ""
        if owner in ("av", "wave", "aifc", "sunau") and name == "open":
            mode = _mode(node, 1)
            if mode is None or "w" in mode:
                found.append(f"{where}: {owner}.open in mode {mode!r}")
        elif media_module and name == "open" and _opens_for_writing(node):
            found.append(f"{where}: opens a file for writing")
        elif media_module and (name in FILE_WRITES or owner in ("shutil", "tempfile")):
            found.append(f"{where}: {owner + '.' if owner else ''}{name}()")
        if name in SPAWN:
            for arg in ast.walk(node):
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and \
                        arg.value.split(" ")[0].split("/")[-1] in RECORDERS:
                    found.append(f"{where}: starts {arg.value}")
    return found


def test_no_code_path_in_kiosk_writes_media():
    files = sorted(KIOSK.rglob("*.py"))
    calls = 0
    found = []
    for path in files:
        source = path.read_text(encoding="utf-8")
        calls += sum(isinstance(n, ast.Call) for n in ast.walk(ast.parse(source)))
        found += media_writes(source, str(path.relative_to(KIOSK.parent)),
                              media_module=path.parent.name == "media")
    media = [p for p in files if p.parent.name == "media"]
    print(f"\n{len(files)} modules ({len(media)} in kiosk/media), {calls} calls scanned: "
          f"{len(found)} media writes")
    assert len(media) >= 5 and calls > 1000
    assert found == []


def test_the_scan_finds_each_way_of_writing_media():
    """The scan is not blind: every line below writes media and is reported."""
    writing = [
        "from aiortc.contrib.media import MediaRecorder",
        "recorder = media.MediaRecorder('call.webm')",
        "container = av.open('call.mp4', 'w')",
        "container = av.open('call.mkv', mode='w')",
        "container = av.open(path, mode)",
        "import cv2",
        "out = cv2.VideoWriter('a.avi', 0, 30, (640, 480))",
        "w = wave.open('a.wav', 'wb')",
        "import soundfile",
        "from scipy.io import wavfile",
        "frame.to_ndarray().tofile('frame.yuv')",
        "subprocess.Popen(['ffmpeg', '-i', 'x', 'out.mp4'])",
        "os.system('/usr/bin/arecord out.wav')",
    ]
    for line in writing:
        assert media_writes(line, "x.py"), line
    in_media = ["open('frame.raw', 'wb')", "Path('x').write_bytes(data)",
                "frame.to_image().save('x.png')", "tempfile.NamedTemporaryFile()",
                "fd = os.open('x', os.O_WRONLY)"]
    for line in in_media:
        assert media_writes(line, "x.py", media_module=True), line
        assert not media_writes(line, "x.py"), line  # elsewhere: plain files, not media
    reading = ["player = MediaPlayer('/dev/video0', format='v4l2')",
               "container = av.open('/dev/video0', format='v4l2')",
               "container = av.open(path, 'r')", "w = wave.open('a.wav', 'rb')",
               "text = open('join.html').read()", "sink = MediaBlackhole()"]
    for line in reading:
        assert not media_writes(line, "x.py", media_module=True), line
