"""The order in which a plan's steps run: every dependency before its dependents."""

from __future__ import annotations

import heapq
from graphlib import TopologicalSorter

from catalog.schema import Plan, PlanStep


def steps_in_order(plan: Plan) -> list[PlanStep]:
    """Steps with every dependency before its dependents; among steps ready at the same
    time the catalog's order wins, so the order is stable across runs and edits elsewhere.

    `depends_on` must name steps of the plan (the loader checks it). A cycle raises
    `graphlib.CycleError`, whose `args[1]` is the cycle with its first step repeated last.
    """
    position = {step.id: i for i, step in enumerate(plan.steps)}
    sorter = TopologicalSorter({step.id: step.depends_on for step in plan.steps})
    sorter.prepare()
    ready = [position[step_id] for step_id in sorter.get_ready()]
    heapq.heapify(ready)
    order: list[PlanStep] = []
    while ready:
        step = plan.steps[heapq.heappop(ready)]
        order.append(step)
        sorter.done(step.id)
        for step_id in sorter.get_ready():
            heapq.heappush(ready, position[step_id])
    return order
