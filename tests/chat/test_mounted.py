"""Mounted under a path prefix (a proxy's root path), the gateway answers chat through its
FastAPI route rather than the fast lane (api/fastlane.py): the two must not drift apart."""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app
from tests.support.auth import AUTH
from tests.support.chat_stack import Stack
from tests.support.servers import running_server

pytestmark = pytest.mark.slow


def test_under_a_root_path_the_fastapi_route_answers_alike(stack: Stack) -> None:
    """Mounted under a prefix, the gateway's FastAPI route answers instead of the fast lane:
    same answers, same errors."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi [emulate: tokens=4]"}]}
    with (
        running_server(create_app(stack.settings, stack.catalog), root_path="/gw") as base,
        httpx.Client(base_url=base, headers=AUTH, timeout=30) as client,
    ):
        whole = client.post("/api/chat/completions", json=body)
        assert whole.status_code == 200 and whole.json()["model"] == whole.headers["x-mpc-model"]
        streamed = client.post("/api/chat/completions", json={**body, "stream": True})
        assert streamed.headers["content-type"].startswith("text/event-stream")
        assert streamed.text.endswith("data: [DONE]\n\n") and '"content"' in streamed.text
        bad = client.post("/api/chat/completions", json={"messages": []})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "messages"
        assert client.post("/api/chat/completions", json=body, headers={"Authorization": "Bearer x"}).status_code == 401
