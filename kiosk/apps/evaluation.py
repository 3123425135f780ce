"""The evaluation (the charts and tables of the room's ``/stats``) for Panel's own tools::

    KIOSK_DATA_DIR=/var/lib/kiosk panel serve kiosk/apps/evaluation.py

behind the room's sign-in (a role that opens ``/stats``). It reads the room's
file read-only; for many rooms, ``KIOSK_STATS_EXPORTS`` names their exports
(``kiosk stats export``) as a glob, and the page reports them merged instead.
"""

from __future__ import annotations

import glob
import os

import panel as pn

from kiosk.config import default_data_dir
from kiosk.evaluation.stats import Facts, StatsError, load_facts, merge
from kiosk.views.stats import StatsView

EXPORTS_ENV = "KIOSK_STATS_EXPORTS"


def facts() -> Facts:
    """The facts to report: the exports named by ``$KIOSK_STATS_EXPORTS``, else the room's."""
    pattern = os.environ.get(EXPORTS_ENV)
    if not pattern:
        return load_facts(default_data_dir() / "room.db")
    files = sorted(glob.glob(pattern))
    if not files:
        raise StatsError(f"{EXPORTS_ENV}={pattern} names no export file")
    return merge(files)


def page() -> StatsView:
    return StatsView(facts=facts)


if pn.state.served:  # `panel serve kiosk/apps/evaluation.py`, jupyter-panel-proxy
    from kiosk.apps.access import staff_only

    staff_only("stats", page).servable(title="Auswertung")
