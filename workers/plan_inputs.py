"""A plan step's bound values, converted to what its task takes.

Each binding of a step carries a value of one kind (`catalog.plan_io`): text, a list of
texts, JSON, vectors, ranked context, or an artifact of an earlier step. Here they become
the child job's input: a chat body for a text task (the step's description as the system
message, each input a section of the user message, an image artifact an image part), the
text of a speech, the prompt of an image or a video, the inputs of an embedding. Which
bindings fit which inputs was checked before the plan ran; these conversions only shape.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from artifacts import ArtifactStore
from catalog.inputs import MAX_PROMPT_CHARS, MAX_SPEECH_CHARS, MAX_VIDEO_PROMPT_CHARS
from catalog.plan_io import Kind
from catalog.schema import PlanStep, Task
from workers.errors import JobFailed

# An image passed to a vision model inline (a data URL): larger ones are not sent.
MAX_INLINE_IMAGE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Bound:
    """One input's value: its kind, the value, and for an artifact the job that owns it."""

    name: str
    kind: Kind
    value: Any


def step_value(kind: Kind, job_id: str | None, output: Any) -> Any:
    """What a step's recorded output gives to the steps bound to it."""
    if kind in ("image", "audio", "video"):
        artifacts = output.get("artifacts") if isinstance(output, dict) else None
        if not artifacts:
            raise JobFailed("A step's output holds no artifact to pass on.", code="plan_binding_failed")
        owner = output.get("artifact_job_id", job_id)
        return {"job_id": owner, "artifact": artifacts[0]}
    if kind == "embeddings":
        return [item["embedding"] for item in output["data"]]
    if kind == "context":
        return output
    return output["text"] if isinstance(output, dict) else output


def as_text(bound: Bound) -> str:
    if bound.kind == "text":
        return str(bound.value)
    if bound.kind == "texts":
        return "\n\n".join(str(item) for item in bound.value)
    if bound.kind == "context":
        return str(bound.value["text"])
    return json.dumps(bound.value, ensure_ascii=False)


def as_texts(bound: Bound) -> list[str]:
    return [str(item) for item in bound.value] if bound.kind == "texts" else [as_text(bound)]


async def child_input(task: Task, step: PlanStep, values: list[Bound], store: ArtifactStore) -> Any:
    """The input of the child job that runs `step`."""
    named = {bound.name: bound for bound in values}
    if task.modality == "text":
        return {"messages": await _messages(step, values, store)}
    if task.modality == "embedding":
        return {"input": [text for bound in values for text in as_texts(bound)]}
    if task.modality == "image":
        return {"prompt": as_text(named["prompt"])[:MAX_PROMPT_CHARS]}
    if task.modality == "video":
        return {"prompt": as_text(named["prompt"])[:MAX_VIDEO_PROMPT_CHARS]}
    return {"text": as_text(named["text"])[:MAX_SPEECH_CHARS]}


async def _messages(step: PlanStep, values: list[Bound], store: ArtifactStore) -> list[dict[str, Any]]:
    sections = [bound for bound in values if bound.kind != "image"]
    if len(sections) == 1:
        text = as_text(sections[0])
    else:
        text = "\n\n".join(f"## {bound.name}\n\n{as_text(bound)}" for bound in sections)
    images = [bound for bound in values if bound.kind == "image"]
    content: str | list[dict[str, Any]] = text
    if images:
        parts: list[dict[str, Any]] = [{"type": "text", "text": text or step.description}]
        for bound in images:
            url = await _data_url(store, bound.value)
            parts.append({"type": "image_url", "image_url": {"url": url}})
        content = parts
    return [{"role": "system", "content": step.description}, {"role": "user", "content": content}]


async def _data_url(store: ArtifactStore, ref: Mapping[str, Any]) -> str:
    """The artifact inline: the provider needs no access to this deployment's store."""
    artifact = ref["artifact"]
    if int(artifact.get("bytes", 0)) > MAX_INLINE_IMAGE_BYTES:
        raise JobFailed(
            f"The image is larger than {MAX_INLINE_IMAGE_BYTES} bytes and cannot be sent to a vision model.",
            code="plan_binding_failed",
        )
    data = await read_artifact(store, ref["job_id"], artifact["name"])
    return f"data:{artifact['content_type']};base64,{base64.b64encode(data).decode()}"


async def read_artifact(store: ArtifactStore, job_id: str, name: str) -> bytes:
    out = bytearray()
    async with await store.open(job_id, name) as opened:
        async for chunk in opened:
            out += chunk
    return bytes(out)
