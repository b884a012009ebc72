"""The MPC-API worker: arq's Worker with a Redis wake-up signal, fair claims and short heartbeats.

Four changes to stock arq, all keeping its job format and semantics:
- **Wake-up instead of tight polling.** Submitting a job PUBLISHes its id on the queue
  class's wake channel; the worker waits on that channel and claims a job at once, and
  claims every second for anything a message did not announce (missed messages, jobs
  given back, dead workers' jobs). An idle worker sleeps.
- **Fair share, not first in first out.** arq reads its queue's sorted set oldest first; a
  claim here takes the next job of the owner with the lowest virtual time (`queues.fair`),
  so one key's flood cannot starve another key's jobs.
- **One round trip to take a job.** arq claims with WATCH, EXISTS, ZSCORE and a MULTI'd
  PSETEX, then `run_job` fetches the job (GET + INCR), and MPC-API marks its record
  processing: six round trips, each a wait for the event loop when streams are being
  relayed. Here one Lua script does all of it, and the fair choice (`queues.claim`), with the
  same keys and outcome, and `_run_claimed` is what is left of arq's `run_job` for MPC-API's
  one function.
- **Heartbeats for in-progress marks.** arq marks a running job with a key that lives for
  the longest function timeout + 10 s, so a crashed worker's chat job would wait out the
  video timeout. Here the mark lives 10 s and a live worker renews it every 2 s: a job
  whose worker died is picked up again within about 11 s, whatever its timeout.

These changes use members of arq's `Worker` that arq does not document (`_pool`, `sem`,
`job_counter`, `tasks`, `heart_beat`, `_release_sem_dec_counter_on_complete`,
`finish_job`, ...). arq is therefore pinned exactly, and `tests/workers/test_arq_contract.py`
checks each of them by name, with arq's job format as `queues.submit` and `queues.claim`
write and read it: an arq upgrade fails there, naming what changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import secrets
import socket
import time

import httpx
import msgspec
import uvloop
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix
from arq.jobs import SerializationError, deserialize_job_raw
from arq.worker import Function, Worker, func
from prometheus_client import start_http_server
from redis.exceptions import RedisError

from artifacts import ArtifactStore, StoreConfig, open_store
from catalog import Catalog
from metrics.definitions import WorkerMetrics
from metrics.jsonlog import configure_logging
from queues import keys, presence
from queues.claim import Claim, claim_next
from queues.classes import QUEUE_CLASS_LIMITS, QueueClassLimits
from queues.fair import adopt_queued, give_back, recover_orphans, renew_leases
from queues.redis import UNAVAILABLE, connect, connect_as, database_of
from queues.retention import Retention
from queues.settings import Settings
from queues.submit import JOB_FUNCTION
from queues.waiting import wait_set
from workers._outbound import guarded_client
from workers._video_wires import VideoWires
from workers.jobrun import CLAIM, WorkerRuntime, mpc_job
from workers.litellm import LiteLLMClient
from workers.media import MediaDeps, MediaTimeouts
from workers.plan_handler import ADHOC_TASK
from workers.registry import builtin_handlers, load_handlers
from workers.video_poller import VideoPoller
from workers.webhooks import DeliveryLoop, delivery_client

log = logging.getLogger("mpc.worker")

IN_PROGRESS_TTL_S = 10.0
HEARTBEAT_INTERVAL_S = 2.0
WORKER_HEARTBEAT_TTL_S = 10
FALLBACK_POLL_S = 1.0
# Wake-ups counted while the worker is busy; past this, they are dropped for one claim round
# (a saturated worker would otherwise try a claim for every job other workers took
# meanwhile, one round trip each).
MAX_ANNOUNCED = 256
# Leases of dead workers' jobs looked at per poll (`queues.fair.recover_orphans`).
RECOVER_LIMIT = 100
LITELLM_PROBE_INTERVAL_S = 10.0
# Pause after a failed read of the queue (Redis restarting, failing over) before the next.
REDIS_RETRY_S = 0.5
# arq's own try limit is set out of reach: arq would otherwise fail a job without calling
# mpc_job, leaving our record `processing` forever. mpc_job enforces MAX_ATTEMPTS instead.
ARQ_MAX_TRIES = 1000
# Extra time arq allows beyond the class timeout, so mpc_job's own timeout fires first.
ARQ_TIMEOUT_MARGIN_S = 30
# How long the worker waits after Redis was unreachable before it tries again.
REDIS_RETRY_S = 0.5
REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (*UNAVAILABLE, OSError)


class MPCWorker(Worker):
    def __init__(
        self, runtime: WorkerRuntime, *, redis_url: str, shutdown_grace_s: int, poller: VideoPoller | None = None
    ) -> None:
        limits = runtime.limits
        super().__init__(
            functions=[func(mpc_job, name=JOB_FUNCTION, timeout=limits.job_timeout_s + ARQ_TIMEOUT_MARGIN_S)],
            queue_name=limits.queue_name,
            redis_pool=_arq_pool(redis_url, limits.queue_name),
            max_jobs=limits.max_jobs,
            keep_result=0,  # the job record in queues.store is the result; arq's copy would be waste
            poll_delay=FALLBACK_POLL_S,
            max_tries=ARQ_MAX_TRIES,
            ctx={"mpc": runtime},
            job_completion_wait=shutdown_grace_s,
        )
        self.in_progress_timeout_s = IN_PROGRESS_TTL_S
        self.runtime = runtime
        self.poller = poller  # media workers: the videos waiting on their providers
        self.redis_url = redis_url
        self.started_at = time.time()
        self._wake = asyncio.Event()
        self._announced = 0  # wake-up messages not yet answered by a claim
        self._poll_now = True  # (re)subscribed: claim whatever was published meanwhile
        self._full = False  # a claim stopped at max_jobs: claim again when a slot frees
        self._refill = False  # a slot freed after the worker was full: claim until full again
        self.webhooks: DeliveryLoop | None = None  # every worker process delivers webhooks too

    async def main(self) -> None:
        self.ctx["redis"] = self.pool
        background = [
            asyncio.create_task(self._listen(), name="mpc-wake-listener"),
            asyncio.create_task(self._heartbeat(), name="mpc-heartbeat"),
        ]
        if self.poller is not None:
            self.runtime.cancel_listeners.append(self.poller.cancel_requested)
            background.append(asyncio.create_task(self.poller.run(), name="mpc-video-poller"))
        if self.webhooks is not None:
            background.append(asyncio.create_task(self.webhooks.run(), name="mpc-webhooks"))
        log.info("worker %s ready for queue class %s", self.runtime.worker_id, self.runtime.limits.name)
        try:
            next_poll = 0.0
            to_adopt = True  # jobs queued before fair share: listed once, when Redis answers
            while True:
                self._wake.clear()
                announced, self._announced = self._announced, 0
                refill, self._refill = self._refill, False
                try:
                    if to_adopt:
                        adopted = await adopt_queued(self.pool, self.runtime.limits.name)
                        to_adopt = False
                        if adopted > 0:
                            log.info("listed %d jobs queued before fair share for their owners", adopted)
                    if refill and self.allow_pick_jobs:
                        await self._start_waiting(None)
                    if announced and self.allow_pick_jobs:
                        await self._start_waiting(announced)
                    if self._poll_now or time.monotonic() >= next_poll:
                        self._poll_now = False
                        next_poll = time.monotonic() + FALLBACK_POLL_S
                        await self._poll()
                except REDIS_UNAVAILABLE as exc:
                    # Redis restarting or failing over: keep the running jobs, try again
                    # shortly (a Sentinel client finds the new primary on its next connection).
                    log.warning("worker lost Redis (%s); retrying", type(exc).__name__)
                    self._poll_now = True
                    await asyncio.sleep(REDIS_RETRY_S)
                    continue
                if not self._announced and not self._refill:
                    await wait_set(self._wake, max(0.0, next_poll - time.monotonic()))
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            if self.webhooks is not None:
                await self.webhooks.aclose()
            with contextlib.suppress(RedisError, OSError):
                await presence.withdraw(self.runtime.redis, self.runtime.limits.name, self.runtime.worker_id)
            await self.runtime.litellm.close()
            if self.runtime.downloads is not None:
                await self.runtime.downloads.aclose()
            if self.runtime.store is not None:
                await self.runtime.store.aclose()

    async def _poll(self) -> None:
        """What arq's `_poll_iteration` does, but claiming fairly: dead workers' jobs back
        to their owners' turns, claims until the slots are full or nothing waits, finished
        tasks reaped (their errors raised), arq's health-check record."""
        now_ms = int(time.time() * 1000)
        lease_ms = int(self.in_progress_timeout_s * 1000)
        name = self.runtime.limits.name
        await recover_orphans(self.pool, name, now_ms=now_ms, lease_ms=lease_ms, limit=RECOVER_LIMIT)
        if self.allow_pick_jobs:
            await self._start_waiting(None)
        for job_id, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[job_id]
                task.result()
        await self.heart_beat()

    async def _start_waiting(self, at_most: int | None) -> None:
        """Claim and start up to `at_most` waiting jobs (None: as many as the slots take),
        each claim one round trip (`queues.claim`), stopping when the slots are full or no
        job waits. Unbounded, it ends in one of those two states, so a worker that ends
        full is sure to claim again when a slot frees (`_job_done`)."""
        claims = 0
        while at_most is None or claims < at_most:
            claims += 1
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                self._full = True  # the rest stay queued; _job_done claims again
                return
            self.job_counter += 1
            claim: Claim | None = None
            try:
                claim = await self._claim()
            finally:
                if claim is None:  # nothing waiting, or Redis failed: the slot is free again
                    self.job_counter -= 1
                    self.sem.release()
            if claim is None:
                return
            task = self.loop.create_task(self._run_claimed(claim))
            task.add_done_callback(self._job_done)
            self.tasks[claim.job_id] = task
        if self.job_counter >= self.max_jobs:
            # Every claim found a job and the last one took the last slot: more may wait,
            # and no wake-up is left for them, so claim again when a slot frees.
            self._full = True

    async def _claim(self) -> Claim | None:
        claim = None
        self.runtime.claim_sent()
        try:
            claim = await claim_next(
                self.pool,
                self.runtime.limits.name,
                in_progress_ms=int(self.in_progress_timeout_s * 1000),
                worker_id=self.runtime.worker_id,
                retention=self.runtime.retention,
            )
        finally:
            listening = self.runtime.claim_answered(None if claim is None else claim.job_id)
        if claim is not None and not listening:
            # Not reachable while each job has one list entry; if it were, the attempt
            # running here already holds the job.
            log.warning("job %s claimed while this worker runs it; not starting it twice", claim.job_id)
            return None
        return claim

    async def _run_claimed(self, claim: Claim) -> None:
        """arq's `run_job` for a job `claim_next` already fetched and started. MPC-API's one
        function keeps no arq result and does its own retries and timeout, so what is left
        of arq's is: call the function, and clear or keep the job's queue entry."""
        job_id = claim.job_id
        try:
            function = self._function_of(claim)
            if function is None:
                self.jobs_failed += 1
                await asyncio.shield(self.finish_failed_job(job_id, None))
                return
            ctx = {**self.ctx, "job_id": job_id, "job_try": claim.attempt, "score": claim.score, CLAIM: claim}
            finished = True
            try:
                # Awaited in this task, not a task of its own as arq does (for aborts, which
                # MPC-API does its own way): one pass of the event loop less before the
                # handler runs. MPC-API's jobs carry their id as their one argument.
                async with asyncio.timeout(function.timeout_s):
                    await function.coroutine(ctx, job_id)
                self.jobs_complete += 1
            except REDIS_UNAVAILABLE as exc:
                # Redis went away while the job ran or wrote its end: whether its final state
                # was written is unknown, so the job stays in the queue. Its in-progress mark
                # and lease run out (no heartbeat renews them now), a worker's poll gives it
                # back to its owner's list (queues.fair.recover_orphans), and the claim finds
                # it final (nothing to do) or runs it once more. Clearing its
                # queue entry here could leave it `processing` for ever on a new primary
                # that never saw the final state.
                log.warning("job %s lost Redis (%s); it will be taken again", job_id, type(exc).__name__)
                self.jobs_retried += 1
                return
            except asyncio.CancelledError:
                # The worker is stopping: mpc_job handed the job back; another worker runs
                # it again, in its owner's turn.
                finished = False
                self.jobs_retried += 1
            except Exception:
                log.exception("job %s raised past mpc_job", job_id)
                self.jobs_failed += 1
            if not finished and claim.started is not None:
                wake = keys.wake_channel(database_of(self.pool), self.runtime.limits.name)
                owner = claim.started.record.owner
                await asyncio.shield(give_back(self.pool, self.runtime.limits.name, job_id, owner, wake_channel=wake))
                return
            try:
                await asyncio.shield(
                    self.finish_job(
                        job_id,
                        finish=finished,
                        result_data=None,
                        result_timeout_s=None,
                        keep_result_forever=False,
                        incr_score=None,
                        keep_in_progress=None,
                    )
                )
            except (RedisError, OSError) as exc:
                # arq's queue entry stays; its in-progress mark, no longer renewed, expires and
                # the next claim finds the record final and clears it (or, if the job's end
                # was not written either, runs it again: the retry of an unfinished attempt).
                # Raised here, arq's poll would re-raise it and stop the worker.
                log.warning("could not clear job %s from the queue (%s)", job_id, type(exc).__name__)
        finally:
            self.runtime.stop_listening(job_id)

    def _function_of(self, claim: Claim) -> Function | None:
        """The arq function the job names, if it can be run (arq's own checks)."""
        if claim.arq_job is None:
            log.warning("job %s expired in the queue before a worker took it", claim.job_id)
            return None
        try:
            name = deserialize_job_raw(claim.arq_job, deserializer=self.job_deserializer)[0]
        except SerializationError:
            log.exception("job %s cannot be read", claim.job_id)
            return None
        function = self.functions.get(name)
        if not isinstance(function, Function):
            log.warning("job %s names function %r, which this worker does not have", claim.job_id, name)
            return None
        return function

    def _job_done(self, _: asyncio.Task[None]) -> None:
        self._release_sem_dec_counter_on_complete()
        if self._full:
            # Jobs announced while every slot was taken were dropped: claim now, until the
            # slots are full again, rather than at the next fallback poll, or a burst would
            # drain one poll a second. (Jobs ending together: the first one's refill claims
            # for the slots the others free meanwhile.)
            self._full = False
            self._refill = True
            self._wake.set()

    async def _listen(self) -> None:
        """Wake-ups for this queue class and for webhook deliveries, and cancel requests,
        over pub/sub."""
        client = connect(self.redis_url, socket_timeout=None)
        db = database_of(client)
        wake = keys.wake_channel(db, self.runtime.limits.name).encode()
        webhook_wake = keys.webhook_wake_channel(db).encode()
        channels = [wake, keys.cancel_channel(db).encode()]
        if self.webhooks is not None:
            channels.append(webhook_wake)
        try:
            while True:
                pubsub = client.pubsub()
                try:
                    await pubsub.subscribe(*channels)
                    self._poll_now = True
                    self._wake.set()
                    async for message in pubsub.listen():
                        if message["type"] != "message":
                            continue
                        if message["channel"] == wake:
                            self._announce()
                        elif message["channel"] == webhook_wake:
                            if self.webhooks is not None:
                                self.webhooks.wake()
                        else:
                            self.runtime.cancel(message["data"].decode())
                except (RedisError, OSError) as exc:
                    log.warning("wake-up listener lost Redis (%s); retrying", type(exc).__name__)
                    await asyncio.sleep(0.5)
                finally:
                    with contextlib.suppress(RedisError, OSError):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
        finally:
            await client.aclose()

    def _announce(self) -> None:
        """A job was enqueued (which one does not matter: the claim picks the fair one)."""
        if self._announced < MAX_ANNOUNCED:
            self._announced += 1
        else:
            self._announced = 0
            self._poll_now = True
        self._wake.set()

    async def _heartbeat(self) -> None:
        """Renew running jobs' in-progress marks, announce this worker, report on LiteLLM."""
        next_probe = 0.0
        while True:
            running = [job_id for job_id, task in self.tasks.items() if not task.done()]
            self.runtime.metrics.worker_up.labels(self.runtime.limits.name).set(1 if self.allow_pick_jobs else 0)
            info = {
                "worker_id": self.runtime.worker_id,
                "pid": os.getpid(),
                "queue": self.runtime.limits.name,
                "running": len(running),
                "max_jobs": self.max_jobs,
                "accepting": self.allow_pick_jobs,
                "tasks": sorted(self.runtime.handlers),
                "started_at": self.started_at,
            }
            try:
                async with self.pool.pipeline(transaction=False) as pipe:
                    for job_id in running:
                        pipe.pexpire(in_progress_key_prefix + job_id, int(IN_PROGRESS_TTL_S * 1000))
                    until_ms = int((time.time() + IN_PROGRESS_TTL_S) * 1000)
                    renew_leases(pipe, self.runtime.limits.name, running, until_ms)
                    presence.announce(
                        pipe,
                        self.runtime.limits.name,
                        self.runtime.worker_id,
                        msgspec.json.encode(info),
                        ttl_s=WORKER_HEARTBEAT_TTL_S,
                        now=time.time(),
                    )
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                log.warning("heartbeat failed (%s)", type(exc).__name__)
            if time.monotonic() >= next_probe:
                next_probe = time.monotonic() + LITELLM_PROBE_INTERVAL_S
                await self._report_litellm()
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)

    async def _report_litellm(self) -> None:
        """Record what this worker sees of LiteLLM, for the gateway's /health."""
        ok = await self.runtime.litellm.liveliness()
        seen = {"status": "ok" if ok else "down", "at": repr(time.time()), "worker": self.runtime.worker_id}
        if not ok:
            seen["detail"] = "LiteLLM's /health/liveliness did not answer 200"
        try:
            async with self.pool.pipeline(transaction=False) as pipe:
                pipe.delete(keys.LITELLM_SEEN)
                pipe.hset(keys.LITELLM_SEEN, mapping=seen)
                pipe.expire(keys.LITELLM_SEEN, int(LITELLM_PROBE_INTERVAL_S * 3))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("could not record LiteLLM status (%s)", type(exc).__name__)


