"""The last line of a benchmark with several targets (shared by the bench scripts)."""

from __future__ import annotations


def verdict(lines: list[tuple[str, float, bool]]) -> tuple[str, bool]:
    """Print each target's line (text, value / limit, passed); return the last line: the
    target with the least margin, PASS only if every target passes."""
    for text, _, passed in lines:
        print(f"{text} {'PASS' if passed else 'FAIL'}")
    failed = sum(not passed for _, _, passed in lines)
    note = f"binding of {len(lines)} targets" + (f", {failed} failed" if failed else "")
    text = max(lines, key=lambda line: line[1])[0]
    return f"{text[:-1]}; {note}) {'FAIL' if failed else 'PASS'}", not failed
