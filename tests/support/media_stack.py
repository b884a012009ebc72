"""The media chain for real: gateway → Redis → interactive and media workers → LiteLLM →
emulator, with a local artifact store in a directory of the test's own.

The artifacts are read back as a client would, plus straight from the directory (to see
what a crash left behind) and with ffprobe (to check they are real media).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

from artifacts import LocalStore, UrlSigner
from catalog import Catalog
from queues import keys
from queues.settings import Settings
from sandbox.emulator.client import EmulatorClient
from tests.support.auth import AUTH
from tests.support.chat_stack import BREAKER_COOL_OFF_S, SIGNING_KEY, Stack, running_chat_stack
from tests.support.jobs import wait_final
from tests.support.litellm import LiteLLMProxy
from tests.support.workers import LOOPBACK_ALLOW, WorkerProcess


@dataclass(frozen=True)
class MediaStack:
    stack: Stack
    artifacts_dir: Path
    api: httpx.Client

    def submit(self, task: str, job_input: Any, **params: Any) -> str:
        response = self.api.post("/api/jobs", json={"task": task, "input": job_input, "params": params})
        assert response.status_code == 202, response.text
        job_id: str = response.json()["id"]
        return job_id

    def run(self, task: str, job_input: Any, timeout: float = 60, **params: Any) -> dict[str, Any]:
        """Submit and wait for the job's final state."""
        return wait_final(self.api, self.submit(task, job_input, **params), timeout=timeout)

    def chain(self, task: str, **select: Any) -> list[str]:
        return self.stack.chain(task=task, **select)

    def upstream_name(self, model_id: str) -> str:
        return self.stack.upstream_name(model_id)

    def read_artifact(self, job_id: str, name: str) -> bytes:
        """The artifact's bytes, through the store as the gateway reads it."""

        async def read() -> bytes:
            store = LocalStore(self.artifacts_dir, UrlSigner(SIGNING_KEY.encode()))
            try:
                out = bytearray()
                async with await store.open(job_id, name) as opened:
                    async for chunk in opened:
                        out += chunk
                return bytes(out)
            finally:
                await store.aclose()

        return asyncio.run(read())

    def output_events(self, job_id: str) -> list[Any]:
        """The job's `output` events, decoded, in order (the job must be final)."""
        text = self.api.get(f"/api/jobs/{job_id}/events").text
        out = []
        for frame in text.split("\n\n"):
            fields = dict(line.partition(": ")[::2] for line in frame.split("\n") if line and not line.startswith(":"))
            if fields.get("event") == "output":
                out.append(json.loads(fields["data"]))
        return out

    def upload(self, content: bytes, filename: str = "speech.mp3") -> str:
        """An upload through `POST /api/files`, as a client makes it; its file id."""
        response = self.api.post("/api/files", data={"purpose": "user_data"}, files={"file": (filename, content)})
        assert response.status_code == 200, response.text
        file_id: str = response.json()["id"]
        return file_id

    def delete_artifact(self, job_id: str, name: str) -> None:
        """Remove an artifact behind the gateway's back (as expiry would)."""

        async def delete() -> None:
            store = LocalStore(self.artifacts_dir, UrlSigner(SIGNING_KEY.encode()))
            try:
                assert await store.delete(job_id, name)
            finally:
                await store.aclose()

        asyncio.run(delete())

    def worker_pid(self, queue_class: str) -> int:
        """The pid of the (one) live worker of `queue_class`, from its heartbeat."""
        client = redis.Redis.from_url(self.stack.redis_url)
        try:
            for worker_id in client.zrange(keys.live_workers(queue_class), 0, -1):
                info = client.get(keys.worker_info(queue_class, worker_id.decode()))
                if info is not None:
                    return int(json.loads(info)["pid"])
        finally:
            client.close()
        raise AssertionError(f"no live {queue_class} worker")

    def holder_pid(self, job_id: str, queue_class: str) -> int:
        """The pid of the worker whose attempt holds the job (the last to take it)."""
        client = redis.Redis.from_url(self.stack.redis_url)
        try:
            worker_id = client.hget(keys.job(job_id), "worker")
            assert worker_id is not None, f"no worker took {job_id}"
            info = client.get(keys.worker_info(queue_class, worker_id.decode()))
            assert info is not None, f"the worker that took {job_id} is not live"
            return int(json.loads(info)["pid"])
        finally:
            client.close()

    def start_worker(self, queue_class: str) -> WorkerProcess:
        """Another worker like the stack's own (same LiteLLM, store and signing key)."""
        env = {
            "MPC_LITELLM_BASE_URL": self.stack.litellm.base_url,
            "MPC_LITELLM_API_KEY": self.stack.litellm.master_key,
            "MPC_BREAKER_COOL_OFF_S": str(BREAKER_COOL_OFF_S),
            "MPC_ARTIFACTS_URL": f"file://{self.artifacts_dir}",
            "MPC_ARTIFACTS_SIGNING_KEY": SIGNING_KEY,
            "MPC_OUTBOUND_ALLOW": LOOPBACK_ALLOW,
        }
        worker = WorkerProcess(self.stack.redis_url, queue_class, extra_env=env, handlers="")
        worker.wait_ready()
        return worker

    def files_of(self, job_id: str) -> list[Path]:
        """Every file under the job's artifact directory (records, blobs, temporary files)."""
        root = self.artifacts_dir / job_id
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def probe(content: bytes) -> dict[str, Any]:
    """ffprobe's view of `content`: its format and streams (it fails the test if unreadable)."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", "-i", "pipe:0"],
        input=content,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    probed: dict[str, Any] = json.loads(done.stdout)
    return probed


def audio_seconds(content: bytes, input_args: tuple[str, ...] = ()) -> float:
    """The audio's length as decoded to the end (not a header's claim)."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", *input_args, "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "8000", "pipe:1"],
        input=content,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return len(done.stdout) / 16000


@contextmanager
def running_media_stack(
    litellm: LiteLLMProxy,
    emulator: EmulatorClient,
    settings: Settings,
    catalog: Catalog,
    artifacts_dir: Path,
    *,
    worker_env: Mapping[str, str] | None = None,
    queue_classes: tuple[str, ...] = ("interactive", "media"),
) -> Iterator[MediaStack]:
    with (
        running_chat_stack(
            litellm,
            emulator,
            settings,
            catalog,
            queue_classes=queue_classes,
            artifacts_url=f"file://{artifacts_dir}",
            worker_env=worker_env,
        ) as stack,
        httpx.Client(base_url=stack.base_url, headers=AUTH, timeout=30) as api,
    ):
        yield MediaStack(stack, artifacts_dir, api)
