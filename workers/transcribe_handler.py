"""transcribe: audio through LiteLLM's /v1/audio/transcriptions, down the chain.

The audio (`_audio_source`: an upload or a URL) is streamed into a multipart body for each
model tried. The asked `response_format` is passed on; whatever comes back (JSON, or the
text of a text/srt/vtt answer) becomes one output shape, and srt/vtt are rendered from the
segments when the provider gave JSON instead.

Output: `{"model", "text", "language", "duration", "segments": [{"id","start","end","text"}]
| None, "words": [...] | None, "response_format", "content"}` where `content` (only for
text, srt and vtt) is the body OpenAI's endpoint returns for that format.

No `num_retries` field here, unlike the JSON calls: a multipart field reaches LiteLLM's
router as the string "0", which its retry loop compares with an int and fails on. The
proxy's own `num_retries: 0` (compose/litellm/config.yaml) covers this call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from catalog.inputs import TranscribeInput, parse_task_input
from workers._audio_source import audio_of
from workers.context import JobContext
from workers.fallback import Attempt, ChainWalker
from workers.litellm import bad_response
from workers.media import MediaDeps

OPERATION = "generate_content"  # OTel gen_ai.operation.name
_CUE = re.compile(r"\d{2}:\d{2}:\d{2}[.,]\d{3} --> ")
_TIMESTAMP = re.compile(r"^\s*(\d+\s*$|\d{1,2}:\d{2}(:\d{2})?[.,]\d{3}\s*-->|WEBVTT|NOTE\b)")


@dataclass(frozen=True, slots=True)
class TranscribeHandler:
    deps: MediaDeps
    walker: ChainWalker
    http: httpx.AsyncClient  # for `audio_url`

    async def __call__(self, job: JobContext) -> dict[str, Any]:
        request: TranscribeInput = parse_task_input(job.task, job.input)
        timeout_s = self.deps.timeouts.transcribe_s
        async with audio_of(
            request, self.deps.store, self.http, max_bytes=self.deps.max_upload_bytes, timeout_s=timeout_s
        ) as audio:

            async def call(attempt: Attempt) -> dict[str, Any]:
                fields = {"model": attempt.target.provider_id, "response_format": request.response_format}
                if request.language:
                    fields["language"] = request.language
                if request.prompt:
                    fields["prompt"] = request.prompt
                if request.temperature is not None:
                    fields["temperature"] = repr(request.temperature)
                async with audio.open() as chunks:
                    answer = await self.deps.litellm.transcription(
                        fields,
                        chunks,
                        size=audio.size,
                        filename=audio.filename,
                        content_type=audio.content_type,
                        timeout_s=timeout_s,
                    )
                output = _output(answer, request.response_format)
                await attempt.succeeded(usage=None)
                output["model"] = attempt.target.id
                return output

            return await self.walker.walk(job, call)


def _output(answer: dict[str, Any] | str, response_format: str) -> dict[str, Any]:
    wrapped = answer.get("text") if isinstance(answer, dict) else None
    if response_format in ("srt", "vtt") and isinstance(wrapped, str) and _CUE.search(wrapped):
        answer = wrapped  # LiteLLM wraps a provider's subtitles in {"text": …}
    if isinstance(answer, str):
        text = answer.strip() if response_format == "text" else _cue_text(answer)
        out: dict[str, Any] = {"text": text, "language": None, "duration": None, "segments": None, "words": None}
        content = answer
    else:
        said = answer.get("text")
        if not isinstance(said, str):
            raise bad_response("The model's transcription has no text.")
        duration = answer.get("duration")
        out = {
            "text": said,
            "language": answer.get("language") if isinstance(answer.get("language"), str) else None,
            "duration": float(duration) if isinstance(duration, int | float) else None,
            "segments": _segments(answer.get("segments")),
            "words": answer.get("words") if isinstance(answer.get("words"), list) else None,
        }
        content = _rendered(out, response_format)
    out["response_format"] = response_format
    if response_format in ("text", "srt", "vtt"):
        out["content"] = content
    return out


def _segments(value: Any) -> list[dict[str, Any]] | None:
    if not isinstance(value, list):
        return None
    out = []
    for index, segment in enumerate(value):
        if not isinstance(segment, dict):
            continue
        start, end, text = segment.get("start"), segment.get("end"), segment.get("text")
        if isinstance(start, int | float) and isinstance(end, int | float) and isinstance(text, str):
            out.append({"id": segment.get("id", index), "start": float(start), "end": float(end), "text": text})
    return out


def _rendered(out: dict[str, Any], response_format: str) -> str:
    if response_format == "text":
        return str(out["text"]) + "\n"
    if response_format not in ("srt", "vtt"):
        return ""
    cues = out["segments"] or [{"start": 0.0, "end": out["duration"] or 0.0, "text": out["text"]}]
    if response_format == "srt":
        blocks = [
            f"{i}\n{_clock(c['start'], ',')} --> {_clock(c['end'], ',')}\n{c['text'].strip()}\n"
            for i, c in enumerate(cues, start=1)
        ]
        return "\n".join(blocks)
    blocks = [f"{_clock(c['start'], '.')} --> {_clock(c['end'], '.')}\n{c['text'].strip()}\n" for c in cues]
    return "WEBVTT\n\n" + "\n".join(blocks)


def _clock(seconds: float, separator: str) -> str:
    millis = round(max(0.0, seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"


def _cue_text(subtitles: str) -> str:
    """The words of an srt/vtt answer: every line that is not a cue number, timing or header."""
    lines = [line.strip() for line in subtitles.splitlines()]
    return " ".join(line for line in lines if line and not _TIMESTAMP.match(line))
