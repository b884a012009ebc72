"""The API's error envelope: `{"error": {message, type, code, param}}`."""

from __future__ import annotations

from typing import Any

import httpx


def assert_envelope(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert `response` is an error envelope with `status` (and `code`); return the error."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return dict(error)
