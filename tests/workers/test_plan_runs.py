"""Plans run as jobs, for real: a plan job on `batch`, each step a child job on its task's
class, through LiteLLM and the emulator; step events on the plan's stream. Then a plan's
failure, optional steps, parallel steps, cancel, and resume after kill -9 of its worker.

One module, so its tests share one stack (`plans`)."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
import redis

from queues import keys
from tests.support.envelopes import assert_envelope
from tests.support.jobs import wait_final, wait_for_job
from tests.support.media_stack import MediaStack, probe
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess


def chat_step(step_id: str, source: str, *deps: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "task": "chat_general",
        "description": f"Step {step_id}: carry the text on.",
        "depends_on": list(deps),
        "inputs": [{"name": "text", "source": source}],
        **extra,
    }


CHAIN = [
    chat_step("a", "request.input"),
    chat_step("b", "steps.a.output", "a"),
    chat_step("c", "steps.b.output", "b"),
]


def run_plan(api: httpx.Client, body: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    response = api.post("/api/orchestrate", json={**body, "execute": True})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["queue"] == "batch" and response.headers["location"] == f"/api/jobs/{job['id']}"
    return wait_final(api, job["id"], timeout=timeout)


def sse(api: httpx.Client, job_id: str, last_event_id: str | None = None) -> list[tuple[str, str, Any]]:
    """(id, event, data) of each event of a finished job's stream."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    text = api.get(f"/api/jobs/{job_id}/events", headers=headers).text
    events = []
    for frame in text.split("\n\n"):
        fields = dict(line.partition(": ")[::2] for line in frame.split("\n") if line and not line.startswith(":"))
        if "event" in fields:
            events.append((fields["id"], fields["event"], json.loads(fields["data"])))
    return events


def test_a_chain_of_chat_steps_runs_step_by_step_with_events(plan_api: httpx.Client) -> None:
    api = plan_api
    job = run_plan(api, {"steps": CHAIN, "input": "The plan's brief about otters."})
    assert job["status"] == "succeeded", job
    out = job["output"]
    assert out["object"] == "plan.result" and out["plan"] == "plan" and list(out["steps"]) == ["a", "b", "c"]
    for step_id, step in out["steps"].items():
        assert step["status"] == "succeeded" and step["model"] and step["job_id"].startswith("job_")
        assert step["duration_ms"] >= 0 and step["finished_at"] >= step["started_at"], step_id
        child = api.get(f"/api/jobs/{step['job_id']}").json()
        assert child["task"] == "chat_general" and child["queue"] == "interactive"
    # Each step read the one before: the emulator echoes what it was sent.
    assert "otters" in out["steps"]["a"]["output"]["text"]
    assert out["steps"]["b"]["output"]["text"].startswith("Emulated reply")
    assert out["final"] == out["steps"]["c"]["output"]
    assert out["steps"]["a"]["finished_at"] <= out["steps"]["b"]["started_at"]

    events = sse(api, job["id"])
    steps = [(e, d["step"], d["model"]) for _, e, d in events if e.startswith("step_")]
    assert steps == [
        (kind, step_id, out["steps"][step_id]["model"])
        for step_id in "abc"
        for kind in ("step_started", "step_succeeded")
    ]
    assert events[-1][1] == "done"
    # Resumable like every job stream: after the first step's end, exactly the rest.
    first_end = next(i for i, (_, e, d) in enumerate(events) if e == "step_succeeded")
    assert sse(api, job["id"], events[first_end][0]) == events[first_end + 1 :]


