"""Which job handlers a worker runs, by task id.

Built-in: every text task of the catalog runs through the chat handler (LiteLLM chat
completions down the brain's fallback chain); embed_text, image_generate, tts, transcribe and
video_generate through their media handlers (LiteLLM's embeddings, images, audio and video
endpoints, outputs in the artifact store; a video's wait is the media worker's poller's);
every catalog plan and the ad-hoc `plan` through the plan handler (child jobs per step).
`MPC_WORKER_HANDLERS` names extra modules (comma-separated), each exposing
`HANDLERS: Mapping[str, Handler]`, which override the built-ins for their tasks; the tests
register their job functions this way.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

import httpx
from redis.asyncio import Redis

from catalog import Catalog
from metrics.definitions import WorkerMetrics
from queues.breakers import BreakerView
from workers import chat_handler, embed_handler, image_handler, speech_handler, transcribe_handler, video_handler
from workers.chat_handler import ChatHandler
from workers.context import Handler, Handlers
from workers.embed_handler import EmbedHandler
from workers.fallback import ChainWalker
from workers.image_handler import ImageHandler
from workers.litellm import LiteLLMClient
from workers.media import MediaDeps
from workers.plan_handler import PlanHandler, plan_handlers
from workers.speech_handler import SpeechHandler
from workers.transcribe_handler import TranscribeHandler
from workers.video_handler import VideoHandler


def builtin_handlers(
    catalog: Catalog,
    litellm: LiteLLMClient,
    redis: Redis,
    metrics: WorkerMetrics,
    *,
    breaker_cool_off_s: float,
    media: MediaDeps | None = None,
    downloads: httpx.AsyncClient | None = None,
) -> dict[str, Handler]:
    """`media` (the artifact store and media timeouts) and `downloads` (a client for URLs
    jobs and providers name) enable the media tasks."""
    view = BreakerView(redis, cool_off_s=breaker_cool_off_s)

    def walker(operation: str) -> ChainWalker:
        return ChainWalker(redis, metrics, view, operation)

    chat = ChatHandler(litellm=litellm, redis=redis, walker=walker(chat_handler.OPERATION))
    handlers: dict[str, Handler] = {task.id: chat for task in catalog.tasks.values() if task.modality == "text"}
    if media is not None and downloads is not None:
        media_handlers: dict[str, Handler] = {
            "embed_text": EmbedHandler(media, walker(embed_handler.OPERATION)),
            "image_generate": ImageHandler(media, walker(image_handler.OPERATION), downloads),
            "tts": SpeechHandler(media, walker(speech_handler.OPERATION)),
            "transcribe": TranscribeHandler(media, walker(transcribe_handler.OPERATION), downloads),
            "video_generate": VideoHandler(media, walker(video_handler.OPERATION), catalog, downloads),
        }
        handlers.update({task: h for task, h in media_handlers.items() if task in catalog.tasks})
        handlers.update(plan_handlers(PlanHandler(catalog, redis, media.store), catalog))
    return handlers


def load_handlers(builtin: Mapping[str, Handler], extra_modules: str = "") -> Handlers:
    handlers: dict[str, Handler] = dict(builtin)
    for name in (m.strip() for m in extra_modules.split(",")):
        if not name:
            continue
        module = importlib.import_module(name)
        extra = getattr(module, "HANDLERS", None)
        if not isinstance(extra, Mapping):
            raise ValueError(f"MPC_WORKER_HANDLERS: module {name!r} has no HANDLERS mapping")
        handlers.update(extra)
    return handlers
