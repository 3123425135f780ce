"""Panel's queued page writes: none left behind (the /kiosk stall of issue 18).

When a page's change cannot go out at once, Panel 1.9 queues its message in
``_WRITE_MSGS``, marks the page in ``_WRITE_BLOCK`` and starts a task,
``_dispatch_msgs``, that sends the queue and then clears the mark. A change queued
while such a task awaits its writes starts a second task; when the first one resumes
first, it clears the mark, and the second finds none and returns: the message stays
in the queue until the page changes again. On a loaded room PC the client's screen
kept the survey for good after the talk had ended (and the room's /kiosk had long
rendered the welcome screen).

:func:`install` wraps ``_dispatch_msgs``: after each run, messages still queued with
no mark get the mark and a task of their own. Panel looks the function up by name on
every use, so the wrapper also serves its own rescheduling.
"""

from __future__ import annotations

import functools

from panel.io import document

from kiosk.exceptions import DependencyError

NAMES = ("_dispatch_msgs", "_dispatch_write_task", "_WRITE_MSGS", "_WRITE_BLOCK",
         "schedule_write_events")


def check() -> None:
    """Raise :class:`DependencyError` unless Panel still queues writes as wrapped here."""
    missing = [name for name in NAMES if not hasattr(document, name)]
    schedule = getattr(document, "schedule_write_events", None)
    if schedule is not None and "_dispatch_msgs" not in schedule.__code__.co_names:
        missing.append("schedule_write_events → _dispatch_msgs")
    if missing:
        raise DependencyError([("panel", f"panel.io.document.{name}",
                                "the queue of page writes that kiosk/app/writes.py guards")
                               for name in missing])


def install() -> None:
    """Wrap Panel's ``_dispatch_msgs`` (once) so no queued write is left behind."""
    check()
    dispatch = document._dispatch_msgs
    if getattr(dispatch, "leaves_none", False):
        return

    @functools.wraps(dispatch)
    async def dispatch_msgs(doc) -> None:
        await dispatch(doc)
        if doc in document._WRITE_MSGS and doc not in document._WRITE_BLOCK:
            document._WRITE_BLOCK[doc] = True  # queued while the last run awaited its writes
            document._dispatch_write_task(doc, document._dispatch_msgs, doc)

    dispatch_msgs.leaves_none = True
    document._dispatch_msgs = dispatch_msgs