def _arq_pool(redis_url: str, queue_name: str) -> ArqRedis:
    """arq's client for the worker, made like every other client (queues.redis): so a
    Sentinel or TLS URL reaches arq's claim, poll and finish too."""
    pool = connect_as(ArqRedis, redis_url)
    pool.default_queue_name = queue_name
    return pool


def build_worker(settings: Settings, catalog: Catalog, queue_class: str, store: ArtifactStore) -> MPCWorker:
    redis = connect(settings.redis_url)
    litellm = LiteLLMClient.from_settings(settings)
    metrics = WorkerMetrics()
    # Media URLs (fal's images, `audio_url`) are fetched with no credentials and no redirects,
    # and only from addresses the outbound policy allows (MPC_OUTBOUND_ALLOW).
    downloads = guarded_client(settings.outbound_allow, timeout=httpx.Timeout(60.0, connect=5.0))
    media = MediaDeps(litellm, store, MediaTimeouts.from_settings(settings), settings.max_upload_bytes)
    retention = Retention.from_settings(settings)
    builtin = builtin_handlers(
        catalog,
        litellm,
        redis,
        metrics,
        breaker_cool_off_s=settings.breaker_cool_off_s,
        media=media,
        downloads=downloads,
    )
    runtime = WorkerRuntime(
        redis=redis,
        handlers=load_handlers(builtin, settings.worker_handlers),
        metrics=metrics,
        retention=retention,
        limits=_limits(queue_class, settings),
        worker_id=f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}",
        litellm=litellm,
        store=store,
        downloads=downloads,
    )
    poller = None
    if queue_class == "media" and "video_generate" in runtime.handlers:
        poller = VideoPoller(redis, VideoWires(litellm, downloads), store, retention)
    worker = MPCWorker(
        runtime, redis_url=settings.redis_url, shutdown_grace_s=settings.worker_shutdown_grace_s, poller=poller
    )
    worker.webhooks = DeliveryLoop(redis, delivery_client(settings.outbound_allow), metrics)
    return worker


