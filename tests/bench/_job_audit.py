"""After a chaos or soak run: what became of every job a client was told about.

A job is *acknowledged* when the gateway named it (202 from `POST /api/jobs`, or
`X-MPC-Job-Id` on a chat or speech answer). Each is read back from Redis, record and event
stream:

- lost: the record is gone, or it is not final once the run has drained;
- run twice: more than one terminal event, or an attempt started after the job had ended.
  Not counted: the documented retry of an unfinished attempt (docs/architecture.md: a job
  whose attempt never wrote its end runs again once its in-progress mark expires), counted
  apart by cause: a worker of the job's class was killed between the two attempts
  (`retried_after_worker_kill`), or not (`retried_other`: a worker that lost Redis while
  the job ran and so could not record its end);
- SSE: the ids a follower saw (with its `Last-Event-ID` resumes) against the stream: any
  id missing is a gap, any seen twice a duplicate.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import msgspec
import redis

from queues import keys
from tests.bench._mixed_load import Outcome

FINAL = {"succeeded", "failed", "canceled"}
_json = msgspec.json.Decoder(dict[str, Any])


@dataclass(frozen=True, slots=True)
class WorkerKill:
    at: float  # time.time()
    queue: str


def wait_final(redis_url: str, job_ids: Sequence[str], timeout_s: float) -> float:
    """Wait until every job's record is final or gone (at most `timeout_s`); return the wait."""
    started = time.monotonic()
    client = redis.Redis.from_url(redis_url)
    try:
        pending = list(job_ids)
        while pending and time.monotonic() - started < timeout_s:
            with client.pipeline(transaction=False) as pipe:
                for job_id in pending:
                    pipe.hget(keys.job(job_id), "status")
                statuses = pipe.execute()
            pending = [j for j, s in zip(pending, statuses, strict=True) if s is not None and s.decode() not in FINAL]
            if pending:
                time.sleep(0.5)
    finally:
        client.close()
    return time.monotonic() - started


def audit(redis_url: str, outcomes: Sequence[Outcome], kills: Sequence[WorkerKill]) -> dict[str, Any]:
    by_job = {o.job_id: o for o in outcomes if o.job_id}
    statuses: dict[str, int] = {}
    lost: list[str] = []
    twice: list[dict[str, Any]] = []
    retried: list[str] = []
    retried_other: list[str] = []
    gaps = duplicates = 0
    gap_jobs: list[dict[str, Any]] = []
    client = redis.Redis.from_url(redis_url)
    try:
        for job_id, outcome in by_job.items():
            record = cast(dict[bytes, bytes], client.hgetall(keys.job(job_id)))
            status = record.get(b"status", b"gone").decode()
            statuses[status] = statuses.get(status, 0) + 1
            if status not in FINAL:
                lost.append(f"{job_id} ({status})")
                continue
            queue = record.get(b"queue", b"").decode()
            events = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(keys.job_events(job_id)))
            verdict = _attempts(events, queue, kills)
            if verdict == "twice":
                twice.append({"job": job_id, "queue": queue, "events": _compact(events)})
            elif verdict == "retried_after_kill":
                retried.append(job_id)
            elif verdict == "retried_other":
                retried_other.append(job_id)
            if outcome.sse_ids:
                stream_ids = [entry_id.decode() for entry_id, _ in events]
                seen = outcome.sse_ids
                duplicates += len(seen) - len(set(seen))
                # Only up to the last event it saw: a follower that gave up (its operation's
                # deadline) did not miss what came after.
                last = stream_ids.index(seen[-1]) if seen[-1] in stream_ids else len(stream_ids) - 1
                missing = [i for i in stream_ids[: last + 1] if i not in set(seen)]
                gaps += len(missing)
                if missing and len(gap_jobs) < 5:
                    gap_jobs.append(
                        {
                            "job": job_id,
                            "client_error": outcome.error,
                            "reconnects": outcome.sse_reconnects,
                            "seen": seen,
                            "events": _compact(events),
                        }
                    )
    finally:
        client.close()
    return {
        "acknowledged": len(by_job),
        "statuses": statuses,
        "lost": len(lost),
        "lost_jobs": lost[:20],
        "run_twice": len(twice),
        "run_twice_jobs": twice[:5],
        "retried_after_worker_kill": len(retried),
        "retried_other": len(retried_other),
        "retried_other_jobs": retried_other[:5],
        "sse_followed": sum(1 for o in by_job.values() if o.sse_ids),
        "sse_reconnects": sum(o.sse_reconnects for o in by_job.values()),
        "sse_gaps": gaps,
        "sse_gap_jobs": gap_jobs,
        "sse_duplicates": duplicates,
    }


def _attempts(events: list[tuple[bytes, dict[bytes, bytes]]], queue: str, kills: Sequence[WorkerKill]) -> str:
    """One of "once", "retried_after_kill", "retried_other" (both the documented retry of
    an unfinished attempt) or "twice"."""
    starts: list[float] = []
    terminals: list[float] = []
    for entry_id, fields in events:
        at = int(entry_id.split(b"-", 1)[0]) / 1000
        kind = fields.get(b"type", b"").decode()
        if kind in ("done", "error"):
            terminals.append(at)
        elif kind == "status" and _json.decode(fields.get(b"data", b"{}")).get("status") == "processing":
            starts.append(at)
    if len(terminals) > 1:
        return "twice"
    verdict = "once"
    for before, after in itertools.pairwise(starts):
        if any(t <= after for t in terminals):
            return "twice"  # it had ended, and ran again
        killed = any(k.queue == queue and before <= k.at <= after for k in kills)
        if verdict != "retried_other":
            verdict = "retried_after_kill" if killed else "retried_other"
    return verdict


def _compact(events: list[tuple[bytes, dict[bytes, bytes]]]) -> list[str]:
    return [
        f"{entry_id.decode()} {fields.get(b'type', b'').decode()} {fields.get(b'data', b'')[:80]!r}"
        for entry_id, fields in events
    ]
