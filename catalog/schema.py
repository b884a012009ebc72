"""The model catalog's schema: strict msgspec Structs, decoded once per load.

The JSON file is the single source of truth for which models exist, what they can do and
which tasks they serve. Everything here is frozen and refuses unknown fields, so a typo in
the catalog is an error at start-up rather than a silently ignored key.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Tier = Literal["flagship", "strong", "draft"]
Speed = Literal["fast", "medium", "slow"]
Modality = Literal["text", "embedding", "image", "video", "audio"]
IOKind = Literal["text", "image", "audio", "video", "embedding"]
QueueClass = Literal["interactive", "batch", "media"]
Provider = Literal[
    "openai",
    "anthropic",
    "gemini",
    "cometapi",
    "fal",
    "replicate",
    "huggingface",
    "deepinfra",
    "groq",
    "together",
    "pika",
    "runwayml",
    "heygen",
    "elevenlabs",
]
Capability = Literal[
    "streaming",
    "tools",
    # Honours a forced tool choice (OpenAI tool_choice "required" or a named function). LiteLLM
    # (drop_params) turns it into "auto" for Claude models its map flags
    # supports_forced_tool_use: false, and drops it for every DeepInfra model.
    "forced_tool_use",
    "vision",
    "json_mode",
    # Structured output: answers conforming to a response_format json_schema.
    "json_schema",
    "reasoning",
    "text_to_speech",
    "speech_to_text",
    "image_input",
    "image_to_video",
    "avatar",
    "voice_cloning",
    "timestamps",
]
PricingUnit = Literal[
    "usd_per_1m_tokens",
    "usd_per_image",
    "usd_per_megapixel",
    "usd_per_video_second",
    "usd_per_1k_characters",
    "usd_per_audio_minute",
    "usd_per_video_minute",
    "usd_per_run",
]

TIERS: tuple[Tier, ...] = ("flagship", "strong", "draft")
SPEEDS: tuple[Speed, ...] = ("fast", "medium", "slow")
MODALITIES: tuple[Modality, ...] = ("text", "embedding", "image", "video", "audio")
QUEUE_CLASSES: tuple[QueueClass, ...] = ("interactive", "batch", "media")
PROVIDERS: tuple[Provider, ...] = Provider.__args__  # type: ignore[attr-defined]
CAPABILITIES: tuple[Capability, ...] = Capability.__args__  # type: ignore[attr-defined]

Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
ModelName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$", max_length=200)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
Price = Annotated[float, msgspec.Meta(ge=0)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
# What a request may have to carry for a model to take it: an input image (image-to-video
# models that animate a first frame), a provider avatar (HeyGen's avatar videos).
RequiredInput = Literal["image", "avatar"]
REQUIRED_INPUTS: tuple[RequiredInput, ...] = RequiredInput.__args__  # type: ignore[attr-defined]
VideoSize = Annotated[str, msgspec.Meta(pattern=r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")]
VideoSeconds = Annotated[int, msgspec.Meta(ge=1, le=600)]


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base for every catalog record: immutable, keyword-only, unknown fields refused."""


class Pricing(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A provider's documented list price. `input`/`output` per `unit` (USD)."""

    unit: PricingUnit
    input: Price | None = None
    output: Price | None = None
    source: Text | None = None


class VideoLimits(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a video model accepts, checked at submission so a bad value is a 422 rather than
    a provider error minutes later. `seconds` empty: the length follows the script (HeyGen)
    and cannot be asked for. A request's `aspect_ratio` is one of its sizes' ratios.
    `max_generation_s` bounds the wait on the provider: past it the job fails `video_timeout`.
    `cancel` says whether the provider's API can stop a started video (OpenAI's DELETE)."""

    seconds: tuple[VideoSeconds, ...] = ()
    default_seconds: VideoSeconds | None = None
    sizes: Annotated[tuple[VideoSize, ...], msgspec.Meta(min_length=1)]
    max_generation_s: Annotated[int, msgspec.Meta(ge=10, le=86_400)]
    cancel: bool = False
    source: Text | None = None


class Model(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: ModelName
    provider: Provider
    provider_id: ModelName
    modality: Modality
    inputs: Annotated[tuple[IOKind, ...], msgspec.Meta(min_length=1)]
    outputs: Annotated[tuple[IOKind, ...], msgspec.Meta(min_length=1)]
    tasks: Annotated[tuple[Slug, ...], msgspec.Meta(min_length=1)]
    domains: tuple[Slug, ...] = ()
    tier: Tier
    speed: Speed
    capabilities: tuple[Capability, ...] = ()
    context_window: PositiveInt | None = None
    max_output_tokens: PositiveInt | None = None
    pricing: Pricing
    aliases: tuple[ModelName, ...] = ()
    enabled: bool = True
    description: Text | None = None
    # Inputs a request must carry for this model to be chosen (the brain's `inputs` rule).
    required_inputs: tuple[RequiredInput, ...] = ()
    video: VideoLimits | None = None  # required for video models (the loader checks)


class Task(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Slug
    modality: Modality
    default_tier: Tier
    queue: QueueClass
    description: Text
    required_capabilities: tuple[Capability, ...] = ()


class StepInput(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where one input of a plan step comes from: the request or an earlier step's output."""

    name: Slug
    # `request.input` (the whole input), `request.input.FIELD` (one field of an object input)
    # or `steps.STEP.output`.
    source: Annotated[
        str, msgspec.Meta(pattern=r"^(request\.input(\.[a-z][a-z0-9_]*)?|steps\.[a-z][a-z0-9_]*\.output)$")
    ]


class PlanStep(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One step: a catalog task run by a model, or a worker step (`catalog.plan_io.WORKER_STEPS`).
    An `optional` step may fail without failing the plan; the steps that need it are skipped."""

    id: Slug
    task: Slug
    description: Text
    depends_on: Annotated[tuple[Slug, ...], msgspec.Meta(max_length=32)] = ()
    inputs: Annotated[tuple[StepInput, ...], msgspec.Meta(max_length=16)] = ()
    optional: bool = False


class Plan(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A multi-step task declared as a small DAG of single-model tasks."""

    id: Slug
    description: Text
    steps: Annotated[tuple[PlanStep, ...], msgspec.Meta(min_length=1, max_length=32)]


class CatalogFile(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole of `model_catalog.json`."""

    version: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    tasks: Annotated[tuple[Task, ...], msgspec.Meta(min_length=1)]
    models: Annotated[tuple[Model, ...], msgspec.Meta(min_length=1)]
    plans: tuple[Plan, ...] = ()
