"""Translation catalogs: one JSON file per language under ``kiosk/locales``.

A translator adds a language by adding ``<code>.json`` with the same keys;
missing keys fall back to German.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LOCALES = Path(__file__).with_name("locales")
FALLBACK = "de"


@cache
def catalog(language: str) -> dict[str, str]:
    """The strings of one language (empty when there is no catalog)."""
    path = LOCALES / f"{language}.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def t(language: str, key: str) -> str:
    """The text for ``key`` in ``language``, else German, else the key itself."""
    return catalog(language).get(key) or catalog(FALLBACK).get(key) or key
