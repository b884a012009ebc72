"""Crash recovery, graceful stop, queue isolation and Redis outages, with real processes."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable

import httpx
import pytest

from api.app import create_app
from catalog import Catalog
from queues.settings import Settings
from tests.support.auth import AUTH
from tests.support.handlers import say
from tests.support.jobs import job_state, wait_for_job
from tests.support.redis_server import RedisServer
from tests.support.servers import running_server
from tests.support.waiting import async_wait_until, wait_until
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.slow


def test_killed_worker_job_is_rerun_by_another_within_15_s(
    api: httpx.Client, start_worker: Callable[..., WorkerProcess]
) -> None:
    first = start_worker("media")  # media: a one-hour class timeout
    job = api.post(
        "/api/jobs",
        json={
            "task": "video_generate",
            "input": {"prompt": "a test video"},
            "params": {"sleep_first_attempt": 600, "sleep": 0.2},
        },
    )
    job_id = job.json()["id"]
    wait_for_job(api, job_id, lambda s: s["status"] == "processing", timeout=10)
    second = start_worker("media")
    first.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    rerun = wait_for_job(api, job_id, lambda s: s["attempts"] == 2, timeout=20)
    assert time.monotonic() - killed_at <= 15
    final = wait_for_job(api, job_id, lambda s: s["status"] == "succeeded", timeout=10)
    assert final["attempts"] == 2 and final["output"] == {"slept": 0.2, "attempt": 2}
    assert rerun["status"] in ("processing", "succeeded")
    events = api.get(f"/api/jobs/{job_id}/events").text
    assert events.count("event: done") == 1 and "event: error" not in events
    second.stop()


def test_sigterm_lets_in_flight_jobs_finish_and_takes_no_new_ones(
    api: httpx.Client, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker("media", grace_s=10)
    # Long enough to outlast the worker's next heartbeat (every 2 s), which says it stopped taking jobs.
    running = api.post(
        "/api/jobs", json={"task": "video_generate", "input": {"prompt": "a test video"}, "params": {"sleep": 5}}
    ).json()["id"]
    wait_for_job(api, running, lambda s: s["status"] == "processing", timeout=10)
    worker.process.send_signal(signal.SIGTERM)
    assert wait_until(lambda: not_accepting(worker), timeout=10, interval=0.05)
    later = api.post(
        "/api/jobs", json={"task": "video_generate", "input": {"prompt": "a test video"}, "params": {"sleep": 0}}
    ).json()["id"]
    assert job_state(api, running)["status"] == "processing"  # still stopping: `later` was there to take
    assert worker.process.wait(timeout=15) is not None
    assert job_state(api, running)["status"] == "succeeded"
    assert job_state(api, later)["status"] == "queued"  # not picked by the stopping worker
    start_worker("media")
    assert wait_for_job(api, later, lambda s: s["status"] == "succeeded", timeout=10)["attempts"] == 1


def not_accepting(worker: WorkerProcess) -> bool:
    """The worker is alive and has announced it takes no new jobs."""
    heartbeat = worker.heartbeat()
    return heartbeat is not None and json.loads(heartbeat)["accepting"] is False


def test_sigterm_past_grace_requeues_the_job_for_another_worker(
    api: httpx.Client, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker("media", grace_s=1)
    job_id = api.post(
        "/api/jobs",
        json={
            "task": "video_generate",
            "input": {"prompt": "a test video"},
            "params": {"sleep_first_attempt": 60, "sleep": 0.1},
        },
    ).json()["id"]
    wait_for_job(api, job_id, lambda s: s["status"] == "processing", timeout=10)
    worker.stop(signal.SIGTERM, timeout=15)
    assert job_state(api, job_id)["status"] == "queued"
    start_worker("media")
    final = wait_for_job(api, job_id, lambda s: s["status"] == "succeeded", timeout=10)
    assert final["attempts"] == 2


def test_media_flood_does_not_delay_interactive_jobs(
    api: httpx.Client, start_worker: Callable[..., WorkerProcess], clean_redis: str
) -> None:
    import asyncio

    from queues.redis import connect
    from queues.submit import Submission, submit_job

    async def flood() -> None:
        redis = connect(clean_redis)
        try:
            sub = Submission(
                task="video_generate", queue="media", input_json=b'{"sleep": 30}', params_json=b"{}", owner="flood"
            )
            await asyncio.gather(*[submit_job(redis, sub) for _ in range(2000)])
        finally:
            await redis.aclose()

    start_worker("interactive")
    start_worker("media")

    def interactive_latency() -> float:
        started = time.monotonic()
        response = api.post(
            "/api/jobs", json={"task": "chat_general", "input": say("hi")}, headers={"Prefer": "wait=5"}
        )
        assert response.json()["status"] == "succeeded"
        return time.monotonic() - started

    before = sorted(interactive_latency() for _ in range(10))[5]
    asyncio.run(flood())
    after = sorted(interactive_latency() for _ in range(10))[5]
    # Same order of magnitude: no queueing behind 2,000 media jobs (which would take minutes).
    assert after < max(0.25, before * 5), (before, after)


def test_a_burst_bigger_than_a_worker_can_hold_is_all_picked_up(
    start_worker: Callable[..., WorkerProcess], clean_redis: str
) -> None:
    # 600 announcements reach a worker that runs 16 at a time: it keeps at most
    # MAX_ANNOUNCED ids and drops what it cannot start, then reads the queue as slots free.
    # About 2 s of work; the bound is loose, but a worker that left the rest to its 1 s
    # fallback poll (16 jobs a second) took 35 s.
    import asyncio

    from queues.redis import connect
    from queues.store import get_job
    from queues.submit import Submission, submit_job

    start_worker("media")
    sub = Submission(
        task="video_generate", queue="media", input_json=b'{"sleep": 0.02}', params_json=b"{}", owner="burst"
    )

    unfinished: list[str] = []

    async def burst_then_wait() -> bool:
        redis = connect(clean_redis)

        async def all_succeeded() -> bool:
            records = await asyncio.gather(*[get_job(redis, job_id) for job_id in ids])
            unfinished[:] = [r.id for r in records if r is not None and r.status != "succeeded"]
            return not unfinished

        try:
            jobs = await asyncio.gather(*[submit_job(redis, sub) for _ in range(600)])
            ids = [record.id for record, _ in jobs]
            return await async_wait_until(all_succeeded, timeout=20, interval=0.5)
        finally:
            await redis.aclose()

    assert asyncio.run(burst_then_wait()), f"{len(unfinished)} jobs unfinished"


def test_redis_outage_is_503_with_retry_after_and_recovers(settings: Settings, catalog: Catalog) -> None:
    own = RedisServer()
    own.start()
    app = create_app(Settings(redis_url=own.url, api_key_hashes=settings.api_key_hashes), catalog)
    try:
        with running_server(app) as base, httpx.Client(base_url=base, headers=AUTH, timeout=10) as api:
            assert (
                api.post("/api/jobs", json={"task": "video_generate", "input": {"prompt": "a test video"}}).status_code
                == 202
            )
            own.stop()
            for call in (
                lambda: api.post("/api/jobs", json={"task": "video_generate", "input": {"prompt": "a test video"}}),
                lambda: api.get("/api/jobs/job_0123"),
                lambda: api.get("/api/jobs/job_0123/events"),
                # Served by the fast lane (api/fastlane.py), which maps Redis errors itself.
                lambda: api.post("/api/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}),
            ):
                started = time.monotonic()
                response = call()
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"] == "1"
                assert response.json()["error"]["type"] == "service_unavailable"
                assert time.monotonic() - started < 3
            own.start()
            assert (
                api.post("/api/jobs", json={"task": "video_generate", "input": {"prompt": "a test video"}}).status_code
                == 202
            )
    finally:
        own.close()


def test_worker_outlives_a_redis_restart_and_runs_jobs_after(settings: Settings, catalog: Catalog) -> None:
    own = RedisServer()
    own.start()
    worker = WorkerProcess(own.url, "interactive")
    app = create_app(Settings(redis_url=own.url, api_key_hashes=settings.api_key_hashes), catalog)
    try:
        worker.wait_ready()
        own.stop()
        # Long enough for the worker's queue read (every second), its heartbeat (every 2 s)
        # and its wake-up listener to have failed: any of them used to end the process.
        time.sleep(2.5)
        assert worker.process.poll() is None
        own.start()
        with running_server(app) as base, httpx.Client(base_url=base, headers=AUTH, timeout=10) as api:
            job = api.post("/api/jobs", json={"task": "chat_general", "input": say("back again")}).json()
            final = wait_for_job(api, job["id"], lambda s: s["status"] == "succeeded", timeout=10)
            assert final["attempts"] == 1
        # Announced again on the new server at its next heartbeat (every 2 s).
        assert wait_until(lambda: worker.heartbeat() is not None, timeout=5, interval=0.1)
    finally:
        worker.stop(signal.SIGKILL)
        own.close()
