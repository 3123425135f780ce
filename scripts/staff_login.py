"""Signing a Chromium page in on a room's /login, as a member of staff does."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote


def sign_in(page: Any, base: str, name: str, password: str, target: str) -> None:
    """Sign ``page`` in as ``name`` and land on ``target`` (a path such as /control)."""
    page.goto(f"{base}/login?next={quote(target)}")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Passwort").fill(password)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{base}{target}")
