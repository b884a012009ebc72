"""The webhook delivery loop every worker process runs, off every job's path.

It claims due deliveries from the `mpc:webhook_deliveries` schedule with a lease
(`queues.schedule.claim_due`) and POSTs each one, signed per Standard Webhooks, on a client
that connects only where the outbound policy allows (`workers/_outbound.py`). A process that
dies mid-delivery loses its lease, and another process sends the delivery again: at least
once, with the same `webhook-id`.

Policy, per attempt (10 s for the whole exchange; redirects are not followed):
- 2xx: delivered.
- timeout, connection error, 429, 5xx: tried again after 5 s, 30 s, 2 min, 10 min, 30 min,
  1 h, 2 h, then every 4 h (a 429's `Retry-After` when longer, up to 4 h), while the next try
  falls within 24 h of the event; then failed.
- 3xx and any other 4xx: failed at once. The receiver answered, and the same request will get
  the same answer: a redirect is a URL to fix, not a moment to wait out.
- a host that resolves to an address the policy refuses: failed at once.

A job's end (or progress) is published on the database's webhook wake channel by the same
write that schedules its delivery, and the worker's pub/sub listener wakes this loop (`wake`):
a first attempt starts within a Redis round trip of the job's end, not at the next poll.
Retries come due by the clock and are found by the poll (`POLL_S`).

Concurrency is bounded per process (`MAX_CONCURRENT` sends) and per receiver (host and port)
(`MAX_PER_RECEIVER` sends, half of them). A delivery for a receiver at its limit waits in that
receiver's line, first come first served (`MAX_WAITING_PER_RECEIVER` at most; beyond that it
goes back to the schedule briefly). The process holds up to `MAX_HELD` deliveries, twice its
sends, so a receiver that hangs (its sends and its line full, 10 s each) leaves as many to the
others: one slow or dead receiver delays no other. (Putting a delivery for a busy receiver
back on the schedule instead let newer deliveries overtake it again and again:
`webhook_delivery` measured p99 1.29 to 1.69 s at 100 job ends a second: docs/benchmarks.md.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from metrics.definitions import WorkerMetrics
from queues import keys, schedule, store, webhooks
from queues.jobs import encode_json, public_view
from queues.outbound import parse_http_url, shown_url
from queues.waiting import wait_set
from queues.webhooks import Attempt, Delivery, DeliveryState
from workers._outbound import OutboundRefused, guarded_client
from workers._signing import signature

log = logging.getLogger("mpc.webhooks")

TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
BACKOFF_S = (5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0)
MAX_CONCURRENT = 64
MAX_PER_RECEIVER = 32  # half the process's sends: a hanging receiver leaves the other half to the rest
MAX_WAITING_PER_RECEIVER = MAX_PER_RECEIVER
MAX_HELD = 2 * MAX_CONCURRENT
HOST_BUSY_DELAY_S = 0.1
# Longer than a wait in line (at most one attempt ahead, 10 s), the wait for a send slot
# (another) and one attempt with its Redis writes: a live holder never loses its claim.
LEASE_S = 60.0
POLL_S = 0.2
USER_AGENT = "mpc-api-webhooks/1"
MAX_ANSWER_READ_BYTES = 64 * 1024


def delivery_client(allow: tuple[str, ...]) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=MAX_CONCURRENT, max_keepalive_connections=MAX_CONCURRENT)
    return guarded_client(allow, timeout=httpx.Timeout(TIMEOUT_S, connect=CONNECT_TIMEOUT_S), limits=limits)


def retry_delay(attempts_before: int, retry_after: float | None = None) -> float:
    delay = BACKOFF_S[min(attempts_before, len(BACKOFF_S) - 1)]
    if retry_after is not None:
        delay = min(max(delay, retry_after), BACKOFF_S[-1])
    return delay


class DeliveryLoop:
    """Claims and sends due deliveries until cancelled; `aclose` ends the sends in flight."""

    def __init__(self, redis: Redis, client: httpx.AsyncClient, metrics: WorkerMetrics) -> None:
        self._redis = redis
        self._client = client
        self._metrics = metrics
        self._running: dict[asyncio.Task[None], str] = {}  # each delivery held: its id
        self._lines: dict[str, _ReceiverLine] = {}
        self._sends = asyncio.Semaphore(MAX_CONCURRENT)
        self._nudged = asyncio.Event()  # something may be due now, or a full loop has room
        self._full = False

    def wake(self) -> None:
        """A delivery was scheduled due now (the worker's pub/sub listener calls this)."""
        self._nudged.set()

    async def run(self) -> None:
        while True:
            self._nudged.clear()  # before the claim: a wake-up during it is not lost
            free = MAX_HELD - len(self._running)
            self._full = free <= 0
            claimed: list[tuple[str, float]] = []
            if free > 0:
                try:
                    claimed = await schedule.claim_due(
                        self._redis, keys.WEBHOOK_DELIVERIES, lease_s=LEASE_S, limit=free
                    )
                except (RedisError, OSError) as exc:
                    log.warning("webhook deliveries: Redis unavailable (%s)", type(exc).__name__)
                    await asyncio.sleep(1.0)
                    continue
            for delivery_id, _ in claimed:
                task = asyncio.create_task(self._deliver(delivery_id), name=f"webhook-{delivery_id}")
                self._running[task] = delivery_id
                task.add_done_callback(self._done)
            if claimed and len(claimed) == free:
                continue  # more may be due: claim again
            await wait_set(self._nudged, POLL_S)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        if self._full:
            self._full = False
            self._nudged.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery crashed", exc_info=task.exception())

    async def aclose(self) -> None:
        """Stop the sends in flight and make them due again at once, for another process
        (were this one killed instead, their leases would run out: the same, later)."""
        stopped = dict(self._running)
        for task in stopped:
            task.cancel()
        await asyncio.gather(*stopped, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            for delivery_id in stopped.values():
                await schedule.reschedule(self._redis, keys.WEBHOOK_DELIVERIES, delivery_id, delay_s=0)
        await self._client.aclose()

    async def _deliver(self, delivery_id: str) -> None:
        try:
            delivery = await webhooks.read_delivery(self._redis, delivery_id)
            if delivery is None or delivery.state != "pending":
                await schedule.remove(self._redis, keys.WEBHOOK_DELIVERIES, delivery_id)
                return
            host = _receiver(delivery.url)
            line = self._lines.setdefault(host, _ReceiverLine())
            if line.held >= MAX_PER_RECEIVER + MAX_WAITING_PER_RECEIVER:
                await schedule.reschedule(self._redis, keys.WEBHOOK_DELIVERIES, delivery_id, delay_s=HOST_BUSY_DELAY_S)
                return
            line.held += 1
            try:
                async with line.sends, self._sends:
                    await self._attempt(delivery)
            finally:
                line.held -= 1
                if not line.held:
                    del self._lines[host]
        except (RedisError, OSError) as exc:
            # The lease runs out and the delivery is claimed again.
            log.warning("webhook delivery %s: Redis unavailable (%s)", delivery_id, type(exc).__name__)

    async def _attempt(self, delivery: Delivery) -> None:
        body = delivery.body
        if body is None:
            body = await self._body(delivery)
            if delivery.record is None:
                # Built from the live record (a progress event): kept before it is sent.
                body = await webhooks.freeze_body(self._redis, delivery.id, body)
        secrets = (await webhooks.signing_secrets(self._redis, delivery.owner)).valid(time.time())
        started_at, started = time.time(), time.perf_counter()
        sent = await self._post(delivery, secrets, body)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        state, outcome, next_at = _judge(delivery, sent, started_at)
        attempt = Attempt(
            at=started_at, status=sent.status, error=sent.error, duration_ms=duration_ms, next_attempt_at=next_at
        )
        await webhooks.record_attempt(
            self._redis,
            delivery.id,
            attempt,
            state,
            # An end event's body comes from the record as it ended: the same on every
            # attempt, kept with the first attempt's record rather than a round trip before it.
            body=body if delivery.body is None else None,
            retry_in_s=None if next_at is None else next_at - time.time(),
        )
        self._metrics.webhook_deliveries.labels(outcome).inc()
        self._metrics.webhook_delivery_duration.observe(duration_ms / 1000)
        log.info(
            "webhook %s to %s: %s",
            delivery.type,
            shown_url(delivery.url),
            outcome,
            extra={"job_id": delivery.job_id, "outcome": outcome, "duration_ms": duration_ms},
        )

    async def _body(self, delivery: Delivery) -> bytes:
        record = delivery.record or await store.get_job(self._redis, delivery.job_id)
        data: Any = public_view(record) if record is not None else {"id": delivery.job_id, "status": "expired"}
        timestamp = datetime.fromtimestamp(delivery.at, UTC).isoformat().replace("+00:00", "Z")
        return encode_json({"type": delivery.type, "timestamp": timestamp, "data": data})

    async def _post(self, delivery: Delivery, secrets: list[str], body: bytes) -> Sent:
        timestamp = int(time.time())  # per attempt: receivers reject old timestamps
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": delivery.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secrets, delivery.id, timestamp, body),
        }
        try:
            async with asyncio.timeout(TIMEOUT_S):
                request = self._client.build_request("POST", delivery.url, content=body, headers=headers)
                response = await self._client.send(request, stream=True)
                try:
                    await _drain(response)
                finally:
                    await response.aclose()
        except OutboundRefused as exc:
            return Sent(error=exc.message, refused=True)
        except httpx.InvalidURL:
            return Sent(error="the URL cannot be sent to (not a valid http(s) URL)", refused=True)
        except (TimeoutError, httpx.TimeoutException):
            return Sent(error=f"no answer within {TIMEOUT_S:g} s")
        except httpx.HTTPError as exc:
            return Sent(error=f"could not connect or send ({type(exc).__name__})")
        error = f"redirect (HTTP {response.status_code}) not followed" if response.is_redirect else None
        retry_after = _retry_after(response.headers.get("retry-after"))
        return Sent(status=response.status_code, error=error, retry_after=retry_after)


class _ReceiverLine:
    """One receiver's deliveries in this process: those sending and those in line behind
    them (asyncio's semaphore lets waiters in first come, first served)."""

    def __init__(self) -> None:
        self.sends = asyncio.Semaphore(MAX_PER_RECEIVER)
        self.held = 0


async def _drain(response: httpx.Response) -> None:
    """Read (and drop) a short answer's body to its end, so its connection is kept for the
    next delivery: closed unread, httpx closes the connection, and each delivery paid for a
    new one (measured: one TCP connect per delivery, half a delivery's CPU). A longer body is
    not read: the connection is closed instead."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > MAX_ANSWER_READ_BYTES:
            return


def _receiver(url: str) -> str:
    """What the per-receiver limit counts by: host and port (one server)."""
    parts = parse_http_url(url)
    return f"{parts.hostname}:{parts.port or parts.scheme}" if parts is not None else ""


@dataclass(frozen=True, slots=True)
class Sent:
    """How one POST went: the receiver's status, or why there was none."""

    status: int | None = None
    error: str | None = None  # safe to record: no secret, no query string
    retry_after: float | None = None
    refused: bool = False  # the outbound policy refused the receiver's address


def _judge(delivery: Delivery, sent: Sent, now: float) -> tuple[DeliveryState, str, float | None]:
    """(state, metric outcome, next attempt time) after an attempt."""
    status = sent.status
    if status is not None and 200 <= status < 300:
        return "delivered", "delivered", None
    if sent.refused:
        return "failed", "refused", None
    if status is None or status == 429 or status >= 500:
        next_at = now + retry_delay(delivery.attempts, sent.retry_after if status == 429 else None)
        if next_at <= delivery.at + webhooks.RETRY_WINDOW_S:
            return "pending", "retrying", next_at
        return "failed", "expired", None
    return "failed", "failed", None


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())
