"""Translation catalogs: one JSON file per language under ``kiosk/locales``.

A translator adds a language by adding ``<code>.json`` with the same keys as
``de.json`` (``_language`` is its name in itself, ``_dir`` ``ltr`` or ``rtl``);
nothing else changes. Missing keys fall back to German.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from functools import cache

from kiosk.resources import LOCALES

FALLBACK = "de"


@cache
def catalog(language: str) -> dict[str, str]:
    """The strings of one language (empty when there is no catalog)."""
    path = LOCALES / f"{language}.json"
    if not path.is_file() or "/" in language:
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def languages() -> tuple[str, ...]:
    """Codes of every language with a catalog: German and its plain forms first."""
    codes = sorted(p.stem for p in LOCALES.glob("*.json"))
    first = [c for c in codes if c == FALLBACK or c.startswith(FALLBACK + "-")]
    return (*sorted(first, key=len), *(c for c in codes if c not in first))


def t(language: str, key: str, **values: object) -> str:
    """The text for ``key`` in ``language``, else German, else the key itself."""
    text = catalog(language).get(key) or catalog(FALLBACK).get(key) or key
    return text.format(**values) if values else text


def native_name(language: str) -> str:
    return catalog(language).get("_language", language)


def tag(language: str) -> str:
    """The BCP 47 tag for a catalog code: ``de-simple`` is German, ``de-x-simple``."""
    base, _, variant = language.partition("-")
    return f"{base}-x-{variant[:8]}" if len(variant) > 3 else language


def direction(language: str) -> str:
    return "rtl" if catalog(language).get("_dir") == "rtl" else "ltr"


@cache
def consent_version(language: str) -> str:
    """Names the consent text a client was shown: language and a hash of its wording."""
    texts = [t(language, k) for k in sorted(catalog(FALLBACK)) if k.startswith("consent.")]
    digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:12]
    return f"{language}:{digest}"


def local_date(language: str, day: str | dt.date) -> str:
    """A date (or an ISO date) as ``language`` writes it (``date.format`` and
    ``date.months`` in its locale file: 18.12.2026, 18 December 2026, 18‏/12‏/2026);
    text that is no date comes back as it came."""
    if not isinstance(day, dt.date):
        try:
            day = dt.date.fromisoformat(str(day))
        except ValueError:
            return str(day)
    months = t(language, "date.months").split(",")
    month = months[day.month - 1].strip() if len(months) == 12 else str(day.month)
    return t(language, "date.format", d=day.day, dd=f"{day.day:02d}", m=day.month,
             mm=f"{day.month:02d}", yyyy=day.year, month=month)
