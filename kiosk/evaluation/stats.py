"""The evaluation: anonymous figures over sessions, partner calls and the survey.

Everything here works on :class:`Facts`, three anonymous tables with a count
column ``n`` and nothing finer than the day: one room's SQLite file gives them
(:func:`load_facts`), an export file carries them aggregated, and the exports
of many rooms and offices merge by adding counts. :func:`report` turns facts
into figures; no share, mean, distribution or score is shown from fewer than
:data:`MIN_N` items (answers, sessions or partner calls). No free text exists.

The figures come from weighted counts (``numpy.bincount`` over small integer
codes), so the report over a million answers takes about as long as one plain
pandas groupby over them (``scripts/bench_stats.py``). Works in JupyterLab.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kiosk.exceptions import KioskError
from kiosk.room.agencies import AGENCY_TYPES, MODE_LABELS, MODES

#: No figure is shown from fewer than this many answers, sessions or partner calls.
MIN_N = 5
EXPORT_FORMAT = "kiosk-stats-export/1"
OUTCOME_CODES = {"settled": 0, "follow_up": 1}
_TYPES = 1 << len(AGENCY_TYPES)  # type sets as bit masks: 0 .. 255
_MODES = len(MODES)


class StatsError(KioskError):
    """A file that is no export, or a date range that makes no sense."""


@dataclass
class Facts:
    """Anonymous facts, each row weighted by ``n``.

    * ``sessions``: day, mode (code into MODES), types (bit mask of agency types that
      joined), partners (how many joined), outcome (-1 none, 0 settled, 1 follow-up);
    * ``survey``: day, mode, types, satisfaction (1–5), ease (1–5), recommend (0–10);
    * ``joins``: day, agency_type (code into AGENCY_TYPES, -1 none), ring_s (seconds
      from asking the partner to their joining).
    """

    sessions: pd.DataFrame
    survey: pd.DataFrame
    joins: pd.DataFrame

    KEYS = {"sessions": ["day", "mode", "types", "partners", "outcome"],
            "survey": ["day", "mode", "types", "satisfaction", "ease", "recommend"],
            "joins": ["day", "agency_type", "ring_s"]}
    DTYPES = {"mode": "int8", "types": "int16", "partners": "int16", "outcome": "int8",
              "satisfaction": "int8", "ease": "int8", "recommend": "int8",
              "agency_type": "int8", "ring_s": "int32", "n": "int64"}

    @classmethod
    def from_frames(cls, **frames: pd.DataFrame) -> Facts:
        """Facts from plain frames (``n`` defaults to 1 a row), with checked types."""
        out = {}
        for name, keys in cls.KEYS.items():
            frame = frames.get(name, pd.DataFrame(columns=keys))
            frame = frame.copy()
            if "n" not in frame:
                frame["n"] = 1
            frame["day"] = pd.to_datetime(frame["day"]).astype("datetime64[ns]")
            out[name] = frame[[*keys, "n"]].astype(
                {k: v for k, v in cls.DTYPES.items() if k in frame})
        return cls(**out)

    def between(self, since: dt.date | None = None, until: dt.date | None = None) -> Facts:
        """Only the days from ``since`` to ``until`` (both included)."""
        if since is None and until is None:
            return self
        if since and until and since > until:
            raise StatsError(f"the range starts ({since}) after it ends ({until})")
        lo = np.datetime64(since or "1970-01-01", "ns")
        hi = np.datetime64(until or "2262-04-11", "ns")  # the last day datetime64[ns] holds

        def cut(frame: pd.DataFrame) -> pd.DataFrame:
            day = frame["day"].to_numpy()
            return frame[(day >= lo) & (day <= hi)]
        return Facts(cut(self.sessions), cut(self.survey), cut(self.joins))

    def aggregated(self) -> Facts:
        """Identical rows folded into one with their counts added (what an export holds)."""
        out = {}
        for name, keys in self.KEYS.items():
            frame = getattr(self, name)
            out[name] = (frame.groupby(keys, as_index=False, sort=True)["n"].sum()
                         .astype({"n": "int64"}))
        return Facts(**out)

    @classmethod
    def concat(cls, many: list[Facts]) -> Facts:
        return cls(**{name: pd.concat([getattr(f, name) for f in many], ignore_index=True)
                      for name in cls.KEYS}).aggregated()


# -- reading a room's database -------------------------------------------------------
def _mask(types: str | None) -> int:
    mask = 0
    # A session without partner calls reads as NaN (pandas), not None.
    for name in (types if isinstance(types, str) else "").split(","):
        if name in AGENCY_TYPES:
            mask |= 1 << AGENCY_TYPES.index(name)
    return mask


def load_facts(db_path: str | Path) -> Facts:
    """The facts of one room's SQLite file, read without writing to it."""
    path = Path(db_path)
    if not path.exists():
        raise StatsError(f"no room database at {path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        sessions = pd.read_sql_query(
            "SELECT s.started_at AS started, s.mode AS kind, s.outcome AS outcome, "
            "count(c.partner_id) AS partners, group_concat(c.agency_type) AS types "
            "FROM sessions s LEFT JOIN partner_calls c ON c.session_id = s.id "
            "GROUP BY s.id", conn)
        survey = pd.read_sql_query(
            "SELECT day, mode, agency_types, satisfaction, ease, recommend "
            "FROM survey_answers", conn)
        joins = pd.read_sql_query(
            "SELECT invited_at, joined_at, agency_type FROM partner_calls", conn)
    finally:
        conn.close()
    started = pd.to_datetime(sessions["started"], utc=True, format="ISO8601")
    types = sessions["types"].map(_mask).astype("int16")
    session_mode = np.where(sessions["kind"] == "remote", MODES.index("remote"),
                            np.where(sessions["partners"] > 0, MODES.index("room_partners"),
                                     MODES.index("room")))
    invited = pd.to_datetime(joins["invited_at"], utc=True, format="ISO8601")
    joined = pd.to_datetime(joins["joined_at"], utc=True, format="ISO8601")
    return Facts.from_frames(
        sessions=pd.DataFrame({
            "day": started.dt.tz_localize(None).dt.normalize(), "mode": session_mode,
            "types": types, "partners": sessions["partners"],
            "outcome": sessions["outcome"].map(OUTCOME_CODES).fillna(-1)}),
        survey=pd.DataFrame({
            "day": survey["day"], "mode": survey["mode"].map(
                {m: i for i, m in enumerate(MODES)}).fillna(0),
            "types": survey["agency_types"].map(_mask), "satisfaction": survey["satisfaction"],
            "ease": survey["ease"], "recommend": survey["recommend"]}),
        joins=pd.DataFrame({
            "day": joined.dt.tz_localize(None).dt.normalize(),
            "agency_type": joins["agency_type"].map(
                {t: i for i, t in enumerate(AGENCY_TYPES)}).fillna(-1),
            "ring_s": (joined - invited).dt.total_seconds().clip(lower=0).round()}),
    ).aggregated()


