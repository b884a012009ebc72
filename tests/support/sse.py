"""Server-Sent Events as a client reads them: frames of `id`, `event`, `data` lines."""

from __future__ import annotations

import httpx


def parse_sse(text: str) -> list[dict[str, str]]:
    """Every event in `text` (comments, like `: ping`, left out)."""
    events = []
    for frame in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in frame.split("\n"):
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
        if fields:
            events.append(fields)
    return events


def read_some(client: httpx.Client, url: str, count: int) -> list[dict[str, str]]:
    """Open the stream, read its first `count` events as they arrive, then go away."""
    seen: list[dict[str, str]] = []
    with client.stream("GET", url) as response:
        assert response.headers["content-type"].startswith("text/event-stream"), response.status_code
        buffer = ""
        for chunk in response.iter_text():
            buffer += chunk
            while "\n\n" in buffer:
                frame, buffer = buffer.split("\n\n", 1)
                seen.extend(parse_sse(frame + "\n\n"))
            if len(seen) >= count:
                break
    return seen
