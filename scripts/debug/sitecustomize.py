"""A room process's inner state on SIGUSR1, for chasing the /kiosk stall (issue 18).

Loaded by Python at start when this folder is on ``PYTHONPATH``; bench_soak does that
with ``--dump`` and signals the room when /kiosk does not follow, and after the baseline
and the last talk. Appends to ``$KIOSK_DUMP`` (default /tmp/kiosk-dump.txt): Bokeh
sessions and their websockets (write lock, buffered bytes), each document's hold state
and Panel's pending writes, every KioskView (the phase it saw, the screen it rendered,
the screen its Bokeh model holds), peer connections and aioice sockets, threads, the
most common objects and glibc's heap. Reads private names of Bokeh, Panel and aioice:
a debugging aid, not part of the room.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import os
import signal
import threading
import time
import traceback


def _sessions(out) -> None:
    from bokeh.document import Document
    from bokeh.server.session import ServerSession
    from bokeh.server.views.ws import WSHandler
    from panel.io import document as pdoc

    for o in gc.get_objects():
        if isinstance(o, ServerSession):
            print("session", o.id, "connections", o.connection_count, "destroyed",
                  o._destroyed, file=out)
        elif isinstance(o, WSHandler):
            stream = getattr(getattr(o, "ws_connection", None), "stream", None)
            lock = o.write_lock._block
            session = getattr(getattr(o, "connection", None), "session", None)
            print("websocket", o.request.path, "session", session and session.id,
                  "write lock free", lock._value,
                  "waiters", len(lock._waiters), "buffered",
                  getattr(stream, "_write_buffer_size", None), "closed",
                  stream.closed() if stream else None, file=out)
        elif isinstance(o, Document) and o.session_context is not None:
            cb = o.callbacks
            print("document", o.session_context.id, "hold", cb._hold, "held events",
                  len(cb._held_events), "panel write msgs", o in pdoc._WRITE_MSGS,
                  "write block", o in pdoc._WRITE_BLOCK, "write futures",
                  len(pdoc._WRITE_FUTURES.get(o, [])), file=out)


def _views(out) -> None:
    from kiosk.views.kiosk import KioskView

    for o in gc.get_objects():
        if isinstance(o, KioskView):
            models = {ref: (m.document.session_context.id if m.document else None,
                            (m.data.screen or {}).get("title"))
                      for ref, (m, _) in list(o._screen._models.items())}
            print("kiosk view: phase", o.state.phase, "local", o.local, "watchers",
                  len(o._watchers), "renders", o._screen.screen.get("title"), "models",
                  models, file=out)


def _media(out) -> None:
    import aioice
    from aiortc import RTCPeerConnection

    states = collections.Counter(
        (o.connectionState, o.signalingState) for o in gc.get_objects()
        if isinstance(o, RTCPeerConnection))
    sockets = collections.Counter(
        (len(o._protocols), o._closed) for o in gc.get_objects()
        if isinstance(o, aioice.Connection))
    print("peer connections", dict(states), "ice (protocols, closed)", dict(sockets),
          file=out)


def _process(out) -> None:
    objects = gc.get_objects()
    print("objects", len(objects), "threads", sorted(t.name for t in threading.enumerate()),
          file=out)
    print("most common", collections.Counter(type(o).__qualname__ for o in objects)
          .most_common(15), file=out)

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = Mallinfo2
    m = libc.mallinfo2()
    print(f"heap {m.arena / 1e6:.0f} MB, in use {m.uordblks / 1e6:.0f} MB, free "
          f"{m.fordblks / 1e6:.0f} MB, mmapped {m.hblkhd / 1e6:.0f} MB", file=out)


def _dump(signum, frame) -> None:
    with open(os.environ.get("KIOSK_DUMP", "/tmp/kiosk-dump.txt"), "a") as out:
        print(f"=== {time.strftime('%X')} pid {os.getpid()}", file=out)
        for part in (_sessions, _views, _media, _process):
            try:
                part(out)
            except Exception:  # a part that does not apply (no pages, no media)
                traceback.print_exc(file=out)


signal.signal(signal.SIGUSR1, _dump)
