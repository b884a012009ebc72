"""`api.sse`: the frames the gateway writes, read back by a spec parser (httpx-sse)."""

from __future__ import annotations

import httpx
import pytest
from httpx_sse import EventSource, ServerSentEvent

from api.sse import PING, SSE_CONTENT_TYPE, sse_comment, sse_frame


def read_back(stream: bytes) -> list[ServerSentEvent]:
    response = httpx.Response(200, headers={"content-type": SSE_CONTENT_TYPE.decode()}, content=stream)
    return list(EventSource(response).iter_sse())


def test_a_one_line_payload_is_one_data_line() -> None:
    assert sse_frame(b'{"a": 1}') == b'data: {"a": 1}\n\n'


def test_id_and_event_come_before_the_data() -> None:
    frame = sse_frame(b"{}", id="1732780000000-0", event="done")
    assert frame == b"id: 1732780000000-0\nevent: done\ndata: {}\n\n"
    (event,) = read_back(frame)
    assert (event.id, event.event, event.data) == ("1732780000000-0", "done", "{}")


@pytest.mark.parametrize("payload", [b"one\ntwo", b"one\r\ntwo", b"one\rtwo", b"\nlead\n\ntrail\n"])
def test_a_multi_line_payload_is_one_data_line_per_line(payload: bytes) -> None:
    (event,) = read_back(sse_frame(payload))
    assert event.data == payload.replace(b"\r\n", b"\n").replace(b"\r", b"\n").decode()


def test_comments_are_not_events() -> None:
    assert PING == b": ping\n\n"
    assert [e.data for e in read_back(PING + sse_comment("two\nlines") + sse_frame(b"x"))] == ["x"]
