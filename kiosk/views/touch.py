"""Panel widgets at touch size, for the staff pages.

Panel draws every widget in its own shadow root, so page CSS cannot reach
it: each widget made here carries ``kiosk/assets/control.css`` (48 px fields
and buttons, 1rem text, colours of at least 4.5:1). Use these instead of
``pn.widgets.*`` directly on /control, /admin and /stats.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from kiosk.resources import ASSETS

TOUCH_CSS = (ASSETS / "control.css").read_text(encoding="utf-8")
#: Set on a page's root: Bokeh's base text size (12 px) becomes the browser's (16 px), in
#: every shadow root below (a custom property inherits through them).
BASE_FONT = {"--bokeh-font-size": "1rem"}
#: Kinds of button, as Panel names them: colours from control.css.
KINDS = ("default", "primary", "success", "warning", "danger", "light")


def _css(kw: dict[str, Any]) -> dict[str, Any]:
    kw["stylesheets"] = [TOUCH_CSS, *kw.get("stylesheets", [])]
    return kw


def button(label: str, kind: str = "default", **kw: Any) -> pn.widgets.Button:
    """A button of at least 48×48 px; ``kind`` picks its colour."""
    return pn.widgets.Button(label=label, color=kind, **_css(kw))


def text(p: param.Parameter, label: str, **kw: Any) -> pn.widgets.TextInput:
    """A labelled text field for the parameter ``p``."""
    return pn.widgets.TextInput.from_param(p, label=label, description=None, **_css(kw))


def password(p: param.Parameter, label: str, **kw: Any) -> pn.widgets.PasswordInput:
    return pn.widgets.PasswordInput.from_param(p, label=label, description=None, **_css(kw))


def area(p: param.Parameter, label: str, **kw: Any) -> pn.widgets.TextAreaInput:
    return pn.widgets.TextAreaInput.from_param(p, label=label, description=None, **_css(kw))


def select(p: param.Parameter, label: str, **kw: Any) -> pn.widgets.Select:
    """A labelled select for the parameter ``p`` (``options`` maps labels to values)."""
    return pn.widgets.Select.from_param(p, label=label, description=None, **_css(kw))


def styled(widget_type: type, **kw: Any) -> Any:
    """Any other Panel widget, at touch size."""
    return widget_type(**_css(kw))


def wrap(*objects: Any, gap: str = ".75rem", **kw: Any) -> pn.FlexBox:
    """A row that wraps onto the next line instead of running off the screen."""
    return pn.FlexBox(*objects, flex_wrap="wrap", align_items="flex-end", gap=gap,
                      sizing_mode="stretch_width", **kw)


def grow(widget: Any, basis: str = "14rem") -> Any:
    """Let a widget in a :func:`wrap` row take the room that is left (at least ``basis``)."""
    widget.sizing_mode = "stretch_width"
    widget.styles = {**widget.styles, "flex": f"1 1 {basis}", "min-width": "0"}
    return widget


def sign_out() -> pn.pane.HTML:
    """The staff pages' sign-out button (a plain form: POST /logout), 48 px high."""
    return pn.pane.HTML(
        "<form method='post' action='/logout' class='signout'>"
        "<button type='submit'>Abmelden</button></form>",
        stylesheets=[".signout { margin: 0; } .signout button { min-height: 48px; "
                     "min-width: 48px; padding: 0 1.2rem; font: inherit; font-size: 1rem; "
                     "font-weight: 600; border-radius: 6px; border: 2px solid #4a525a; "
                     "background: #fff; color: #1b1f23; cursor: pointer; } "
                     ".signout button:focus-visible { outline: 3px solid #0b5cad; "
                     "outline-offset: 2px; }"],
        css_classes=["staff-signout"], align="end")
