"""What waiting for a replica costs a job submission: `WAIT 1` after the submit transaction
(the default with a Sentinel URL), vs the same code on the same primary acknowledging without
waiting (`MPC_REDIS_ACK_REPLICAS=0`).

A primary, one replica and one sentinel of the benchmark's own (`redis-server`,
`redis-sentinel` on loopback ports, tests/support/sentinel.py). The headline figure is
`queues.submit.submit_job` called one at a time in this process through a
`redis+sentinel://` client, with and without the replica acknowledgement, in alternating
rounds (the median round's submissions per second; the machines are shared, so rounds of
the two sides are interleaved). Outside `--smoke`, `extra.http` adds `job_submit`'s HTTP load
(32 keep-alive connections) on two gateway processes, one per setting, also alternated. No
worker runs; the servers are thrown away afterwards.

The price is one more round trip per submission (PUBLISH + WAIT, queues/replication.py) plus
the replica's acknowledgement, which Redis sends when it has the write (replicas also
acknowledge every second, but WAIT does not wait for that: the primary asks at once).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from contextlib import ExitStack
from typing import Any

from queues.redis import NO_REPLICA_ACKS, ReplicaAcks, connect
from queues.submit import Submission, submit_job
from tests.bench._common import OWNER, gateway, ms
from tests.bench._load import http_load
from tests.bench.job_submit import SUBMIT
from tests.bench.result import BenchResult, better_ratio
from tests.support.sentinel import SentinelCluster

# Within this of the unreplicated rate, waiting for a replica is an acceptable default.
GOAL_RATIO = 0.7


ACKS = {"async": NO_REPLICA_ACKS, "wait": ReplicaAcks(replicas=1, timeout_ms=1000)}
SUBMISSION = Submission(
    task="chat_general",
    queue="interactive",
    input_json=b'{"messages":[{"role":"user","content":"hello"}]}',
    params_json=b"{}",
    owner=OWNER,
)


def run(*, smoke: bool) -> BenchResult:
    rounds, calls = (2, 100) if smoke else (6, 1000)
    cluster = SentinelCluster(replicas=1, sentinels=1)
    http: dict[str, list[dict[str, Any]]] = {"async": [], "wait": []}
    try:
        cluster.start()
        direct = asyncio.run(_direct(cluster.url, rounds, calls))
        if not smoke:
            http = _http(cluster.url, rounds=3, requests=2000)
    finally:
        cluster.close()
    baseline = statistics.median(r["submits_per_s"] for r in direct["async"])
    candidate = statistics.median(r["submits_per_s"] for r in direct["wait"])
    ratio = better_ratio(baseline, candidate, higher_is_better=True)
    extra: dict[str, Any] = {
        "rounds": rounds,
        "calls_per_round": calls,
        "direct": direct,
        "http": http,
        "goal_ratio_ge_0_7": ratio >= GOAL_RATIO,
    }
    return BenchResult(
        scenario="job_submit_replicated",
        baseline=round(baseline, 1),
        candidate=round(candidate, 1),
        unit="submits_per_s",
        ratio=ratio,
        extra=extra,
    )


async def _direct(url: str, rounds: int, calls: int) -> dict[str, list[dict[str, Any]]]:
    clients = {side: connect(url, replica_acks=acks) for side, acks in ACKS.items()}
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in ACKS}
    try:
        for client in clients.values():
            for _ in range(20):  # warm-up: connections, scripts
                await submit_job(client, SUBMISSION)
        for i in range(rounds):
            for side in ("async", "wait") if i % 2 == 0 else ("wait", "async"):
                latencies = []
                started = time.perf_counter()
                for _ in range(calls):
                    began = time.perf_counter()
                    await submit_job(clients[side], SUBMISSION)
                    latencies.append(time.perf_counter() - began)
                elapsed = time.perf_counter() - started
                latencies.sort()
                results[side].append(
                    {
                        "submits_per_s": round(calls / elapsed, 1),
                        "p50_ms": ms(latencies[len(latencies) // 2]),
                        "p99_ms": ms(latencies[int(len(latencies) * 0.99)]),
                    }
                )
    finally:
        for client in clients.values():
            await client.aclose()
    return results


def _http(url: str, *, rounds: int, requests: int) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {"async": [], "wait": []}
    with ExitStack() as stack:
        gateways = {
            "async": stack.enter_context(gateway(MPC_REDIS_URL=url, MPC_REDIS_ACK_REPLICAS="0")),
            "wait": stack.enter_context(gateway(MPC_REDIS_URL=url)),
        }
        for i in range(rounds):
            for side in ("async", "wait") if i % 2 == 0 else ("wait", "async"):
                base, proc = gateways[side]
                rate, info = asyncio.run(http_load(base, proc.pid, requests, warmup=200, request=SUBMIT, expect=202))
                proc.check_alive()
                results[side].append(
                    {
                        "req_per_s": round(rate, 1),
                        "latency_ms": info["latency_ms"],
                        "gateway_cpu_pct_of_core": info.get("server_cpu_pct_of_core"),
                    }
                )
    return results
