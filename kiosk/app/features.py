"""Where the room is put together: the capabilities its controller carries.

A new capability is a folder with a :class:`~kiosk.room.feature.Feature` and one
line in :data:`FEATURES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kiosk.access.pairing import PairingCommands
from kiosk.access.staff import StaffCommands
from kiosk.devices.health import HealthCommands
from kiosk.handout.commands import SummaryCommands
from kiosk.partners.commands import PartnerCommands
from kiosk.room import commands
from kiosk.room.commands import Spec
from kiosk.room.controller import Controller
from kiosk.room.feature import Feature
from kiosk.room.retention import RetentionPolicy
from kiosk.room.store import Store
from kiosk.visits.appointments import AppointmentCommands
from kiosk.visits.visit import VisitCommands

#: The room's capabilities, in the order their sweeps and idle hooks run.
FEATURES: tuple[type[Feature], ...] = (
    PartnerCommands,  # partners asked in by video: consent, links, admission
    HealthCommands,  # room devices: heartbeats and presence
    PairingCommands,  # the counsellor's tablet
    StaffCommands,  # staff accounts and sign-ins
    AppointmentCommands,  # remote appointments and their links
    VisitCommands,  # the remote client's way through a visit
    SummaryCommands,  # the client's handout by mail
)

#: Every command a room answers: the core's and its features'.
COMMANDS: dict[str, Spec] = commands.table(commands.CORE, *(f.specs for f in FEATURES))


def check(name: str, role: str, phase: str, args: dict[str, Any]) -> tuple[Spec, dict[str, Any]]:
    """Validate one command against the room's whole table."""
    return commands.check(name, role, phase, args, COMMANDS)


class RoomController(Controller):
    """The room's controller with the room's capabilities."""

    def __init__(self, store: Store, room_id: str, room_name: str, *,
                 retention: RetentionPolicy | None = None,
                 features: Sequence[type[Feature]] = FEATURES) -> None:
        super().__init__(store, room_id, room_name, retention=retention, features=features)
