"""Per-key limits through real gateways on the real Redis: requests and tokens per minute, jobs
at once per queue class, 429 with Retry-After, and the IETF RateLimit headers."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from api.app import create_app
from catalog import Catalog
from queues import store
from queues.limits import WINDOW_S
from queues.redis import connect
from queues.retention import DEFAULT_RETENTION
from queues.settings import Settings
from tests.support.auth import AUTH
from tests.support.envelopes import assert_envelope
from tests.support.servers import running_server
from tests.support.waiting import wait_until

TEXT_JOB = {"task": "summarize", "input": {"messages": [{"role": "user", "content": "hi"}]}}
# RFC 8941 list members as the draft writes them: a string item and its parameters.
_ITEM = re.compile(r'^"([a-z0-9-]+)"((?:;[a-z]+=(?:\d+|"[a-z-]+"))+)$')


def _items(field: str) -> dict[str, dict[str, str]]:
    items = {}
    for member in field.split(", "):
        match = _ITEM.match(member)
        assert match, f"not a structured-field item: {member!r}"
        items[match[1]] = dict(p.split("=", 1) for p in match[2].lstrip(";").split(";"))
    return items


def _fresh_window() -> None:
    """Not within 3 s of a minute's end: the counts a test reads must stay in one window."""
    left = WINDOW_S - time.time() % WINDOW_S
    if left < 3:
        time.sleep(left + 0.05)


@pytest.fixture
def two_gateways(settings: Settings, catalog: Catalog) -> Iterator[tuple[str, str]]:
    with running_server(create_app(settings, catalog)) as one, running_server(create_app(settings, catalog)) as two:
        yield one, two


def _make_key(base: str, **body: object) -> dict[str, str]:
    made = httpx.post(f"{base}/api/admin/keys", headers=AUTH, json=body)
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['key']}"}


def _known_everywhere(bases: tuple[str, ...], auth: dict[str, str]) -> None:
    for base in bases:
        assert wait_until(lambda base=base: httpx.get(f"{base}/api/jobs/job_x", headers=auth).status_code == 404)


def test_requests_per_minute_hold_across_gateways(two_gateways: tuple[str, str]) -> None:
    one, two = two_gateways
    auth = _make_key(one, name="rpm-key", rpm=8)
    _fresh_window()
    _known_everywhere(two_gateways, auth)  # two requests spent
    remaining = []
    for i in range(6):
        answer = httpx.post(f"{(one, two)[i % 2]}/api/select-model", headers=auth, json={"task": "tts"})
        assert answer.status_code == 200, answer.text
        assert _items(answer.headers["ratelimit-policy"]) == {"rpm": {"q": "8", "w": "60"}}
        state = _items(answer.headers["ratelimit"])["rpm"]
        assert 1 <= int(state["t"]) <= 60
        remaining.append(int(state["r"]))
    assert remaining == [5, 4, 3, 2, 1, 0]
    for base in two_gateways:
        refused = httpx.post(f"{base}/api/select-model", headers=auth, json={"task": "tts"})
        error = assert_envelope(refused, 429, "rate_limit_exceeded")
        assert error["type"] == "rate_limit_error" and "8 requests per minute" in error["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert _items(refused.headers["ratelimit"])["rpm"]["r"] == "0"
        # FastAPI's routes answer the same way as the fast lane's.
        assert_envelope(httpx.get(f"{base}/api/tasks", headers=auth), 429, "rate_limit_exceeded")
    # A key without limits carries no RateLimit headers.
    free = httpx.post(f"{one}/api/select-model", headers=AUTH, json={"task": "tts"})
    assert free.status_code == 200 and "ratelimit" not in free.headers and "ratelimit-policy" not in free.headers


def test_jobs_at_once_are_released_by_the_jobs_final_state(client: httpx.Client) -> None:
    base = str(client.base_url)
    auth = _make_key(base, name="one-at-a-time", concurrency={"interactive": 1})
    _known_everywhere((base,), auth)
    first = httpx.post(f"{base}/api/jobs", headers=auth, json=TEXT_JOB)
    assert first.status_code == 202, first.text
    policy = _items(first.headers["ratelimit-policy"])
    assert policy == {"interactive-jobs": {"q": "1", "qu": '"concurrent-requests"'}}
    assert _items(first.headers["ratelimit"]) == {"interactive-jobs": {"r": "0"}}
    refused = httpx.post(f"{base}/api/jobs", headers=auth, json=TEXT_JOB)
    assert "1 interactive job(s)" in assert_envelope(refused, 429, "rate_limit_exceeded")["message"]
    assert refused.headers["retry-after"] == "1"
    # Another class is not limited; nor is the same class for another key.
    assert httpx.post(f"{base}/api/jobs", headers=AUTH, json=TEXT_JOB).status_code == 202
    assert httpx.post(f"{base}/api/jobs/{first.json()['id']}/cancel", headers=auth).status_code == 200
    again = httpx.post(f"{base}/api/jobs", headers=auth, json=TEXT_JOB)
    assert again.status_code == 202, again.text
    # An idempotent retry of that job does not take a second place.
    keyed = {**auth, "Idempotency-Key": "same"}
    assert httpx.post(f"{base}/api/jobs/{again.json()['id']}/cancel", headers=auth).status_code == 200
    made = httpx.post(f"{base}/api/jobs", headers=keyed, json=TEXT_JOB)
    assert made.status_code == 202
    assert httpx.post(f"{base}/api/jobs", headers=keyed, json=TEXT_JOB).json()["id"] == made.json()["id"]


def test_tokens_per_minute_count_the_usage_a_finished_job_reports(client: httpx.Client, redis_url: str) -> None:
    base = str(client.base_url)
    auth = _make_key(base, name="token-budget", tpm=100)
    _fresh_window()
    _known_everywhere((base,), auth)
    job = httpx.post(f"{base}/api/jobs", headers=auth, json=TEXT_JOB)
    assert job.status_code == 202
    assert _items(job.headers["ratelimit"])["tpm"]["r"] == "100"

    async def worker_finishes() -> None:
        # What a worker's job runner does at the end of a chat job (`queues.store.finish`).
        redis = connect(redis_url)
        try:
            usage = {"prompt_tokens": 60, "completion_tokens": 45, "total_tokens": 105}
            assert await store.finish(
                redis, job.json()["id"], output={"model": "m", "usage": usage}, retention=DEFAULT_RETENTION
            )
        finally:
            await redis.aclose()

    asyncio.run(worker_finishes())
    refused = httpx.post(f"{base}/api/jobs", headers=auth, json=TEXT_JOB)
    error = assert_envelope(refused, 429, "rate_limit_exceeded")
    assert "100 tokens per minute" in error["message"]
    assert _items(refused.headers["ratelimit"])["tpm"]["r"] == "0"
    # Selecting a model spends no tokens: it is still answered.
    assert httpx.post(f"{base}/api/select-model", headers=auth, json={"task": "tts"}).status_code == 200
