"""Benchmark: ``kiosk demo`` start until /healthz answers ok, beside a bare ``panel serve``.

Both are started as fresh processes the same number of times in this run;
the median of each is reported. Target: the room answers ok within 3 s.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kiosk.app.room import free_port  # noqa: E402

BARE_APP = "import panel as pn\npn.pane.Markdown('# bare').servable()\n"


def ready(url: str, want_json_ok: bool) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            if want_json_ok:
                return json.loads(resp.read()).get("status") == "ok"
            return resp.status == 200
    except OSError:
        return False


def time_start(cmd: list[str], url: str, want_json_ok: bool, timeout: float = 30) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not ready(url, want_json_ok):
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}")
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"{url} not ready within {timeout} s")
            time.sleep(0.02)
        return time.perf_counter() - t0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    room, bare = [], []
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "bare.py"
        app.write_text(BARE_APP)
        for i in range(args.runs):
            port = free_port()
            bare.append(time_start(
                [str(bin_dir / "panel"), "serve", str(app), "--port", str(port)],
                f"http://localhost:{port}/bare", want_json_ok=False))
            port = free_port()
            room.append(time_start(
                [str(bin_dir / "kiosk"), "demo", "--port", str(port), "--data-dir",
                 f"{tmp}/data{i}"], f"http://localhost:{port}/healthz", want_json_ok=True))
    r, b = statistics.median(room), statistics.median(bare)
    for label, runs, med in (("bare panel serve → page 200", bare, b),
                             ("kiosk demo → /healthz ok", room, r)):
        print(f"{label:30} median {med:.2f} s  ({', '.join(f'{x:.2f}' for x in runs)})")
    ok = r < 3.0
    print(f"demo start→healthz ok: {r:.2f} s vs bare panel serve {b:.2f} s = {r / b:.2f}x "
          f"(target < 3 s) {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
