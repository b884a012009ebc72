"""Several gateways and workers on one Sentinel-guarded Redis, all real processes.

One stack for the package's tests (starting eight Python processes costs seconds of CPU):
two gateways (`python -m cli serve`) and two workers per queue class (`python -m cli
worker`), all given the same `redis+sentinel://` URL, in front of a primary, two replicas
and three sentinels of the test's own (tests/support/sentinel.py). The workers run the test
handlers (tests/support/handlers.py): chat_general streams its words back, video_generate
sleeps and reports progress; no provider is needed to exercise queues, claims, events,
cancels and failover. The failover test kills the primary, so it runs last
(tests/scale/test_sentinel_failover.py, after test_gateways_and_workers.py by name); every
other test leaves the stack as it found it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from queues.classes import QUEUE_CLASS_LIMITS
from sandbox.processes import free_port
from tests.support.auth import TEST_API_KEY
from tests.support.processes import gateway_process
from tests.support.scale_stack import ScaleStack
from tests.support.sentinel import SentinelCluster
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess

GATEWAYS = 2
WORKERS_PER_CLASS = 2


@pytest.fixture(scope="package")
def scale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaleStack]:
    logs = tmp_path_factory.mktemp("scale-logs")
    cluster = SentinelCluster(replicas=2)
    with ExitStack() as stack:
        stack.callback(cluster.close)
        cluster.start()
        workers = [
            WorkerProcess(cluster.url, queue_class, grace_s=2, log=logs / f"worker-{queue_class}-{i}.log")
            for queue_class in QUEUE_CLASS_LIMITS
            for i in range(WORKERS_PER_CLASS)
        ]
        for worker in workers:
            stack.callback(worker.stop)
        scale = ScaleStack(cluster, [], workers, logs)
        # Workers first, gateways after: eight interpreters importing at once on a busy
        # two-core machine can outlast a gateway's start-up deadline.
        for queue_class in QUEUE_CLASS_LIMITS:
            assert wait_until(lambda q=queue_class: len(scale.live_workers(q)) == WORKERS_PER_CLASS, timeout=60), (
                f"{queue_class} workers did not announce themselves (logs: {logs})"
            )
        env = {
            "MPC_REDIS_URL": cluster.url,
            "MPC_API_KEYS": TEST_API_KEY,
            "MPC_LOG_LEVEL": "WARNING",
            "PATH": os.environ.get("PATH", "/usr/bin"),
        }
        for i in range(GATEWAYS):
            log = logs / f"gateway-{i}.log"
            scale.gateways.append(stack.enter_context(gateway_process({**env, "MPC_PORT": str(free_port())}, log=log)))
        yield scale
