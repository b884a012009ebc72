"""Platforms' view: the real `openai` SDK against the gateway, with only base_url and api_key set."""

from __future__ import annotations

import time

import openai
import pytest
import redis

from queues import keys
from tests.support.auth import AUTH, TEST_API_KEY
from tests.support.chat_stack import BREAKER_COOL_OFF_S, Stack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


def client(stack: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.base_url}/api", api_key=TEST_API_KEY, max_retries=0, timeout=30)


def test_answer_names_the_model_that_answered(stack: Stack) -> None:
    raw = client(stack).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Say hello"}]
    )
    completion = raw.parse()
    primary = stack.chain(task="chat_general")[0]
    assert completion.object == "chat.completion"
    assert completion.model == primary
    assert completion.choices[0].message.content and "Say hello" in completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert raw.headers["x-mpc-model"] == primary
    assert raw.headers["x-mpc-task"] == "chat_general"
    assert raw.headers["x-mpc-job-id"].startswith("job_")


def test_stream_arrives_in_chunks_with_usage_once(stack: Stack) -> None:
    model = stack.chain(task="chat_general", capabilities=["streaming"])[0]
    stream = client(stack).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Tell me a story [emulate: tokens=12]"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices]) >= 3
    assert text.strip()
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1 and with_usage[0].choices == [] and chunks[-1] is with_usage[0]
    assert all(c.model == model for c in chunks)


def test_fallback_after_a_500_from_the_primary(stack: Stack) -> None:
    chain = stack.chain(task="chat_general", model="gpt-4o")
    stack.emulator.set_model(stack.upstream_name(chain[0]), status=500)
    completion = client(stack).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert completion.model == chain[1]
    assert stack.emulator.requests(model=stack.upstream_name(chain[0]))  # the primary was tried once
    assert len(stack.emulator.requests(model=stack.upstream_name(chain[0]))) == 1  # and not retried by LiteLLM


def test_client_error_does_not_fall_back(stack: Stack) -> None:
    chain = stack.chain(task="chat_general", model="gpt-4o")
    stack.emulator.set_model(stack.upstream_name(chain[0]), status=400)
    with pytest.raises(openai.BadRequestError):
        client(stack).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert not stack.emulator.requests(model=stack.upstream_name(chain[1]))


@pytest.mark.parametrize("model", ["claude-sonnet", "gpt-oss-120b"])
def test_mid_stream_cut_raises_api_error(stack: Stack, model: str) -> None:
    # Paced tokens (as real providers send them) so the first chunks have left the gateway
    # before the cut. A cut that comes before LiteLLM has sent anything on reaches the worker
    # as an HTTP error instead, and falls back like any failure before the first token.
    chain = stack.chain(task="chat_general", model=model)
    # Cut a second into the answer: long after LiteLLM has forwarded the first chunks, even on a
    # loaded machine (it reads a few chunks ahead before it forwards any).
    stack.emulator.set_model(stack.upstream_name(chain[0]), cut_after=20, tokens=60, tps=20)
    stream = client(stack).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "long answer"}], stream=True
    )
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk)
    assert received, "some tokens arrived before the cut"


def test_every_fallback_rate_limited_is_429_with_retry_after(stack: Stack) -> None:
    chain = stack.chain(task="chat_general", model="gpt-4o", fallbacks=1)
    for model_id in chain:
        stack.emulator.set_model(stack.upstream_name(model_id), status=429, retry_after=1)
    with pytest.raises(openai.RateLimitError) as caught:
        client(stack).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], extra_body={"fallbacks": 1}
        )
    assert caught.value.response.headers["retry-after"] == "1"


