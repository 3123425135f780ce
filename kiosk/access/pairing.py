"""Pairing a control tablet with the room, and the credentials that come of it.

Facility staff ask for a code (/admin or ``kiosk devices pair``); the second
display shows it with a QR code for five minutes. The tablet types it on
/control/pair and receives a device credential: 256 random bits, bound to this
room and kept here only as a SHA-256 hash. A code works once; /admin lists the
paired tablets and revokes them.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

from kiosk.devices.health import HealthCommands
from kiosk.exceptions import CommandError
from kiosk.partners.commands import token_hash as digest
from kiosk.room.commands import (
    ADMIN,
    ALL_PHASES,
    NOTE_ID,
    Arg,
    spec,
    text,
)
from kiosk.room.feature import Feature, Handler
from kiosk.room.messages import Changes
from kiosk.room.state import Tablet
from kiosk.room.store import now

#: Letters and digits that cannot be mistaken for each other (no 0/O, 1/I/L).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
#: How long a pairing code works, in seconds.
CODE_LIFETIME = 300.0

#: Why a code was refused: error code -> what the tablet shows.
PAIRING_ERRORS = {
    "pairing_wrong": "Dieser Code stimmt nicht. Bitte prüfen Sie ihn auf der zweiten Anzeige.",
    "pairing_used": "Dieser Code wurde schon benutzt. Bitte lassen Sie einen neuen anzeigen.",
    "pairing_expired": "Dieser Code ist abgelaufen. Bitte lassen Sie einen neuen anzeigen.",
}


def normalise_code(code: str) -> str:
    """A code as typed (any case, spaces or dashes) in its canonical form."""
    return "".join(c for c in code.upper() if c not in " -")


class PairingCommands(Feature):
    """Handlers for pairing and tablet credentials; a feature of the room controller."""

    specs = (
        spec("pairing.start", ADMIN, ALL_PHASES,
              "Show a pairing code for a tablet on the second display (five minutes)."),
        spec("pairing.cancel", ADMIN, ALL_PHASES, "Take the pairing code off the display."),
        spec("pairing.claim", ADMIN, ALL_PHASES,
              "A tablet presents the pairing code (sent by /control/pair).",
              code=Arg(text(32)), name=Arg(text(60), default="Tablet")),
        spec("tablet.revoke", ADMIN, ALL_PHASES, "Unpair a tablet: its credential stops working.",
              tablet=NOTE_ID),
        spec("tablet.verify", frozenset({"counsellor", "admin"}), ALL_PHASES,
              "Which paired tablet a credential belongs to.", token=Arg(text(200))),
    )
    needs = (HealthCommands,)


    def handlers(self) -> dict[str, Handler]:
        self._pairing_deadline = 0.0
        return {"pairing.start": self._pairing_start, "pairing.cancel": self._pairing_cancel,
                "pairing.claim": self._pairing_claim, "tablet.revoke": self._tablet_revoke,
                "tablet.verify": self._tablet_verify}


    def load(self, session_id: str | None) -> dict[str, Any]:
        return {"tablets": self.load_tablets()}

    def sweep(self) -> Changes:
        return self.expire_pairing()

    def load_tablets(self) -> list[Tablet]:
        """Paired tablets; a code on offer before a restart is void (only its hash was kept)."""
        with self.store.transaction() as db:
            db.conn.execute("UPDATE pairing_codes SET expires_at = ? WHERE used_at IS NULL "
                            "AND expires_at > ?", [now(), now()])
        return [Tablet(r["id"], r["name"], r["paired_at"])
                for r in self.store.db["tablets"].rows_where(
                    "room_id = ? AND revoked_at IS NULL", [self.state.room_id], order_by="id")]

    def _pairing_start(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        created = dt.datetime.now(dt.UTC).replace(microsecond=0)
        expires = (created + dt.timedelta(seconds=CODE_LIFETIME)).isoformat()
        with self.store.transaction() as db:
            # One code on offer at a time: the one shown before stops working.
            db.conn.execute("UPDATE pairing_codes SET expires_at = ? WHERE room_id = ? AND "
                            "used_at IS NULL AND expires_at > ?",
                            [created.isoformat(), self.state.room_id, created.isoformat()])
            self.store.insert("pairing_codes", {
                "code_hash": digest(code), "room_id": self.state.room_id,
                "created_at": created.isoformat(), "expires_at": expires, "used_at": None})
        self._pairing_deadline = time.monotonic() + CODE_LIFETIME
        offer = {"code": code, "expires": expires}
        return [(self._key("pairing"), offer)], dict(offer)

    def _pairing_cancel(self, args: dict[str, Any]) -> Changes:
        if not self.state.pairing:
            return []
        with self.store.transaction() as db:
            db.conn.execute("UPDATE pairing_codes SET expires_at = ? WHERE code_hash = ?",
                            [now(), digest(self.state.pairing["code"])])
        return [(self._key("pairing"), None)]

    def _pairing_claim(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        code = normalise_code(args["code"])
        row = None
        if len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET):
            row = self.store.db.execute(
                "SELECT * FROM pairing_codes WHERE code_hash = ? AND room_id = ?",
                [digest(code), self.state.room_id]).fetchone()
        if row is None:
            raise CommandError("pairing_wrong", PAIRING_ERRORS["pairing_wrong"])
        _, _, _, expires_at, used_at = row
        if used_at:
            raise CommandError("pairing_used", PAIRING_ERRORS["pairing_used"])
        if expires_at <= now():
            raise CommandError("pairing_expired", PAIRING_ERRORS["pairing_expired"])
        token, paired = secrets.token_urlsafe(32), now()
        with self.store.transaction():
            self.store.db.conn.execute("UPDATE pairing_codes SET used_at = ? WHERE code_hash = ?",
                                       [paired, digest(code)])
            tablet_id = self.store.insert("tablets", {
                "room_id": self.state.room_id, "name": args["name"], "token_hash": digest(token),
                "paired_at": paired})
        tablet = Tablet(tablet_id, args["name"], paired)
        changes: Changes = [(self._key("tablets", tablet_id), tablet.to_dict())]
        if self.state.pairing and self.state.pairing["code"] == code:
            changes.append((self._key("pairing"), None))
        return changes, {"tablet": tablet_id, "name": args["name"], "token": token}

    def _tablet_revoke(self, args: dict[str, Any]) -> Changes:
        tablet = self._find(self.state.tablets, args["tablet"], "paired tablet")
        with self.store.transaction():
            self.store.update("tablets", tablet.id, {"revoked_at": now()})
        # Its health entry goes too: a revoked tablet is gone, not offline.
        health = self.controller.feature(HealthCommands)
        return [(self._key("tablets", tablet.id), None), *health.drop_device(f"tablet-{tablet.id}")]

    def _tablet_verify(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        """Which paired tablet a credential belongs to (for /control); refused if revoked."""
        row = self.store.db.execute(
            "SELECT id, name, revoked_at FROM tablets WHERE token_hash = ? AND room_id = ?",
            [digest(args["token"]), self.state.room_id]).fetchone()
        if row is None:
            raise CommandError("credential_unknown", "this tablet is not paired with this room")
        if row[2]:
            raise CommandError("credential_revoked", "this tablet's pairing was revoked")
        return [], {"tablet": row[0], "name": row[1]}

    def expire_pairing(self, at: float | None = None) -> Changes:
        """Take a code off the display once it no longer works."""
        at = time.monotonic() if at is None else at
        if self.state.pairing and at >= self._pairing_deadline:
            return [(self._key("pairing"), None)]
        return []