# -- the report --------------------------------------------------------------------
def _segments() -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(kind, label, modes, type masks) of every segment a figure is split by."""
    every_type = np.arange(_TYPES)
    out = [("Gesamt", "alle", np.arange(_MODES), every_type)]
    out += [("Art", MODE_LABELS[m], np.array([i]), every_type) for i, m in enumerate(MODES)]
    for bit, name in enumerate(AGENCY_TYPES):
        out.append(("Partner", name, np.arange(_MODES), every_type[(every_type >> bit) & 1 == 1]))
    return out


def _counts(frame: pd.DataFrame, column: str, size: int) -> np.ndarray:
    """Weighted counts by (mode, type mask, value of ``column``)."""
    key = (frame["mode"].to_numpy(np.int64) * _TYPES + frame["types"].to_numpy(np.int64)) \
        * size + frame[column].to_numpy(np.int64)
    return np.bincount(key, weights=frame["n"].to_numpy(), minlength=_MODES * _TYPES * size
                       ).reshape(_MODES, _TYPES, size)


def _shown(value: float, n: float, min_n: int) -> float | None:
    return None if n < min_n or not np.isfinite(value) else round(float(value), 3)


def report(facts: Facts, *, since: dt.date | None = None, until: dt.date | None = None,
           min_n: int = MIN_N) -> dict[str, pd.DataFrame]:
    """Every figure of the evaluation, as tables (hidden figures are None)."""
    f = facts.between(since, until)
    sat = _counts(f.survey, "satisfaction", 6)
    ease = _counts(f.survey, "ease", 6)
    rec = _counts(f.survey, "recommend", 11)
    s = f.sessions
    with_partner = s.assign(any=(s["partners"] > 0).astype("int64"))
    by_partner = _counts(with_partner, "any", 2)
    outcome = _counts(s.assign(outcome=s["outcome"] + 1), "outcome", 3)  # none, settled, f-up
    partners = _counts(s.assign(one=0, n=s["n"] * s["partners"]), "one", 1)

    rows, dists = [], []
    for kind, label, modes, masks in _segments():
        pick = np.ix_(modes, masks)
        r, st, e = rec[pick].sum((0, 1)), sat[pick].sum((0, 1)), ease[pick].sum((0, 1))
        answers, sessions = r.sum(), by_partner[pick].sum()
        o = outcome[pick].sum((0, 1))
        known = o[1] + o[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            rows.append({
                "segment": kind, "label": label, "sessions": int(sessions),
                "share_with_partner": _shown(by_partner[pick].sum((0, 1))[1] / sessions,
                                             sessions, min_n),
                "partners_per_session": _shown(partners[pick].sum() / sessions, sessions, min_n),
                "share_settled": _shown(o[1] / known, known, min_n),
                "answers": int(answers),
                "response_rate": _shown(answers / sessions, min(answers, sessions), min_n),
                "satisfaction_mean": _shown((st * np.arange(6)).sum() / answers, answers, min_n),
                "ease_mean": _shown((e * np.arange(6)).sum() / answers, answers, min_n),
                "nps": _shown((r[9:].sum() - r[:7].sum()) / answers * 100, answers, min_n),
            })
            for question, counts in (("satisfaction", st[1:]), ("ease", e[1:]),
                                     ("recommend", r)):
                first = 1 if question != "recommend" else 0
                for value, count in enumerate(counts, start=first):
                    dists.append({"segment": kind, "label": label, "question": question,
                                  "value": value,
                                  "share": _shown(count / answers, answers, min_n)})
    per_week, per_month = _per_period(f.sessions)
    return {"overview": pd.DataFrame(rows), "distribution": pd.DataFrame(dists),
            "partners": _partner_table(f, min_n), "per_week": per_week, "per_month": per_month}


def _partner_table(f: Facts, min_n: int) -> pd.DataFrame:
    """Partners per session and time from asking to joining, by agency type."""
    sessions = f.sessions["n"].sum()
    j = f.joins
    code, ring, n = (j["agency_type"].to_numpy(np.int64), j["ring_s"].to_numpy(np.int64),
                     j["n"].to_numpy(np.int64))
    # One sort by (type, seconds); each type is then a slice, its median a search.
    order = np.argsort(code * (int(ring.max(initial=0)) + 1) + ring, kind="stable")
    code, ring, n = code[order], ring[order], n[order]
    bounds = np.searchsorted(code, np.arange(len(AGENCY_TYPES) + 1))
    rows = []
    for i, name in enumerate(AGENCY_TYPES):
        times, weights = ring[bounds[i]:bounds[i + 1]], n[bounds[i]:bounds[i + 1]]
        count = int(weights.sum())
        cum = np.cumsum(weights)
        median = float(times[np.searchsorted(cum, count / 2)]) if count else np.nan
        p90 = float(times[np.searchsorted(cum, count * 0.9)]) if count else np.nan
        mean = float((times * weights).sum() / count) if count else np.nan
        rows.append({"agency_type": name, "partners": count,
                     "per_session": _shown(count / sessions if sessions else np.nan,
                                           sessions, min_n),
                     "ring_to_join_median_s": _shown(median, count, min_n),
                     "ring_to_join_mean_s": _shown(mean, count, min_n),
                     "ring_to_join_p90_s": _shown(p90, count, min_n)})
    return pd.DataFrame(rows)


def _per_period(sessions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sessions per week (starting Monday) and per month, by mode.

    Counted per day first (one bincount), then the few days are folded into
    weeks and months.
    """
    days = sessions["day"].to_numpy("datetime64[D]").astype(np.int64)
    first = int(days.min(initial=0))
    span = int(days.max(initial=0)) - first + 1 if len(days) else 0
    per_day = np.bincount((days - first) * _MODES + sessions["mode"].to_numpy(np.int64),
                          weights=sessions["n"].to_numpy(), minlength=span * _MODES
                          ).reshape(span, _MODES)
    day = np.datetime64("1970-01-01", "D") + np.arange(first, first + span)
    frame = pd.DataFrame(per_day.astype(np.int64), columns=list(MODES))
    out = []
    for label, start in (("week", day - ((day.astype(np.int64) + 3) % 7)),
                         ("month", day.astype("datetime64[M]").astype("datetime64[D]"))):
        table = frame.groupby(start.astype("datetime64[ns]")).sum()
        table = table[table.sum(axis=1) > 0]
        table["all"] = table.sum(axis=1)
        out.append(table.rename_axis(label).reset_index())
    return out[0], out[1]


