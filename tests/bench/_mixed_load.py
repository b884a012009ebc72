"""A steady mixed load on the gateway, for the chaos and soak scenarios: chat, streamed chat,
jobs followed over SSE, and small speech requests, started at a fixed rate (open loop: a slow
answer does not slow the next start) in a thread of its own while the caller breaks things.

Every operation's outcome is kept with its times (`time.time()`), what went wrong if
anything, and the job behind it (`X-MPC-Job-Id`, or the job a `POST /api/jobs` acknowledged
with 202), so the caller can tell which errors fell in which fault's window and check every
acknowledged job afterwards (`job_audit`).

A job's events are read as a client would: on a cut stream it reconnects with
`Last-Event-ID` (after 0.5 s) until a terminal event, and the ids it saw are compared with
the job's stream in Redis afterwards (no gap, no duplicate). A job submission that fails is
not retried (its error is what the client saw); one that got no answer at all may still
have been accepted, so it is submitted with an `Idempotency-Key` and looked up again with
the same key at the end, and the job it names is audited too.

httpx rather than `_rawhttp`: the rate is a few requests a second, and it reconnects after
the faults by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec

from tests.bench._common import AUTH
from tests.bench._media_load import SPEECH_MODEL, VOICE

KINDS = ("chat", "stream", "job", "speech")
SMOKE_KINDS = ("chat", "stream", "job")  # the emulator's speech takes seconds: smoke runs leave it out
CHAT_MODEL = "gpt-4o"
REQUEST_TIMEOUT_S = 90.0
OPERATION_TIMEOUT_S = 120.0  # a job not final after this long counts as stuck
MAX_IN_FLIGHT = 128
TERMINAL = {"done", "error"}
_json = msgspec.json.Decoder(dict[str, Any])


@dataclass(slots=True)
class Outcome:
    kind: str
    started: float  # time.time()
    ended: float
    error: str | None = None  # None: the client got what it asked for
    job_id: str | None = None
    retry_after: bool = False  # the error answer carried Retry-After
    sse_reconnects: int = 0
    sse_ids: list[str] = field(default_factory=list)  # event ids a job's follower saw, in order
    idempotency_key: str | None = None


class MixedLoad:
    """`rate` operations a second, kinds in turn, until `stop()`."""

    def __init__(self, base_url: str, rate: float, kinds: Sequence[str] = KINDS) -> None:
        self.base_url = base_url
        self.rate = rate
        self.kinds = tuple(kinds)
        self.outcomes: list[Outcome] = []
        self.skipped = 0  # starts dropped because MAX_IN_FLIGHT were still running
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="mixed-load", daemon=True)
        self._failure: BaseException | None = None

    def start(self) -> MixedLoad:
        self._thread.start()
        return self

    def stop(self) -> list[Outcome]:
        """Stop starting operations, wait for those running (each has its own timeout)."""
        self._stop.set()
        self._thread.join()
        if self._failure is not None:
            raise RuntimeError("the load generator failed") from self._failure
        return self.outcomes

    def _main(self) -> None:
        try:
            asyncio.run(self._drive())
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self._failure = exc

    async def _drive(self) -> None:
        limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=32)
        async with httpx.AsyncClient(base_url=self.base_url, headers=AUTH, limits=limits, timeout=30) as client:
            running: set[asyncio.Task[None]] = set()
            interval = 1.0 / self.rate
            next_start = time.monotonic()
            for kind in itertools.cycle(self.kinds):
                if self._stop.is_set():
                    break
                if len(running) >= MAX_IN_FLIGHT:
                    self.skipped += 1
                else:
                    task = asyncio.create_task(self._one(client, kind))
                    running.add(task)
                    task.add_done_callback(running.discard)
                next_start += interval
                await asyncio.sleep(max(0.0, next_start - time.monotonic()))
            if running:
                await asyncio.gather(*running)

    async def _one(self, client: httpx.AsyncClient, kind: str) -> None:
        outcome = Outcome(kind=kind, started=time.time(), ended=0.0)
        try:
            # A job's event stream is kept open by pings, so no read times out: the whole
            # operation has a deadline instead.
            async with asyncio.timeout(OPERATION_TIMEOUT_S):
                await OPERATIONS[kind](client, outcome)
        except TimeoutError:
            outcome.error = outcome.error or ("job not final" if outcome.kind == "job" else "timed out")
        except httpx.TransportError as exc:
            outcome.error = outcome.error or type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - every failure is an outcome, not a crash of the load
            outcome.error = outcome.error or f"{type(exc).__name__}: {exc}"[:200]
        outcome.ended = time.time()
        self.outcomes.append(outcome)


def _http_error(outcome: Outcome, response: httpx.Response) -> None:
    outcome.retry_after = "retry-after" in response.headers
    code = ""
    with contextlib.suppress(ValueError, AttributeError):
        code = str(response.json().get("error", {}).get("code") or "")
    outcome.error = f"HTTP {response.status_code}" + (f" {code}" if code else "")


def _messages(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def _chat(client: httpx.AsyncClient, outcome: Outcome) -> None:
    body = {"model": CHAT_MODEL, "messages": _messages("chaos says hello")}
    response = await client.post("/api/chat/completions", json=body, timeout=REQUEST_TIMEOUT_S)
    outcome.job_id = response.headers.get("x-mpc-job-id")
    if response.status_code != 200:
        _http_error(outcome, response)
    elif not response.json()["choices"][0]["message"]["content"]:
        outcome.error = "empty answer"


async def _stream(client: httpx.AsyncClient, outcome: Outcome) -> None:
    body = {"model": CHAT_MODEL, "messages": _messages("chaos streams hello"), "stream": True}
    async with client.stream("POST", "/api/chat/completions", json=body, timeout=REQUEST_TIMEOUT_S) as response:
        outcome.job_id = response.headers.get("x-mpc-job-id")
        if response.status_code != 200:
            await response.aread()
            _http_error(outcome, response)
            return
        done = False
        answers: set[str] = set()  # chunk ids: one answer's chunks share one
        async for line in response.aiter_lines():
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: ") and '"error"' in line[:20]:
                outcome.error = "stream error chunk"
            elif line.startswith("data: "):
                answers.add(str(_json.decode(line[6:]).get("id")))
        if len(answers) > 1:
            outcome.error = f"stream of {len(answers)} answers"  # a second attempt's chunks after the first's
        elif not done and outcome.error is None:
            outcome.error = "stream without [DONE]"


async def _speech(client: httpx.AsyncClient, outcome: Outcome) -> None:
    body = {"model": SPEECH_MODEL, "input": "Chaos says hello.", "voice": VOICE, "response_format": "mp3"}
    response = await client.post("/api/audio/speech", json=body, timeout=REQUEST_TIMEOUT_S)
    outcome.job_id = response.headers.get("x-mpc-job-id")
    if response.status_code != 200:
        _http_error(outcome, response)
    elif len(response.content) < 100:
        outcome.error = f"speech of {len(response.content)} bytes"


async def _job(client: httpx.AsyncClient, outcome: Outcome) -> None:
    outcome.idempotency_key = uuid.uuid4().hex
    body = {"task": "chat_general", "input": {"messages": _messages("chaos job")}}
    response = await client.post("/api/jobs", json=body, headers={"Idempotency-Key": outcome.idempotency_key})
    if response.status_code != 202:
        _http_error(outcome, response)
        return
    outcome.job_id = response.json()["id"]
    await _follow(client, outcome)


async def _follow(client: httpx.AsyncClient, outcome: Outcome) -> None:
    """Read the job's SSE to its terminal event, resuming with Last-Event-ID when cut."""
    last_id: str | None = None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            async with client.stream(
                "GET", f"/api/jobs/{outcome.job_id}/events", headers=headers, timeout=REQUEST_TIMEOUT_S
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    _http_error(outcome, response)
                    if response.status_code < 500:
                        return
                else:
                    event, event_id, terminal = "", "", ""
                    async for line in response.aiter_lines():
                        if line.startswith("event: "):
                            event = line[7:]
                        elif line.startswith("id: "):
                            event_id = line[4:]
                        elif line == "" and event:
                            # The frame is whole only at its blank line: a cut before it is
                            # read again after Last-Event-ID.
                            if event_id:
                                last_id = event_id
                                outcome.sse_ids.append(event_id)
                            if event in TERMINAL:
                                terminal = event
                            event, event_id = "", ""
                    if terminal == "done":
                        return
                    if terminal == "error":
                        outcome.error = outcome.error or "job failed"
                        return
        except httpx.TransportError as exc:
            outcome.error = outcome.error or f"events: {type(exc).__name__}"
        outcome.sse_reconnects += 1
        await asyncio.sleep(0.5)


OPERATIONS = {"chat": _chat, "stream": _stream, "speech": _speech, "job": _job}


def lookup_unacknowledged(base_url: str, outcomes: Sequence[Outcome]) -> None:
    """For each job submission that got no answer, ask again with its Idempotency-Key: if
    the gateway had accepted it, the answer names the job (which the audit then checks)."""
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=30) as client:
        for outcome in outcomes:
            if outcome.kind == "job" and outcome.job_id is None and outcome.idempotency_key is not None:
                body = {"task": "chat_general", "input": {"messages": _messages("chaos job")}}
                response = client.post("/api/jobs", json=body, headers={"Idempotency-Key": outcome.idempotency_key})
                # 200: the first submission had been accepted after all (an earlier job, not
                # created now); 202: it had not, and this one is new. Either is audited.
                if response.status_code in (200, 202):
                    outcome.job_id = response.json()["id"]