def test_a_bad_plan_is_refused_before_anything_runs(plan_api: httpx.Client) -> None:
    api = plan_api

    def refused(steps: Any, param: str, *words: str, body_input: Any = "x") -> None:
        response = api.post("/api/orchestrate", json={"steps": steps, "input": body_input, "execute": True})
        error = assert_envelope(response, 422)
        assert error["param"] == param, error
        assert all(w in error["message"] for w in words), error

    cycle = [chat_step("a", "steps.b.output", "b"), chat_step("b", "steps.a.output", "a")]
    refused(cycle, "steps", "dependency cycle")
    refused([chat_step("a", "request.input", task="dance")], "steps[0].task", "step 'a'", "unknown task 'dance'")
    refused([chat_step("a", "steps.zz.output", "zz")], "steps[0].depends_on[0]", "step 'a'", "unknown step 'zz'")
    refused([chat_step("a", "steps.b.output"), chat_step("b", "request.input")], "steps[0].inputs[0].source")
    refused([chat_step("a", "request.input.question")], "input.question", "step 'a'")
    refused([chat_step(f"s{i}", "request.input") for i in range(33)], "steps")
    # Audio cannot be read by a text model: named at validation, step and input.
    unconvertible = [
        {"id": "voice", "task": "tts", "description": "Say.", "inputs": [{"name": "text", "source": "request.input"}]},
        {
            "id": "notes",
            "task": "summarize",
            "description": "Summarize.",
            "depends_on": ["voice"],
            "inputs": [{"name": "audio", "source": "steps.voice.output"}],
        },
    ]
    refused(unconvertible, "steps[1].inputs[0].source", "step 'notes'", "input 'audio'", "audio")
    both = api.post("/api/orchestrate", json={"task": "rag_pipeline", "steps": CHAIN, "execute": True})
    assert_envelope(both, 400)


FAULT = "[emulate: status=400]"


def with_fault(step_id: str, *deps: str, **extra: Any) -> dict[str, Any]:
    """A chat step that reads its dependency and the request's `fault` (an emulator directive)."""
    step = chat_step(step_id, f"steps.{deps[0]}.output", *deps, **extra)
    step["inputs"].append({"name": "fault", "source": "request.input.fault"})
    return step


def chat_calls(plans: MediaStack) -> int:
    return len(
        [r for r in plans.stack.emulator.requests() if "chat" in r.get("path", "") or "messages" in r.get("path", "")]
    )


def test_a_failed_step_fails_the_plan_with_partial_outputs_and_starts_nothing_after(
    plan_api: httpx.Client, plans: MediaStack
) -> None:
    hangs = chat_step("d", "steps.a.output", "a")
    hangs["inputs"].append({"name": "hang", "source": "request.input.hang"})
    steps = [chat_step("a", "request.input.text"), with_fault("b", "a"), chat_step("c", "steps.b.output", "b"), hangs]
    job_input = {"text": "About herons.", "fault": FAULT, "hang": "[emulate: hang]"}
    job = run_plan(plan_api, {"steps": steps, "input": job_input})
    assert job["status"] == "failed", job
    error = job["error"]
    assert error["code"] == "plan_step_failed" and error["param"] == "steps.b" and "'b'" in error["message"]
    out = job["output"]
    assert out["steps"]["a"]["status"] == "succeeded" and "herons" in out["steps"]["a"]["output"]["text"]
    assert out["steps"]["b"]["status"] == "failed" and out["steps"]["b"]["error"]["status"] == 400
    assert out["steps"]["c"] == {"task": "chat_general", "status": "not_started"}
    # The sibling still running when b failed was canceled, its job too.
    assert out["steps"]["d"]["status"] == "canceled"
    wait_for_job(plan_api, out["steps"]["d"]["job_id"], lambda state: state["status"] == "canceled", timeout=5)
    events = [(e, d.get("step")) for _, e, d in sse(plan_api, job["id"])]
    assert ("step_failed", "b") in events and not any(step == "c" for _, step in events)
    assert events[-1] == ("error", None)


def test_an_optional_step_may_fail_and_the_steps_needing_it_are_skipped(plan_api: httpx.Client) -> None:
    steps = [
        chat_step("a", "request.input.text"),
        with_fault("b", "a", optional=True),
        chat_step("c", "steps.b.output", "b"),
        chat_step("d", "steps.a.output", "a"),
    ]
    job = run_plan(plan_api, {"steps": steps, "input": {"text": "About herons.", "fault": FAULT}})
    assert job["status"] == "succeeded", job
    out = job["output"]
    assert [out["steps"][s]["status"] for s in "abcd"] == ["succeeded", "failed", "skipped", "succeeded"]
    assert out["final"] == out["steps"]["d"]["output"]


