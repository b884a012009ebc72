"""What a plan step takes and gives, and the checks every plan passes before it runs.

A step is a catalog task (run by a model, as a child job) or a worker step (run by the plan's
own worker, no provider call: `WORKER_STEPS`). Each step input is bound to the request's
input (`request.input`, `request.input.FIELD`) or to an earlier step's output
(`steps.X.output`); a binding carries a value of one *kind* (text, an image artifact, …),
and a step input accepts some kinds only. The kinds are checked here, once for the catalog's
plans when the catalog loads and once for every plan a request sends, so a plan that cannot
be wired up is refused before any step runs, naming the step and input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from graphlib import CycleError
from typing import Any, Literal

from catalog.plans import steps_in_order
from catalog.schema import Plan, PlanStep, Task

Kind = Literal["text", "texts", "json", "embeddings", "image", "audio", "video", "context"]

# Steps the plan's worker runs itself: ranking documents by cosine similarity (RAG without a
# vector database) and laying a narration onto a video with ffmpeg.
RANK_STEP = "rank_documents"
COMBINE_STEP = "combine_video_audio"
WORKER_STEPS: Mapping[str, str] = {
    RANK_STEP: "Rank the documents by cosine similarity to the query; keep the top k as context.",
    COMBINE_STEP: "Lay the narration onto the video as one MP4 (ffmpeg).",
}
# What a worker step gives, and the inputs it needs (each of one kind).
_WORKER_OUTPUTS: Mapping[str, Kind] = {RANK_STEP: "context", COMBINE_STEP: "video"}
_WORKER_INPUTS: Mapping[str, Mapping[str, frozenset[Kind]]] = {
    RANK_STEP: {
        "query": frozenset({"embeddings"}),
        "documents": frozenset({"embeddings"}),
        "texts": frozenset({"texts"}),
    },
    COMBINE_STEP: {"video": frozenset({"video"}), "audio": frozenset({"audio"})},
}
# Media tasks take named inputs; `required` must all be bound.
_MEDIA_OUTPUTS: Mapping[str, Kind] = {
    "embed_text": "embeddings",
    "image_generate": "image",
    "tts": "audio",
    "video_generate": "video",
    "transcribe": "text",
}
_MEDIA_INPUTS: Mapping[str, Mapping[str, frozenset[Kind]]] = {
    "image_generate": {"prompt": frozenset({"text"})},
    "tts": {"text": frozenset({"text"})},
    "video_generate": {"prompt": frozenset({"text"}), "image": frozenset({"image"})},
    "transcribe": {},
}
_BY_MODALITY: Mapping[str, Kind] = {
    "text": "text",
    "embedding": "embeddings",
    "image": "image",
    "audio": "audio",
    "video": "video",
}
_TEXT_KINDS: frozenset[Kind] = frozenset({"text", "texts", "json", "context"})
_EMBED_KINDS: frozenset[Kind] = frozenset({"text", "texts"})

MAX_PLAN_STEPS = 32
# A list of texts from the request (a RAG plan's documents) and each text in it.
MAX_BOUND_TEXTS = 256
MAX_BOUND_TEXT_CHARS = 100_000


class PlanProblem(ValueError):
    """A plan that cannot run. `where` is relative to the plan (`steps[2].inputs[0].source`),
    `step` the step's id when one step is at fault (the message does not repeat it)."""

    def __init__(self, where: str, message: str, *, step: str | None = None) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message
        self.step = step


def is_worker_step(task: str) -> bool:
    return task in WORKER_STEPS


def output_kind(task: Task | str) -> Kind:
    """The kind of value a step of `task` gives (a text task: its answer's text)."""
    if isinstance(task, str):
        return _WORKER_OUTPUTS.get(task, "text")
    if task.id in _MEDIA_OUTPUTS:
        return _MEDIA_OUTPUTS[task.id]
    return _BY_MODALITY[task.modality]


def value_kind(value: Any) -> Kind:
    """The kind of a value the request carries: a string is text, a list of strings texts."""
    if isinstance(value, str):
        return "text"
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return "texts"
    return "json"


def accepted_kinds(task: Task | str, input_name: str) -> frozenset[Kind] | None:
    """The kinds input `input_name` of a `task` step takes; None when the task has no such input."""
    if isinstance(task, str):
        return _WORKER_INPUTS.get(task, {}).get(input_name)
    if task.modality == "embedding":
        return _EMBED_KINDS
    if task.modality != "text":
        return _media_inputs(task).get(input_name)
    # A text task takes any named input as a section of its prompt; an image only if it can see.
    if "vision" not in task.required_capabilities:
        return _TEXT_KINDS
    return _TEXT_KINDS | {"image"}


def _media_inputs(task: Task) -> Mapping[str, frozenset[Kind]]:
    found = _MEDIA_INPUTS.get(task.id)
    if found is not None:
        return found
    return _MEDIA_INPUTS[{"image": "image_generate", "audio": "tts", "video": "video_generate"}[task.modality]]


def input_names(task: Task | str) -> tuple[str, ...]:
    """The inputs a task with fixed input names takes (for messages); () when any name goes."""
    if isinstance(task, str):
        return tuple(_WORKER_INPUTS.get(task, {}))
    if task.modality in ("text", "embedding"):
        return ()
    return tuple(_media_inputs(task))


def _required(task: Task | str) -> tuple[str, ...]:
    if isinstance(task, str):
        return tuple(_WORKER_INPUTS.get(task, {}))
    if task.modality in ("text", "embedding") or task.id == "transcribe":
        return ()
    return tuple(name for name in _media_inputs(task) if name != "image")


