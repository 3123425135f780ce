"""The partners' pane of the console: who is in the talk, the directory, an invitation.

A part of :class:`~kiosk.views.control.ControlView`. The list shows each
partner with consent and connection in words; hanging up asks first. A
partner who left stays listed (their agency goes on the handout) without
stale quality figures or actions. The form asks the client's consent for a
partner or invites one by a one-call link, shown once with a copy button.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from kiosk.room.agencies import AGENCY_TYPES
from kiosk.room.state import Partner, is_poor
from kiosk.views import touch
from kiosk.views.directory import DirectoryPanel
from kiosk.views.fields import CopyLink
from kiosk.views.itemlist import ItemList
from kiosk.views.plain import CONSENT_LABELS, LINK_MAIL_LABELS, STATE_LABELS, german_until
from kiosk.views.talk_pane import heading


def quality_text(q: dict[str, int] | None) -> str:
    """A partner's connection quality in words, with a warning when it is poor."""
    if not q:
        return ""
    text = (f"Verbindung: {q['rtt_ms']} ms, Verlust {q['loss_pct']} %, {q['kbps']} kbit/s, "
            f"{q['fps']} Bilder/s")
    return text + (" – ⚠ schwache Verbindung" if is_poor(q) else "")


def partner_item(p: Partner, quality: dict[str, int] | None,
                 sharing: bool = False) -> dict[str, Any]:
    """One row of the partner list: who, consent and connection, what can be done."""
    gone = p.state == "gone"
    text = (f"{p.name}{' – ' + p.purpose if p.purpose else ''}" if p.is_client else
            f"{p.name} ({p.agency}{', ' + p.role if p.role else ''})" if p.name else p.agency)
    badge = (STATE_LABELS[p.state] if p.is_client or gone else
             f"{CONSENT_LABELS[p.consent]} · {STATE_LABELS[p.state]}"
             + (" · zugelassen" if p.admitted else "") + LINK_MAIL_LABELS.get(p.link_mail, "")
             + (" · stumm" if p.muted else "") + (" · teilt den Bildschirm" if sharing else ""))
    shown = quality if p.state == "connected" else None
    actions: list[dict[str, str]] = []
    if not gone:
        if not p.admitted and p.state in ("lobby", "connected"):
            actions.append({"action": "admit", "label": "Zulassen", "kind": "success"})
        actions.append({"action": "unmute" if p.muted else "mute",
                        "label": "Ton an" if p.muted else "Stumm"})
        if sharing:
            actions.append({"action": "unshare", "label": "Teilen beenden"})
        who = p.name or p.agency
        actions.append({"action": "remove", "label": "Auflegen", "kind": "quiet-danger",
                        "confirm": f"{who} auflegen? Der Link gilt danach nicht mehr.",
                        "yes": "Ja, auflegen"})
    return {"id": p.id, "text": text, "badge": badge, "detail": quality_text(shown),
            "tone": "gone" if gone else "warn" if shown and is_poor(shown) else "",
            "actions": actions}


