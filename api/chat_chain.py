"""Which models answer a chat: the brain's selection for an OpenAI chat body, and the
fallback chain the worker's chat handler walks (for `/api/chat/completions` and for a
text task sent to `/api/jobs`).

`model` pins a model ("auto" or none lets the brain choose; `mpc/<task>[:<tier>]` names the
task and tier instead: api/task_models.py); the extension fields (`task`,
`tier`, `providers`, `speed`, `domains`, `fallbacks`) are the select-model constraints, and
what the request itself needs (tools, JSON mode, images, streaming) is added to them.
"""

from __future__ import annotations

from typing import Any

from api.chat_request import EXTENSION_FIELDS, check_messages
from api.errors import InvalidRequest, NotFound
from api.selection_views import SelectBody, select_body_from, select_counted, to_request
from api.state import AppState
from api.task_models import TaskModel, is_task_model, parse_task_model
from brain import Selection, UnknownTask
from catalog.schema import Model

DEFAULT_TASK = "chat_general"


def select_for_chat(state: AppState, body: dict[str, Any]) -> Selection:
    """The model and its fallbacks for a chat body whose messages were checked. Errors: 400
    for a field of the wrong type or a model or task that is not chat, 404 for a model the
    catalog does not know, and the brain's own (422) otherwise."""
    name = body.get("model")
    if name is not None and not isinstance(name, str):
        raise InvalidRequest("'model' must be a string.", code="invalid_value", param="model")
    pinned: Model | None = None
    named = parse_task_model(state.catalog, name) if name and is_task_model(name) else None
    if named is not None:
        if state.catalog.tasks[named.task].modality != "text":
            raise InvalidRequest(
                f"The model 'mpc/{named.task}' is not a chat task.", code="invalid_value", param="model"
            )
        body = _with_task_model(body, named)
    elif name and name != "auto":
        pinned = state.catalog.resolve(name)
        if pinned is None:
            raise NotFound(f"The model '{name[:200]}' does not exist.", code="model_not_found", param="model")
        if pinned.modality != "text":
            raise InvalidRequest(f"The model '{pinned.id}' is not a chat model.", code="invalid_value", param="model")
    task = body.get("task") or (_chat_task(pinned) if pinned else DEFAULT_TASK)
    if not isinstance(task, str):
        raise InvalidRequest("'task' must be a string.", code="invalid_value", param="task")
    known = state.catalog.tasks.get(task)
    if known is None:
        raise UnknownTask(task, (t.id for t in state.catalog.tasks.values() if t.modality == "text"))
    if known.modality != "text":
        raise InvalidRequest(f"Task {task!r} is not a chat task.", code="invalid_value", param="task")
    return select_counted(state, to_request(_select_body(body, task, pinned)))


def chain_params(selection: Selection) -> list[dict[str, str]]:
    """The chain as the chat handler reads it from the job's params."""
    return [
        {"id": m.id, "provider": m.provider, "provider_id": m.provider_id}
        for m in (selection.model, *selection.fallbacks)
    ]


def chat_job_params(state: AppState, task: str, job_input: Any, params: dict[str, Any]) -> dict[str, Any]:
    """For `POST /api/jobs` with a text task: the chain for the job's chat handler. `input`
    is an OpenAI chat body (at least `messages`); `params` may steer the brain with the
    select-model fields (tier, providers, model, …)."""
    if not isinstance(job_input, dict):
        raise InvalidRequest("'input' of a text task must be an object with 'messages'.", param="input")
    try:
        check_messages(job_input.get("messages"))
    except InvalidRequest as exc:
        raise InvalidRequest(exc.message, code=exc.code, param=f"input.{exc.param}") from None
    body = {**{k: v for k, v in params.items() if k in (*EXTENSION_FIELDS, "model")}, **job_input, "task": task}
    body.pop("stream", None)  # a job's output is the whole completion
    if "model" in params:
        body["model"] = params["model"]
    return {"chain": chain_params(select_for_chat(state, body)), "stream": False}


def _with_task_model(body: dict[str, Any], named: TaskModel) -> dict[str, Any]:
    """The body with the task (and tier) a `mpc/…` model names; a `task` field that names
    another task contradicts it (400), a `tier` field overrides the model's."""
    asked = body.get("task")
    if asked is not None and asked != named.task:
        raise InvalidRequest(
            f"'task' is '{str(asked)[:100]}' but the model 'mpc/{named.task}' names task '{named.task}'.",
            code="invalid_value",
            param="task",
        )
    steered = {**body, "task": named.task}
    if named.tier and body.get("tier") is None:
        steered["tier"] = named.tier
    return steered


def _chat_task(model: Model) -> str:
    return DEFAULT_TASK if DEFAULT_TASK in model.tasks else model.tasks[0]


def _select_body(body: dict[str, Any], task: str, pinned: Model | None) -> SelectBody:
    """The brain's constraints: the extension fields, plus what the request itself needs."""
    capabilities: list[str] = []
    if body.get("tools"):
        capabilities.append("tools")
        choice = body.get("tool_choice")
        if choice == "required" or isinstance(choice, dict):
            capabilities.append("forced_tool_use")
    response_format = body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind in ("json_object", "json_schema"):
        capabilities.append("json_mode")
    if kind == "json_schema":
        capabilities.append("json_schema")
    if _has_images(body["messages"]):
        capabilities.append("vision")
    if body.get("stream") is True:
        capabilities.append("streaming")
    fields: dict[str, Any] = {"task": task, "messages": body["messages"], "capabilities": capabilities}
    for name in ("tier", "speed", "domains", "fallbacks"):
        if body.get(name) is not None:
            fields[name] = body[name]
    if body.get("providers") is not None:
        fields["providers"] = body["providers"]
    if pinned is not None:
        fields["model"] = pinned.id
    return select_body_from(fields)


def _has_images(messages: list[Any]) -> bool:
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
            return True
    return False
