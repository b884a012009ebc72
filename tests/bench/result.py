"""The one-line JSON result every scenario prints."""

from __future__ import annotations

from typing import Any

import msgspec


class BenchResult(msgspec.Struct, frozen=True, kw_only=True):
    scenario: str
    baseline: float
    candidate: float
    unit: str
    # candidate / baseline for "higher is better" units, baseline / candidate otherwise,
    # so a ratio above 1.0 always means the candidate did better.
    ratio: float
    extra: dict[str, Any] = {}

    def to_json(self) -> str:
        return msgspec.json.encode(self).decode()


def better_ratio(baseline: float, candidate: float, *, higher_is_better: bool) -> float:
    if higher_is_better:
        return round(candidate / baseline, 3) if baseline else float("inf")
    return round(baseline / candidate, 3) if candidate else float("inf")