def test_ready_steps_run_in_parallel(plan_api: httpx.Client, plans: MediaStack) -> None:
    model = plans.chain("chat_general")[0]
    plans.stack.emulator.set_model(plans.upstream_name(model), latency_ms=400)
    try:
        diamond = [
            chat_step("a", "request.input"),
            chat_step("b", "steps.a.output", "a"),
            chat_step("c", "steps.a.output", "a"),
            {
                **chat_step("d", "steps.b.output", "b", "c"),
                "inputs": [
                    {"name": "left", "source": "steps.b.output"},
                    {"name": "right", "source": "steps.c.output"},
                ],
            },
        ]
        job = run_plan(plan_api, {"steps": diamond, "input": "Diamonds."})
    finally:
        plans.stack.emulator.reset_model(plans.upstream_name(model))
    assert job["status"] == "succeeded", job
    b, c, d = (job["output"]["steps"][s] for s in "bcd")
    assert b["started_at"] < c["finished_at"] and c["started_at"] < b["finished_at"]  # they overlapped
    assert d["started_at"] >= max(b["finished_at"], c["finished_at"])
    assert "## left" in str(plans.stack.emulator.requests()[-1])  # both branches reached d


def test_canceling_a_plan_cancels_its_running_step_within_a_second(plan_api: httpx.Client, plans: MediaStack) -> None:
    steps = [chat_step("a", "request.input"), chat_step("b", "steps.a.output", "a")]
    response = plan_api.post("/api/orchestrate", json={"steps": steps, "input": "[emulate: hang]", "execute": True})
    plan_id = response.json()["id"]
    child = wait_for_child(plans, plan_id, "a")
    wait_for_job(plan_api, child, lambda s: s["status"] == "processing")
    began = time.monotonic()
    assert plan_api.post(f"/api/jobs/{plan_id}/cancel").status_code == 200
    wait_for_job(plan_api, child, lambda s: s["status"] == "canceled", timeout=1.0)
    assert time.monotonic() - began < 1.0
    plan = wait_final(plan_api, plan_id)
    assert plan["status"] == "canceled"
    assert not any(d.get("step") == "b" for _, _, d in sse(plan_api, plan_id))  # nothing new started


def test_a_plan_whose_cancel_message_was_lost_ends_canceled_at_its_next_step_record(
    plan_api: httpx.Client, plans: MediaStack
) -> None:
    steps = [chat_step("a", "request.input"), chat_step("b", "steps.a.output", "a")]
    body = {"steps": steps, "input": "[emulate: latency_ms=1000]", "execute": True}
    plan_id = plan_api.post("/api/orchestrate", json=body).json()["id"]
    wait_for_child(plans, plan_id, "a")
    # The flag a cancel request sets, without the message its worker would hear (pub/sub
    # keeps nothing for a listener that is reconnecting).
    client = redis.Redis.from_url(plans.stack.redis_url)
    try:
        client.set(keys.job_cancel(plan_id), b"1", ex=60)
    finally:
        client.close()
    plan = wait_final(plan_api, plan_id)
    assert plan["status"] == "canceled", plan
    assert [d["step"] for _, e, d in sse(plan_api, plan_id) if e == "step_started"] == ["a"]


def wait_for_child(plans: MediaStack, plan_id: str, step_id: str) -> str:
    """The child job id of a plan's step, once the plan's checkpoint records it."""
    client = redis.Redis.from_url(plans.stack.redis_url)
    found: list[str] = []

    def started() -> bool:
        raw = client.hget(keys.plan_steps(plan_id), step_id)
        if raw is not None:
            found.append(msgspec.json.decode(raw)["job_id"])
        return bool(found)

    try:
        assert wait_until(started, timeout=15), f"step {step_id} of {plan_id} never started"
    finally:
        client.close()
    return found[0]


DOCUMENTS = [
    "Otters hold hands while sleeping so they do not drift apart on the water.",
    "The Eiffel Tower is repainted every seven years with sixty tonnes of paint.",
    "Honey never spoils; jars found in ancient tombs were still edible.",
    "Sea otters use stones as tools to crack open shellfish on their bellies.",
]


def submit_job(api: httpx.Client, task: str, job_input: Any, timeout: float = 40) -> dict[str, Any]:
    response = api.post("/api/jobs", json={"task": task, "input": job_input})
    assert response.status_code == 202, response.text
    assert response.json()["queue"] == "batch"
    return wait_final(api, response.json()["id"], timeout=timeout)


