"""Two gateways and two workers per queue class on one Redis, clients spread across the
gateways (tests/scale/conftest.py): what one gateway or worker does, every other sees."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from queues import breakers, keys
from queues.redis import connect
from tests.support.auth import AUTH
from tests.support.jobs import wait_final, wait_for_job
from tests.support.scale_stack import ScaleStack
from tests.support.sse import parse_sse, read_some
from tests.support.waiting import wait_until

VIDEO_INPUT = {"prompt": "a test video"}


def _client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers=AUTH, timeout=20)


def _submit(base: str, params: dict[str, Any]) -> str:
    with _client(base) as client:
        response = client.post("/api/jobs", json={"task": "video_generate", "input": VIDEO_INPUT, "params": params})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def test_no_job_runs_twice_when_two_workers_race_for_every_job(scale: ScaleStack) -> None:
    # 40 jobs at once, half through each gateway. Each of the two media workers is woken for
    # every one and tries to claim it; a worker holds at most 16, so both must take some.
    bases = [scale.gateways[i % 2] for i in range(40)]
    with ThreadPoolExecutor(8) as pool:
        job_ids = list(pool.map(lambda base: _submit(base, {"sleep": 0.5}), bases))
    ran_by: set[bytes] = set()
    with _client(scale.gateways[0]) as one, _client(scale.gateways[1]) as other, scale.cluster.primary() as redis:
        for i, job_id in enumerate(job_ids):
            job = wait_final(one if i % 2 else other, job_id, timeout=30)  # read through the other gateway
            assert job["status"] == "succeeded" and job["output"]["attempt"] == 1, job
            events = parse_sse(one.get(f"/api/jobs/{job_id}/events").text)
            started = [e for e in events if e["event"] == "status" and '"processing"' in e["data"]]
            assert len(started) == 1, f"{job_id} started {len(started)} times"
            assert redis.hget(keys.job(job_id), "attempts") == b"1"
            ran_by.add(redis.hget(keys.job(job_id), "worker") or b"")
    assert len(ran_by) == 2, f"jobs ran on {ran_by}: both workers should have taken some"


def test_an_event_stream_resumes_on_the_other_gateway_with_no_gap_and_no_duplicate(scale: ScaleStack) -> None:
    first, second = scale.gateways
    job_id = _submit(first, {"sleep": 1.5})  # 15 progress events, 0.1 s apart
    url = f"/api/jobs/{job_id}/events"
    with _client(first) as client:
        seen = read_some(client, url, 4)  # the client goes away mid-job...
    with _client(second) as client:  # ...and comes back through the other gateway
        rest = parse_sse(client.get(url, headers={"Last-Event-ID": seen[-1]["id"]}).text)
        everything = parse_sse(client.get(url).text)
    assert rest, "nothing after the resume point"
    assert rest[-1]["event"] == "done"
    assert [e["id"] for e in seen + rest] == [e["id"] for e in everything]
    assert len({e["id"] for e in everything}) == len(everything)


def test_a_cancel_sent_to_one_gateway_stops_a_job_submitted_through_the_other(scale: ScaleStack) -> None:
    first, second = scale.gateways
    job_id = _submit(first, {"sleep": 30})
    with _client(first) as one, _client(second) as other:
        wait_for_job(one, job_id, lambda job: job["status"] == "processing")
        asked = time.monotonic()
        response = other.post(f"/api/jobs/{job_id}/cancel")
        assert response.status_code in (200, 202), response.text
        job = wait_final(one, job_id, timeout=10)
        stopped_after = time.monotonic() - asked
    assert job["status"] == "canceled", job
    assert stopped_after < 2.0, f"the job ended {stopped_after:.1f} s after the cancel"
    assert job["output"] is None


def test_breakers_are_shared_by_every_gateway_and_worker(scale: ScaleStack) -> None:
    def first_choice(base: str) -> str:
        with _client(base) as client:
            body = client.post("/api/select-model", json={"task": "chat_general"}).json()
        provider: str = body["model"]["provider"]
        return provider

    chosen = {first_choice(base) for base in scale.gateways}
    assert len(chosen) == 1
    (provider,) = chosen

    async def trip() -> None:
        # What a worker records after a provider failed five calls in a row.
        redis = connect(scale.cluster.url)
        try:
            for _ in range(breakers.CONSECUTIVE_FAILURES):
                await breakers.record_failure(redis, provider)
        finally:
            await redis.aclose()

    asyncio.run(trip())
    try:
        # Each gateway refreshes its snapshot of the shared breakers every second.
        for base in scale.gateways:
            assert wait_until(lambda b=base: first_choice(b) != provider, timeout=5), f"{base} still picks {provider}"
    finally:
        with scale.cluster.primary() as redis:
            redis.delete(keys.breaker(provider))
    for base in scale.gateways:
        assert wait_until(lambda b=base: first_choice(b) == provider, timeout=5)
