"""Every Redis key and key prefix MPC-API uses, in one place (arq's constants.py habit).

Keys are namespaced under `mpc:` so MPC-API can share a Redis with other software. The
arq queues themselves use arq's own key layout (`arq:job:…`, `arq:result:…`) under the
queue names defined here.
"""

from __future__ import annotations

PREFIX = "mpc:"

# arq queue (sorted set) names, one per queue class.
QUEUE_NAMES: dict[str, str] = {
    "interactive": f"{PREFIX}queue:interactive",
    "batch": f"{PREFIX}queue:batch",
    "media": f"{PREFIX}queue:media",
}

WORKER_INFO = f"{PREFIX}worker:"  # + queue class + ":" + worker id -> JSON description, short TTL
# + queue class -> sorted set: worker id scored by when its heartbeat runs out (Unix s).
# Readers count live workers here: never by scanning for the info keys, whose cost grows
# with everything else the database holds.
LIVE_WORKERS = f"{PREFIX}live_workers:"
LITELLM_SEEN = f"{PREFIX}litellm:seen"  # what the workers last saw of LiteLLM
BREAKER = f"{PREFIX}breaker:"  # + provider -> hash of breaker state
# + owner digest -> sorted set: the owner's video job ids by creation time (queues/video_index.py)
OWNER_VIDEOS = f"{PREFIX}videos:"
JOB = f"{PREFIX}job:"  # + job id -> hash: the job record
JOB_EVENTS_SUFFIX = ":events"  # job key + suffix -> stream of the job's events
JOB_CANCEL_SUFFIX = ":cancel"  # job key + suffix -> flag: cancel requested
VIDEO = f"{PREFIX}video:"  # + job id -> hash: the provider's video behind a video job (queues/videos.py)
# queues.schedule sorted set: video job ids by when their provider is next polled
VIDEO_POLLS = f"{PREFIX}video_polls"
FILE = f"{PREFIX}file:"  # + file id -> JSON: an upload's record (queues/files.py), expiring with it
IDEMPOTENCY = f"{PREFIX}idem:"  # + owner digest + ":" + key digest -> "job_id body_digest"
# Webhooks (queues/webhooks.py): a key's signing secrets, each delivery and its attempts, the
# schedule of deliveries due (queues/schedule.py), and each job's list of its deliveries.
WEBHOOK_SECRET = f"{PREFIX}webhook_secret:"  # + owner digest -> hash: current, previous, previous_until
WEBHOOK_DELIVERY = f"{PREFIX}webhook:delivery:"  # + delivery id -> hash: the delivery and its state
WEBHOOK_ATTEMPTS_SUFFIX = ":attempts"  # delivery key + suffix -> list of JSON attempts
WEBHOOK_DELIVERIES = f"{PREFIX}webhook_deliveries"  # sorted set: delivery ids by when due
JOB_WEBHOOKS_SUFFIX = ":webhooks"  # job key + suffix -> list of the job's delivery ids
# Managed API keys (queues/api_keys.py): each key's record by its SHA-256 digest, the names
# (name -> digest), a version bumped by every change (gateways reload when it moves), and the
# coarse last use of each key (written by gateways in batches, apart from the records so a
# use does not count as a change).
API_KEYS = f"{PREFIX}api_keys"  # hash: key digest -> JSON record
API_KEY_NAMES = f"{PREFIX}api_key_names"  # hash: name -> key digest
API_KEYS_VERSION = f"{PREFIX}api_keys:version"  # counter
API_KEYS_LAST_USED = f"{PREFIX}api_keys:last_used"  # hash: key digest -> Unix s
# Per-key limits (queues/limits.py): request and token counts of one minute window, and the
# jobs of one queue class that are counted against a key's concurrency.
RATE = f"{PREFIX}rate:"  # + owner + ":" + "rpm"|"tpm" + ":" + window number -> counter, 2 min TTL
RUNNING = f"{PREFIX}running:"  # + owner + ":" + queue class -> sorted set: job ids by deadline
# Pub/sub channels are server-wide: Redis does not scope them by database, so the
# database number is part of the name, or every worker on the server would wake for every
# database's jobs (measured: an idle worker at 22 % of a core beside a busy neighbour).
REPLICATED_CHANNEL = f"{PREFIX}replicated:"  # + db: job ids whose submission WAITs for replicas (nobody listens)
WAKE_CHANNEL = f"{PREFIX}wake:"  # + db + ":" + queue class: "a job was enqueued"
CANCEL_CHANNEL = f"{PREFIX}cancel:"  # + db: job ids whose cancel was requested
WEBHOOK_WAKE_CHANNEL = f"{PREFIX}webhook_wake:"  # + db: "a webhook delivery is due now"
# Fair share inside a queue class (queues/fair.py), all + queue class:
FAIR = f"{PREFIX}fair:"
FAIR_READY_SUFFIX = ":ready"  # sorted set: owners with jobs waiting, by virtual time
FAIR_SERVED_SUFFIX = ":served"  # sorted set: virtual times of owners with none waiting, pruned
FAIR_CLOCK_SUFFIX = ":clock"  # string: the class's virtual clock (highest virtual time served)
FAIR_LEASES_SUFFIX = ":leases"  # sorted set: claimed job ids by when their lease runs out (ms)
FAIR_WAITING_SUFFIX = ":waiting:"  # + owner digest -> list: the owner's waiting job ids, oldest first
FAIR_ADOPTED_SUFFIX = ":adopted"  # string: the jobs queued before fair share were listed once


