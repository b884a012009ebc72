"""A typed client for the emulator's control API (``/_emulator``)."""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.emulator.control import providers


class EmulatorClient:
    """``EmulatorClient("http://127.0.0.1:PORT")``: set faults, read the request log."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def api_base(self, provider: str) -> str:
        """The ``api_base`` a LiteLLM deployment of ``provider`` should use."""
        return self.base_url + providers()[provider]

    def set_model(self, model: str, **settings: Any) -> dict[str, Any]:
        response = self._http.post(f"/_emulator/models/{model}", json=settings)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def reset_model(self, model: str) -> None:
        self._http.delete(f"/_emulator/models/{model}").raise_for_status()

    def reset(self) -> None:
        """Reset every model and clear the request log."""
        self._http.post("/_emulator/reset").raise_for_status()

    def requests(self, *, model: str | None = None, provider: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("model", model), ("provider", provider)) if v is not None}
        response = self._http.get("/_emulator/requests", params=params)
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()["requests"]
        return entries

    def videos(
        self, *, wire: str | None = None, model: str | None = None, tag: str | None = None
    ) -> list[dict[str, Any]]:
        """The emulated provider video jobs (oldest first): id, wire, model, phase, progress,
        prompt, tag, polls, downloads ..."""
        params = {k: v for k, v in (("wire", wire), ("model", model), ("tag", tag)) if v is not None}
        response = self._http.get("/_emulator/videos", params=params)
        response.raise_for_status()
        jobs: list[dict[str, Any]] = response.json()["videos"]
        return jobs

    def clear_requests(self) -> None:
        self._http.delete("/_emulator/requests").raise_for_status()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EmulatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
