"""The controller's commands about the client's summary mail.

The client types a mail address on the kiosk; ``summary.mail`` hands the
address and a frozen copy of the summary to the room's mailer (set by the room:
the controller does no I/O) and forgets it. The address is in no table, no
state key, no reply and no log line. The mailer reports back with
``summary.mailed``; the kiosk shows ``sending``, then ``sent`` or ``failed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kiosk.exceptions import CommandError
from kiosk.handout.summary import Summary
from kiosk.room.commands import (
    ADMIN,
    CLIENT,
    Arg,
    boolean,
    email_address,
    spec,
)
from kiosk.room.feature import Feature, Handler
from kiosk.room.messages import Changes

#: Called when the client asked for the summary by mail: (summary, address).
SendSummary = Callable[[Summary, str], None]


class SummaryCommands(Feature):
    """Handlers for the summary mail; a feature of the room controller."""

    specs = (
        spec("summary.mail", CLIENT, {"wrap_up"}, "Mail the summary (PDF) to the address the "
              "client typed; the address is used once and never kept.", email=Arg(email_address)),
        spec("summary.mailed", ADMIN, {"wrap_up", "survey"}, "Whether the summary mail left "
              "(the room's mailer reports).", ok=Arg(boolean)),
    )

    #: Set by the room: builds the PDF and mails it, off the command's path.
    on_summary: SendSummary | None = None
    #: The agency named on the summary; set by the room.
    agency: str = ""

    def handlers(self) -> dict[str, Handler]:
        return {"summary.mail": self._summary_mail, "summary.mailed": self._summary_mailed}


    def idle(self) -> Changes:
        return [(self._key("summary_mail"), None)] if self.state.summary_mail else []

    def _summary_mail(self, args: dict[str, Any]) -> Changes:
        if (self.state.summary_mail or {}).get("status") == "sending":
            raise CommandError("state", "the summary is being sent already")
        address = args.pop("email")
        if self.on_summary is None:  # a controller without a room: no mailer
            return [(self._key("summary_mail"), {"status": "failed"})]
        self.on_summary(Summary.of(self.state, agency=self.agency), address)
        return [(self._key("summary_mail"), {"status": "sending"})]

    def _summary_mailed(self, args: dict[str, Any]) -> Changes:
        # Once the client has left (idle), the room refuses this by phase: nobody waits.
        return [(self._key("summary_mail"), {"status": "sent" if args["ok"] else "failed"})]
