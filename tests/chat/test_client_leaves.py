"""A client that goes away stops what it started: its chat job is canceled, and with it the
worker's call to the provider (nobody would read the answer, and it costs money)."""

from __future__ import annotations

import secrets
import time

import httpx
import pytest
import redis

from queues import keys
from tests.support.auth import AUTH
from tests.support.chat_stack import Stack
from tests.support.metrics import scrape
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

SLOW_STREAM = "Tell me a long story [emulate: tokens=200 tps=5]"
SLOW_ANSWER = "Think it over [emulate: latency_ms=8000]"


def job_status(stack: Stack, job_id: str) -> str:
    with httpx.Client(base_url=stack.base_url, headers=AUTH) as client:
        return str(client.get(f"/api/jobs/{job_id}").json()["status"])


def job_of_request(stack: Stack, request_id: str) -> str | None:
    """The id of the job a request submitted, found by its request id (the client never
    saw the job id: it left before the answer's headers)."""
    client = redis.Redis.from_url(stack.redis_url)
    try:
        for key in client.scan_iter(match=keys.job("*"), count=1000):
            if client.type(key) == b"hash" and client.hget(key, "request_id") == request_id.encode():
                job_id = client.hget(key, "id")
                return None if job_id is None else job_id.decode()
    finally:
        client.close()
    return None


def test_leaving_mid_stream_cancels_the_job(stack: Stack) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": SLOW_STREAM}], "stream": True}
    with (
        httpx.Client(base_url=stack.base_url, headers=AUTH, timeout=30) as client,
        client.stream("POST", "/api/chat/completions", json=body) as response,
    ):
        assert response.status_code == 200
        job_id = response.headers["x-mpc-job-id"]
        lines = response.iter_lines()
        assert any('"content"' in line for line in lines)  # the answer has begun
        assert job_status(stack, job_id) == "processing"
    # The connection is closed here, 195 tokens (~40 s) before the answer's end.
    assert wait_until(lambda: job_status(stack, job_id) == "canceled", timeout=5), job_status(stack, job_id)


def test_leaving_before_the_answer_cancels_the_job(stack: Stack) -> None:
    request_id = "leave-" + secrets.token_hex(6)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": SLOW_ANSWER}]}
    headers = {**AUTH, "X-Request-Id": request_id}
    started = time.monotonic()
    with (
        httpx.Client(base_url=stack.base_url, headers=headers, timeout=1.0) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post("/api/chat/completions", json=body)  # gives up after 1 s, closing the connection
    job_id = job_of_request(stack, request_id)
    assert job_id is not None
    assert wait_until(lambda: job_status(stack, job_id) == "canceled", timeout=5), job_status(stack, job_id)
    assert time.monotonic() - started < 7  # canceled, not answered after the provider's 8 s
    # Operators see it: counted as 499 (nginx's "client closed request"), not lost.
    samples = scrape(f"{stack.base_url}/metrics")
    assert samples['mpc_http_requests_total{method="POST",route="/api/chat/completions",status="499"}'] >= 1


def test_a_client_that_stays_gets_the_whole_stream(stack: Stack) -> None:
    """The watch for a gone client must not end streams of clients that are still there."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi [emulate: tokens=8 tps=40]"}]}
    with httpx.Client(base_url=stack.base_url, headers=AUTH, timeout=30) as client:
        for stream in (True, False):
            response = client.post("/api/chat/completions", json={**body, "stream": stream})
            assert response.status_code == 200
            job_id = response.headers["x-mpc-job-id"]
            if stream:
                assert response.text.endswith("data: [DONE]\n\n")
            assert job_status(stack, job_id) == "succeeded"