def test_rag_pipeline_ranks_the_request_documents_and_answers_from_the_top_k(
    plan_api: httpx.Client, plans: MediaStack
) -> None:
    question = "How do sea otters use stones and hold hands?"
    job = submit_job(plan_api, "rag_pipeline", {"question": question, "documents": DOCUMENTS, "top_k": 2})
    assert job["status"] == "succeeded", job
    steps = job["output"]["steps"]
    assert steps["embed_documents"]["output"]["vectors"] == len(DOCUMENTS)
    ranked = steps["rank"]["output"]["documents"]
    assert steps["rank"]["model"] is None and steps["rank"]["job_id"] is None  # no provider call
    assert sorted(d["index"] for d in ranked) == [0, 3]  # the two otter documents
    assert ranked[0]["score"] >= ranked[1]["score"] and [d["citation"] for d in ranked] == [1, 2]
    # The answering model was given exactly the top k as numbered context.
    answer_call = plans.stack.emulator.requests()[-1]
    sent = json.dumps(answer_call)
    assert "[1] " in sent and "[2] " in sent and "Eiffel" not in sent
    final = job["output"]["final"]
    assert final == steps["answer"]["output"] and isinstance(final["citations"], list)
    too_many = plan_api.post(
        "/api/jobs", json={"task": "rag_pipeline", "input": {"question": "q", "documents": ["d"] * 257}}
    )
    assert too_many.status_code == 422 and too_many.json()["error"]["param"] == "input.documents"


def test_image_then_caption_sends_the_generated_image_as_an_image_part(
    plan_api: httpx.Client, plans: MediaStack
) -> None:
    job = submit_job(plan_api, "image_then_caption", "A lighthouse at dusk, watercolor.")
    assert job["status"] == "succeeded", job
    steps = job["output"]["steps"]
    image = steps["image"]["output"]["artifacts"][0]
    assert image["content_type"].startswith("image/")
    # The vision model got the very image, inline (in its provider's own image-part shape).
    content = plans.read_artifact(steps["image"]["job_id"], image["name"])
    caption_call = json.dumps(plans.stack.emulator.requests()[-1])
    assert base64.b64encode(content).decode()[:64] in caption_call
    assert job["output"]["final"]["text"]


def test_video_with_voiceover_combines_narration_and_video_in_one_mp4(
    plan_api: httpx.Client, plans: MediaStack
) -> None:
    video_model = plans.chain("video_generate")[0]
    plans.stack.emulator.set_model(plans.upstream_name(video_model), video_seconds=0.5)
    try:
        job = submit_job(plan_api, "video_with_voiceover", "A brief about tides.", timeout=60)
    finally:
        plans.stack.emulator.reset_model(plans.upstream_name(video_model))
    assert job["status"] == "succeeded", job
    out = job["output"]
    assert out["steps"]["video"]["output"]["artifacts"] and out["steps"]["voiceover"]["output"]["artifacts"]
    combined = out["artifacts"][0]
    assert combined["name"] == "combined.mp4" and combined["content_type"] == "video/mp4"
    streams = {s["codec_type"] for s in probe(plans.read_artifact(job["id"], "combined.mp4"))["streams"]}
    assert streams == {"video", "audio"}


def test_podcast_episode_becomes_one_audio_file(plan_api: httpx.Client, plans: MediaStack) -> None:
    job = submit_job(plan_api, "podcast_episode", "The history of the lighthouse keeper's trade.")
    assert job["status"] == "succeeded", job
    audio = job["output"]["final"]["artifacts"]
    assert len(audio) == 1 and audio[0]["content_type"].startswith("audio/")
    child = job["output"]["steps"]["audio"]["job_id"]
    assert probe(plans.read_artifact(child, audio[0]["name"]))["streams"][0]["codec_type"] == "audio"


@pytest.fixture(scope="module")
def replacements(plans: MediaStack) -> Iterator[list[WorkerProcess]]:
    """Batch workers started in place of killed ones: they serve the module's later tests."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def kill_and_replace(plans: MediaStack, plan_id: str, replacements: list[WorkerProcess]) -> None:
    """kill -9 the worker running the plan; start another, which takes the plan once the dead
    worker's in-progress mark runs out."""
    os.kill(plans.holder_pid(plan_id, "batch"), signal.SIGKILL)
    replacements.append(plans.start_worker("batch"))


