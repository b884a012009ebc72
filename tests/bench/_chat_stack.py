"""The whole chat chain as child processes, for the chat benchmarks.

    client → gateway (`python -m cli serve`) → Redis db 10 → interactive worker(s)
           (`python -m cli worker --queue interactive`) → LiteLLM proxy (the real one,
           `sandbox.litellm_proxy`) → provider emulator (`python -m sandbox.emulator`)

wired as the chat tests wire it (`tests.support.litellm`): the LiteLLM config is
`compose/litellm/config.yaml` with every deployment's `api_base` pointed at the emulator
(`sandbox.emulator.litellm_config`), placeholder provider keys, the offline environment and
a random master key. `chat_stack()` yields a `ChatStack` with every URL and pid; workers can
be added and removed while the rest keeps running (LiteLLM takes ~12 s to start here).

Every process shares one local artifact store, a temporary directory (`MPC_ARTIFACTS_URL`,
`MPC_ARTIFACTS_SIGNING_KEY`), so media jobs write their outputs where the gateway serves them.
`media_workers` starts workers of the `media` queue class too (`add_workers(n, "media")`
adds more); `worker_handlers` names `MPC_WORKER_HANDLERS` modules for every worker.

`upstream="emulator"` skips LiteLLM and points the workers straight at the emulator's
OpenAI-compatible endpoint (the worker posts `{base}/v1/chat/completions`, the emulator
answers any model name): for benchmarks of the gateway alone, whose side of the chain is
the same whatever answers the worker.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import httpx
import redis

from queues import keys
from sandbox.emulator.client import EmulatorClient
from sandbox.processes import free_port
from tests.bench._common import AUTH, BENCH_REDIS_URL, PYTHON, Child, bench_env, child, gateway, wait_http_ok
from tests.bench._load import redis_pid
from tests.support.litellm import LiteLLMProxy, project_litellm_config, running_litellm

Upstream = Literal["litellm", "emulator"]
WORKER_READY_TIMEOUT_S = 30.0


@dataclass
class ChatStack:
    emulator: EmulatorClient
    emulator_pid: int
    gateway_url: str
    gateway_pid: int
    litellm: LiteLLMProxy | None
    worker_env: dict[str, str]
    artifacts_dir: Path
    redis_url: str = BENCH_REDIS_URL
    workers: list[Child] = field(default_factory=list)
    media_workers: list[Child] = field(default_factory=list)
    _exits: ExitStack = field(default_factory=ExitStack)

    @property
    def worker_pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    def pids(self) -> dict[str, int | None]:
        """Every process of the chain by role (for `_load.CpuWatch`)."""
        out: dict[str, int | None] = {"gateway": self.gateway_pid}
        for i, worker in enumerate(self.workers, 1):
            out[f"worker{i}"] = worker.pid
        for i, worker in enumerate(self.media_workers, 1):
            out[f"media_worker{i}"] = worker.pid
        if self.litellm is not None:
            out["litellm"] = self.litellm.pid
        out["emulator"] = self.emulator_pid
        out["redis"] = redis_pid(self.redis_url)
        return out

    def upstream_name(self, provider_id: str) -> str:
        """The model name the emulator sees for a catalog provider_id (for its controls)."""
        if self.litellm is None:
            return provider_id  # the worker sends the provider_id itself
        return self.litellm.upstream[provider_id]

    def chain(self, **select: Any) -> list[dict[str, str]]:
        """The gateway's choice and fallbacks for a select-model body: `id`, `provider`,
        `provider_id` of each."""
        response = httpx.post(f"{self.gateway_url}/api/select-model", json=select, headers=AUTH, timeout=10)
        response.raise_for_status()
        body = response.json()
        return [{k: m[k] for k in ("id", "provider", "provider_id")} for m in (body["model"], *body["fallbacks"])]

    def add_workers(self, n: int, queue: str = "interactive") -> list[Child]:
        """Start `n` more workers of `queue`; return once each has announced itself."""
        return self.add_pools({queue: n})

    def add_pools(self, counts: dict[str, int]) -> list[Child]:
        """Start workers of several queue classes at once (they start in parallel); return
        once each has announced itself."""
        started = [
            (
                queue,
                self._exits.enter_context(child([PYTHON, "-m", "cli", "worker", "--queue", queue], self.worker_env)),
            )
            for queue, n in counts.items()
            for _ in range(n)
        ]
        for queue, worker in started:
            (self.media_workers if queue == "media" else self.workers).append(worker)
        for queue, worker in started:
            _wait_worker_ready(worker, queue, self.redis_url)
        return [worker for _, worker in started]

    def stop_last_worker(self) -> None:
        self.workers.pop().stop()

    def check_alive(self) -> None:
        for worker in (*self.workers, *self.media_workers):
            worker.check_alive()


def _wait_worker_ready(worker: Child, queue: str, redis_url: str, timeout: float = WORKER_READY_TIMEOUT_S) -> None:
    client = redis.Redis.from_url(redis_url)
    live = keys.live_workers(queue)
    marker = f"-{worker.pid}-".encode()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if any(marker in worker_id for worker_id in cast(list[bytes], client.zrange(live, 0, -1))):
                return
            worker.check_alive()
            time.sleep(0.02)
    finally:
        client.close()
    raise RuntimeError(f"worker {worker.pid} did not announce itself within {timeout} s:\n{worker.stderr()}")


@contextmanager
def running_emulator() -> Iterator[tuple[EmulatorClient, int]]:
    port = free_port()
    args = [PYTHON, "-m", "sandbox.emulator", "--port", str(port)]
    with child(args, bench_env()) as proc, EmulatorClient(f"http://127.0.0.1:{port}") as client:
        wait_http_ok(proc, f"{client.base_url}/_emulator/health", interval=0.02)
        yield client, proc.pid


@contextmanager
def chat_stack(
    workers: int = 1,
    *,
    upstream: Upstream = "litellm",
    breaker_cool_off_s: int | None = None,
    media_workers: int = 0,
    batch_workers: int = 0,
    worker_handlers: str = "",
    env: dict[str, str] | None = None,
    redis_url: str = BENCH_REDIS_URL,
) -> Iterator[ChatStack]:
    """Emulator, LiteLLM (unless `upstream="emulator"`), gateway, `workers` interactive
    and `media_workers` media workers, all on `redis_url` (default: the benchmarks' db; the
    caller flushes it); `env` is set for the gateway and every worker (`MPC_OUTBOUND_ALLOW`,
    say)."""
    env = {**(env or {}), "MPC_REDIS_URL": redis_url}
    with ExitStack() as stack:
        artifacts_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mpc-bench-artifacts-")))
        store_env = {
            "MPC_ARTIFACTS_URL": f"file://{artifacts_dir}",
            "MPC_ARTIFACTS_SIGNING_KEY": secrets.token_hex(32),
        }
        emulator, emulator_pid = stack.enter_context(running_emulator())
        proxy: LiteLLMProxy | None = None
        if upstream == "litellm":
            proxy = stack.enter_context(running_litellm(project_litellm_config(emulator.base_url)))
            worker_env = bench_env(MPC_LITELLM_BASE_URL=proxy.base_url, MPC_LITELLM_API_KEY=proxy.master_key)
        else:
            # The worker posts to {base}/v1/chat/completions: the emulator's OpenAI wire.
            worker_env = bench_env(MPC_LITELLM_BASE_URL=f"{emulator.base_url}/openai", MPC_LITELLM_API_KEY="sk-emu")
        worker_env.update(store_env, MPC_WORKER_HANDLERS=worker_handlers)
        worker_env.update(env)
        if breaker_cool_off_s is not None:
            worker_env["MPC_BREAKER_COOL_OFF_S"] = str(breaker_cool_off_s)
        base, gateway_proc = stack.enter_context(gateway(**store_env, **env))
        chat = ChatStack(
            emulator=emulator,
            emulator_pid=emulator_pid,
            gateway_url=base,
            gateway_pid=gateway_proc.pid,
            litellm=proxy,
            worker_env=worker_env,
            artifacts_dir=artifacts_dir,
            redis_url=redis_url,
        )
        stack.enter_context(chat._exits)
        chat.add_pools({"interactive": workers, "media": media_workers, "batch": batch_workers})
        yield chat
        gateway_proc.check_alive()
        chat.check_alive()


def vm_rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status (kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")
