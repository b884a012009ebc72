"""A 200 MB artifact goes in and out of each backend without the test process holding it: the
peak resident memory during each pass grows by far less than the artifact's size."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from artifacts import ArtifactStore
from tests.support.artifacts import WAV

pytestmark = pytest.mark.slow

SIZE = 200 * 1024 * 1024
CHUNK = 1024 * 1024
MAX_GROWTH = 32 * 1024 * 1024


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/self/status")


def reset_peak() -> int:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux `clear_refs` 5); the RSS now."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS") * 1024


def peak() -> int:
    return _status_kib("VmHWM") * 1024


async def generated() -> AsyncIterator[bytes]:
    # Distinct chunks made on the fly (a counter in each), so nothing is shared or cached.
    block = bytearray(WAV[:44] + bytes(CHUNK - 44))
    for index in range(SIZE // CHUNK):
        block[-8:] = index.to_bytes(8, "big")
        yield bytes(block)
        block[:44] = bytes(44)


def expected_sha256() -> str:
    digest = hashlib.sha256()
    block = bytearray(WAV[:44] + bytes(CHUNK - 44))
    for index in range(SIZE // CHUNK):
        block[-8:] = index.to_bytes(8, "big")
        digest.update(block)
        block[:44] = bytes(44)
    return digest.hexdigest()


async def test_a_200_mb_artifact_is_streamed_in_and_out(store: ArtifactStore) -> None:
    before = reset_peak()
    written = await store.write("job_big", "long.wav", generated(), expires_at=time.time() + 3600)
    write_growth = peak() - before

    before = reset_peak()
    digest, size = hashlib.sha256(), 0
    async with await store.open("job_big", "long.wav") as opened:
        async for chunk in opened:
            digest.update(chunk)
            size += len(chunk)
    read_growth = peak() - before

    assert (written.bytes, size) == (SIZE, SIZE)
    assert written.sha256 == digest.hexdigest() == expected_sha256()
    assert write_growth < MAX_GROWTH, f"writing grew the peak RSS by {write_growth / 2**20:.1f} MiB"
    assert read_growth < MAX_GROWTH, f"reading grew the peak RSS by {read_growth / 2**20:.1f} MiB"
