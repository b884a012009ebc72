"""The job system end to end: real gateway (uvicorn), real Redis, real worker processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
import redis
from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix

from queues import keys
from queues.claim import claim_next
from queues.classes import QUEUE_CLASS_LIMITS
from queues.redis import connect
from queues.retention import DEFAULT_RETENTION
from queues.settings import Settings
from queues.submit import Submission, submit_job
from tests.support.auth import AUTH, OTHER_AUTH
from tests.support.handlers import say
from tests.support.jobs import wait_final, wait_for_job
from tests.support.sse import parse_sse
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess


def test_submit_runs_and_succeeds(api: httpx.Client, start_worker: Callable[..., WorkerProcess]) -> None:
    start_worker("interactive")
    response = api.post("/api/jobs", json={"task": "chat_general", "input": say("hello there")})
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/api/jobs/{job['id']}"
    assert job["status"] == "queued" and job["queue"] == "interactive" and "owner" not in job
    done = wait_final(api, job["id"])
    assert done["status"] == "succeeded"
    assert done["output"] == {"echo": say("hello there"), "attempt": 1}
    assert done["attempts"] == 1 and done["progress"] == 1.0
    assert done["started_at"] >= done["created_at"] and done["finished_at"] >= done["started_at"]


def test_prefer_wait_returns_the_finished_job(api: httpx.Client, start_worker: Callable[..., WorkerProcess]) -> None:
    start_worker("interactive")
    response = api.post("/api/jobs", json={"task": "chat_general", "input": say("x")}, headers={"Prefer": "wait=10"})
    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"
    assert response.headers["preference-applied"] == "wait=10"


def test_prefer_wait_times_out_with_202(api: httpx.Client, start_worker: Callable[..., WorkerProcess]) -> None:
    start_worker("media")
    started = time.monotonic()
    response = api.post(
        "/api/jobs",
        json={"task": "video_generate", "input": {"prompt": "a test video"}, "params": {"sleep": 5}},
        headers={"Prefer": "wait=1"},
    )
    assert 0.9 <= time.monotonic() - started < 4
    assert response.status_code == 202
    assert response.json()["status"] in ("queued", "processing")


def test_handler_failure_and_crash_end_failed_without_leaking(
    api: httpx.Client, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker("interactive")
    refused = wait_final(api, api.post("/api/jobs", json={"task": "summarize", "input": say("x")}).json()["id"])
    assert refused["status"] == "failed"
    assert refused["error"] == {
        "message": "The input cannot be summarized.",
        "type": "invalid_request_error",
        "code": "bad_input",
        "param": None,
        "retryable": False,
        "status": None,
        "retry_after": None,
    }
    crashed = wait_final(api, api.post("/api/jobs", json={"task": "translate", "input": say("x")}).json()["id"])
    assert crashed["status"] == "failed" and crashed["error"]["code"] == "internal_error"
    assert "sk-should-not-leak" not in str(crashed)


def test_task_without_handler_fails_clearly(
    api: httpx.Client, settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker("batch", handlers="")  # the built-in handlers: every task and plan of this catalog
    # A job of a plan this worker's catalog no longer has (submitted before a catalog change).
    submission = Submission(task="retired_plan", queue="batch", input_json=b"{}", params_json=b"{}", owner="o")

    async def submit() -> str:
        client = connect(settings.redis_url)
        try:
            record, _ = await submit_job(client, submission)
            return record.id
        finally:
            await client.aclose()

    job_id = asyncio.run(submit())
    client = redis.Redis.from_url(settings.redis_url)
    try:
        assert wait_until(lambda: client.hget(keys.job(job_id), "status") == b"failed", timeout=15)
        assert b"task_not_runnable" in (client.hget(keys.job(job_id), "error") or b"")
    finally:
        client.close()


def test_other_key_sees_404(api: httpx.Client) -> None:
    job = api.post("/api/jobs", json={"task": "chat_general", "input": say("x")}).json()
    assert api.get(f"/api/jobs/{job['id']}", headers=OTHER_AUTH).status_code == 404
    assert api.post(f"/api/jobs/{job['id']}/cancel", headers=OTHER_AUTH).status_code == 404
    assert api.get(f"/api/jobs/{job['id']}").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        (b"{not json", 400, None),
        (b"", 400, None),
        (b'{"input": {}}', 422, None),
        (b'{"task": 5}', 422, "task"),
        (b'{"task": "dance"}', 422, "task"),
        (b'{"task": "tts", "colour": 1}', 422, None),
        (b'{"task": "tts", "params": []}', 422, "params"),
        (b'{"task": "chat_general", "input": {"text": "no messages"}}', 400, "input.messages"),
        (b'{"task": "chat_general", "input": "hi"}', 400, "input"),
    ],
)
def test_bad_submissions_are_4xx_naming_the_problem(
    api: httpx.Client, body: bytes, status: int, param: str | None
) -> None:
    response = api.post("/api/jobs", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"]
    if param:
        assert error["param"] == param


def test_unknown_task_lists_known_tasks(api: httpx.Client) -> None:
    error = api.post("/api/jobs", json={"task": "dance"}).json()["error"]
    assert error["code"] == "unknown_task" and "chat_general" in error["message"] and "rag_pipeline" in error["message"]


def test_oversized_input_is_413(api: httpx.Client) -> None:
    big = "x" * (1024 * 1024 + 10)
    response = api.post("/api/jobs", json={"task": "chat_general", "input": say(big)})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_unknown_job_is_404(api: httpx.Client) -> None:
    for path in ("/api/jobs/job_doesnotexist", "/api/jobs/nonsense", "/api/jobs/job_doesnotexist/events"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "job_not_found"
    assert api.post("/api/jobs/job_doesnotexist/cancel").status_code == 404


def test_idempotency_same_body_same_job_other_body_422(api: httpx.Client) -> None:
    body = {"task": "chat_general", "input": say("once")}
    first = api.post("/api/jobs", json=body, headers={"Idempotency-Key": "abc-1"})
    again = api.post("/api/jobs", json=body, headers={"Idempotency-Key": "abc-1"})
    assert first.status_code == 202 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    other = api.post("/api/jobs", json={**body, "input": say("twice")}, headers={"Idempotency-Key": "abc-1"})
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    # Keys are per API key: another caller's identical key makes its own job.
    mine = api.post("/api/jobs", json=body, headers={"Idempotency-Key": "abc-1", **OTHER_AUTH})
    assert mine.status_code == 202 and mine.json()["id"] != first.json()["id"]


async def test_idempotency_race_makes_one_job(api: httpx.Client) -> None:
    import asyncio

    async with httpx.AsyncClient(base_url=str(api.base_url), headers=AUTH, timeout=30) as client:
        responses = await asyncio.gather(
            *[
                client.post(
                    "/api/jobs",
                    json={"task": "video_generate", "input": {"prompt": "a test video"}, "params": {"sleep": 0}},
                    headers={"Idempotency-Key": "race"},
                )
                for _ in range(50)
            ]
        )
    assert {r.status_code for r in responses} <= {200, 202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.status_code == 202 for r in responses) == 1


def test_cancel_queued_job_never_starts(api: httpx.Client, start_worker: Callable[..., WorkerProcess]) -> None:
    job = api.post("/api/jobs", json={"task": "chat_general", "input": say("never")}).json()
    canceled = api.post(f"/api/jobs/{job['id']}/cancel").json()
    assert canceled["status"] == "canceled"
    start_worker("interactive")
    # A job sent after it runs to its end: the worker has read the queue the canceled job was in.
    later = api.post("/api/jobs", json={"task": "chat_general", "input": say("after it")}).json()
    assert wait_final(api, later["id"])["status"] == "succeeded"
    after = api.get(f"/api/jobs/{job['id']}").json()
    assert after["status"] == "canceled" and after["attempts"] == 0 and after["started_at"] is None


def test_a_job_whose_queue_entry_expired_is_cleared_not_run(
    api: httpx.Client, settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    # arq's job entry lives MAX_QUEUED_S; past that a worker must clear the job's queue
    # entry and its marks (as arq's run_job does), not run it or leave it to be re-read.
    stale = api.post("/api/jobs", json={"task": "chat_general", "input": say("too late")}).json()
    client = redis.Redis.from_url(settings.redis_url)
    queue_name = QUEUE_CLASS_LIMITS["interactive"].queue_name
    try:
        client.delete(job_key_prefix + stale["id"])
        start_worker("interactive")
        fresh = api.post("/api/jobs", json={"task": "chat_general", "input": say("on time")}).json()
        assert wait_final(api, fresh["id"])["status"] == "succeeded"
        assert wait_until(lambda: client.zscore(queue_name, stale["id"]) is None, timeout=5)
        marks = (in_progress_key_prefix + stale["id"], retry_key_prefix + stale["id"])
        assert not client.exists(*marks)
    finally:
        client.close()
    after = api.get(f"/api/jobs/{stale['id']}").json()
    assert after["status"] == "queued" and after["attempts"] == 0 and after["started_at"] is None


def test_a_cancel_nobody_heard_ends_the_job_when_a_worker_takes_it(
    api: httpx.Client, settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    # The job's first worker died mid-job (it reads `processing`, still queued for a re-run),
    # and the cancel came while no worker ran it: the flag is all that is left of it.
    job = api.post("/api/jobs", json={"task": "chat_general", "input": say("must not run")}).json()
    asyncio.run(_start_as_a_worker_that_died(settings.redis_url, job["id"]))
    assert api.post(f"/api/jobs/{job['id']}/cancel").json()["status"] == "processing"
    start_worker("interactive")
    final = wait_final(api, job["id"])
    assert final["status"] == "canceled" and final["output"] is None and final["attempts"] == 2


async def _start_as_a_worker_that_died(redis_url: str, job_id: str) -> None:
    redis = connect(redis_url)
    try:
        claim = await claim_next(
            redis, "interactive", in_progress_ms=10_000, worker_id="gone", retention=DEFAULT_RETENTION
        )
        assert claim is not None and claim.job_id == job_id
        # What expiry leaves of a dead worker's mark and lease.
        await redis.delete(in_progress_key_prefix + job_id)
        await redis.zadd(keys.fair_leases("interactive"), {job_id: 0})
    finally:
        await redis.aclose()


def test_cancel_running_job_stops_within_a_second(
    api: httpx.Client, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker("media")
    job = api.post(
        "/api/jobs", json={"task": "video_generate", "input": {"prompt": "a test video"}, "params": {"sleep": 30}}
    ).json()
    wait_for_job(api, job["id"], lambda state: state["status"] == "processing", timeout=10)
    asked = time.monotonic()
    api.post(f"/api/jobs/{job['id']}/cancel")
    final = wait_final(api, job["id"], timeout=5)
    assert final["status"] == "canceled"
    assert time.monotonic() - asked < 1.0


def test_sse_streams_events_and_resumes_without_gap_or_duplicate(
    api: httpx.Client, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker("interactive")
    job = api.post("/api/jobs", json={"task": "chat_general", "input": say("one two three four")}).json()
    url = f"/api/jobs/{job['id']}/events"
    full = parse_sse(api.get(url).text)
    types = [e["event"] for e in full]
    assert types[0] == "status" and types[-1] == "done"
    assert [e["data"] for e in full if e["event"] == "output"] == [
        f'{{"delta":"{w}"}}' for w in ["one", "two", "three", "four"]
    ]
    ids = [e["id"] for e in full]
    assert len(set(ids)) == len(ids)
    # Resume after the third event: exactly the rest, in order.
    resumed = parse_sse(api.get(url, headers={"Last-Event-ID": ids[2]}).text)
    assert [e["id"] for e in resumed] == ids[3:]
    bad = api.get(url, headers={"Last-Event-ID": "garbage"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "Last-Event-ID"


def test_sse_live_stream_with_forced_disconnect(api: httpx.Client, start_worker: Callable[..., WorkerProcess]) -> None:
    start_worker("media")
    job = api.post(
        "/api/jobs", json={"task": "video_generate", "input": {"prompt": "a test video"}, "params": {"sleep": 1.0}}
    ).json()
    url = f"/api/jobs/{job['id']}/events"
    seen: list[dict[str, str]] = []
    with api.stream("GET", url) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        buffer = ""
        for chunk in response.iter_text():
            buffer += chunk
            while "\n\n" in buffer:
                frame, buffer = buffer.split("\n\n", 1)
                seen.extend(parse_sse(frame + "\n\n"))
            if len(seen) >= 4:
                break  # the client goes away mid-job
    rest = parse_sse(api.get(url, headers={"Last-Event-ID": seen[-1]["id"]}).text)
    everything = parse_sse(api.get(url).text)
    assert [e["id"] for e in seen + rest] == [e["id"] for e in everything]
    assert everything[-1]["event"] == "done"
