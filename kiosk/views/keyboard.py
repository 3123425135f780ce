"""The touch screen's own keyboard: layouts as data, every label in the screen's language.

The kiosk has no physical keyboard, so each field the client types into brings
an on-screen keyboard (``kiosk/assets/keyboard.js`` draws it). A field asks
for a kind of keyboard:

* ``code``: the appointment code: A–Z, digits and "-" (nothing else is valid);
* ``email``: a mail address: Latin letters with shift, digits, @ . - _ (addresses
  are Latin whatever the screen's language);
* ``text``: free text in the script of the screen's language (Latin with German
  or Turkish letters, Cyrillic for Russian and Ukrainian, Arabic) with space,
  shift and a key to switch to Latin letters.

The letters sit where the client knows them from a keyboard: QWERTZ for German,
Turkish Q, ЙЦУКЕН, the Arabic PC layout, QWERTY otherwise. Special keys are
tokens in braces; the page names every key for screen readers in the screen's
language (``keyboard.*`` in the locale files).
"""

from __future__ import annotations

from typing import Any

from kiosk.i18n import t

BACKSPACE, SHIFT, SPACE = "{bksp}", "{shift}", "{space}"
#: The text keyboard's key that switches between the language's letters and Latin ones.
SCRIPT = "{script}"
#: Names of the script key: to the language's own letters, and to Latin ones.
SCRIPT_NAMES = {"{script}": "keyboard.script", "{latin}": "keyboard.latin"}
SPECIAL = (BACKSPACE, SHIFT, SPACE)
DIGITS = list("1234567890")
#: Punctuation keys and the locale key of their spoken name.
SYMBOLS = {"@": "keyboard.at", ".": "keyboard.dot", "-": "keyboard.dash",
           "_": "keyboard.underscore", ",": "keyboard.comma", "،": "keyboard.comma"}
KINDS = ("code", "email", "text")
#: Languages whose letters are not Latin: their text keyboard can switch to Latin.
OTHER_SCRIPTS = ("ru", "uk", "ar")

QWERTY = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
QWERTZ = ("qwertzuiop", "asdfghjkl", "yxcvbnm")
#: Free-text letters per script, in the rows of that language's own keyboard.
TEXT_ROWS = {
    "de": ("qwertzuiopü", "asdfghjklöä", "yxcvbnmß"),
    "en": QWERTY,
    "tr": ("qwertyuıopğü", "asdfghjklşi", "zxcvbnmöç"),
    "ru": ("йцукенгшщзхъ", "фывапролджэ", "ячсмитьбюё"),
    "uk": ("йцукенгшщзхї", "фівапролджє", "ячсмитьбюґ"),
    "ar": ("ضصثقفغعهخحجد", "شسيبلاتنمكطذ", "ئءؤرىةوزظأإآ"),
}


def base_language(language: str) -> str:
    """The catalog code without its variant: ``de-simple`` is ``de``."""
    return language.split("-")[0]


def latin_rows(language: str) -> tuple[str, ...]:
    """The Latin letters as the client's keyboards arrange them (QWERTZ in German)."""
    return QWERTZ if base_language(language) == "de" else QWERTY


def latin_lang(language: str) -> str:
    """The language in which a screen reader speaks Latin letter keys."""
    base = base_language(language)
    return base if base in ("de", "tr", "en") else "en"


def _rows(kind: str, language: str, script: bool = True) -> list[list[str]]:
    if kind == "code":
        top, middle, bottom = (row.upper() for row in latin_rows(language))
        return [[*DIGITS, BACKSPACE], list(top), [*middle, "-"], list(bottom)]
    if kind == "email":
        top, middle, bottom = latin_rows(language)
        return [[*DIGITS, BACKSPACE], list(top), list(middle), [SHIFT, *bottom],
                ["@", ".", "-", "_"]]
    base = base_language(language)
    top, middle, bottom = TEXT_ROWS.get(base, QWERTY) if script else latin_rows(language)
    shift = [] if script and base == "ar" else [SHIFT]  # Arabic letters have no case
    switch = [SCRIPT] if base in OTHER_SCRIPTS else []
    comma = "،" if script and base == "ar" else ","
    return [[*DIGITS, BACKSPACE], list(top), list(middle), [*shift, *bottom],
            [*switch, SPACE, comma, ".", "-"]]


def layout(kind: str, language: str, *, script: bool = True) -> list[list[str]]:
    """The rows of keys of one keyboard; ``script`` False gives a text keyboard's Latin
    letters (the other side of its script key)."""
    if kind not in KINDS:
        raise ValueError(f"no keyboard of kind {kind!r}")
    return _rows(kind, language, script)


def names(language: str) -> dict[str, str]:
    """Every special key's and punctuation key's name, spoken in ``language``."""
    out = {token: t(language, f"keyboard.{token[1:-1]}") for token in SPECIAL}
    out.update({token: t(language, key) for token, key in SCRIPT_NAMES.items()})
    out.update({symbol: t(language, key) for symbol, key in SYMBOLS.items()})
    return out


def describe(kind: str, language: str) -> dict[str, Any]:
    """What the page needs to draw one field's keyboard, in the screen's language."""
    base = base_language(language)
    out: dict[str, Any] = {
        "kind": kind, "rows": layout(kind, language), "names": names(language),
        "label": t(language, "keyboard.label"), "show": t(language, "keyboard.show"),
        "hide": t(language, "keyboard.hide"), "upper": kind == "code",
        "letters_lang": latin_lang(language), "locale": base, "dir": "ltr"}
    if kind == "text":
        out["dir"] = "rtl" if base == "ar" else "ltr"
        out["letters_lang"] = base
        if base in OTHER_SCRIPTS:
            out["latin"] = layout(kind, language, script=False)
            out["latin_lang"] = "en"
            out["script_sample"] = {"ru": "АБВ", "uk": "АБВ", "ar": "أبت"}[base]
    return out