class PartnerPane(pn.viewable.Viewer):
    """Partners in the talk, the directory and the invitation form, for one tablet."""

    partner_name = param.String(default="", doc="Partner to ask in: name.")
    partner_agency = param.String(default="", doc="Partner to ask in: agency.")
    partner_role = param.String(default="", doc="Partner to ask in: role.")
    partner_purpose = param.String(default="", doc="Why the partner should join.")
    partner_type = param.Selector(objects=["", *AGENCY_TYPES], default="",
                                  doc="Kind of agency, for the evaluation.")

    def __init__(self, view: Any, **params: Any) -> None:
        super().__init__(**params)
        self.view = view
        self.partners = ItemList(on_action=self._on_partner, sizing_mode="stretch_width",
                                 css_classes=["control-partners"],
                                 empty="Noch niemand dazugebeten.")
        self.link = CopyLink(sizing_mode="stretch_width", css_classes=["invite-link"],
                             visible=False)
        self.bot = touch.button("Demo: simulierten Partner beitreten lassen", "light",
                                visible=False)
        self.bot.on_click(self._on_bot)
        self._bot_target: tuple[str, str] | None = None
        self.directory = DirectoryPanel(view)
        ask = touch.button("Zustimmung der Klient:in erfragen", "primary")
        ask.on_click(lambda e: self._ask())
        invite = touch.button("Per Link einladen", "primary")
        invite.on_click(lambda e: self._invite())

        def field(name: str, label: str) -> pn.widgets.TextInput:
            return touch.text(self.param[name], label, width=230)
        kind = touch.select(self.param.partner_type, "Art der Stelle", width=230,
                            options={"– bitte wählen –": "", **{t: t for t in AGENCY_TYPES}})
        title = ("Ohne Verzeichnis einladen" if view.link.site is not None
                 else "Partner per Video dazuholen")
        self.form = pn.Column(
            heading(title),
            touch.wrap(field("partner_name", "Name"), field("partner_agency", "Stelle"), kind,
                       field("partner_role", "Funktion")),
            touch.text(self.param.partner_purpose, "Warum (sieht die Klient:in)",
                       sizing_mode="stretch_width"),
            touch.wrap(ask, invite), sizing_mode="stretch_width")
        # With a partner network the directory comes first; without, the form.
        found = [self.directory, self.form] if view.link.site is not None else [
            self.form, self.directory]
        self._layout = pn.Column(heading("Im Gespräch"), self.partners, self.link, self.bot,
                                 *found, sizing_mode="stretch_width")
        view.watch_state(self.render, "partners", "quality", "phase", "screens")
        self.render()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def render(self, *events: Any) -> None:
        s = self.view.state
        self.form.visible = s.phase == "consulting"  # asking in: only during the talk
        people = sorted(s.partners, key=lambda p: p.state == "gone")
        self.partners.items = [partner_item(p, s.quality.get(p.id), p.id in s.screens)
                               for p in people]

    def clear(self) -> None:
        """Nothing of the last talk stays: no link, no demo button, empty forms."""
        self.link.param.update(url="", text="", visible=False)
        self.bot.visible = False
        self._bot_target = None
        self._clear_form()
        self.directory.clear()

    def _clear_form(self) -> None:
        self.param.update(partner_name="", partner_agency="", partner_role="",
                          partner_purpose="", partner_type="")

    # -- what the counsellor does ----------------------------------------------------
    def _args(self) -> dict[str, str]:
        return {"agency": self.partner_agency.strip(), "name": self.partner_name.strip(),
                "role": self.partner_role.strip(), "purpose": self.partner_purpose.strip(),
                "agency_type": self.partner_type}

    def _ask(self) -> None:
        args = self._args()
        if not args["name"] or not args["agency"] or not args["purpose"]:
            self.view.error = ("Für die Zustimmung bitte Name, Stelle und „Warum“ eintragen: "
                               "die Klient:in sieht es, bevor sie zustimmt.")
            return
        self.view.act("consent.request", then=self._clear_form, **args)

    def _invite(self) -> None:
        """Invite by a one-call link; the link is shown here once, to copy or send."""
        args = self._args()
        if not args["agency"]:
            self.view.error = "Bitte die Stelle eintragen (z. B. Jobcenter Musterstadt)."
            return
        future = self.view.link.post(self.view.role, "partner.invite", **args)

        async def show() -> None:
            reply = await self.view.link.settle(future)
            if not reply.ok:
                self.view.error = self.view.refused_text(reply.error)
                return
            url = self.view.link.base_url + reply.data["link"]
            self.show_link(url, args["agency"], reply.data["expires"])
            self.bot.visible = self.view.link.simulate_partner is not None
            self._bot_target = (url, args["agency"])
            self._clear_form()
            self.view.error = ""
        self.view.act_async(show())

    def show_link(self, url: str, whom: str, expires: str) -> None:
        self.link.param.update(url=url, visible=True,
                               text=f"Link für {whom} – einmal gültig, {german_until(expires)}:")

    def _on_bot(self, event: Any) -> None:
        if self._bot_target and self.view.link.simulate_partner is not None:
            self.view.link.simulate_partner(*self._bot_target)
            self.bot.visible = False

    def _on_partner(self, action: str, partner_id: Any) -> None:
        if not any(p.id == partner_id for p in self.view.state.partners):
            return
        if action == "remove":
            self.view.act("partner.remove", partner=partner_id)
        elif action == "admit":
            self.view.act("partner.admit", partner=partner_id)
        elif action in ("mute", "unmute"):
            self.view.act("partner.mute", partner=partner_id, on=action == "mute")
        elif action == "unshare":
            self.view.act("screen.stop", partner=partner_id)