def parse_source(source: str) -> tuple[str, tuple[str, ...]]:
    """`request.input.documents` → ("request", ("documents",)); `steps.x.output` → ("x", ())."""
    parts = source.split(".")
    if parts[0] == "steps":
        return parts[1], ()
    return "request", tuple(parts[2:])


def check_graph(plan: Plan, tasks: Mapping[str, Task]) -> None:
    """Unique step ids, known tasks and steps, bindings only to dependencies, no cycle."""
    if len(plan.steps) > MAX_PLAN_STEPS:
        raise PlanProblem("steps", f"a plan has at most {MAX_PLAN_STEPS} steps, this one has {len(plan.steps)}")
    step_ids: dict[str, int] = {}
    for s, step in enumerate(plan.steps):
        if step.id in step_ids:
            raise PlanProblem(f"steps[{s}].id", f"duplicate step id {step.id!r}", step=step.id)
        step_ids[step.id] = s
        if step.task not in tasks and not is_worker_step(step.task):
            raise PlanProblem(f"steps[{s}].task", f"unknown task {step.task!r}", step=step.id)
    for s, step in enumerate(plan.steps):
        for d, dep in enumerate(step.depends_on):
            if dep not in step_ids:
                raise PlanProblem(f"steps[{s}].depends_on[{d}]", f"unknown step {dep!r}", step=step.id)
        names: set[str] = set()
        for k, step_input in enumerate(step.inputs):
            if step_input.name in names:
                raise PlanProblem(
                    f"steps[{s}].inputs[{k}].name",
                    f"input {step_input.name!r} bound twice",
                    step=step.id,
                )
            names.add(step_input.name)
            origin, _ = parse_source(step_input.source)
            if origin != "request" and origin not in step.depends_on:
                raise PlanProblem(
                    f"steps[{s}].inputs[{k}].source",
                    f"reads step {origin!r}, which is not in depends_on",
                    step=step.id,
                )
    try:
        steps_in_order(plan)
    except CycleError as exc:
        cycle = list(reversed(exc.args[1]))  # graphlib lists a step before the one needing it
        raise PlanProblem("steps", "dependency cycle: " + " -> ".join(cycle), step=cycle[0]) from None


def check_bindings(plan: Plan, tasks: Mapping[str, Task], request_input: Any = None, *, known_input: bool) -> None:
    """Every input is bound to a value its step can take, and every required input is bound.

    With `known_input` (a request's plan), request bindings are checked against the request's
    own `input`: the field must exist and be of a kind the step takes. The catalog's plans are
    checked without one (any kind may come from a request)."""
    by_id = {step.id: step for step in plan.steps}
    for s, step in enumerate(plan.steps):
        task: Task | str = tasks.get(step.task) or step.task
        for k, step_input in enumerate(step.inputs):
            where = f"steps[{s}].inputs[{k}]"
            accepted = accepted_kinds(task, step_input.name)
            if accepted is None:
                takes = ", ".join(input_names(task)) or "nothing from other steps"
                raise PlanProblem(
                    f"{where}.name",
                    f"task {step.task!r} has no input {step_input.name!r} (it takes: {takes})",
                    step=step.id,
                )
            origin, path = parse_source(step_input.source)
            if origin == "request":
                if not known_input:
                    continue
                found, value = _field(request_input, path)
                field = step_input.source.removeprefix("request.")  # the request's own field: `input.question`
                if not found:
                    raise PlanProblem(
                        field, f"input {step_input.name!r}: the request has no {step_input.source}", step=step.id
                    )
                kind = value_kind(value)
                _check_size(field, value, step.id)
            else:
                kind = output_kind(tasks.get(by_id[origin].task) or by_id[origin].task)
            if kind not in accepted:
                raise PlanProblem(
                    f"{where}.source",
                    f"input {step_input.name!r}: {step_input.source} is {kind}, "
                    f"which task {step.task!r} cannot take here (it takes {', '.join(sorted(accepted))})",
                    step=step.id,
                )
        bound = {i.name for i in step.inputs}
        missing = [name for name in _required(task) if name not in bound]
        if missing:
            raise PlanProblem(
                f"steps[{s}].inputs",
                f"task {step.task!r} needs input {missing[0]!r}",
                step=step.id,
            )


def _check_size(field: str, value: Any, step: str) -> None:
    """A request's texts bound to a step: capped, so one request cannot fan out without end."""
    if isinstance(value, list) and len(value) > MAX_BOUND_TEXTS:
        raise PlanProblem(field, f"at most {MAX_BOUND_TEXTS} items, got {len(value)}", step=step)
    texts = value if isinstance(value, list) else [value]
    for i, text in enumerate(texts):
        if isinstance(text, str) and len(text) > MAX_BOUND_TEXT_CHARS:
            where = f"{field}[{i}]" if isinstance(value, list) else field
            raise PlanProblem(where, f"at most {MAX_BOUND_TEXT_CHARS} characters", step=step)


def _field(value: Any, path: Sequence[str]) -> tuple[bool, Any]:
    for name in path:
        if not isinstance(value, dict) or name not in value:
            return False, None
        value = value[name]
    return value is not None, value


def bound_value(request_input: Any, path: Sequence[str]) -> Any:
    """The request value a `request.input…` binding names (checked present before the plan ran)."""
    return _field(request_input, path)[1]


def step_of(plan: Plan, step_id: str) -> PlanStep:
    return next(step for step in plan.steps if step.id == step_id)
