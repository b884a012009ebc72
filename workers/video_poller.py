"""The poller every media worker process runs: it waits on providers for the videos in flight.

A video job's handler created the video and put its job id in the poll schedule
(`mpc:video_polls`, `queues.schedule`); no worker slot is held while it waits. This loop
claims the due ids with a lease (a process killed mid-poll loses its lease and another
process polls the video: a thousand videos in flight are a thousand members of one set), at
most `concurrency` at a time, and for each:
- a job already final, or whose cancel was asked for, leaves the schedule (a cancel also
  asks the provider to stop where its API can, then ends the job `canceled`);
- past the model's maximum generation time the job fails `video_timeout`;
- otherwise LiteLLM is asked for the status with the create's id. `queued`/`in_progress`:
  a progress event when something changed, the next poll 2 s → 30 s later (1.5 times
  longer each poll);
  `failed`: the job fails with the provider's reason; `completed`: the content streams into
  the artifact store as `video.mp4` (the store checks it is MP4; its `moov` box gives duration
  and size on the way, ffprobe when it cannot) and the job succeeds. A 404 means the provider forgot the video:
  the job fails `video_lost` and nothing is created again. LiteLLM down or a provider 5xx
  is waited out with the same back-off, until the deadline.

Final states go through `queues.store.finish`, the function the job runner uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from artifacts import ArtifactStore
from queues import keys, schedule, store, videos
from queues.jobs import JobError, JobRecord
from queues.retention import Retention
from queues.videos import VideoRecord
from queues.waiting import wait_set
from workers._video_probe import VideoProbe
from workers._video_wires import VideoStatus, VideoWires
from workers.context import JobContext
from workers.errors import JobFailed
from workers.fallback import job_failed
from workers.litellm import UpstreamError
from workers.media import encoded, write_artifact

log = logging.getLogger("mpc.video")

MIN_INTERVAL_S = 2.0
MAX_INTERVAL_S = 30.0
BACKOFF = 1.5
LEASE_S = 20.0  # longer than a status call may take; a dead poller's videos wait this long
IDLE_S = 0.5  # how often an idle poller looks for due videos
STATUS_TIMEOUT_S = 15.0
CONTENT_TIMEOUT_S = 600.0
CANCEL_TIMEOUT_S = 15.0
CONTENT_TRIES = 3  # a finished video whose content is not found this often is lost
DEFAULT_CONCURRENCY = 64


def next_interval(polls: int, first_s: float = MIN_INTERVAL_S, cap_s: float = MAX_INTERVAL_S) -> float:
    """Seconds to the next poll after `polls` polls: 2 s, 3 s, 4.5 s … capped at 30 s."""
    return min(cap_s, first_s * BACKOFF ** max(0, polls))


@dataclass
class VideoPoller:
    redis: Redis
    wires: VideoWires
    store: ArtifactStore
    retention: Retention  # how long finished videos (records, artifacts) are kept
    concurrency: int = DEFAULT_CONCURRENCY
    lease_s: float = LEASE_S
    min_interval_s: float = MIN_INTERVAL_S
    max_interval_s: float = MAX_INTERVAL_S
    _running: set[asyncio.Task[None]] = field(default_factory=set)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def cancel_requested(self, job_id: str) -> None:
        """A cancel was published: if the job is a video waiting in the schedule, make it due
        now, so it ends within a moment rather than at its next poll."""
        task = asyncio.get_running_loop().create_task(self._due_now(job_id))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _due_now(self, job_id: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            if await schedule.reschedule(self.redis, keys.VIDEO_POLLS, job_id, delay_s=0):
                self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                free = self.concurrency - len(self._running)
                due: list[tuple[str, float]] = []
                if free > 0:
                    try:
                        due = await schedule.claim_due(self.redis, keys.VIDEO_POLLS, lease_s=self.lease_s, limit=free)
                    except (RedisError, OSError) as exc:
                        log.warning("video poller lost Redis (%s); retrying", type(exc).__name__)
                for job_id, _ in due:
                    task = asyncio.create_task(self.poll(job_id), name=f"mpc-video-poll-{job_id}")
                    self._running.add(task)
                    task.add_done_callback(self._done)
                if len(due) < free or free <= 0:
                    await wait_set(self._wake, IDLE_S)
        finally:
            for task in list(self._running):
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    def _interval(self, video: VideoRecord) -> float:
        return next_interval(video.polls, self.min_interval_s, self.max_interval_s)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()

    async def poll(self, job_id: str) -> None:
        """One claimed video: poll it and decide. Redis trouble leaves the claim to expire."""
        try:
            await self._poll(job_id)
        except asyncio.CancelledError:
            # The worker is stopping: the video is due again at once for whoever polls next,
            # rather than after the lease.
            with contextlib.suppress(RedisError, OSError):
                await asyncio.shield(schedule.reschedule(self.redis, keys.VIDEO_POLLS, job_id, delay_s=0))
            raise
        except (RedisError, OSError) as exc:
            log.warning("poll of %s lost Redis (%s); its lease will bring it back", job_id, type(exc).__name__)
        except Exception:
            log.exception("poll of %s failed; polling it again later", job_id)
            with contextlib.suppress(RedisError, OSError):
                await schedule.reschedule(self.redis, keys.VIDEO_POLLS, job_id, delay_s=self.max_interval_s)

    async def _poll(self, job_id: str) -> None:
        job = await store.get_job(self.redis, job_id)
        if job is None or job.is_final:
            await schedule.remove(self.redis, keys.VIDEO_POLLS, job_id)
            return
        video = await videos.get(self.redis, job_id)
        if video is None or video.provider_video_id is None:
            await self._end(job_id, error=JobError(message="The job's video record is gone.", code="video_lost"))
            return
        if await self.redis.exists(keys.job_cancel(job_id)):
            await self._cancel(job_id, video)
            return
        if video.deadline_at is not None and time.time() > video.deadline_at:
            await self._stop_upstream(video)
            limit = video.max_generation_s or video.deadline_at - video.created_at
            message = f"The provider did not finish the video within {limit:g} s (the model's maximum generation time)."
            await self._end(job_id, error=JobError(message=message, code="video_timeout", retryable=True, status=504))
            return
        try:
            status = await self.wires.status(video.provider, video.provider_video_id, timeout_s=STATUS_TIMEOUT_S)
        except UpstreamError as exc:
            await self._upstream_failed(job_id, video, exc)
            return
        await videos.polled(self.redis, job_id, status=status.status, progress=status.progress, error=status.error)
        if status.status == "completed":
            await self._deliver(job, video, status)
        elif status.status == "failed":
            message = f"The provider failed the video: {status.error or 'no reason given'}"
            await self._end(job_id, error=JobError(message=message, code="upstream_error", status=502))
        else:
            await self._progress(job_id, video, status)
            await schedule.reschedule(self.redis, keys.VIDEO_POLLS, job_id, delay_s=self._interval(video))

    async def _progress(self, job_id: str, video: VideoRecord, status: VideoStatus) -> None:
        """A progress event when the provider's status or progress moved (not on every poll)."""
        fraction = status.progress if status.progress is not None else video.progress
        if status.status == video.status and fraction == video.progress:
            return
        data = {"progress": fraction, "message": status.status}
        await store.record_event(self.redis, job_id, "progress", data, progress=fraction, retention=self.retention)

    async def _upstream_failed(self, job_id: str, video: VideoRecord, exc: UpstreamError) -> None:
        if exc.status == 404:
            message = "The provider no longer knows this video; it is not created again."
            await self._end(job_id, error=JobError(message=message, code="video_lost", status=502))
        elif exc.fallback:  # LiteLLM or the provider is down for now: wait it out
            await videos.polled(self.redis, job_id, status=video.status, progress=None)
            await schedule.reschedule(self.redis, keys.VIDEO_POLLS, job_id, delay_s=self._interval(video))
        else:
            await self._end(job_id, error=job_failed(exc).error)

    async def _deliver(self, job: JobRecord, video: VideoRecord, status: VideoStatus) -> None:
        job_id = job.id
        assert video.provider_video_id is not None
        # The lease covers the download: no other poller takes the video meanwhile.
        await schedule.reschedule(self.redis, keys.VIDEO_POLLS, job_id, delay_s=CONTENT_TIMEOUT_S + self.lease_s)
        context = JobContext(
            job_id=job_id,
            task=job.task,
            queue=job.queue,
            attempt=job.attempts,
            input=None,
            params={},
            redis=self.redis,
            retention=self.retention,
        )
        probe = VideoProbe()
        try:
            async with self.wires.content(
                video.provider, video.provider_video_id, status, timeout_s=CONTENT_TIMEOUT_S
            ) as chunks:
                artifact = await write_artifact(
                    self.store,
                    context,
                    "video.mp4",
                    probe.tee(chunks),
                    content_type="video/mp4",
                    metadata=probe.metadata,
                )
        except UpstreamError as exc:
            await self._content_failed(job_id, video, exc)
            return
        except JobFailed as exc:  # the store cannot be written now: try again later
            log.warning("video %s could not be stored (%s); trying again", job_id, exc.error.code)
            await schedule.reschedule(self.redis, keys.VIDEO_POLLS, job_id, delay_s=self.max_interval_s)
            return
        found = artifact.metadata
        seconds = found.duration_s if found is not None and found.duration_s is not None else video.seconds
        size = f"{found.width}x{found.height}" if found is not None and found.width and found.height else video.size
        output: dict[str, Any] = {
            "model": video.model,
            "provider_video_id": video.provider_video_id,
            "seconds": float(seconds) if seconds is not None else None,
            "size": size,
            "artifacts": [encoded(artifact)],
        }
        await self._end(job_id, output=output)

    async def _content_failed(self, job_id: str, video: VideoRecord, exc: UpstreamError) -> None:
        if exc.code == "bad_upstream_response":  # not an MP4: asking again gives the same bytes
            await self._end(job_id, error=job_failed(exc).error)
            return
        if exc.status == 404 and await videos.count_content_try(self.redis, job_id) >= CONTENT_TRIES:
            message = "The provider finished the video but no longer has its content; it is not created again."
            await self._end(job_id, error=JobError(message=message, code="video_lost", status=502))
            return
        if exc.status == 404 or exc.fallback:
            await schedule.reschedule(self.redis, keys.VIDEO_POLLS, job_id, delay_s=self._interval(video))
            return
        await self._end(job_id, error=job_failed(exc).error)

    async def _cancel(self, job_id: str, video: VideoRecord) -> None:
        await schedule.remove(self.redis, keys.VIDEO_POLLS, job_id)
        await self._stop_upstream(video)
        await store.finish(self.redis, job_id, canceled=True, retention=self.retention)

    async def _stop_upstream(self, video: VideoRecord) -> None:
        """Ask the provider to stop where its API can; where it cannot, polling just stops
        (and the provider may still bill)."""
        if not video.cancel or video.provider_video_id is None:
            return
        try:
            await self.wires.cancel(video.provider, video.provider_video_id, timeout_s=CANCEL_TIMEOUT_S)
        except UpstreamError as exc:
            log.warning("the provider did not take the cancel of video %s (%s)", video.provider_video_id, exc.code)

    async def _end(self, job_id: str, *, output: Any = None, error: JobError | None = None) -> None:
        await store.finish(self.redis, job_id, output=output, error=error, retention=self.retention)
        await schedule.remove(self.redis, keys.VIDEO_POLLS, job_id)