def test_canceling_a_plan_whose_worker_died_cancels_its_running_step_at_once(
    plan_api: httpx.Client, plans: MediaStack, replacements: list[WorkerProcess]
) -> None:
    steps = [chat_step("a", "request.input"), chat_step("b", "steps.a.output", "a")]
    response = plan_api.post("/api/orchestrate", json={"steps": steps, "input": "[emulate: hang]", "execute": True})
    plan_id = response.json()["id"]
    child = wait_for_child(plans, plan_id, "a")
    wait_for_job(plan_api, child, lambda s: s["status"] == "processing")
    kill_and_replace(plans, plan_id, replacements)
    began = time.monotonic()
    assert plan_api.post(f"/api/jobs/{plan_id}/cancel").status_code == 200
    wait_for_job(plan_api, child, lambda s: s["status"] == "canceled", timeout=1.0)
    assert time.monotonic() - began < 1.0
    # The worker that takes the plan next finds it canceled and starts nothing.
    plan = wait_final(plan_api, plan_id, timeout=20)
    assert plan["status"] == "canceled" and plan["attempts"] == 2, plan
    assert [d["step"] for _, e, d in sse(plan_api, plan_id) if e == "step_started"] == ["a"]


def test_a_plan_resumes_after_its_worker_is_killed_without_running_a_step_twice(
    plan_api: httpx.Client, plans: MediaStack, replacements: list[WorkerProcess]
) -> None:
    # Beside b, a video step whose progress the dead worker had already passed on.
    video = {
        "id": "v",
        "task": "video_generate",
        "description": "A video of a's text.",
        "depends_on": ["a"],
        "inputs": [{"name": "prompt", "source": "steps.a.output"}],
    }
    steps = [chat_step("a", "request.input.text"), with_fault("b", "a"), video, chat_step("c", "steps.b.output", "b")]
    plans.stack.emulator.clear_requests()
    video_model = plans.upstream_name(plans.chain("video_generate")[0])
    plans.stack.emulator.set_model(video_model, video_seconds=0.5)
    body = {"steps": steps, "input": {"text": "Kingfishers.", "fault": "[emulate: latency_ms=3000]"}, "execute": True}
    try:
        plan_id = plan_api.post("/api/orchestrate", json=body).json()["id"]
        wait_for_child(plans, plan_id, "b")
        assert wait_until(lambda: progress_passed_on(plans, plan_id, "v") > 0, timeout=3)
        kill_and_replace(plans, plan_id, replacements)
        job = wait_final(plan_api, plan_id, timeout=40)
    finally:
        plans.stack.emulator.reset_model(video_model)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2
    # One provider call per step: b was re-attached to, a not run again.
    # (Counted as chat calls: LiteLLM also lists the emulator's models now and then.)
    calls = [c for c in plans.stack.emulator.requests() if c["method"] == "POST" and c["path"].endswith("/completions")]
    assert len(calls) == 3, calls
    events = sse(plan_api, plan_id)
    started = [d["step"] for _, e, d in events if e == "step_started"]
    assert started[0] == "a" and sorted(started[1:3]) == ["b", "v"] and started[3:] == ["c"], started
    # Each progress event of the video's job passed on once, though the plan re-attached to it.
    child = job["output"]["steps"]["v"]["job_id"]
    relayed = [d["progress"] for _, e, d in events if e == "step_progress" and d["step"] == "v"]
    assert relayed == [d["progress"] for _, e, d in sse(plan_api, child) if e == "progress"]


def progress_passed_on(plans: MediaStack, plan_id: str, step_id: str) -> int:
    """How many `step_progress` events of the step the plan's stream holds so far."""
    client = redis.Redis.from_url(plans.stack.redis_url)
    try:
        entries = client.xrange(keys.job_events(plan_id))
    finally:
        client.close()
    return sum(
        1
        for _, fields in entries
        if fields[b"type"] == b"step_progress" and json.loads(fields[b"data"])["step"] == step_id
    )
