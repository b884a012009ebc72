"""A selection as a person reads it in a terminal (`mpc-api select TASK --explain`)."""

from __future__ import annotations

from brain.result import Selection
from catalog.schema import Model


def describe(selection: Selection) -> str:
    lines = [f"task {selection.task}: tier asked {selection.tier_requested}, answered {selection.tier_used}", ""]
    lines.append(f"  primary    {_model_line(selection.model)}")
    for n, model in enumerate(selection.fallbacks, start=1):
        lines.append(f"  fallback {n} {_model_line(model)}")
    for note in selection.notes:
        lines.append(f"  note: {note}")
    explain = selection.explain
    if explain is None:
        return "\n".join(lines)
    lines += ["", "why:"]
    lines += [f"  - {reason}" for reason in explain.reasons]
    lines += ["", f"considered ({len(explain.considered)} models; rules in order: {', '.join(explain.rules)}):"]
    width = max(len(considered.id) for considered in explain.considered)
    for considered in explain.considered:
        verdict = f"kept, rank {considered.rank}" if considered.kept else f"removed by {considered.removed_by}"
        lines.append(f"  {considered.id:<{width}}  {considered.tier:<8} {considered.speed:<6} {verdict}")
    return "\n".join(lines)


def _model_line(model: Model) -> str:
    return f"{model.id}  ({model.provider}, {model.tier}, {model.speed})"
