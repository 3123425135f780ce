"""The controller's commands about partners: invitation, the client's consent, admission.

A partner is an agency's expert asked into the talk. Three things must hold
before any media flows to or from them, and the media engine enforces it:
the client has consented, the counsellor has admitted them, and no privacy
pause is on. Invitations are one-call links: a random token of 192 bits that
is kept only as a SHA-256 hash, expires, can be revoked and works once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from typing import Any

from kiosk.exceptions import CommandError
from kiosk.room.agencies import AGENCY_TYPES
from kiosk.room.commands import (
    ADMIN,
    CLIENT,
    COUNSELLOR,
    IN_TALK,
    MEDIA,
    NOTE_ID,
    Arg,
    boolean,
    choice,
    email_address,
    integer,
    spec,
    text,
)
from kiosk.room.feature import Feature, Handler
from kiosk.room.messages import Changes
from kiosk.room.state import Partner
from kiosk.room.store import now

#: Why a token was refused: code -> the message the partner's page shows.
TOKEN_ERRORS = {
    "token_unknown": "Dieser Link ist nicht gültig.",
    "token_expired": "Dieser Link ist abgelaufen. Bitte bitten Sie die Beratung um einen neuen.",
    "token_revoked": "Dieser Link wurde von der Beratung zurückgezogen.",
    "token_used": "Dieser Link wurde schon benutzt. Bitte bitten Sie die Beratung um einen "
                  "neuen.",
}


def new_token() -> tuple[str, str]:
    """A fresh invitation token (192 random bits) and the hash that is stored."""
    token = secrets.token_urlsafe(24)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """What is stored of a secret (link token, device credential, pairing code)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class PartnerCommands(Feature):
    """Handlers for partner commands; a feature of the room controller."""

    specs = (
        spec("consent.request", COUNSELLOR, {"consulting"},
              "Ask the client whether a partner may join by video.",
              name=Arg(text(120)), agency=Arg(text(120)),
              role=Arg(text(120, min_len=0), default=""),
              purpose=Arg(text(300)), agency_type=Arg(choice("", *AGENCY_TYPES), default="")),
        spec("consent.answer", CLIENT, {"consulting"}, "The client's yes or no to a partner.",
              partner=NOTE_ID, yes=Arg(boolean), version=Arg(text(80))),
        spec("consent.withdraw", CLIENT, {"consulting", "wrap_up"},
              "The client takes back a consent given.", partner=NOTE_ID, version=Arg(text(80))),
        spec("partner.remove", COUNSELLOR, IN_TALK, "Take a partner out of the talk (hang up).",
              partner=NOTE_ID),
        spec("partner.invite", COUNSELLOR, {"consulting"},
              "Invite a partner by a one-call link; the client is asked to consent.",
              agency=Arg(text(120)), name=Arg(text(120, min_len=0), default=""),
              role=Arg(text(120, min_len=0), default=""),
              purpose=Arg(text(300, min_len=0), default=""),
              minutes=Arg(integer(1, 240), default=30),
              agency_type=Arg(choice("", *AGENCY_TYPES), default=""),
              admitted=Arg(boolean, default=False),
              email=Arg(email_address, default=None)),
        spec("partner.mute", COUNSELLOR, IN_TALK, "Mute (on) or unmute a partner: their sound "
              "reaches neither the room nor the others.", partner=NOTE_ID, on=Arg(boolean)),
        spec("partner.mailed", ADMIN, IN_TALK, "Whether a partner's join link left by mail "
              "(the room's mailer reports).", partner=NOTE_ID, ok=Arg(boolean)),
        spec("partner.admit", COUNSELLOR, IN_TALK, "Let a waiting partner into the talk.",
              partner=NOTE_ID),
        spec("invite.revoke", COUNSELLOR, IN_TALK, "Withdraw a partner's link.", partner=NOTE_ID),
        spec("invite.check", MEDIA, IN_TALK, "Whether a partner's link still works, "
             "before its page asks for camera and microphone (uses nothing up).",
             token=Arg(text(200))),
        spec("invite.claim", MEDIA, IN_TALK, "A partner's page presents its link's token.",
              token=Arg(text(200))),
        spec("partner.screen", MEDIA, {"consulting"}, "The media engine reports that a "
             "partner started (on) or stopped sharing a screen.", partner=NOTE_ID,
             on=Arg(boolean)),
        spec("screen.stop", COUNSELLOR, {"consulting"}, "Stop a partner's screen sharing.",
             partner=NOTE_ID),
        spec("partner.quality", MEDIA, IN_TALK, "The media engine reports connection quality.",
              partner=NOTE_ID, rtt_ms=Arg(integer(0, 600_000)), loss_pct=Arg(integer(0, 100)),
              kbps=Arg(integer(0, 10_000_000)), fps=Arg(integer(0, 1000))),
        spec("partner.state", MEDIA, IN_TALK, "The media engine reports a partner's connection.",
              partner=NOTE_ID, state=Arg(choice("lobby", "connected", "reconnecting", "gone"))),
    )
    creates = frozenset({"consent.request", "partner.invite"})

    #: Set by the room: mails a partner's join link (partner, link path, address, expiry),
    #: off the command's path; it reports with ``partner.mailed``.
    on_partner_link: Callable[[Partner, str, str, str], None] | None = None

    def handlers(self) -> dict[str, Handler]:
        return {
            "consent.request": self._consent_request,
            "consent.answer": self._consent_answer,
            "consent.withdraw": self._consent_withdraw,
            "partner.remove": self._partner_remove,
            "partner.invite": self._partner_invite,
            "partner.admit": self._partner_admit,
            "partner.state": self._partner_state,
            "partner.quality": self._partner_quality,
            "partner.screen": self._partner_screen,
            "screen.stop": self._screen_stop,
            "partner.mute": self._partner_mute,
            "partner.mailed": self._partner_mailed,
            "invite.check": self._invite_check,
            "invite.claim": self._invite_claim,
            "invite.revoke": self._invite_revoke,
        }


    def load(self, session_id: str | None) -> dict[str, Any]:
        return {"partners": self.load_partners(session_id)} if session_id else {}

    def idle(self) -> Changes:
        changes: Changes = [(self._key("partners", p.id), None) for p in self.state.partners]
        for p in self.state.partners:
            if p.is_client:
                changes += self.controller.partner_gone(p)
        return (changes + [(self._key("quality", pid), None) for pid in self.state.quality]
                + [(self._key("screens", pid), None) for pid in self.state.screens])

    def load_partners(self, session_id: str) -> list[Partner]:
        return [Partner(r["id"], r["name"], r["agency"], r["role"] or "", r["purpose"] or "",
                        r["consent"], bool(r["admitted"]), r["state"] or "invited",
                        r["agency_type"] or "", r["kind"] or "partner", bool(r["muted"]),
                        r["link_mail"] or "")
                for r in self.store.db["partners"].rows_where(
                    "session_id = ?", [session_id], order_by="id")]

    def _changed(self, partner: Partner, **fields: Any) -> Changes:
        """Persist fields of a partner; return the change to publish."""
        with self.store.transaction():
            self.store.update("partners", partner.id,
                              {k: int(v) if isinstance(v, bool) else v
                               for k, v in fields.items()})
        return [(self._key("partners", partner.id),
                 dataclasses.replace(partner, **fields).to_dict())]

    def _new_partner(self, args: dict[str, Any]) -> Partner:
        """A partner asked in; ``admitted`` when the counsellor rang them in themselves."""
        admitted = bool(args.get("admitted"))
        row_id = self.store.insert("partners", {
            "session_id": self.state.session_id, "name": args["name"],
            "agency": args["agency"], "role": args["role"], "purpose": args["purpose"],
            "consent": "pending", "admitted": int(admitted), "state": "invited",
            "created_at": now(), "agency_type": args["agency_type"]})
        return Partner(row_id, args["name"], args["agency"], args["role"], args["purpose"],
                       admitted=admitted, agency_type=args["agency_type"])

    # -- the client's consent ------------------------------------------------------
    def _consent_request(self, args: dict[str, Any]) -> Changes:
        with self.store.transaction():
            partner = self._new_partner(args)
        return [(self._key("partners", partner.id), partner.to_dict())]

    def _set_consent(self, partner: Partner, answer: str, version: str) -> Changes:
        """Record the client's answer in the append-only log, then on the partner.

        The row is committed before the change is published, so the media engine
        opens the partner's gate only after it (milliseconds in ``at`` show the order).
        """
        at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        with self.store.transaction():
            self.store.insert("consent_log", {
                "at": at, "room_id": self.state.room_id, "session_id": self.state.session_id,
                "partner_id": partner.id, "partner_agency": partner.agency,
                "agency_type": partner.agency_type, "partner_role": partner.role,
                "answer": answer, "text_version": version, "language": self.state.language})
            self.store.update("partners", partner.id, {"consent": answer})
        if answer == "granted" and partner.admitted and partner.state == "connected":
            self._joined(partner)
        return [(self._key("partners", partner.id),
                 dataclasses.replace(partner, consent=answer).to_dict())]

    def _consent_answer(self, args: dict[str, Any]) -> Changes:
        partner = self._find(self.state.partners, args["partner"], "partner")
        if partner.consent != "pending":
            raise CommandError("state", f"partner {partner.id} is not waiting for consent "
                                        f"(consent is {partner.consent})")
        return self._set_consent(partner, "granted" if args["yes"] else "declined",
                                 args["version"])

    def _consent_withdraw(self, args: dict[str, Any]) -> Changes:
        partner = self._find(self.state.partners, args["partner"], "partner")
        if partner.consent != "granted":
            raise CommandError("state", f"there is no consent to withdraw for partner "
                                        f"{partner.id} (consent is {partner.consent})")
        return self._set_consent(partner, "withdrawn", args["version"])

    # -- invitation, admission, the engine's reports --------------------------------
    def _partner_invite(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        address = args.pop("email", None)
        if address is not None and self.on_partner_link is None:
            raise CommandError("state", "this room cannot send mail (no mailer)")
        token, digest = new_token()
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=args["minutes"])
        with self.store.transaction():
            partner = self._new_partner(args)
            self.store.insert("invitations", {
                "token_hash": digest, "partner_id": partner.id,
                "session_id": self.state.session_id, "created_at": now(),
                "expires_at": expires.isoformat(timespec="seconds"), "revoked": 0, "used": 0})
            if address is not None:
                self.store.update("partners", partner.id, {"link_mail": "sending"})
                partner = dataclasses.replace(partner, link_mail="sending")
        if address is not None:  # the room mails it; the address is not kept
            self.on_partner_link(partner, f"/join/{token}", address,
                                 expires.isoformat(timespec="seconds"))
        # The token goes only to the inviter (and the mail), never onto the bus.
        return ([(self._key("partners", partner.id), partner.to_dict())],
                {"token": token, "link": f"/join/{token}",
                 "expires": expires.isoformat(timespec="seconds")})

    def _invitation(self, partner_id: int) -> dict[str, Any] | None:
        rows = list(self.store.db["invitations"].rows_where("partner_id = ?", [partner_id]))
        return rows[0] if rows else None

    def _valid_invitation(self, token: str) -> dict[str, Any]:
        """The invitation row of a link that works now, or why it does not."""
        rows = list(self.store.db["invitations"].rows_where(
            "token_hash = ?", [token_hash(token)]))
        row = rows[0] if rows else None
        if row is None or row["session_id"] != self.state.session_id:
            raise CommandError("token_unknown", TOKEN_ERRORS["token_unknown"])
        if row["revoked"]:
            raise CommandError("token_revoked", TOKEN_ERRORS["token_revoked"])
        if row["used"]:
            raise CommandError("token_used", TOKEN_ERRORS["token_used"])
        if dt.datetime.fromisoformat(row["expires_at"]) <= dt.datetime.now(dt.UTC):
            raise CommandError("token_expired", TOKEN_ERRORS["token_expired"])
        return row

    def _invite_check(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        row = self._valid_invitation(args["token"])
        return [], {"partner": row["partner_id"]}

    def _invite_claim(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        row = self._valid_invitation(args["token"])
        partner = self._find(self.state.partners, row["partner_id"], "partner")
        with self.store.transaction():
            self.store.db.conn.execute(
                "UPDATE invitations SET used = 1 WHERE token_hash = ?", [row["token_hash"]])
        return self._changed(partner, state="lobby"), {"partner": partner.id}

    def _invite_revoke(self, args: dict[str, Any]) -> Changes:
        partner = self._find(self.state.partners, args["partner"], "partner")
        if self._invitation(partner.id) is None:
            raise CommandError("state", f"partner {partner.id} was not invited by link")
        with self.store.transaction():
            self.store.db.conn.execute(
                "UPDATE invitations SET revoked = 1 WHERE partner_id = ?", [partner.id])
        return self._changed(partner, state="gone")

    def _partner_state(self, args: dict[str, Any]) -> Changes:
        partner = self._find(self.state.partners, args["partner"], "partner")
        if args["state"] == "connected" and partner.media_allowed:
            self._joined(partner)
        changes = self._changed(partner, state=args["state"])
        if args["state"] == "gone":
            changes += self._media_gone(partner.id)
        if args["state"] == "gone" and partner.is_client:
            changes += self.controller.partner_gone(partner)
        return changes

    def _partner_admit(self, args: dict[str, Any]) -> Changes:
        partner = self._find(self.state.partners, args["partner"], "partner")
        if partner.state in ("invited", "gone"):
            raise CommandError("state", f"partner {partner.id} is not in the lobby "
                                        f"(state is {partner.state})")
        if partner.state == "connected" and partner.consent == "granted":
            self._joined(partner)
        return self._changed(partner, admitted=True)

    def _joined(self, partner: Partner) -> None:
        """The partner is in the talk (connected, admitted, consented): note it once,
        without a name, for the evaluation (time from being asked to joining)."""
        row = self.store.db.execute("SELECT created_at FROM partners WHERE id = ?",
                                    [partner.id]).fetchone()
        with self.store.transaction() as db:
            db.conn.execute(
                "INSERT OR IGNORE INTO partner_calls (partner_id, session_id, agency_type, "
                "invited_at, joined_at) VALUES (?, ?, ?, ?, ?)",
                [partner.id, self.state.session_id, partner.agency_type,
                 row[0] if row else now(), now()])

    def _partner_screen(self, args: dict[str, Any]) -> Changes:
        """A screen shared (or no longer): shown on /control and /display, not persisted."""
        partner = self._find(self.state.partners, args["partner"], "partner")
        if args["on"]:  # (after the talk a screen goes with its partner's call)
            return [(self._key("screens", partner.id), {"since": now()})]
        return self._screen_gone(partner.id)

    def _screen_stop(self, args: dict[str, Any]) -> Changes:
        """The counsellor stops a shared screen; the media engine ends its connection."""
        partner = self._find(self.state.partners, args["partner"], "partner")
        if partner.id not in self.state.screens:
            raise CommandError("state", f"partner {partner.id} shares no screen")
        return self._screen_gone(partner.id)

    def _screen_gone(self, partner_id: int) -> Changes:
        return [(self._key("screens", partner_id), None)] if partner_id in self.state.screens \
            else []

    def _media_gone(self, partner_id: int) -> Changes:
        """A partner's media ended: their shared screen and quality figures go with it."""
        changes = self._screen_gone(partner_id)
        if partner_id in self.state.quality:
            changes.append((self._key("quality", partner_id), None))
        return changes

    def _partner_quality(self, args: dict[str, Any]) -> Changes:
        """Measured connection quality: shown on /control, not persisted."""
        partner = self._find(self.state.partners, args["partner"], "partner")
        if partner.state == "gone":  # a last report after the call ended: stale already
            return []
        measured = {k: args[k] for k in ("rtt_ms", "loss_pct", "kbps", "fps")}
        return [(self._key("quality", partner.id), measured)]

    def _partner_mute(self, args: dict[str, Any]) -> Changes:
        """The counsellor mutes (or unmutes) a partner: their sound reaches nobody."""
        partner = self._find(self.state.partners, args["partner"], "partner")
        return self._changed(partner, muted=args["on"])

    def _partner_mailed(self, args: dict[str, Any]) -> Changes:
        """The room's mailer reports whether a partner's join link left."""
        partner = self._find(self.state.partners, args["partner"], "partner")
        return self._changed(partner, link_mail="sent" if args["ok"] else "failed")

    def _partner_remove(self, args: dict[str, Any]) -> Changes:
        partner = self._find(self.state.partners, args["partner"], "partner")
        with self.store.transaction():
            self.store.delete("partners", partner.id)
            self.store.db.conn.execute(
                "UPDATE invitations SET revoked = 1 WHERE partner_id = ?", [partner.id])
        changes: Changes = [(self._key("partners", partner.id), None)]
        if partner.is_client:
            changes += self.controller.partner_gone(partner)
        return changes + self._media_gone(partner.id)
