"""Live workers per queue class (`queues.presence`), on the real Redis server and fakeredis."""

from __future__ import annotations

from redis.asyncio import Redis

from queues import keys, presence

T0 = 1_800_000_000.0
TTL_S = 10


async def _beat(redis: Redis, queue_class: str, worker_id: str, now: float) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        presence.announce(pipe, queue_class, worker_id, b'{"pid": 1}', ttl_s=TTL_S, now=now)
        await pipe.execute()


async def test_a_worker_is_live_until_its_heartbeat_runs_out(redis: Redis) -> None:
    await _beat(redis, "interactive", "w1", T0)
    assert await presence.live_counts(redis, ["interactive", "batch"], now=T0 + TTL_S - 0.1) == {
        "interactive": 1,
        "batch": 0,
    }
    assert await presence.live_workers(redis, "interactive", now=T0 + 1) == ["w1"]
    assert await presence.live_counts(redis, ["interactive"], now=T0 + TTL_S) == {"interactive": 0}
    assert await presence.live_workers(redis, "interactive", now=T0 + TTL_S) == []


async def test_a_heartbeat_renews_its_worker_and_drops_those_whose_time_ran_out(redis: Redis) -> None:
    await _beat(redis, "batch", "dead", T0)
    await _beat(redis, "batch", "alive", T0)
    await _beat(redis, "batch", "alive", T0 + TTL_S + 1)
    assert await presence.live_workers(redis, "batch", now=T0 + TTL_S + 2) == ["alive"]
    assert await redis.zrange(keys.live_workers("batch"), 0, -1) == [b"alive"]  # "dead" is gone, not only ignored


async def test_a_worker_that_withdraws_is_gone_at_once(redis: Redis) -> None:
    await _beat(redis, "media", "w1", T0)
    await _beat(redis, "media", "w2", T0)
    await presence.withdraw(redis, "media", "w1")
    assert await presence.live_workers(redis, "media", now=T0) == ["w2"]
    assert not await redis.exists(keys.worker_info("media", "w1"))
    assert await redis.get(keys.worker_info("media", "w2")) == b'{"pid": 1}'


async def test_nothing_outlives_the_last_heartbeat(redis: Redis) -> None:
    await _beat(redis, "interactive", "w1", T0)
    for key in (keys.live_workers("interactive"), keys.worker_info("interactive", "w1")):
        assert 0 < await redis.ttl(key) <= TTL_S
