"""A job's submission acknowledged only once a replica has it (Redis `WAIT`).

Redis replicates asynchronously: a primary that dies right after answering a write may take
it along, and Sentinel then promotes a replica that never saw it. A 202 for a job that no
longer exists breaks the promise that every acknowledged job reaches a final state. So when
the client's `ReplicaAcks` asks for it (by default when `MPC_REDIS_URL` is a Sentinel URL),
the submission waits, after its transaction, until that many replicas confirm it, or answers
503 when they do not in time (`NotReplicated`): the client retries, and with an
`Idempotency-Key` gets the same job back.

`WAIT` counts the replication offset of the connection it is sent on, and the pool may have
run the transaction on another one. So it is sent after a write of its own on its own
connection: a PUBLISH on a channel nobody listens to (it changes no key, and Redis
replicates it). The replication stream is ordered, so a replica that has that write has the
job too.
"""

from __future__ import annotations

from redis.asyncio import Redis

from queues import keys
from queues.redis import Client, database_of


class NotReplicated(Exception):
    """Fewer replicas than required confirmed a submission in time."""

    def __init__(self, job_id: str, confirmed: int, required: int) -> None:
        super().__init__(job_id, confirmed, required)
        self.job_id = job_id
        self.confirmed = confirmed
        self.required = required


async def confirm_replicated(redis: Redis, job_id: str) -> None:
    """Return once the replicas `redis` requires have the job `job_id` (written before this
    call); raise `NotReplicated` when they do not confirm it within the timeout."""
    acks = redis.replica_acks if isinstance(redis, Client) else None
    if acks is None or acks.replicas <= 0:
        return
    async with redis.pipeline(transaction=False) as pipe:
        pipe.publish(keys.replication_marker(database_of(redis)), job_id)
        pipe.execute_command("WAIT", acks.replicas, acks.timeout_ms)
        _, confirmed = await pipe.execute()
    if int(confirmed) < acks.replicas:
        raise NotReplicated(job_id, int(confirmed), acks.replicas)