# -- output ------------------------------------------------------------------------
def to_json(tables: dict[str, pd.DataFrame]) -> str:
    return json.dumps({name: json.loads(t.to_json(orient="records", date_format="iso"))
                       for name, t in tables.items()}, indent=2, ensure_ascii=False)


def to_csv(tables: dict[str, pd.DataFrame]) -> str:
    """Every table in one CSV, each row tagged with its table's name."""
    return pd.concat([t.assign(table=name) for name, t in tables.items()],
                     ignore_index=True).to_csv(index=False)


def to_excel(tables: dict[str, pd.DataFrame]) -> bytes:
    """One sheet per table."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, table in tables.items():
            table.to_excel(writer, sheet_name=name[:31], index=False)
    return buffer.getvalue()


def to_text(tables: dict[str, pd.DataFrame]) -> str:
    """The main tables for a terminal; '–' is a figure hidden (fewer than MIN_N)."""
    titles = {"overview": "Overview by segment", "partners": "Partners by agency type",
              "per_month": "Sessions per month"}
    return "\n\n".join(f"{title}\n{tables[name].to_string(index=False, na_rep='–')}"
                       for name, title in titles.items()) + \
        f"\n\n('–': hidden, from fewer than {MIN_N} answers, sessions or partner calls)\n"


# -- exchange between rooms and offices ---------------------------------------------
def export(facts: Facts, path: str | Path, *, source: str) -> Path:
    """Write one room's anonymous aggregates (counts, nothing finer than the day)."""
    agg = facts.aggregated()
    body = {"format": EXPORT_FORMAT, "source": source,
            "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "tables": {name: json.loads(getattr(agg, name).to_json(
                orient="split", index=False, date_format="iso")) for name in Facts.KEYS}}
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path


def read_export(path: str | Path) -> Facts:
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StatsError(f"cannot read {path}: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != EXPORT_FORMAT:
        raise StatsError(f"{path} is not a kiosk stats export ({EXPORT_FORMAT})")
    frames = {}
    try:
        for name, keys in Facts.KEYS.items():
            table = body["tables"][name]
            frame = pd.DataFrame(table["data"], columns=table["columns"])
            if set(frame.columns) != {*keys, "n"}:
                raise StatsError(f"{path}: table {name} has columns {list(frame.columns)}")
            frames[name] = frame
        return Facts.from_frames(**frames)
    except (KeyError, TypeError, ValueError) as exc:
        raise StatsError(f"{path} is damaged: {exc}") from None


def merge(paths: list[str | Path]) -> Facts:
    """The facts of many exports together."""
    if not paths:
        raise StatsError("name at least one export file")
    return Facts.concat([read_export(p) for p in paths])

