"""What a request should experience: faults, pacing and answer length.

Two sources, merged per request (later wins):

1. per model, set through the control API (``POST /_emulator/models/{model}``), with ``"*"``
   as the default for models that have no entry of their own;
2. per request, from the ``x-emulator`` header and from ``[emulate: key=value ...]``
   directives in the last user message (LiteLLM forwards no client headers upstream, but it
   does forward the message text).

A model's own entry replaces the ``"*"`` entry (they are not merged). ``Directives`` is the
one schema for both; ``Behaviour`` is the resolved, flat result. Keys: status, retry_after
(implies 429), latency_ms, ttft_ms, tps, tokens, hang, cut_after, truncate_after,
malformed_after, stall_after, error_after, the video keys (``video``), and (per model only)
fail_times. Syntax:
``[emulate: status=503 retry_after=1]``; pairs may be separated by spaces, commas or
semicolons; a bare ``hang`` means ``hang=true``; an unknown key or bad value is a 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator

DIRECTIVE_RE = re.compile(r"\[emulate:([^\]]*)\]", re.IGNORECASE)
_PAIR_RE = re.compile(r"([A-Za-z_]+)(?:\s*=\s*([^\s,;]+))?")
HANG_MAX_S = 3600.0

#: Directive keys that make a request fail; ``fail_times`` limits only these.
FAULT_KEYS = (
    "status",
    "retry_after",
    "hang",
    "cut_after",
    "truncate_after",
    "malformed_after",
    "stall_after",
    "error_after",
    "video_poll_status",
    "video_content_status",
)
#: The faults of a provider request (create, chat, media): the ones ``status`` and relatives
#: set. On video wires they act on the create call only; polls and downloads have their own.
REQUEST_FAULT_KEYS = FAULT_KEYS[:8]


class DirectiveError(ValueError):
    """A directive or control body that cannot be understood."""


class Directives(BaseModel):
    """Behaviour settings; every field optional. Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: int | None = Field(default=None, ge=400, le=599, description="answer with this HTTP error")
    retry_after: float | None = Field(default=None, ge=0, description="Retry-After seconds (implies 429)")
    ttft_ms: float | None = Field(default=None, ge=0, description="delay before the first token")
    tps: float | None = Field(default=None, gt=0, description="tokens per second after the first")
    latency_ms: float | None = Field(default=None, ge=0, description="delay before any answer")
    cut_after: int | None = Field(default=None, ge=0, description="N content chunks, then drop the connection")
    truncate_after: int | None = Field(default=None, ge=0, description="N content chunks, then a clean end of body")
    hang: bool | None = Field(default=None, description="never answer; wait for the client to go away")
    malformed_after: int | None = Field(default=None, ge=0, description="N good chunks, then invalid JSON")
    stall_after: int | None = Field(default=None, ge=0, description="N content chunks, then silence")
    error_after: int | None = Field(default=None, ge=0, description="N content chunks, then an in-stream error")
    tokens: int | None = Field(default=None, ge=1, le=100_000, description="answer length in tokens")
    fail_times: int | None = Field(default=None, ge=0, description="faults only for the next N requests")
    # Emulated video jobs (sandbox/emulator/video_jobs.py). Generation time is fixed when the
    # video is created; the rest is read on every status poll or download.
    video_seconds: float | None = Field(default=None, ge=0, le=86_400, description="generation time of a video")
    video_queued_seconds: float | None = Field(default=None, ge=0, le=86_400, description="its queued part")
    video_poll_status: int | None = Field(default=None, ge=400, le=599, description="status polls answer this")
    video_content_status: int | None = Field(default=None, ge=400, le=599, description="downloads answer this")
    video_never_finishes: bool | None = Field(default=None, description="stays in progress forever")
    video_forget: bool | None = Field(default=None, description="the provider forgets its videos (404)")
    video_fail: bool | None = Field(default=None, description="the provider reports the video failed")
    tag: str | None = Field(
        default=None, max_length=200, pattern=r"^[\w.:-]+$", description="a label kept with the request or video"
    )

    @field_validator("hang", "video_never_finishes", "video_forget", "video_fail", mode="before")
    @classmethod
    def _hang_flag(cls, value: Any) -> Any:
        if value == "":
            return True
        return value

    @field_serializer("ttft_ms", "tps", "latency_ms", "retry_after", "video_seconds", "video_queued_seconds")
    def _compact_number(self, value: float | None) -> float | int | None:
        if value is not None and value.is_integer():
            return int(value)
        return value

    def set_values(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


@dataclass(frozen=True, kw_only=True)
class Behaviour:
    """The resolved behaviour of one request (no ``None`` where a default exists)."""

    status: int | None = None
    retry_after: float | None = None
    ttft_ms: float = 0.0
    tps: float | None = None
    latency_ms: float = 0.0
    cut_after: int | None = None
    truncate_after: int | None = None
    hang: bool = False
    malformed_after: int | None = None
    stall_after: int | None = None
    error_after: int | None = None
    tokens: int | None = None
    video_seconds: float | None = None
    video_queued_seconds: float | None = None
    video_poll_status: int | None = None
    video_content_status: int | None = None
    video_never_finishes: bool = False
    video_forget: bool = False
    video_fail: bool = False
    tag: str | None = None

    def overlay(self, directives: Directives) -> Behaviour:
        values = {k: v for k, v in directives.set_values().items() if k != "fail_times"}
        merged = replace(self, **values)
        if merged.retry_after is not None and merged.status is None:
            merged = replace(merged, status=429)
        return merged

    def without_faults(self) -> Behaviour:
        return replace(self, **{key: _DEFAULT_FAULTS[key] for key in FAULT_KEYS})

    def has_fault(self, keys: tuple[str, ...] = FAULT_KEYS) -> bool:
        return any(getattr(self, key) != _DEFAULT_FAULTS[key] for key in keys)

    def describe(self) -> dict[str, Any]:
        """The settings that differ from a plain, instant answer (for the request log)."""
        plain = Behaviour()
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(plain, f.name)}

    def stream_delay_s(self) -> float:
        return (self.latency_ms + self.ttft_ms) / 1000.0

    def token_interval_s(self) -> float:
        return 1.0 / self.tps if self.tps else 0.0

    def non_stream_delay_s(self, completion_tokens: int) -> float:
        generation = completion_tokens / self.tps if self.tps else 0.0
        return self.stream_delay_s() + generation


