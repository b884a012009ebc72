"""Emulated provider video jobs: created once, then queued -> in progress -> completed.

Every video wire (OpenAI Videos, fal queue, Runway tasks, Veo operations, HeyGen) keeps its
videos here, in the emulator's state (``EmulatorState.videos``, the oldest dropped beyond
``VIDEO_LIMIT``: a dropped video answers 404, as a forgotten one). A job's phase follows
the wall clock from its create call, so polling costs nothing and any number of videos can
be in flight.

Per-model settings (``POST /_emulator/models/{model}``, or ``[emulate: ...]`` in the prompt
for one video):

| key                    | read at    | effect                                                      |
|------------------------|------------|-------------------------------------------------------------|
| ``video_seconds``      | create     | generation time, create -> completed (default 3 s)          |
| ``video_queued_seconds``| create    | its first part, reported queued (default a quarter, <= 1 s) |
| ``status``, ``retry_after``, ``latency_ms``, ``hang`` | create | the create call fails / is slow (no job is made) |
| ``video_poll_status``  | each poll  | status polls answer this HTTP error                         |
| ``video_content_status``| each download | result/content/download calls answer this (404: content gone) |
| ``video_never_finishes``| each poll | progress stops short of 100 and the video never completes   |
| ``video_forget``       | each poll  | the provider no longer knows the id: polls and downloads 404 |
| ``video_fail``         | each poll  | the provider reports the video failed                       |
| ``tag``                | create     | a label listed with the video (``GET /_emulator/videos?tag=``) |

``fail_times`` counts only the requests its faults concern: with ``video_poll_status=503
fail_times=2`` the next two polls fail and creates are untouched. Each job counts its status
polls and its result/content/file calls (``polls``, ``downloads`` in ``GET /_emulator/videos``): with more
videos than the request log keeps (``state.LOG_LIMIT``), count creates there.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from sandbox.emulator.behaviour import REQUEST_FAULT_KEYS, Behaviour, Directives

VIDEO_LIMIT = 20_000
DEFAULT_GENERATION_S = 3.0
DEFAULT_MAX_QUEUED_S = 1.0
#: Where a never-finishing video's progress stops.
STALLED_PROGRESS = 0.95
POLL_FAULT_KEYS = ("video_poll_status",)
CONTENT_FAULT_KEYS = ("video_content_status",)
CREATE_FAULT_KEYS = REQUEST_FAULT_KEYS
#: Reads the settings without using up a ``fail_times``.
PEEK: tuple[str, ...] = ()

Phase = Literal["queued", "in_progress", "completed", "failed", "canceled"]


@dataclass
class VideoJob:
    id: str
    wire: str
    model: str
    prompt: str
    seconds: float
    width: int
    height: int
    created_at: float
    started: float
    generation_s: float
    queued_s: float
    #: the create request's own ``[emulate: ...]`` directives, overlaid on every poll
    own: Directives
    #: ``[emulate: tag=...]`` of the create: lets a test find its video without the prompt
    #: differing (identical prompts share one rendered MP4)
    tag: str | None = None
    canceled: bool = False
    polls: int = 0
    downloads: int = 0

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    def progress(self, now: float | None = None) -> tuple[Phase, float]:
        """The phase and progress (0..1) by the clock, faults aside."""
        if self.canceled:
            return "canceled", 0.0
        elapsed = (time.monotonic() if now is None else now) - self.started
        if elapsed < self.queued_s:
            return "queued", 0.0
        if elapsed >= self.generation_s:
            return "completed", 1.0
        running = self.generation_s - self.queued_s
        return "in_progress", (elapsed - self.queued_s) / running if running > 0 else 0.0

    def completed_at(self) -> int:
        return int(self.created_at + self.generation_s)

    def to_json(self) -> dict[str, object]:
        """For the control API (``GET /_emulator/videos``): the clock's view, faults aside."""
        phase, progress = self.progress()
        return {
            "id": self.id,
            "wire": self.wire,
            "model": self.model,
            "phase": phase,
            "progress": round(progress, 3),
            "seconds": self.seconds,
            "size": self.size,
            "created_at": self.created_at,
            "generation_seconds": self.generation_s,
            "prompt": self.prompt,
            "tag": self.tag,
            "polls": self.polls,
            "downloads": self.downloads,
        }


@dataclass(frozen=True)
class Observed:
    """A poll's view of a job: its phase, progress and what the settings make of it."""

    phase: Phase
    progress: float
    behaviour: Behaviour

    @property
    def percent(self) -> int:
        return min(100, int(self.progress * 100))


def new_job(
    *,
    wire: str,
    model: str,
    prompt: str,
    seconds: float,
    width: int,
    height: int,
    behaviour: Behaviour,
    own: Directives,
) -> VideoJob:
    generation = DEFAULT_GENERATION_S if behaviour.video_seconds is None else behaviour.video_seconds
    queued = behaviour.video_queued_seconds
    if queued is None:
        queued = min(DEFAULT_MAX_QUEUED_S, generation / 4)
    return VideoJob(
        id=uuid.uuid4().hex,
        wire=wire,
        model=model,
        prompt=prompt,
        seconds=seconds,
        width=width,
        height=height,
        created_at=time.time(),
        started=time.monotonic(),
        generation_s=generation,
        queued_s=min(queued, generation),
        own=own,
        tag=behaviour.tag,
    )


class VideoStore:
    def __init__(self, limit: int = VIDEO_LIMIT) -> None:
        self._jobs: OrderedDict[str, VideoJob] = OrderedDict()
        self._limit = limit

    def add(self, job: VideoJob) -> VideoJob:
        self._jobs[job.id] = job
        while len(self._jobs) > self._limit:
            self._jobs.popitem(last=False)
        return job

    def get(self, video_id: str, wire: str | None = None) -> VideoJob | None:
        """The job of ``wire`` (any wire when None) with that id."""
        job = self._jobs.get(video_id)
        return job if job is not None and wire in (None, job.wire) else None

    def remove(self, video_id: str) -> None:
        self._jobs.pop(video_id, None)

    def of_wire(self, wire: str | None) -> list[VideoJob]:
        """Oldest first; every wire's when ``wire`` is None."""
        return [job for job in self._jobs.values() if wire in (None, job.wire)]

    def clear(self) -> None:
        self._jobs.clear()

    def __len__(self) -> int:
        return len(self._jobs)


def observe(job: VideoJob, model_behaviour: Behaviour) -> Observed:
    """The job as a status poll sees it: clock progress, then the live settings (the model's,
    under the video's own directives)."""
    behaviour = model_behaviour.overlay(job.own)
    phase, progress = job.progress()
    if phase in ("queued", "in_progress", "completed") and behaviour.video_fail:
        return Observed("failed", progress, behaviour)
    if phase == "completed" and behaviour.video_never_finishes:
        return Observed("in_progress", STALLED_PROGRESS, behaviour)
    if phase == "in_progress" and behaviour.video_never_finishes:
        return Observed(phase, min(progress, STALLED_PROGRESS), behaviour)
    return Observed(phase, progress, behaviour)
