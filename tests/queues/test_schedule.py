"""`queues.schedule`: due work claimed with a lease, on the real Redis and on fakeredis."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from queues import schedule

KEY = "mpc:test:schedule"


async def test_only_due_members_are_claimed_and_each_once_per_lease(redis: Redis) -> None:
    await schedule.schedule(redis, KEY, "now")
    await schedule.schedule(redis, KEY, "later", delay_s=60)

    first = await schedule.claim_due(redis, KEY, lease_s=30, limit=10)
    again = await schedule.claim_due(redis, KEY, lease_s=30, limit=10)

    assert [member for member, _ in first] == ["now"]
    assert again == []  # leased: nobody else takes it while its holder works
    assert await schedule.pending(redis, KEY) == 2


async def test_a_lease_that_runs_out_makes_the_member_due_again(redis: Redis) -> None:
    await schedule.schedule(redis, KEY, "video")
    assert [m for m, _ in await schedule.claim_due(redis, KEY, lease_s=0.05, limit=1)] == ["video"]
    await asyncio.sleep(0.1)  # the holder died: nobody rescheduled or removed it

    assert [m for m, _ in await schedule.claim_due(redis, KEY, lease_s=30, limit=1)] == ["video"]


async def test_the_limit_is_respected_and_the_earliest_come_first(redis: Redis) -> None:
    for i in range(5):
        await schedule.schedule(redis, KEY, f"m{i}", delay_s=0)
        await asyncio.sleep(0.002)

    claimed = await schedule.claim_due(redis, KEY, lease_s=30, limit=3)

    assert [m for m, _ in claimed] == ["m0", "m1", "m2"]


async def test_reschedule_moves_a_held_member_but_not_a_removed_one(redis: Redis) -> None:
    await schedule.schedule(redis, KEY, "kept")
    await schedule.schedule(redis, KEY, "canceled")
    await schedule.claim_due(redis, KEY, lease_s=30, limit=10)
    assert await schedule.remove(redis, KEY, "canceled")

    assert await schedule.reschedule(redis, KEY, "kept", delay_s=0)
    assert not await schedule.reschedule(redis, KEY, "canceled", delay_s=0)
    assert [m for m, _ in await schedule.claim_due(redis, KEY, lease_s=30, limit=10)] == ["kept"]
