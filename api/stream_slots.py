"""How many event streams (SSE) each API key holds open on this gateway process.

An open stream holds a connection and a follower of a job's events for as long as the
client likes; without a cap one key could hold them all. The count is per gateway process
(in memory): a stream lives on one process, and the cap is there to protect that process.
A key at its cap is told 429 before anything is submitted or read.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from api.errors import TooManyRequests


class StreamSlots:
    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._open: dict[str, int] = {}

    def open_for(self, owner: str) -> int:
        return self._open.get(owner, 0)

    def admit(self, owner: str) -> None:
        """A 429 if `owner` already holds its cap of open streams."""
        if self._open.get(owner, 0) >= self.per_key:
            raise TooManyRequests(
                f"This API key already has {self.per_key} event streams open on this gateway; "
                "close one or retry later.",
                code="too_many_streams",
                headers={"Retry-After": "1"},
            )

    async def held(self, owner: str, frames: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
        """`frames`, counted against `owner` from the stream's start to its end (a stream
        never started was never counted, so nothing can leak a slot)."""
        self._open[owner] = self._open.get(owner, 0) + 1
        try:
            async for chunk in frames:
                yield chunk
        finally:
            left = self._open[owner] - 1
            if left:
                self._open[owner] = left
            else:
                del self._open[owner]
            if isinstance(frames, AsyncGenerator):
                await frames.aclose()  # its clean-up (a job's cancel) now, not at collection