def test_breaker_opens_then_recovers(stack: Stack) -> None:
    chain = stack.chain(task="chat_general", model="gpt-4o")
    primary = stack.catalog.models[chain[0]]
    stack.emulator.set_model(stack.upstream_name(chain[0]), status=503)
    sdk = client(stack)
    for _ in range(5):
        answer = sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert answer.model == chain[1]
    state = redis.Redis.from_url(stack.redis_url).hget(keys.breaker(primary.provider), "state")
    assert state == b"open"
    tried = len(stack.emulator.requests(model=stack.upstream_name(chain[0])))
    answer = sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert answer.model == chain[1]
    assert len(stack.emulator.requests(model=stack.upstream_name(chain[0]))) == tried, "open breaker: not called"
    stack.emulator.reset_model(stack.upstream_name(chain[0]))
    opened_at = float(redis.Redis.from_url(stack.redis_url).hget(keys.breaker(primary.provider), "opened_at") or 0)

    def primary_answers() -> bool:
        # Until the cool-off ends the fallback answers; the first call after it is the half-open probe.
        answer = sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        return answer.model == chain[0]

    assert wait_until(primary_answers, timeout=BREAKER_COOL_OFF_S + 10, interval=0.2)
    assert time.time() >= opened_at + BREAKER_COOL_OFF_S
    assert redis.Redis.from_url(stack.redis_url).hget(keys.breaker(primary.provider), "state") == b"closed"


def test_unknown_model_is_404(stack: Stack) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(stack).chat.completions.create(model="acme/none", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "model_not_found"


@pytest.mark.parametrize(
    "body",
    [
        {"model": "auto", "messages": []},
        {"model": "auto", "messages": "hi"},
        {"model": "auto", "messages": [{"content": "no role"}]},
        {"model": "auto", "messages": [{"role": "user", "content": "x"}], "stream": "yes"},
        {"model": 5, "messages": [{"role": "user", "content": "x"}]},
    ],
)
def test_bad_body_is_400(stack: Stack, body: dict[str, object]) -> None:
    with pytest.raises(openai.BadRequestError):
        client(stack).post("/chat/completions", body=body, cast_to=object)


async def test_async_client_and_platform_parameters_pass_through(stack: Stack) -> None:
    sdk = openai.AsyncOpenAI(base_url=f"{stack.base_url}/api", api_key=TEST_API_KEY, max_retries=0)
    completion = await sdk.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "ping"}],
        max_completion_tokens=50,
        user="platform-user-1",
        seed=7,
        stream_options={"include_usage": True},  # sent by some platforms even without stream
        temperature=0.2,
    )
    assert completion.object == "chat.completion"
    sent = stack.emulator.requests(model=stack.upstream_name(completion.model))[-1]["body"]
    assert sent["seed"] == 7 and sent["user"] == "platform-user-1"
    await sdk.close()


def test_tool_call_deltas_stream_through(stack: Stack) -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "lookup", "description": "find", "parameters": {"type": "object"}, "strict": True},
        }
    ]
    stream = client(stack).chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "please call tool"}],
        tools=tools,  # type: ignore[arg-type]
        tool_choice="auto",
        parallel_tool_calls=False,
        stream=True,
    )
    calls = [tc for c in stream if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function is not None and calls[0].function.name == "lookup"


def test_text_task_through_the_jobs_api(stack: Stack) -> None:
    import httpx

    body = {
        "task": "summarize",
        "input": {"messages": [{"role": "user", "content": "Summarize: queues decouple"}]},
        "params": {"tier": "draft", "providers": {"deny": ["openai"]}},
    }
    with httpx.Client(base_url=stack.base_url, headers=AUTH, timeout=30) as http:
        job = http.post("/api/jobs", json=body, headers={"Prefer": "wait=20", "Idempotency-Key": "sum-1"}).json()
        assert job["status"] == "succeeded", job
        assert job["output"]["object"] == "chat.completion"
        assert stack.catalog.models[job["output"]["model"]].provider != "openai"
        again = http.post("/api/jobs", json=body, headers={"Idempotency-Key": "sum-1"})
        assert again.status_code == 200 and again.json()["id"] == job["id"]


@pytest.mark.parametrize("fault", ["cut_after", "malformed_after", "error_after"])
def test_stream_broken_before_its_first_token_falls_back(stack: Stack, fault: str) -> None:
    # The provider opens the stream (its role-only head chunk) and breaks before any token:
    # nothing reached the client, so the next model answers, as for an HTTP error.
    chain = stack.chain(task="chat_general", model="gpt-4o", capabilities=["streaming"])
    stack.emulator.set_model(stack.upstream_name(chain[0]), **{fault: 0})
    stream = client(stack).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    assert {c.model for c in chunks} == {chain[1]}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
