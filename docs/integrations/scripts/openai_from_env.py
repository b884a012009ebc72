"""Reach MPC-API from code running in a sandbox (Modal, E2B, a CI job, a notebook).

The `openai` SDK reads OPENAI_BASE_URL and OPENAI_API_KEY from the environment, so nothing
here names MPC-API: set the two variables where the sandbox runs (a Modal Secret, E2B's
`envs=`), e.g. OPENAI_BASE_URL=https://mpc.example.com/api and the key. Prints one JSON line:
what each call answered, and which task and model MPC-API chose (its X-MPC-* headers).

    pip install openai && python openai_from_env.py
"""

from __future__ import annotations

import json

from openai import OpenAI


def main() -> None:
    client = OpenAI(max_retries=0, timeout=60)  # base URL and key from the environment
    chat = client.chat.completions.with_raw_response.create(
        model="mpc/summarize",
        messages=[{"role": "user", "content": "Summarize: sandboxes call models through one gateway."}],
    )
    answer = chat.parse()
    streamed = client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Stream from the sandbox."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    for chunk in streamed:
        pieces += [c.delta.content or "" for c in chunk.choices]
        usage = chunk.usage or usage
    legacy = client.completions.create(model="mpc/rag_rewrite:draft", prompt="Rewrite: cheap flights to Oslo")
    vectors = client.embeddings.create(model="mpc/embed_text", input=["one", "two"])
    report = {
        "chat": answer.choices[0].message.content,
        "task": chat.headers.get("x-mpc-task"),
        "model": chat.headers.get("x-mpc-model"),
        "stream": pieces,
        "stream_usage": usage.total_tokens if usage else None,
        "completion": legacy.choices[0].text,
        "completion_object": legacy.object,
        "embeddings": [len(item.embedding) for item in vectors.data],
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