def _limits(queue_class: str, settings: Settings) -> QueueClassLimits:
    limits = QUEUE_CLASS_LIMITS[queue_class]
    if settings.worker_max_jobs:
        return msgspec.structs.replace(limits, max_jobs=settings.worker_max_jobs)
    return limits


def run_worker(settings: Settings, catalog: Catalog, queue_class: str) -> None:
    configure_logging(settings.log_level)
    # arq's Worker takes the current event loop in __init__: make it uvloop's, which cuts
    # the cost of each Redis round trip on the pickup path.
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    # Opened on the loop the worker runs on (an S3 client belongs to its loop); the worker
    # closes it when it stops.
    store = loop.run_until_complete(
        open_store(StoreConfig(**settings.artifact_store_options()), signing_key=settings.artifact_signing_key())
    )
    worker = build_worker(settings, catalog, queue_class, store)
    if settings.worker_metrics_port:
        # Each worker serves its own registry; Prometheus adds the processes up.
        start_http_server(settings.worker_metrics_port, addr=settings.host, registry=worker.runtime.metrics.registry)
    unknown = [t for t in worker.runtime.handlers if t not in catalog.tasks and t not in (*catalog.plans, ADHOC_TASK)]
    if unknown:
        log.warning("handlers registered for tasks not in the catalog: %s", ", ".join(unknown))
    # Modules, catalog and brain index live as long as the process: keep them out of the
    # collector's full passes, which otherwise stop every running job (30 ms seen under load).
    gc.freeze()
    worker.run()
