"""How a capability plugs into the room controller.

The room's core (session, notes, next steps, privacy, survey) knows no feature.
Each capability (partners, devices, pairing, staff, appointments, visits, the
handout) is a :class:`Feature`: it declares the commands it answers (their
specs) and their handlers, what it loads into the room's state at start, what
it expires in the sweep, and what it adds when a participant leaves or the room
returns to idle. The controller assembles the features it is given
(``kiosk/app/features.py`` lists the room's), as jitsi-meet's features register
their reducers and middleware with the core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from kiosk.room.commands import Spec
from kiosk.room.messages import Changes, Result
from kiosk.room.state import Partner, RoomState

if TYPE_CHECKING:
    from kiosk.room.controller import Controller
    from kiosk.room.store import Store

Handler = Callable[[dict[str, Any]], Result]


class Feature:
    """One capability's commands and hooks, bound to the controller that carries it."""

    #: The commands this feature answers; the controller checks them like its own.
    specs: ClassVar[tuple[Spec, ...]] = ()
    #: Commands whose first change is a new item: the reply carries its id.
    creates: ClassVar[frozenset[str]] = frozenset()
    #: Features this one calls; the controller refuses to start without them.
    needs: ClassVar[tuple[type[Feature], ...]] = ()

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    @property
    def store(self) -> Store:
        return self.controller.store

    @property
    def state(self) -> RoomState:
        return self.controller.state

    def _key(self, *parts: object) -> str:
        return self.controller._key(*parts)

    def _find(self, items: list, item_id: int, what: str) -> Any:
        return self.controller._find(items, item_id, what)

    # -- hooks: each returns the changes it adds ---------------------------
    def handlers(self) -> dict[str, Handler]:
        """A handler per spec in :attr:`specs` (each persists first, then returns changes)."""
        return {}

    def load(self, session_id: str | None) -> dict[str, Any]:
        """Values of the room's state this feature owns, read from the database at start."""
        return {}

    def sweep(self) -> Changes:
        """Expire what has a time to live (run several times a second)."""
        return []

    def partner_gone(self, partner: Partner) -> Changes:
        """A participant left the talk or the talk closed."""
        return []

    def idle(self) -> Changes:
        """The room returns to idle: clear what this feature showed of the talk."""
        return []
