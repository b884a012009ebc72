"""What one gateway process holds while it runs: settings, catalog, Redis client, artifact store, metrics."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from api.keyring import KeyRing
from api.limiter import Limiter
from api.provider_health import ProviderHealth
from api.stream_slots import StreamSlots
from artifacts import ArtifactStore
from brain import Index
from catalog import Catalog
from metrics.definitions import GatewayMetrics
from queues.retention import Retention
from queues.settings import Settings


@dataclass(slots=True)
class AppState:
    settings: Settings
    catalog: Catalog
    redis: Redis
    # Separate pool without a socket timeout, for XREAD BLOCK (SSE, Prefer: wait).
    blocking_redis: Redis
    metrics: GatewayMetrics
    index: Index  # the brain's precomputed look-ups for `catalog`
    provider_health: ProviderHealth
    store: ArtifactStore  # artifacts and uploads: served, described, uploads written
    streams: StreamSlots  # open event streams per API key (MPC_MAX_STREAMS_PER_KEY)
    keyring: KeyRing  # every accepted key, by digest (MPC_API_KEYS and the managed keys)
    limiter: Limiter  # per-key limits: this gateway's leases and last-seen counts
    retention: Retention  # how long finished jobs are kept (MPC_RESULT_TTL_S, MPC_EXPIRED_GRACE_S)
