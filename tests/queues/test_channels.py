"""Pub/sub wake-ups and cancels stay inside their Redis database.

Redis scopes keys by database but not pub/sub channels, so two deployments (or the test
suite and a benchmark) sharing a server would wake each other's workers for nothing.
"""

from __future__ import annotations

import asyncio
import re

from redis.asyncio import Redis

from queues.redis import connect, database_of
from queues.retention import DEFAULT_RETENTION
from queues.store import request_cancel
from queues.submit import Submission, submit_job

# Published after the action: Redis delivers a subscriber's messages in the order it ran the
# PUBLISHes, so once this one arrives, everything the action published has arrived too.
END_MARKER = b"mpc:test-end"
# Channels named for another database: other test runs or benchmarks sharing the server.
_OTHER_DATABASE = re.compile(rb"mpc:(?:wake|cancel):(\d+)(?::.*)?")


async def _published(client: Redis, action: object, db: int) -> list[bytes]:
    """The `mpc:*` channels `action` published on, but those named for another database (a
    channel without a database in its name is kept, and fails the test)."""
    pubsub = client.pubsub()
    await pubsub.psubscribe(b"mpc:*")
    try:
        await action  # type: ignore[misc]
        await client.publish(END_MARKER, b"")
        channels: list[bytes] = []
        async with asyncio.timeout(5):
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is None:
                    continue
                if message["channel"] == END_MARKER:
                    return channels
                other = _OTHER_DATABASE.fullmatch(message["channel"])
                if other is None or int(other.group(1)) == db:
                    channels.append(message["channel"])
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]


async def test_submit_and_cancel_publish_on_channels_named_by_database(clean_redis: str) -> None:
    client = connect(clean_redis, socket_timeout=None)
    try:
        db = database_of(client)
        submission = Submission(task="t", queue="interactive", input_json=b"{}", params_json=b"{}", owner="o")
        submitted: list[str] = []

        async def submit() -> None:
            record, _ = await submit_job(client, submission)
            submitted.append(record.id)

        assert await _published(client, submit(), db) == [f"mpc:wake:{db}:interactive".encode()]
        assert await _published(client, request_cancel(client, submitted[0], retention=DEFAULT_RETENTION), db) == [
            f"mpc:cancel:{db}".encode()
        ]
    finally:
        await client.aclose()


async def test_database_of_reads_the_url(redis_url: str) -> None:
    base = redis_url.rsplit("/", 1)[0]
    for db in (0, 3):
        client = connect(f"{base}/{db}")
        assert database_of(client) == db
        await client.aclose()
