"""Every Prometheus metric MPC-API exports, in one module.

Names follow Prometheus practice (`mpc_` prefix, base units as suffix, counters end in
`_total`) and label sets are small and bounded: never a key, a user, a prompt or a job id.
Each process (gateway or worker) exposes its own registry on its own `/metrics`;
Prometheus adds them up across processes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Latency buckets from 1 ms to 60 s: gateway answers are fast, media jobs slow.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class GatewayMetrics:
    """The gateway's metrics, registered on a registry of its own (one per app instance)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.http_requests = Counter(
            "mpc_http_requests_total",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "mpc_http_request_duration_seconds",
            "Time from request received to response headers sent, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.selections = Counter(
            "mpc_selections_total",
            "Model Brain decisions, by task, tier used and the chosen model's provider.",
            ["task", "tier", "provider"],
            registry=self.registry,
        )
        self.selection_failures = Counter(
            "mpc_selection_failures_total",
            "Requests the Model Brain could not serve, by task and the constraint that removed the last candidate.",
            ["task", "constraint"],
            registry=self.registry,
        )
        self.catalog_models = Gauge(
            "mpc_catalog_models",
            "Models in the loaded catalog, by provider and modality.",
            ["provider", "modality"],
            registry=self.registry,
        )
