"""video_generate: create the provider's video ONCE, record its id, hand the wait to the poller.

Providers bill per created video and take minutes, so this handler holds its worker slot only
for the create call:
1. A job that already has a video record (`queues.videos`) is an attempt after a crash or a
   stop: with a provider id, the video exists and is polled again (never created again);
   without one, an earlier attempt died between marking the create and recording its answer,
   and the job fails `video_create_interrupted` rather than risk paying twice.
2. Otherwise the chain is walked as for every media task: the create is marked, sent (one
   upstream attempt), and the provider's id written at once. A refused create (429, 5xx)
   moves to the next model; a create that answered is final.
3. The job is put in the poll schedule (`mpc:video_polls`) and the handler returns
   `HANDED_OFF`: the record stays `processing`, the slot is free, and the poller in every
   media worker (`workers.video_poller`) takes it from there.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from catalog import Catalog
from catalog.inputs import VideoInput, parse_task_input, video_size
from queues import keys, schedule, videos
from workers._video_image import reference_of
from workers._video_wires import VideoWires
from workers.context import HANDED_OFF, HandOff, JobContext
from workers.errors import JobFailed
from workers.fallback import Attempt, ChainWalker, SkipModel
from workers.litellm import UpstreamError, VideoReference
from workers.media import MediaDeps

OPERATION = "generate_content"  # OTel gen_ai.operation.name
FIRST_POLL_S = 2.0
CREATE_TIMEOUT_S = 120.0  # a create answers with an id; the generation itself is polled
IMAGE_FETCH_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class VideoHandler:
    deps: MediaDeps
    walker: ChainWalker
    catalog: Catalog
    downloads: httpx.AsyncClient
    first_poll_s: float = FIRST_POLL_S

    async def __call__(self, job: JobContext) -> HandOff:
        request: VideoInput = parse_task_input(job.task, job.input)
        existing = await videos.get(job.redis, job.job_id)
        if existing is not None:
            if not existing.created:
                raise interrupted()
        else:
            await self._create(job, request)
        await schedule.schedule(job.redis, keys.VIDEO_POLLS, job.job_id, delay_s=self.first_poll_s)
        return HANDED_OFF

    async def _create(self, job: JobContext, request: VideoInput) -> None:
        reference: VideoReference | None = None
        if request.image is not None:
            reference = await reference_of(
                request.image, self.deps.store, self.downloads, timeout_s=IMAGE_FETCH_TIMEOUT_S
            )
        wires = VideoWires(self.deps.litellm, self.downloads)

        async def call(attempt: Attempt) -> None:
            target = attempt.target
            model = self.catalog.models.get(target.id)
            limits = model.video if model is not None else None
            if limits is None:
                raise SkipModel(f"model {target.id} has no video limits in this worker's catalog")
            size = video_size(request, limits)
            if size is None or (request.seconds is not None and request.seconds not in limits.seconds):
                raise SkipModel(f"model {target.id} cannot make the video asked for", param="input")
            seconds = request.seconds if request.seconds is not None else limits.default_seconds
            began = await videos.begin_create(
                job.redis, job.job_id, model=target.id, provider=target.provider, provider_id=target.provider_id
            )
            if not began:
                raise interrupted()
            try:
                video_id = await wires.create(
                    model_id=target.id,
                    provider=target.provider,
                    provider_id=target.provider_id,
                    request=request,
                    seconds=seconds,
                    size=size,
                    reference=reference,
                    timeout_s=CREATE_TIMEOUT_S,
                )
            except UpstreamError as exc:
                if exc.code == "upstream_timeout":
                    # Sent, unanswered: the provider may have made it. The marker stays, so
                    # no attempt creates again; the client decides whether to pay twice.
                    raise JobFailed(
                        "The provider did not answer the create in time; whether it made the video is unknown.",
                        code="video_create_timeout",
                        retryable=True,
                        status=504,
                    ) from None
                await videos.forget_create(job.redis, job.job_id)  # refused: nothing was made
                raise
            await videos.created(
                job.redis,
                job.job_id,
                provider_video_id=video_id,
                max_generation_s=limits.max_generation_s,
                cancel=limits.cancel,
                seconds=seconds,
                size=size,
            )
            await attempt.succeeded()
            await job.progress(0.0, "queued")

        await self.walker.walk(job, call)


def interrupted() -> JobFailed:
    return JobFailed(
        "An earlier attempt of this job was stopped while creating the video, so whether the "
        "provider made it is unknown; it is not created again (that could bill twice). Submit the job again.",
        code="video_create_interrupted",
        retryable=True,
        status=502,
    )
