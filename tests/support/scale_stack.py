"""Several gateways and workers on one Sentinel-guarded Redis, as tests/scale/ runs them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from queues import keys
from tests.support.sentinel import SentinelCluster
from tests.support.workers import WorkerProcess


@dataclass
class ScaleStack:
    cluster: SentinelCluster
    gateways: list[str]  # base URLs
    workers: list[WorkerProcess]
    logs: Path

    def live_workers(self, queue_class: str) -> list[bytes]:
        with self.cluster.primary() as client:
            return list(client.zrange(keys.live_workers(queue_class), 0, -1))
