"""Each stream's time to first token split at the points the job record, its event stream and
the emulator's request log show (`chat_ttft`, `media_isolation`).

One machine, one clock: the client's send and first-token times, the job record's created
and started times, the Redis stream id of its first `output` event, and the time the emulator
logged the provider request (found by the request's unique last message, `text_of(index)`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import redis

from queues import keys
from tests.bench._chat_load import Trace
from tests.bench._chat_stack import ChatStack
from tests.bench._common import BENCH_REDIS_URL


def ttft_breakdown(
    stack: ChatStack, upstream: str, traces: list[Trace], text_of: Callable[[int], str]
) -> dict[str, list[float]]:
    """Each stream's TTFT split at the points the job record, its event stream and the
    emulator's request log show (seconds)."""
    received = {
        entry["body"]["messages"][-1]["content"]: float(entry["time"])
        for entry in stack.emulator.requests(model=upstream)
        if isinstance(entry.get("body"), dict)
    }
    out: dict[str, list[float]] = {}

    def add(part: str, seconds: float) -> None:
        out.setdefault(part, []).append(seconds)

    client = redis.Redis.from_url(BENCH_REDIS_URL)
    try:
        for trace in traces:
            at_provider = received.get(text_of(trace.index))
            if at_provider is None:
                continue
            if trace.job_id is None:
                add("client_to_provider", at_provider - trace.sent)
                add("provider_to_first_token", trace.first - at_provider)
                continue
            created, started = cast(
                list[bytes | None], client.hmget(keys.job(trace.job_id), ["created_at", "started_at"])
            )
            first_output = _first_output_s(client, trace.job_id)
            if created is None or started is None or first_output is None:
                continue
            add("gateway_submit", float(created) - trace.sent)
            add("queue_pickup", float(started) - float(created))
            add("worker_to_provider", at_provider - float(started))
            add("provider_to_first_output", first_output - at_provider)
            add("relay_to_client", trace.first - first_output)
            # MPC-API's own hops, the rest being LiteLLM's and the provider's time (the
            # worker's few steps before its request leaves are in worker_to_provider).
            add("mpc_own_hops", float(started) - trace.sent + trace.first - first_output)
    finally:
        client.close()
    return out


def _first_output_s(client: redis.Redis, job_id: str) -> float | None:
    """Redis' own time (ms) in the id of the job's first `output` event."""
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(keys.job_events(job_id), count=20))
    for entry_id, fields in entries:
        if fields.get(b"type") == b"output":
            return int(entry_id.split(b"-")[0]) / 1000
    return None
