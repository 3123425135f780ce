"""The notebooks in docs/ and the apps in kiosk/apps/, in real kernels and servers (issue 19):
nbclient runs each notebook against a live room with data; `panel serve` serves each
notebook and app to Chromium; JupyterLab shows a room view that never acts as a device."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest
from conftest import ThreadedRoom, eventually
from nbclient import NotebookClient
from test_stats import room_db
from test_third_party import EXTERNAL

from kiosk.access.web import staff_cookie
from kiosk.app.room import free_port
from kiosk.config import RoomConfig
from kiosk.i18n import t
from kiosk.room.keys import Keyring

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
#: What each code cell of each notebook must show: cell id -> (output kind, texts or
#: patterns it holds). ``panel``: a Panel object's output (its Bokeh document); ``plain``:
#: text/plain; ``html``: a table; ``stream``: printed text; ``none``: nothing. Every
#: notebook in docs/ must be listed here, every code cell in order.
EXPECTED: dict[str, dict[str, tuple[str, list[str | re.Pattern]]]] = {
    "evaluation": {
        "load": ("plain", ["'overview', 'distribution', 'partners', 'per_week', 'per_month'"]),
        "overview": ("html", ["Gesamt", "im Raum mit Partnern", "Jobcenter", "share_settled"]),
        "partners": ("html", ["Jobcenter", "ring_to_join_median_s"]),
        "per-month": ("html", ["room_partners"]),
        "charts": ("panel", ["Termine je Woche", "Mittelwerte (1 = gar nicht, 5 = sehr)"]),
        "exports": ("plain", ["['raum-1.stats.json', 'raum-2.stats.json']"]),
        # Three answers in each room: each hides its mean, the merged six show it.
        "merged": ("plain", [re.compile(r"sessions\s+6\s+4\s+10"),
                             re.compile(r"answers\s+3\s+3\s+6"),
                             re.compile(r"satisfaction_mean\s+None\s+None\s+4\.5")]),
        "merged-chart": ("panel", ["Zufriedenheit", "Bedienung"]),
    },
    "operations": {
        "connect": ("plain", ["('Beratungsraum 1', 'idle', [])"]),
        "operations": ("panel", ["Raumbetrieb", "Ger\\u00e4te im Verlauf", "Testbild",
                                 "Zuletzt auf dem Bus"]),
        "screens": ("panel", ["KioskScreen", "Willkommen", "display-stage"]),
        "health": ("html", ["camera", "Testbild (synthetisch)"]),
        "changes": ("html", ["what", "change"]),
        "roles": ("stream", ["the touch screen may not write notes: role"]),
        "talk": ("none", []),
        "partner": ("none", []),
        "close": ("none", []),
        "commands": ("html", ["session.start", "consent.answer", "survey.submit"]),
        "published": ("html", ["consulting → wrap_up", "survey → idle"]),
    },
}
KINDS = {"panel": "application/vnd.holoviews_exec.v0+json", "plain": "text/plain",
         "html": "text/html"}
#: Where Panel's notebook loader lists what it fetches: empty when everything is inline.
LOADER = re.compile(r"const (js_urls|css_urls|js_modules) = (\[[^\]]*\])|"
                    r"const (js_exports) = (\{[^}]*\})")


def foreign_loads(texts: dict[str, str]) -> list[str]:
    """What outputs (by ``"<where> <mime type>"``) would load from another host: script,
    style, font or image sources in their HTML, and what Panel's notebook loader fetches.
    (Bokeh's own script holds a few fetches for features no view here uses, such as math
    text from MathJax's CDN: those are code, not loads, and not looked at.)"""
    found = []
    for where, text in texts.items():
        if where.endswith("text/html"):
            found += [f"{where}: {next(g for g in m.groups() if g)}"
                      for m in EXTERNAL.finditer(text)]
        for match in LOADER.finditer(text):
            listed = match.group(2) or match.group(4)
            found += [f"{where}: {url}" for url in re.findall(r"[\w+.-]*://[^\"']+", listed)]
    return found


def output_texts(book: nbformat.NotebookNode) -> dict[str, str]:
    return {f"{cell.id}[{i}] {mime}": str(value) for cell in book.cells
            for i, out in enumerate(cell.get("outputs", []))
            for mime, value in out.get("data", {}).items()}


def check_cell(notebook: str, cell: nbformat.NotebookNode) -> None:
    kind, texts = EXPECTED[notebook][cell.id]
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"{notebook}/{cell.id}: {errors}"
    if kind == "none":
        assert [o for o in cell.outputs if o.output_type != "stream"] == [], cell.id
        return
    if kind == "stream":
        shown = "".join(o.text for o in cell.outputs if o.output_type == "stream")
    else:
        mime = KINDS[kind]
        bundles = [o.data for o in cell.outputs if mime in o.get("data", {})]
        assert bundles, f"{notebook}/{cell.id} shows no {mime}"
        # A Panel object's figures live in its Bokeh document, in the HTML beside the mime.
        shown = "".join(b.get("text/html" if kind == "panel" else mime, "") for b in bundles)
    for text in texts:
        found = text.search(shown) if isinstance(text, re.Pattern) else text in shown
        assert found, f"{notebook}/{cell.id} does not show {text!r}"


def room_with_data(data_dir: Path, talks: int = 6, **config) -> ThreadedRoom:
    """A whole room whose file holds ``talks`` talks with the Jobcenter (every other one
    with a survey answer) before it starts."""
    Keyring(data_dir / "keys").init()
    if talks:
        room_db(data_dir / "room.db", talks, "Jobcenter")
    return ThreadedRoom(RoomConfig(
        data_dir=data_dir, http_port=free_port(), bus_router="tcp://127.0.0.1:0",
        bus_pub="tcp://127.0.0.1:0", camera_watch=False, **config)).start()


@pytest.fixture
def data_room(data_dir: Path) -> Iterator[ThreadedRoom]:
    room = room_with_data(data_dir)
    yield room
    room.stop()


@pytest.mark.timeout(240)  # two kernels
def test_every_notebook_runs_in_a_kernel_against_a_live_room(data_room, data_dir, tmp_path,
                                                             monkeypatch):
    """Each notebook in docs/ runs top to bottom in a real kernel (the operations
    notebook's walkthrough takes the room through a whole talk), each cell shows what it
    should, and the saved outputs load nothing from another host."""
    assert {p.stem for p in DOCS.glob("*.ipynb")} == set(EXPECTED)
    monkeypatch.setenv("KIOSK_DATA_DIR", str(data_dir))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    answers = len(data_room.sql("SELECT * FROM survey_answers"))
    for notebook in sorted(EXPECTED):
        book = nbformat.read(DOCS / f"{notebook}.ipynb", as_version=4)
        NotebookClient(book, timeout=60, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
        code = [cell for cell in book.cells if cell.cell_type == "code"]
        assert [cell.id for cell in code] == list(EXPECTED[notebook])
        for cell in code:
            check_cell(notebook, cell)
        saved = tmp_path / f"{notebook}.ipynb"
        nbformat.write(book, saved)
        texts = output_texts(nbformat.read(saved, as_version=4))
        assert sum(map(len, texts.values())) > 2_000_000  # Bokeh and Panel, inlined
        assert foreign_loads(texts) == []
    # The walkthrough's talk reached the room: one answer more, and the room is free.
    assert len(data_room.sql("SELECT * FROM survey_answers")) == answers + 1
    assert data_room.state.phase == "idle"


def test_the_foreign_load_check_finds_a_cdn(monkeypatch):
    """Control for the check above: Panel's loader with CDN resources is caught, the inline
    one is not."""
    import IPython.display
    from bokeh.io import reset_output
    from panel.io.notebook import load_notebook

    published: list[dict] = []
    monkeypatch.setattr(IPython.display, "publish_display_data",
                        lambda data, *a, **k: published.append(data))
    for inline in (False, True):
        published.clear()
        load_notebook(inline=inline)
        reset_output()  # load_notebook sends Bokeh's output to a notebook: not in this process
        texts = {f"{i} {mime}": str(v) for i, data in enumerate(published)
                 for mime, v in data.items()}
        found = foreign_loads(texts)
        assert bool(found) is not inline, found
        if not inline:
            assert any("cdn.bokeh.org" in f for f in found)
    assert foreign_loads({"0 text/html": "<link rel='stylesheet' href='//fonts.example/a.css'>"})


# -- served: panel serve on the notebooks and on the apps ------------------------------
def wait_http(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> int:
    """The status of ``url`` once its server answers (failing if the server died)."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"the server of {url} stopped"
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.3)


def panel_serve(files: list[Path], port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "panel"), "serve", *map(str, files), "--port", str(port),
         "--address", "127.0.0.1", "--allow-websocket-origin", f"localhost:{port}"],
        env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[dict]:
    """A room with data, and two `panel serve` processes on it: the notebooks, the apps."""
    data_dir = tmp_path_factory.mktemp("served") / "data"
    data_dir.mkdir()
    room = room_with_data(data_dir)
    env = {**os.environ, "KIOSK_DATA_DIR": str(data_dir)}
    ports = {"docs": free_port(), "apps": free_port()}
    procs = {
        "docs": panel_serve([DOCS / "evaluation.ipynb", DOCS / "operations.ipynb"],
                            ports["docs"], env, data_dir.parent / "docs.log"),
        "apps": panel_serve([ROOT / "kiosk/apps/evaluation.py", ROOT / "kiosk/apps/operations.py"],
                            ports["apps"], env, data_dir.parent / "apps.log")}
    try:
        for name, port in ports.items():  # both start meanwhile
            status = wait_http(f"http://localhost:{port}/evaluation", procs[name])
            assert status == 200, (data_dir.parent / f"{name}.log").read_text()[-3000:]
        yield {"room": room, "ports": ports,
               "cookie": lambda role: {"name": staff_cookie(room.room.config.room_id),
                                       "value": room.sign_in(role), "domain": "localhost",
                                       "path": "/"}}
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(10)
        room.stop()


def open_served(browser, url: str, cookie: dict | None):
    """``url`` in a fresh context (with the room's sign-in ``cookie``); the hosts it asked."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    if cookie:
        ctx.add_cookies([cookie])
    hosts: set[str] = set()
    ctx.on("request", lambda req: hosts.add(urlsplit(req.url).netloc)
           if urlsplit(req.url).scheme in ("http", "https", "ws", "wss") else None)
    page = ctx.new_page()
    page.goto(url, wait_until="networkidle")
    return page, hosts


@pytest.mark.parametrize("server", ["docs", "apps"])
def test_served_pages_render_their_charts_for_signed_in_staff_only(served, browser, server):
    """`panel serve docs/<notebook>.ipynb` and `panel serve kiosk/apps/<app>.py` answer 200
    and draw their charts in Chromium, asking no other host; only to staff whose role opens
    the room's matching page (/stats, /admin): the notebooks' servable cells as the apps."""
    from playwright.sync_api import expect

    own = f"localhost:{served['ports'][server]}"
    for name in ("evaluation", "operations"):  # no sign-in needed to get the page's frame
        with urllib.request.urlopen(f"http://{own}/{name}", timeout=60) as answer:
            assert answer.status == 200
    evaluator, admin = served["cookie"]("evaluator"), served["cookie"]("admin")
    page, hosts = open_served(browser, f"http://{own}/evaluation", evaluator)
    expect(page.locator("canvas").first).to_be_visible()
    eventually(lambda: page.locator("canvas").count() >= 2, timeout=15)
    if server == "apps":
        expect(page.locator(".stats-overview table")).to_contain_text("Jobcenter")
    page.context.close()
    assert hosts == {own}
    page, hosts = open_served(browser, f"http://{own}/operations", admin)
    expect(page.locator(".ops-devices table")).to_contain_text("Testbild")
    expect(page.locator(".ops-health canvas").first).to_be_visible()
    page.context.close()
    assert hosts == {own}
    refusals = [(None, "Bitte anmelden")] if server == "docs" else [
        (None, "Bitte anmelden"), (evaluator, "Keine Berechtigung"),
        ({**admin, "value": admin["value"][:-4] + "AAAA"}, "Bitte anmelden")]  # forged
    for cookie, title in refusals:
        page, _ = open_served(browser, f"http://{own}/operations", cookie)
        expect(page.locator(".refused h1")).to_have_text(title)
        assert page.locator(".ops-devices").count() == 0 and "Testbild" not in page.content()
        page.context.close()


# -- JupyterLab: a room view inline, watching ------------------------------------------
IDLE = (2.0, 1.0)  # the kiosk's idle timeout and warning, seconds, for this test
WATCHED = 6.0  # how long the views stay open: three idle timeouts, six heartbeat periods


def lab_notebook(data_dir: Path) -> nbformat.NotebookNode:
    """The kiosk's view over a connection whose key could act (the operator's, on this
    kernel's loop), the display's over a watch-only one (on a thread of its own); then,
    as the control, the kiosk's view as the room's own page would make it."""
    cells = [
        "import panel as pn\nimport kiosk\nfrom kiosk.views import DisplayView, KioskView\n"
        f"pn.extension(inline=True)\nwatcher = kiosk.connect(r'{data_dir}')\n"
        f"room = await kiosk.connect_async(r'{data_dir}', key='operator')\n"
        f"room.link.kiosk_idle = {IDLE}  # as short as this test's room has it",
        "pn.Row(KioskView(link=room.link), DisplayView(link=watcher.link), height=600, "
        "sizing_mode='stretch_width')",
        "KioskView(link=room.link, device=True)",
    ]
    book = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}})
    book.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    return book


@pytest.fixture
def lab(tmp_path, data_dir) -> Iterator[dict]:
    """JupyterLab on loopback for the room of ``data_dir``, with Panel's preview (news,
    update checks and the other server extensions off), starting: its root folder, the URL
    of a path in it with the token, and ``ready()`` to wait for it."""
    root = tmp_path / "lab"
    root.mkdir()
    port, token = free_port(), secrets.token_hex(16)
    off = {name: False for name in ("jupyter_lsp", "jupyter_server_terminals",
                                    "jupyter_server_proxy")}
    env = {**os.environ, "KIOSK_DATA_DIR": str(data_dir), **{
        var: str(tmp_path / name) for var, name in [
            ("JUPYTER_CONFIG_DIR", "cfg"), ("JUPYTER_DATA_DIR", "data-jupyter"),
            ("JUPYTER_RUNTIME_DIR", "run"), ("IPYTHONDIR", "ipython")]}}
    log = tmp_path / "lab.log"
    proc = subprocess.Popen(
        [str(BIN / "jupyter"), "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         f"--ServerApp.jpserver_extensions={off!r}", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.extension_manager=readonly"],
        env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def ready() -> None:  # the test starts its room meanwhile
        assert wait_http(f"{base}/api/status?token={token}", proc) == 200, log.read_text()
    try:
        yield {"root": root, "url": f"{base}/{{}}?token={token}", "ready": ready}
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.mark.timeout(300)  # a lab, two kernels and Chromium: over a minute on a busy machine
def test_jupyterlab_shows_a_room_view_that_never_acts_as_a_device(data_dir, lab, browser):
    """A room's KioskView and DisplayView inline in JupyterLab, with no network but the
    room's and the lab's: they render and follow the room, and while they stay open the
    room's device list and phase do not change: no heartbeat, no idle reset, although the
    kiosk's view holds a key that could send both. The issue asks for 3 minutes; what could
    happen in them happens at the page's heartbeat period (1 s) and the kiosk's idle timeout
    (120 s in a room), so this test shortens the timeout to 2 s and waits 6 s: six
    heartbeat periods and three idle timeouts. The control, the same view made as the room's
    page makes it (``device=True``), beats and resets the room within seconds. Last, the
    lab's Panel preview of docs/evaluation.ipynb draws its charts for a signed-in evaluator."""
    from playwright.sync_api import expect

    room = room_with_data(data_dir, talks=0, idle_timeout=IDLE[0], idle_warning=IDLE[1])
    try:
        for name, args in [("session.start", {}), ("language.set", {"language": "tr"}),
                           ("session.end", {}), ("survey.begin", {})]:
            assert room.command(name, **args).ok, name  # the reset would wipe this survey
        eventually(lambda: "camera" in room.state.devices)  # the room's own camera reports
        before = {d.id: d.online for d in room.state.devices.values()}
        nbformat.write(lab_notebook(data_dir), lab["root"] / "watch.ipynb")
        lab["ready"]()
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        foreign: list[str] = []

        def only_loopback(route) -> None:
            if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                foreign.append(route.request.url)
                route.abort()
        ctx.route("**/*", only_loopback)
        page = ctx.new_page()
        page.goto(lab["url"].format("lab/tree/watch.ipynb"))
        status = page.get_by_text("Python 3 (ipykernel) | Idle")
        expect(status).to_be_visible(timeout=90_000)

        def run(cell: int) -> None:
            page.locator(".jp-Notebook .jp-Cell").nth(cell).click()
            page.keyboard.press("Shift+Enter")
            expect(status).to_be_visible(timeout=60_000)

        run(0)
        run(1)
        views = page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea")
        expect(views.locator("h1").first).to_have_text(t("tr", "survey.title"), timeout=30_000)
        expect(views.get_by_role("heading", name=t("tr", "welcome.title"))).to_be_visible()
        assert room.command("language.set", as_="kiosk", language="uk").ok  # both follow
        expect(views.locator("h1").first).to_have_text(t("uk", "survey.title"))
        expect(views.get_by_role("heading", name=t("uk", "welcome.title"))).to_be_visible()
        time.sleep(WATCHED)
        after = {d.id: d.online for d in room.state.devices.values()}
        assert (after, room.state.phase, room.state.language) == (before, "survey", "uk")
        assert foreign == []
        # Control: a device view in the same lab beats and, idle for 2 s, resets the room.
        run(2)
        eventually(lambda: "touch" in room.state.devices, timeout=15)
        eventually(lambda: room.state.phase == "idle", timeout=15)
        # JupyterLab's Panel preview of the evaluation notebook: its charts, for the room's
        # signed-in staff (the lab's host name is the room's, so its cookie comes along).
        shutil.copy(DOCS / "evaluation.ipynb", lab["root"])
        ctx.add_cookies([{"name": staff_cookie(room.room.config.room_id),
                          "value": room.sign_in("evaluator"), "domain": "127.0.0.1",
                          "path": "/"}])
        preview = ctx.new_page()
        preview.goto(lab["url"].format("panel-preview/render/evaluation.ipynb"))
        expect(preview.locator("canvas").first).to_be_visible(timeout=60_000)
        eventually(lambda: preview.locator("canvas").count() >= 2, timeout=15)
        assert foreign == []
        ctx.close()
    finally:
        room.stop()
