"""A streamed chat whose job breaks mid-answer for reasons outside the model: its worker died
and the job started again, or Redis went away. The client's stream ends with an error chunk
and no `[DONE]`, never with a second copy of the answer or a cut connection.

The gateway runs for real on real Redis; the test writes the job's events as a worker would
(the stream's entries: `type`, JSON `data`), so the break comes exactly after the first chunk.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import httpx
import redis

from api.app import create_app
from catalog import Catalog
from queues import keys
from queues.settings import Settings
from tests.support.auth import AUTH
from tests.support.redis_server import RedisServer
from tests.support.servers import running_server
from tests.support.waiting import wait_until

CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "openai/gpt-4o",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}],
}


class StreamReader(threading.Thread):
    """Sends a streamed chat and keeps every `data:` line, and how the stream ended."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.lines: list[str] = []
        self.failure: str | None = None

    def run(self) -> None:
        body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        try:
            with (
                httpx.Client(base_url=self.base, headers=AUTH, timeout=20) as client,
                client.stream("POST", "/api/chat/completions", json=body) as response,
            ):
                assert response.status_code == 200
                self.lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        except httpx.HTTPError as exc:
            self.failure = type(exc).__name__


@contextmanager
def streaming_chat(url: str, settings: Settings, catalog: Catalog) -> Iterator[tuple[StreamReader, str, redis.Redis]]:
    """A gateway on `url`, a client streaming a chat from it, and the chat's job id once it
    is queued (no worker takes it: the test writes its events)."""
    app = create_app(Settings(redis_url=url, api_key_hashes=settings.api_key_hashes), catalog)
    client = redis.Redis.from_url(url)
    with running_server(app) as base:
        reader = StreamReader(base)
        reader.start()
        queue = keys.QUEUE_NAMES["interactive"]
        assert wait_until(lambda: client.zcard(queue) == 1, timeout=10, interval=0.02)
        job_id = cast(list[bytes], client.zrange(queue, 0, 0))[0].decode()
        try:
            yield reader, job_id, client
        finally:
            reader.join(timeout=15)
            client.close()


def write_event(client: redis.Redis, job_id: str, kind: str, data: Any) -> None:
    client.xadd(keys.job_events(job_id), {"type": kind, "data": json.dumps(data)})


def test_a_job_started_again_mid_stream_ends_the_stream_with_an_error(settings: Settings, catalog: Catalog) -> None:
    with streaming_chat(settings.redis_url, settings, catalog) as (reader, job_id, client):
        write_event(client, job_id, "status", {"status": "processing", "attempt": 1})
        write_event(client, job_id, "output", CHUNK)
        time.sleep(0.2)  # the first chunk is relayed on its own
        # The worker died; another took the job (its in-progress mark expired) and starts over.
        write_event(client, job_id, "status", {"status": "processing", "attempt": 2})
        write_event(client, job_id, "output", CHUNK)
        reader.join(timeout=15)
        assert reader.failure is None
        assert [json.loads(line) for line in reader.lines[:1]] == [CHUNK]
        assert len(reader.lines) == 2 and "[DONE]" not in reader.lines
        assert json.loads(reader.lines[1])["error"]["code"] == "worker_lost"
        # Nobody reads the second attempt: it is canceled.
        assert wait_until(lambda: client.exists(keys.job_cancel(job_id)) == 1, timeout=5)


def test_redis_lost_mid_stream_ends_the_stream_with_an_error(settings: Settings, catalog: Catalog) -> None:
    own = RedisServer()
    own.start()
    try:
        with streaming_chat(own.url, settings, catalog) as (reader, job_id, client):
            write_event(client, job_id, "status", {"status": "processing", "attempt": 1})
            write_event(client, job_id, "output", CHUNK)
            time.sleep(0.2)
            own.stop()
            reader.join(timeout=15)
            assert reader.failure is None  # not a cut connection
            assert [json.loads(line) for line in reader.lines[:1]] == [CHUNK]
            assert len(reader.lines) == 2 and "[DONE]" not in reader.lines
            error = json.loads(reader.lines[1])["error"]
            assert error["type"] == "service_unavailable" and set(error) == {"message", "type", "code", "param"}
    finally:
        own.close()
