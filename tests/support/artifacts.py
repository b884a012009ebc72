"""The artifact store's test helpers: sample media, streams, a real S3-compatible server
(moto's, in its own process on loopback, so its memory is not the test process's)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiobotocore.session import get_session

from artifacts import ArtifactStore, LocalStore, S3Store
from artifacts._s3 import DEFAULT_PART_SIZE
from sandbox.processes import free_port, port_answers, stop_process
from tests.support.waiting import wait_until

SAMPLES = Path(__file__).resolve().parents[1] / "artifacts" / "samples"
SIGNING_KEY = b"k" * 32
CREDENTIALS = ("testing", "testing")
BUCKET = "mpc-artifacts-test"
PART = DEFAULT_PART_SIZE  # what production uses, so the memory test measures that


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


WAV = sample("tone.wav")


async def stream(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


class MotoServer:
    """`python -m moto.server` on a free loopback port, stopped and started at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Spool objects to disk past 1 MiB rather than keep a 200 MB test artifact in memory.
            env={**os.environ, "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(1024 * 1024)},
        )
        if not wait_until(lambda: port_answers(self.port), timeout=30):
            self.stop()
            raise RuntimeError(f"moto server did not start on port {self.port}")

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, grace_s=10)
        self._process = None


# One session for the test clients: it caches botocore's service models after the first client.
_session = get_session()


def s3_client(endpoint: str | None) -> Any:
    """A plain client of our own, to set up and to look at what the store left in the bucket."""
    return _session.create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS[0],
        aws_secret_access_key=CREDENTIALS[1],
    )


_buckets: set[str] = set()


async def create_bucket(endpoint: str) -> None:
    """Once per server, not per test."""
    if endpoint not in _buckets:
        async with s3_client(endpoint) as client:
            await client.create_bucket(Bucket=BUCKET)
        _buckets.add(endpoint)


async def connect_s3(endpoint: str, **options: object) -> S3Store:
    """A store under a prefix of its own, so tests sharing the bucket never see each other."""
    await create_bucket(endpoint)
    return await S3Store.connect(
        BUCKET,
        f"test-{secrets.token_hex(4)}",
        endpoint_url=endpoint,
        credentials=CREDENTIALS,
        **options,  # type: ignore[arg-type]
    )


async def raw_contents(store: ArtifactStore) -> list[str]:
    """Everything the backend holds for this store, visible or not: files under a local root;
    objects and unfinished multipart uploads under an S3 prefix."""
    if isinstance(store, LocalStore):
        if not store.root.exists():
            return []
        return sorted(str(path.relative_to(store.root)) for path in store.root.rglob("*") if path.is_file())
    assert isinstance(store, S3Store)
    async with s3_client(store.endpoint_url) as client:
        objects = await client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
        uploads = await client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix)
    found = [obj["Key"][len(store.prefix) :] for obj in objects.get("Contents", [])]
    found += [f"upload:{upload['Key'][len(store.prefix) :]}" for upload in uploads.get("Uploads", [])]
    return sorted(found)
