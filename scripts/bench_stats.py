"""Benchmark of the evaluation report against a plain pandas groupby, in one run.

The report over 1,000,000 survey answers, 200,000 sessions and 100,000 partner
calls (every figure, split by mode and agency type), beside a plain groupby of
the same survey frame by mode and agency types (three means). Best of several
runs each.

Targets: the report under 1 s, and at most 2x the plain groupby.
The last line is the verdict; the exit code is 1 if a target fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kiosk.evaluation.stats import Facts, report  # noqa: E402
from kiosk.room.agencies import AGENCY_TYPES, MODES  # noqa: E402


def synthetic(answers: int, sessions: int, joins: int, seed: int = 7) -> Facts:
    """A year of made-up facts, one row per answer, session and partner call."""
    rng = np.random.default_rng(seed)

    def day(n: int) -> np.ndarray:
        return (np.datetime64("2026-01-01", "ns")
                + rng.integers(0, 365, n).astype("timedelta64[D]"))
    masks = np.array([1, 2, 4, 8, 3, 16, 32, 64, 128, 6], dtype=np.int16)

    def kinds(n: int) -> tuple[np.ndarray, np.ndarray]:
        """Modes, and the agency types that joined (none in the room without partners)."""
        mode = rng.integers(0, len(MODES), n)
        types = np.where(mode == MODES.index("room"), 0, masks[rng.integers(0, len(masks), n)])
        return mode, types
    answer_mode, answer_types = kinds(answers)
    session_mode, session_types = kinds(sessions)
    return Facts.from_frames(
        survey=pd.DataFrame({
            "day": day(answers), "mode": answer_mode, "types": answer_types,
            "satisfaction": rng.choice(5, answers, p=[.04, .06, .15, .35, .4]) + 1,
            "ease": rng.choice(5, answers, p=[.03, .07, .2, .35, .35]) + 1,
            "recommend": rng.choice(11, answers, p=[.01] * 5 + [.03, .05, .1, .17, .25, .35])}),
        sessions=pd.DataFrame({
            "day": day(sessions), "mode": session_mode, "types": session_types,
            "partners": np.where(session_types == 0, 0, rng.integers(1, 3, sessions)),
            "outcome": rng.choice([-1, 0, 1], sessions, p=[.1, .65, .25])}),
        joins=pd.DataFrame({
            "day": day(joins), "agency_type": rng.integers(0, len(AGENCY_TYPES), joins),
            "ring_s": rng.integers(5, 600, joins)}))


def best(func, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=200_000)
    parser.add_argument("--joins", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    facts = synthetic(args.answers, args.sessions, args.joins)
    survey = facts.survey

    def plain() -> pd.DataFrame:
        return survey.groupby(["mode", "types"])[["satisfaction", "ease", "recommend"]].mean()

    plain(), report(facts)  # warm up
    baseline = best(plain, args.runs)
    ours = best(lambda: report(facts), args.runs)
    ratio = ours / baseline
    print(f"answers {args.answers:,}, sessions {args.sessions:,}, partner calls "
          f"{args.joins:,}; best of {args.runs}")
    print(f"plain groupby (3 means by mode, types): {baseline * 1000:.1f} ms")
    print(f"report (every figure, every split):     {ours * 1000:.1f} ms")
    ok = ours < 1.0 and ratio <= 2.0
    print(f"report time: {ours * 1000:.0f} ms vs {baseline * 1000:.0f} ms plain groupby = "
          f"{ratio:.2f}x (target < 1000 ms and <= 2x) {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
