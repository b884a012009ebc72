"""Every Prometheus metric MPC-API exports, in one module.

Names follow Prometheus practice (`mpc_` prefix, base units as suffix, counters end in
`_total`) and label sets are small and bounded: never a key, a user, a prompt or a job id.
Model labels are catalog ids (a bounded set). Where OpenTelemetry's GenAI semantic
conventions name a thing, the metric follows their name and label meanings
(`gen_ai.client.operation.duration` → `mpc_gen_ai_client_operation_duration_seconds`,
`gen_ai_operation_name`, `gen_ai_provider_name`, `gen_ai_request_model`, `gen_ai_token_type`).

Each process has its own registry and its own `/metrics`: gateways on their HTTP port,
workers on `MPC_WORKER_METRICS_PORT`. Prometheus sums across processes, so counts add up
without a shared multiprocess directory to clean.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Latency buckets from 1 ms to 10 min: gateway answers are fast, media jobs slow.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)
# `mpc_breaker_state`'s published values, which dashboards and alerts read: each state's
# position in `catalog.breaker_states.BREAKER_STATES`. metrics imports nothing of ours, so
# the names are repeated here; tests/catalog/test_breaker_states.py keeps the two in step.
BREAKER_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


class GatewayMetrics:
    """The gateway's metrics, registered on a registry of its own (one per app instance)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.http_requests = Counter(
            "mpc_http_requests_total",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "mpc_http_request_duration_seconds",
            "Time from request received to response headers sent, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.selections = Counter(
            "mpc_selections_total",
            "Model Brain decisions, by task, tier used and the chosen model's provider.",
            ["task", "tier", "provider"],
            registry=r,
        )
        self.selection_failures = Counter(
            "mpc_selection_failures_total",
            "Requests the Model Brain could not serve, by task and the constraint that removed the last candidate.",
            ["task", "constraint"],
            registry=r,
        )
        self.catalog_models = Gauge(
            "mpc_catalog_models",
            "Models in the loaded catalog, by provider and modality.",
            ["provider", "modality"],
            registry=r,
        )
        self.jobs_submitted = Counter(
            "mpc_jobs_submitted_total",
            "Jobs created by this gateway (chat requests included), by queue class and task.",
            ["queue", "task"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "mpc_queue_depth",
            "Jobs waiting in each queue class (sampled every few seconds from Redis).",
            ["queue"],
            registry=r,
        )
        self.queue_oldest_age = Gauge(
            "mpc_queue_oldest_job_age_seconds",
            "Age of the oldest job waiting in each queue class (0 when none waits).",
            ["queue"],
            registry=r,
        )
        self.workers_live = Gauge(
            "mpc_workers_live",
            "Workers whose heartbeat is current, by queue class.",
            ["queue"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "mpc_breaker_state",
            "Provider circuit breaker as the gateway last read it: 0 closed, 1 half-open, 2 open.",
            ["provider"],
            registry=r,
        )


class WorkerMetrics:
    """A worker process's metrics (its own registry, served on its own port)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.jobs_finished = Counter(
            "mpc_jobs_finished_total",
            "Job attempts that ended, by queue class, task and outcome "
            "(succeeded, failed, canceled, superseded, requeued).",
            ["queue", "task", "outcome"],
            registry=r,
        )
        self.job_wait = Histogram(
            "mpc_job_wait_seconds",
            "Time from a job's submission to the start of its first attempt, by queue class.",
            ["queue"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.job_run = Histogram(
            "mpc_job_run_seconds",
            "Time one job attempt ran, by queue class and task.",
            ["queue", "task"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.jobs_in_progress = Gauge(
            "mpc_jobs_in_progress",
            "Jobs this worker is running, by queue class.",
            ["queue"],
            registry=r,
        )
        self.worker_up = Gauge(
            "mpc_worker_up",
            "1 while this worker process runs and accepts jobs, by queue class.",
            ["queue"],
            registry=r,
        )
        self.provider_duration = Histogram(
            "mpc_gen_ai_client_operation_duration_seconds",
            "Duration of one call to a model through LiteLLM (OTel gen_ai.client.operation.duration); "
            "error_type is empty on success.",
            ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "error_type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.time_to_first_chunk = Histogram(
            "mpc_gen_ai_client_operation_time_to_first_chunk_seconds",
            "Time from sending a streamed request to receiving its first chunk, by provider and model.",
            ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Histogram(
            "mpc_gen_ai_client_token_usage",
            "Tokens per call (OTel gen_ai.client.token.usage), by token type (input/output), provider, model.",
            ["gen_ai_token_type", "gen_ai_provider_name", "gen_ai_request_model"],
            buckets=TOKEN_BUCKETS,
            registry=r,
        )
        self.fallbacks = Counter(
            "mpc_fallbacks_total",
            "Times a model in the chain was given up for the next one, by the failed provider and why.",
            ["gen_ai_provider_name", "reason"],
            registry=r,
        )
        self.breaker_transitions = Counter(
            "mpc_breaker_transitions_total",
            "Provider circuit breaker state changes made by this worker.",
            ["provider", "from_state", "to_state"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "mpc_webhook_deliveries_total",
            "Webhook delivery attempts this worker made, by outcome (delivered, retrying, failed, expired, refused).",
            ["outcome"],
            registry=r,
        )
        self.webhook_delivery_duration = Histogram(
            "mpc_webhook_delivery_duration_seconds",
            "Time one webhook delivery attempt took, from connecting to the receiver's answer.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