_DEFAULT_FAULTS: dict[str, Any] = {key: getattr(Behaviour(), key) for key in FAULT_KEYS}


def parse_pairs(text: str) -> dict[str, str]:
    """``"status=503 ttft_ms=200, hang"`` → ``{"status": "503", "ttft_ms": "200", "hang": ""}``."""
    pairs: dict[str, str] = {}
    for match in _PAIR_RE.finditer(text):
        pairs[match.group(1).lower()] = match.group(2) or ""
    return pairs


def directives_from(pairs: dict[str, Any], *, source: str) -> Directives:
    try:
        return Directives.model_validate(pairs)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '?'}: {e['msg']}" for e in exc.errors())
        raise DirectiveError(f"emulator: bad {source} ({problems})") from exc


def parse_request_directives(header: str | None, text: str) -> Directives:
    """Merge the ``x-emulator`` header and every ``[emulate: ...]`` block of ``text``."""
    pairs: dict[str, str] = {}
    if header:
        inner = DIRECTIVE_RE.search(header)
        pairs.update(parse_pairs(inner.group(1) if inner else header))
    for block in DIRECTIVE_RE.finditer(text):
        pairs.update(parse_pairs(block.group(1)))
    if "fail_times" in pairs:
        raise DirectiveError("emulator: fail_times is per model only (POST /_emulator/models/{model})")
    return directives_from(pairs, source="emulate directive")


def strip_directives(text: str) -> str:
    return " ".join(DIRECTIVE_RE.sub(" ", text).split())


@dataclass
class ModelControl:
    """A model's stored settings and how many failing requests are left."""

    directives: Directives
    failures_left: int | None = None

    @classmethod
    def create(cls, directives: Directives) -> ModelControl:
        if directives.fail_times is not None and not Behaviour().overlay(directives).has_fault():
            directives = directives.model_copy(update={"status": 503})
        return cls(directives=directives, failures_left=directives.fail_times)

    def apply(self, counted: tuple[str, ...] | None = None) -> Behaviour:
        """The model-level behaviour of the next request (consumes one ``fail_times``).

        ``counted``: the fault keys that concern this request; a request none of them is set
        for consumes nothing (a video's status poll does not use up a create fault), and
        ``()`` only reads the settings."""
        behaviour = Behaviour().overlay(self.directives)
        if self.failures_left is None:
            return behaviour
        if counted is not None and not behaviour.has_fault(counted):
            return behaviour
        if self.failures_left > 0:
            self.failures_left -= 1
            return behaviour
        return behaviour.without_faults()

    def to_json(self) -> dict[str, Any]:
        out = self.directives.set_values()
        if self.failures_left is not None:
            out["failures_left"] = self.failures_left
        return out


def hang_seconds(behaviour: Behaviour) -> float:
    return HANG_MAX_S if behaviour.hang else 0.0
