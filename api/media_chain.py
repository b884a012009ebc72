"""Which models run a media job: the task's input checked, then the brain's fallback chain.

For `POST /api/jobs` with a media task (`params` steer the brain) and for the
OpenAI-compatible media endpoints (the body's `model` and extension fields steer it). The
chain goes into the job's params, as for chat: the gateway holds the brain and the health
snapshot, the worker walks the chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from api.chat_chain import chain_params
from api.errors import InvalidRequest, NotFound, Unprocessable
from api.selection_views import select_body_from, select_counted, to_request
from api.state import AppState
from api.task_models import is_task_model, parse_task_model
from brain import Selection, estimate_tokens
from catalog.inputs import (
    INPUT_TYPES,
    EmbedInput,
    TaskInputError,
    TranscribeInput,
    VideoInput,
    check_video_limits,
    parse_task_input,
)
from catalog.schema import Model

# The select-model constraints a media request may carry.
STEERING_FIELDS = ("tier", "speed", "domains", "providers", "fallbacks")


def is_media_task(task: str) -> bool:
    return task in INPUT_TYPES


def checked_input(task: str, value: Any, *, prefix: str = "input") -> Any:
    """The task's typed input; a 422 naming the field (`input.text`) otherwise."""
    try:
        return parse_task_input(task, value)
    except TaskInputError as exc:
        param = f"{prefix}.{exc.field}" if exc.field and prefix else (exc.field or prefix or None)
        message = f"{exc.problem}" + (f" (at '{param}')" if param else "")
        raise Unprocessable(message, code="invalid_value", param=param) from None


def select_for_media(state: AppState, task: str, job_input: Any, steering: Mapping[str, Any]) -> Selection:
    """The model and fallbacks for a checked media input. `steering` holds the extension
    fields and `model` ("auto", a catalog id, an alias, a provider_id, or `mpc/<task>[:<tier>]`
    naming this task); a pinned model must do the task."""
    fields: dict[str, Any] = {"task": task}
    fields.update({name: steering[name] for name in STEERING_FIELDS if steering.get(name) is not None})
    name = steering.get("model")
    if name is not None and not isinstance(name, str):
        raise InvalidRequest("'model' must be a string.", code="invalid_value", param="model")
    if name and is_task_model(name):
        named = parse_task_model(state.catalog, name)
        if named.task != task:
            raise InvalidRequest(
                f"The model '{name[:200]}' names task '{named.task}'; this request runs task '{task}'.",
                code="invalid_value",
                param="model",
            )
        if named.tier and "tier" not in fields:
            fields["tier"] = named.tier
    elif name and name != "auto":
        pinned = state.catalog.resolve(name)
        if pinned is None:
            raise NotFound(f"The model '{name[:200]}' does not exist.", code="model_not_found", param="model")
        if task not in pinned.tasks:
            raise InvalidRequest(
                f"The model '{pinned.id}' does not do task '{task}' (it does: {', '.join(pinned.tasks)}).",
                code="invalid_value",
                param="model",
            )
        fields["model"] = pinned.id
    if isinstance(job_input, TranscribeInput) and job_input.response_format in ("verbose_json", "srt", "vtt"):
        fields["capabilities"] = ["timestamps"]  # segments with times: not every model gives them
    if isinstance(job_input, EmbedInput):
        # Each input must fit the model's context window, not all of them together.
        fields["min_context"] = max(1, _longest_input_tokens(job_input))
    if isinstance(job_input, VideoInput):
        return _select_for_video(state, job_input, fields)
    return select_counted(state, to_request(select_body_from(fields)))


def _select_for_video(state: AppState, job_input: VideoInput, fields: dict[str, Any]) -> Selection:
    """The brain sees which inputs the request carries (a model requiring one it lacks is
    never chosen) and what it asks of them (an image to animate needs an image-to-video
    model, an avatar an avatar model). The primary must make the seconds and size asked
    for, or the request is a 422 naming the field now rather than a provider error minutes
    later; fallbacks that cannot are dropped from the chain."""
    carried = job_input.carried
    if "avatar" in carried:
        fields["capabilities"] = ["avatar"]
    elif "image" in carried:
        fields["capabilities"] = ["image_to_video"]
    request = msgspec.structs.replace(to_request(select_body_from(fields)), inputs=carried)
    selection = select_counted(state, request)
    primary = selection.model
    try:
        _check_video(job_input, primary)
    except TaskInputError as exc:
        param = f"input.{exc.field}" if exc.field else "input"
        raise Unprocessable(f"{exc.problem} (at '{param}')", code="invalid_value", param=param) from None
    fallbacks = tuple(model for model in selection.fallbacks if _makes(job_input, model))
    return msgspec.structs.replace(selection, fallbacks=fallbacks)


def _check_video(job_input: VideoInput, model: Model) -> None:
    if model.video is None:  # the loader refuses a video model without limits
        raise TaskInputError(f"model {model.id} has no video limits in the catalog", None)
    check_video_limits(job_input, model.video, model.id)


def _makes(job_input: VideoInput, model: Model) -> bool:
    try:
        _check_video(job_input, model)
    except TaskInputError:
        return False
    return True


def media_job_params(state: AppState, task: str, job_input: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """The worker's params for a media job: the chain, as the media handlers read it."""
    return {"chain": chain_params(select_for_media(state, task, job_input, params))}


def _longest_input_tokens(job_input: EmbedInput) -> int:
    items = job_input.input
    if isinstance(items, str):
        return estimate_tokens(items)
    if all(isinstance(item, int) for item in items):
        return len(items)
    return max((len(item) if isinstance(item, list) else estimate_tokens(item)) for item in items)