def worker_info(queue_class: str, worker_id: str) -> str:
    return f"{WORKER_INFO}{queue_class}:{worker_id}"


def live_workers(queue_class: str) -> str:
    return f"{LIVE_WORKERS}{queue_class}"


def breaker(provider: str) -> str:
    return f"{BREAKER}{provider}"


def breaker_probe(provider: str) -> str:
    return f"{BREAKER}{provider}:probe"


def job(job_id: str) -> str:
    return f"{JOB}{job_id}"


def job_events(job_id: str) -> str:
    return f"{JOB}{job_id}{JOB_EVENTS_SUFFIX}"


def plan_steps(job_id: str) -> str:
    """A plan job's checkpoint: step id → its state (child job id, output), `queues.plan_state`."""
    return f"mpc:job:{job_id}:plan"


def job_cancel(job_id: str) -> str:
    return f"{JOB}{job_id}{JOB_CANCEL_SUFFIX}"


def video(job_id: str) -> str:
    return f"{VIDEO}{job_id}"


def webhook_secret(owner: str) -> str:
    return f"{WEBHOOK_SECRET}{owner}"


def webhook_delivery(delivery_id: str) -> str:
    return f"{WEBHOOK_DELIVERY}{delivery_id}"


def webhook_attempts(delivery_id: str) -> str:
    return f"{WEBHOOK_DELIVERY}{delivery_id}{WEBHOOK_ATTEMPTS_SUFFIX}"


def job_webhooks(job_id: str) -> str:
    return f"{JOB}{job_id}{JOB_WEBHOOKS_SUFFIX}"


def file(file_id: str) -> str:
    return f"{FILE}{file_id}"


def idempotency(owner: str, key_digest: str) -> str:
    return f"{IDEMPOTENCY}{owner}:{key_digest}"


def owner_videos(owner: str) -> str:
    return f"{OWNER_VIDEOS}{owner}"


def wake_channel(db: int, queue_class: str) -> str:
    return f"{WAKE_CHANNEL}{db}:{queue_class}"


def replication_marker(db: int) -> str:
    """The channel of the write a submission's WAIT is measured from (queues.replication)."""
    return f"{REPLICATED_CHANNEL}{db}"


def cancel_channel(db: int) -> str:
    return f"{CANCEL_CHANNEL}{db}"


def webhook_wake_channel(db: int) -> str:
    return f"{WEBHOOK_WAKE_CHANNEL}{db}"


def rate_prefix(owner: str, what: str) -> str:
    return f"{RATE}{owner}:{what}:"


def rate_window(owner: str, what: str, window: int) -> str:
    return f"{rate_prefix(owner, what)}{window}"


def running(owner: str, queue_class: str) -> str:
    return f"{RUNNING}{owner}:{queue_class}"


def fair_ready(queue_class: str) -> str:
    return f"{FAIR}{queue_class}{FAIR_READY_SUFFIX}"


def fair_served(queue_class: str) -> str:
    return f"{FAIR}{queue_class}{FAIR_SERVED_SUFFIX}"


def fair_clock(queue_class: str) -> str:
    return f"{FAIR}{queue_class}{FAIR_CLOCK_SUFFIX}"


def fair_leases(queue_class: str) -> str:
    return f"{FAIR}{queue_class}{FAIR_LEASES_SUFFIX}"


def fair_waiting_prefix(queue_class: str) -> str:
    return f"{FAIR}{queue_class}{FAIR_WAITING_SUFFIX}"


def fair_waiting(queue_class: str, owner: str) -> str:
    return f"{fair_waiting_prefix(queue_class)}{owner}"


def fair_adopted(queue_class: str) -> str:
    return f"{FAIR}{queue_class}{FAIR_ADOPTED_SUFFIX}"
