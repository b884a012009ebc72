"""Plans run as jobs, for real: a plan job on `batch`, each step a child job on its task's
class, through LiteLLM and the emulator; step events on the plan's stream."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.support.envelopes import assert_envelope
from tests.support.jobs import wait_final


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
