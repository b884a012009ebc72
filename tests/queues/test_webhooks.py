"""Webhook records: the end's delivery scheduled by the final-state script (real Redis and
fakeredis), progress deliveries, secrets and their rotation."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from queues import keys, schedule, store, webhooks
from queues.claim import claim_next
from queues.jobs import JobError, JobWebhook
from queues.redis import database_of
from queues.retention import DEFAULT_RETENTION
from queues.submit import Submission, submit_job

INPUT = b'{"prompt": "x"}'
HOOK = JobWebhook(url="https://hooks.example/in?token=t", events=("job.succeeded", "job.canceled", "job.progress"))


async def _queued(redis: Redis, webhook: JobWebhook | None = HOOK) -> str:
    submission = Submission(
        task="video_generate", queue="media", input_json=INPUT, params_json=b"{}", owner="owner1", webhook=webhook
    )
    record, _ = await submit_job(redis, submission)
    return record.id


async def _running(redis: Redis, webhook: JobWebhook | None = HOOK) -> str:
    job_id = await _queued(redis, webhook)
    claim = await claim_next(redis, "media", in_progress_ms=10_000, worker_id="w", retention=DEFAULT_RETENTION)
    assert claim is not None and claim.job_id == job_id and claim.started is not None
    return job_id


async def _due(redis: Redis) -> list[str]:
    return [member for member, _ in await schedule.claim_due(redis, keys.WEBHOOK_DELIVERIES, lease_s=60, limit=100)]


async def test_the_end_is_scheduled_with_the_record_as_it_ended(redis: Redis) -> None:
    job_id = await _running(redis)
    record = await store.get_job(redis, job_id)
    assert record is not None and record.webhook == HOOK

    assert await store.finish(redis, job_id, output={"seconds": 4}, retention=DEFAULT_RETENTION)

    delivery_id = webhooks.end_delivery_id(job_id)
    assert await _due(redis) == [delivery_id]
    delivery = await webhooks.read_delivery(redis, delivery_id)
    assert delivery is not None
    assert (delivery.type, delivery.state, delivery.owner, delivery.url) == (
        "job.succeeded",
        "pending",
        "owner1",
        HOOK.url,
    )
    assert delivery.record is not None and delivery.record.status == "succeeded"
    assert delivery.record.output == {"seconds": 4}
    assert await redis.ttl(keys.webhook_delivery(delivery_id)) >= webhooks.DELIVERY_TTL_S - 5
    assert [d.id for d in await webhooks.job_deliveries(redis, job_id)] == [delivery_id]


async def test_an_end_the_webhook_did_not_ask_for_is_not_scheduled(redis: Redis) -> None:
    job_id = await _running(redis)
    assert await store.finish(
        redis, job_id, error=JobError(message="no"), retention=DEFAULT_RETENTION
    )  # job.failed: not asked for
    assert await _due(redis) == []
    plain = await _running(redis, webhook=None)
    assert await store.finish(redis, plain, output={}, retention=DEFAULT_RETENTION)
    assert await _due(redis) == []


async def test_a_queued_job_canceled_schedules_its_end_once(redis: Redis) -> None:
    job_id = await _queued(redis)
    record = await store.request_cancel(redis, job_id, retention=DEFAULT_RETENTION)
    assert record is not None and record.status == "canceled"
    assert await store.request_cancel(redis, job_id, retention=DEFAULT_RETENTION) is not None  # again: already final
    assert not await store.finish(redis, job_id, output={}, retention=DEFAULT_RETENTION)
    assert await _due(redis) == [webhooks.end_delivery_id(job_id)]
    delivery = await webhooks.read_delivery(redis, webhooks.end_delivery_id(job_id))
    assert delivery is not None and delivery.type == "job.canceled"


async def test_progress_is_scheduled_when_asked_for(redis: Redis) -> None:
    job_id = await _running(redis)
    assert await store.record_event(
        redis, job_id, "progress", {"progress": 0.5}, progress=0.5, retention=DEFAULT_RETENTION
    )
    due = await _due(redis)
    assert len(due) == 1 and due[0].startswith(f"msg_{job_id[4:]}_p")
    delivery = await webhooks.read_delivery(redis, due[0])
    assert delivery is not None and delivery.type == "job.progress" and delivery.record is None


async def test_secrets_are_created_once_and_rotated_with_an_overlap(redis: Redis) -> None:
    first = await webhooks.signing_secrets(redis, "owner1")
    assert first.current.startswith("whsec_") and first.previous is None
    assert await webhooks.signing_secrets(redis, "owner1") == first
    assert (await webhooks.signing_secrets(redis, "owner2")).current != first.current

    rotated = await webhooks.rotate_secret(redis, "owner1")
    assert rotated.current != first.current and rotated.previous == first.current
    assert rotated.previous_until is not None
    assert abs(rotated.previous_until - (time.time() + webhooks.ROTATION_OVERLAP_S)) < 5
    assert rotated.valid(time.time()) == [rotated.current, first.current]
    assert rotated.valid(rotated.previous_until + 1) == [rotated.current]


async def _woken(redis: Redis, act: Callable[[], Awaitable[object]]) -> list[str]:
    """The delivery ids published on the webhook wake channel while `act` runs."""
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.webhook_wake_channel(database_of(redis)))
    try:
        await pubsub.get_message(timeout=1.0)  # the subscription's confirmation
        await act()
        woken: list[str] = []
        while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)) is not None:
            woken.append(message["data"].decode())
        return woken
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]


async def test_a_delivery_due_now_wakes_the_delivery_loops(redis: Redis) -> None:
    job_id = await _running(redis)
    assert await _woken(redis, lambda: store.finish(redis, job_id, output={}, retention=DEFAULT_RETENTION)) == [
        webhooks.end_delivery_id(job_id)
    ]
    unasked = await _running(redis)
    assert (
        await _woken(
            redis, lambda: store.finish(redis, unasked, error=JobError(message="no"), retention=DEFAULT_RETENTION)
        )
        == []
    )
    queued = await _queued(redis)
    assert await _woken(redis, lambda: store.request_cancel(redis, queued, retention=DEFAULT_RETENTION)) == [
        webhooks.end_delivery_id(queued)
    ]
    running = await _running(redis)
    woken = await _woken(
        redis,
        lambda: store.record_event(
            redis, running, "progress", {"progress": 0.5}, progress=0.5, retention=DEFAULT_RETENTION
        ),
    )
    assert len(woken) == 1 and woken[0].startswith(f"msg_{running[4:]}_p")
