"""kill -9 of the Redis primary under load: Sentinel promotes a replica, and the gateways and
workers move to it by themselves (tests/scale/conftest.py: two gateways, two workers per
class, a primary, two replicas, three sentinels, all real processes).

Clients see 503 with Retry-After, and only between the kill and shortly after the
promotion; every job acknowledged with 202 reaches a final state, because a submission is
acknowledged only once a replica has it (`WAIT`, on by default with Sentinel). Two replicas,
so that the promoted one still has a replica to confirm submissions to.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx

from queues import keys
from queues.classes import QUEUE_CLASS_LIMITS
from tests.support.auth import AUTH
from tests.support.jobs import FINAL_STATUSES
from tests.support.scale_stack import ScaleStack
from tests.support.waiting import wait_until
from workers.runner import WORKER_HEARTBEAT_TTL_S  # a heartbeat's score: its time + this

# Gateways and workers must be back on the new primary this soon after its promotion.
RECONNECT_WITHIN_S = 10.0
STEADY_S = 1.5  # load before the kill
QUIET_S = 3.0  # the load ends once this long passed with no failure, after the promotion


@dataclass
class Outcome:
    at: float
    gateway: str
    kind: str  # "job" | "chat"
    status: int
    retry_after: str | None
    job_id: str | None


@dataclass
class Load:
    """Steady job submissions and chats, spread over the gateways, each answer recorded."""

    gateways: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n, kind in enumerate(("job", "job", "chat", "chat")):
            thread = threading.Thread(target=self._run, args=(kind, n), daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _run(self, kind: str, n: int) -> None:
        with httpx.Client(headers=AUTH, timeout=20) as client:
            i = n
            while not self.stopping.is_set():
                gateway = self.gateways[i % len(self.gateways)]
                i += 1
                self.outcomes.append(self._one(client, gateway, kind, i))
                time.sleep(0.05)

    def _one(self, client: httpx.Client, gateway: str, kind: str, i: int) -> Outcome:
        text = f"request {i} from the load"
        messages = [{"role": "user", "content": text}]
        try:
            if kind == "job":
                response = client.post(
                    f"{gateway}/api/jobs", json={"task": "chat_general", "input": {"messages": messages}}
                )
            else:
                response = client.post(f"{gateway}/api/chat/completions", json={"model": "auto", "messages": messages})
        except httpx.TransportError:
            return Outcome(time.time(), gateway, kind, 0, None, None)
        job_id = response.json().get("id") if response.status_code == 202 else None
        return Outcome(time.time(), gateway, kind, response.status_code, response.headers.get("Retry-After"), job_id)

    def failures(self) -> list[Outcome]:
        return [o for o in list(self.outcomes) if o.status not in (200, 202)]


def test_killing_the_primary_under_load_fails_over_losing_no_acknowledged_job(scale: ScaleStack) -> None:
    cluster = scale.cluster
    load = Load(scale.gateways)
    load.start()
    try:
        time.sleep(STEADY_S)
        assert not load.failures(), f"failures before the kill: {load.failures()[:5]}"
        killed_at = time.time()
        old_port = cluster.kill_primary()
        promoted_at = cluster.wait_promotion(old_port)

        def settled() -> bool:
            now = time.time()
            last = max((o.at for o in load.failures()), default=killed_at)
            return now - promoted_at > RECONNECT_WITHIN_S + QUIET_S or (now - max(last, promoted_at) > QUIET_S)

        assert wait_until(settled, timeout=RECONNECT_WITHIN_S + QUIET_S + 5, interval=0.1)
    finally:
        load.stop()

    outcomes = list(load.outcomes)
    failures = load.failures()
    last_failure = max((o.at for o in failures), default=promoted_at)
    print(
        f"failover: promoted {promoted_at - killed_at:.2f} s after the kill; {len(failures)} of {len(outcomes)} "
        f"answers were 503, the last {last_failure - promoted_at:+.2f} s from the promotion"
    )
    assert failures, "the kill went unnoticed: the load did not reach Redis"
    # 503 with Retry-After, nothing else, and only during the switch.
    assert all(o.status == 503 and o.retry_after for o in failures), {(o.kind, o.status) for o in failures}
    assert all(killed_at <= o.at <= promoted_at + RECONNECT_WITHIN_S for o in failures), [
        round(o.at - promoted_at, 2) for o in failures
    ]
    # Both gateways answer again after the switch, jobs and chats alike.
    after = [o for o in outcomes if o.at > max((f.at for f in failures), default=promoted_at)]
    for gateway in scale.gateways:
        for kind, status in (("job", 202), ("chat", 200)):
            assert any(o.gateway == gateway and o.kind == kind and o.status == status for o in after), (gateway, kind)

    # Every worker heartbeats to the new primary within the deadline, and none died.
    for worker in scale.workers:
        assert worker.process.poll() is None, f"worker {worker.pid} exited"
    for queue_class in QUEUE_CLASS_LIMITS:
        with cluster.primary() as redis:
            scores = [score for _, score in redis.zrange(keys.live_workers(queue_class), 0, -1, withscores=True)]
        renewed = [s for s in scores if s - WORKER_HEARTBEAT_TTL_S >= promoted_at]
        assert len(renewed) >= 2, f"{queue_class}: workers did not heartbeat to the new primary: {scores}"
        assert min(renewed) - WORKER_HEARTBEAT_TTL_S <= promoted_at + RECONNECT_WITHIN_S

    # Every acknowledged job reaches a final state (an attempt that lost Redis runs again
    # once its in-progress mark runs out).
    acknowledged = [o.job_id for o in outcomes if o.job_id is not None]
    assert len(acknowledged) > 20
    pending = set(acknowledged)
    with httpx.Client(base_url=scale.gateways[0], headers=AUTH, timeout=10) as client:

        def all_final() -> bool:
            for job_id in list(pending):
                if client.get(f"/api/jobs/{job_id}").json().get("status") in FINAL_STATUSES:
                    pending.discard(job_id)
            return not pending

        assert wait_until(all_final, timeout=30, interval=0.5), f"{len(pending)} acknowledged jobs never ended"
        statuses = {client.get(f"/api/jobs/{job_id}").json()["status"] for job_id in acknowledged}
    assert statuses == {"succeeded"}, statuses
