"""Typed settings from `MPC_*` environment variables, shared by the gateway and the workers.

It lives in `queues` because that is the lowest package both `api` and `workers` may import.
Every variable is declared once, as a field of `Settings`: the field's type (with msgspec
bounds) and default, and an `EnvVar` saying what it means and how its text is read. From those
declarations `load_settings` reads the environment and `configuration_rows` lists the
variables for the README. A wrong value stops start-up with a message that names the
variable; a secret's value is never echoed, only its variable's name.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

import msgspec

from catalog.loader import DEFAULT_CATALOG_PATH
from queues.redis import ReplicaAcks
from queues.redis_url import check_redis_url, uses_sentinel


class SettingsError(ValueError):
    """A `MPC_*` variable has a value we cannot use."""


class Secret:
    """A string that never shows itself in `repr`, `str`, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__


def hash_api_key(key: str) -> str:
    """The form in which API keys are kept in memory and compared (and owners recorded)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class EnvVar:
    """How one `Settings` field is set from the environment, and what it means.

    The variable is `MPC_` + the field's name in capitals unless `env` names it. `read` turns
    the variable's text (stripped) into what msgspec converts to the field's type, or raises
    `ValueError` saying what the value must be. A `secret` value is never echoed: keys, and
    URLs, which may carry a password.
    """

    description: str
    env: str | None = None
    secret: bool = False
    read: Callable[[str], object] | None = None
    blank_is_default: bool = False
    shown_default: str | None = None  # the README's words for the default, where its value says too little


MIN_API_KEY_CHARS = 16
MIN_SIGNING_KEY_CHARS = 32
DEFAULT_ARTIFACTS_DIR = Path(tempfile.gettempdir()) / "mpc-api-artifacts"
DEFAULT_BREAKER_COOL_OFF_S = 10  # `queues.breakers` takes its own default from here
MAX_ACK_REPLICAS = 16
# How long a finished job's record outlives its result (`MPC_EXPIRED_GRACE_S`), so it can
# still read `expired`; `queues.retention` takes its own default from here.
DEFAULT_EXPIRED_GRACE_S = 86400
# Bounds of the retention settings: below a few seconds a client could not read its result
# at all; beyond 30 days Redis holds a month of jobs.
MIN_RETENTION_S = 10
MAX_RETENTION_S = 30 * 86400
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


def _api_key_hashes(raw: str) -> tuple[str, ...]:
    keys = {key.strip() for key in raw.split(",") if key.strip()}
    if any(len(key) < MIN_API_KEY_CHARS for key in keys):
        raise ValueError(f"comma-separated keys; every key must be at least {MIN_API_KEY_CHARS} characters long")
    return tuple(sorted(hash_api_key(key) for key in keys))


def _url(*schemes: str) -> Callable[[str], str]:
    """A reader that accepts a URL with one of `schemes` and a host (unix:// needs none)."""
    expected = "a URL starting with " + " or ".join(f"{scheme}://" for scheme in schemes)

    def read(raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not (parts.netloc or parts.scheme == "unix"):
            raise ValueError(expected)
        return raw

    return read


_http_url = _url("http", "https")


def _replica_count(raw: str) -> int:
    if not raw.isdigit() or int(raw) > MAX_ACK_REPLICAS:
        raise ValueError(f"a whole number from 0 to {MAX_ACK_REPLICAS}")
    return int(raw)


def _retention_s(raw: str) -> int:
    if not raw.isdigit() or not MIN_RETENTION_S <= int(raw) <= MAX_RETENTION_S:
        raise ValueError(f"a whole number of seconds from {MIN_RETENTION_S} to {MAX_RETENTION_S}")
    return int(raw)


def _base_url(raw: str) -> str:
    return _http_url(raw).rstrip("/")


def _store_url(raw: str) -> str:
    """file:///absolute/dir, an absolute path, or s3://bucket[/prefix] (as `artifacts` reads it)."""
    parts = urlsplit(raw)
    if parts.scheme == "s3" and parts.netloc:
        return raw
    if (parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/")) or (
        not parts.scheme and raw.startswith("/")
    ):
        return raw
    raise ValueError("file:///absolute/dir, an absolute path, or s3://bucket/prefix")


def _outbound_allow(raw: str) -> tuple[str, ...]:
    entries = tuple(entry.strip().lower() for entry in raw.split(",") if entry.strip())
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            if not _HOST.match(entry):
                raise ValueError("comma-separated host names or CIDRs (like 10.0.0.0/8, localhost)") from None
    return entries


_HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*$")


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())
    for origin in origins:
        parts = urlsplit(origin)
        if origin != "*" and (parts.scheme not in ("http", "https") or not parts.netloc or parts.path):
            raise ValueError("comma-separated origins like https://app.example.com (scheme and host, no path), or *")
    return origins


def _signing_key(raw: str) -> str:
    if len(raw) < MIN_SIGNING_KEY_CHARS:
        raise ValueError(f"at least {MIN_SIGNING_KEY_CHARS} characters (random, the same in every process)")
    return raw


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the gateway and the workers read from `MPC_*` variables (see `EnvVar`)."""

    # The gateway
    api_key_hashes: Annotated[
        tuple[str, ...],
        EnvVar(
            f"comma-separated client keys (≥ {MIN_API_KEY_CHARS} chars), kept as SHA-256 digests",
            env="MPC_API_KEYS",
            secret=True,
            read=_api_key_hashes,
            shown_default="— (required by `serve`)",
        ),
    ] = ()
    host: Annotated[
        str, EnvVar("listen address of the gateway and of a worker's `/metrics`", blank_is_default=True)
    ] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535), EnvVar("gateway listen port")] = 3000
    max_body_bytes: Annotated[
        int,
        msgspec.Meta(ge=1024, le=256 * 1024 * 1024),
        EnvVar("request body cap (413 beyond)", shown_default="1 MiB"),
    ] = 1024 * 1024
    header_timeout_s: Annotated[
        int,
        msgspec.Meta(ge=1, le=600),
        EnvVar("seconds a request's line and headers may take to arrive (408 and the connection closed beyond)"),
    ] = 15
    body_timeout_s: Annotated[
        int,
        msgspec.Meta(ge=1, le=600),
        EnvVar("seconds a request body may send nothing (408 and the connection closed beyond)"),
    ] = 15
    max_header_bytes: Annotated[
        int,
        msgspec.Meta(ge=1024, le=1024 * 1024),
        EnvVar("cap on a request's line and headers together (431 beyond)", shown_default="16 KiB"),
    ] = 16 * 1024
    max_streams_per_key: Annotated[
        int,
        msgspec.Meta(ge=1, le=100_000),
        EnvVar("open event streams (SSE: chat streams, job events) per API key and gateway process (429 beyond)"),
    ] = 32
    cors_origins: Annotated[
        tuple[str, ...],
        EnvVar(
            "comma-separated origins browsers may call the gateway from (`*` for any); unset: CORS off",
            read=_origins,
        ),
    ] = ()
    # Gateway and workers
    redis_url: Annotated[
        str,
        EnvVar(
            "Redis for queues, records, streams, breakers: `redis://`, `rediss://` (TLS), `unix://` or "
            "`redis+sentinel://host:port[,host:port…]/service[/db]` ([docs/scaling.md](docs/scaling.md))",
            secret=True,
            read=check_redis_url,
        ),
    ] = "redis://127.0.0.1:6379/0"
    redis_ack_replicas: Annotated[
        int | None,
        EnvVar(
            "replicas that must confirm a job's submission (Redis `WAIT`) before it is acknowledged; "
            "503 with `Retry-After` when they do not in time",
            read=_replica_count,
            shown_default="`1` with a Sentinel URL, else `0`",
        ),
    ] = None
    redis_ack_timeout_ms: Annotated[
        int,
        msgspec.Meta(ge=1, le=60_000),
        EnvVar("how long a submission waits for those replicas (milliseconds)"),
    ] = 1000
    catalog_path: Annotated[Path, EnvVar("model catalog", shown_default="`catalog/model_catalog.json`")] = (
        DEFAULT_CATALOG_PATH
    )
    log_level: Annotated[LogLevel, EnvVar("JSON logs on stderr", read=str.upper)] = "INFO"
    # Retention: how long finished jobs stay in Redis (records, events, plan state) and their
    # artifacts in the store; Redis memory grows with it (docs/capacity.md).
    result_ttl_s: Annotated[
        int | None,
        EnvVar(
            "how long a finished job's output is kept (seconds), then it reads `expired`; set, it applies "
            "to every queue class (give the gateway and every worker the same)",
            read=_retention_s,
            shown_default="the queue class's: interactive `3600`, batch and media `86400`",
        ),
    ] = None
    expired_grace_s: Annotated[
        int,
        msgspec.Meta(ge=MIN_RETENTION_S, le=MAX_RETENTION_S),
        EnvVar("how long a job's record outlives its output, reading `expired` (seconds); then it is gone (404)"),
    ] = DEFAULT_EXPIRED_GRACE_S
    # The workers
    litellm_base_url: Annotated[str, EnvVar("LiteLLM proxy (workers only)", secret=True, read=_base_url)] = (
        "http://127.0.0.1:4000"
    )
    litellm_api_key: Annotated[Secret, EnvVar("LiteLLM master key (workers only)", secret=True)] = msgspec.field(
        default_factory=lambda: Secret("")
    )
    worker_handlers: Annotated[str, EnvVar("comma-separated modules whose `HANDLERS` a worker adds to its own")] = ""
    worker_shutdown_grace_s: Annotated[
        int, msgspec.Meta(ge=0, le=3600), EnvVar("SIGTERM grace for running jobs (seconds)")
    ] = 25
    worker_max_jobs: Annotated[
        int,
        msgspec.Meta(ge=0, le=1024),
        EnvVar(
            "jobs one worker process runs at once",
            shown_default="`0` (the queue class's: interactive 64, batch 16, media 16)",
        ),
    ] = 0
    worker_metrics_port: Annotated[
        int, msgspec.Meta(ge=0, le=65535), EnvVar("a worker's own `/metrics` port", shown_default="`0` (off)")
    ] = 0
    breaker_cool_off_s: Annotated[
        int, msgspec.Meta(ge=1, le=3600), EnvVar("how long an open provider breaker refuses calls (seconds)")
    ] = DEFAULT_BREAKER_COOL_OFF_S
    # Media: artifacts (binary outputs and uploads) and provider call timeouts
    artifacts_url: Annotated[
        str,
        EnvVar(
            "where artifacts live: a directory every gateway and worker shares (file:///dir) or s3://bucket/prefix",
            read=_store_url,
            shown_default="`file://$TMPDIR/mpc-api-artifacts`",
        ),
    ] = DEFAULT_ARTIFACTS_DIR.as_uri()
    artifacts_s3_endpoint: Annotated[
        str,
        EnvVar(
            "an S3-compatible server (MinIO, …) for s3:// artifacts; unset: AWS",
            read=_base_url,
            blank_is_default=True,
        ),
    ] = ""
    artifacts_s3_region: Annotated[str, EnvVar("region of the s3:// artifacts bucket")] = "us-east-1"
    artifacts_signing_key: Annotated[
        Secret,
        EnvVar(
            f"signs artifact links of a local store (≥ {MIN_SIGNING_KEY_CHARS} chars, the same in every gateway)",
            secret=True,
            read=_signing_key,
            shown_default="— (derived from `MPC_API_KEYS`)",
        ),
    ] = msgspec.field(default_factory=lambda: Secret(""))
    artifact_url_ttl_s: Annotated[
        int, msgspec.Meta(ge=60, le=7 * 86400), EnvVar("how long a signed artifact link works (seconds)")
    ] = 3600
    max_upload_bytes: Annotated[
        int,
        msgspec.Meta(ge=1024, le=5 * 1024**3),
        EnvVar("cap on an upload (`POST /api/files`) and on fetched audio (413 beyond)", shown_default="25 MiB"),
    ] = 25 * 1024 * 1024
    public_url: Annotated[
        str,
        EnvVar(
            "the gateway's public base URL, for absolute artifact links; unset: the request's own",
            read=_base_url,
            blank_is_default=True,
        ),
    ] = ""
    embed_timeout_s: Annotated[int, msgspec.Meta(ge=1, le=3600), EnvVar("one embeddings call (seconds)")] = 60
    image_timeout_s: Annotated[int, msgspec.Meta(ge=1, le=3600), EnvVar("one image generation call (seconds)")] = 300
    speech_timeout_s: Annotated[int, msgspec.Meta(ge=1, le=3600), EnvVar("one speech synthesis call (seconds)")] = 300
    transcribe_timeout_s: Annotated[
        int, msgspec.Meta(ge=1, le=3600), EnvVar("one transcription call, audio download included (seconds)")
    ] = 600

    outbound_allow: Annotated[
        tuple[str, ...],
        EnvVar(
            "private, loopback or link-local hosts or CIDRs that outbound fetches and webhooks may reach "
            "(all others are refused)",
            read=_outbound_allow,
        ),
    ] = ()

    def replica_acks(self) -> ReplicaAcks:
        """How job submissions are acknowledged: by default, with Sentinel (where a failover
        can promote a replica that missed a write), once one replica has the job."""
        replicas = self.redis_ack_replicas
        if replicas is None:
            replicas = 1 if uses_sentinel(self.redis_url) else 0
        return ReplicaAcks(replicas=replicas, timeout_ms=self.redis_ack_timeout_ms)

    def artifact_store_options(self) -> dict[str, Any]:
        """Keyword arguments for `artifacts.StoreConfig` (this package may not import it)."""
        return {
            "url": self.artifacts_url,
            "s3_endpoint": self.artifacts_s3_endpoint or None,
            "s3_region": self.artifacts_s3_region,
            "url_ttl_s": self.artifact_url_ttl_s,
            "max_upload_bytes": self.max_upload_bytes,
        }

    def artifact_signing_key(self) -> bytes:
        """The key for local artifact links: the configured one, else one derived from the
        client keys (so every gateway with the same keys agrees, and rotating the keys
        retires old links). Workers never mint links clients see, so any key serves them."""
        if self.artifacts_signing_key:
            return self.artifacts_signing_key.reveal().encode()
        material = "\n".join(("mpc-api artifact links", *self.api_key_hashes))
        return hashlib.sha256(material.encode()).hexdigest().encode()


@dataclass(frozen=True, slots=True)
class Variable:
    """One declared variable, as `load_settings` and `configuration_rows` use it."""

    name: str
    field: str
    var: EnvVar
    kind: Any  # the field's annotated type: what msgspec converts to, bounds included
    default: object

    def shown_default(self) -> str:
        if self.var.shown_default is not None:
            return self.var.shown_default
        unset = not self.default and not isinstance(self.default, int)  # "", () or an empty Secret
        return "—" if unset else f"`{self.default}`"


def _declared() -> tuple[Variable, ...]:
    variables = []
    for field in msgspec.structs.fields(Settings):
        var = next(meta for meta in field.type.__metadata__ if isinstance(meta, EnvVar))
        default = field.default if field.default_factory is msgspec.NODEFAULT else field.default_factory()
        name = var.env or f"MPC_{field.name.upper()}"
        variables.append(Variable(name, field.name, var, field.type, default))
    return tuple(variables)


VARIABLES = _declared()


def configuration_rows() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) of every variable, in declaration order: the README's table."""
    return [(v.name, v.shown_default(), v.var.description) for v in VARIABLES]


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from the environment; raise `SettingsError` naming the variable."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for variable in VARIABLES:
        raw = env.get(variable.name)
        if raw is None or (variable.var.blank_is_default and not raw.strip()):
            continue
        values[variable.field] = _value(variable, raw.strip())
    return msgspec.structs.replace(Settings(), **values)


def _value(variable: Variable, raw: str) -> object:
    # The SettingsError is raised outside the `except` blocks so that no chained exception
    # (msgspec's messages quote values) can carry a secret into a traceback.
    expected: str
    try:
        value = variable.var.read(raw) if variable.var.read is not None else raw
    except ValueError as exc:
        expected = str(exc)
    else:
        try:
            return msgspec.convert(value, variable.kind, strict=False, dec_hook=_from_text)
        except msgspec.ValidationError:
            expected = _expected(variable.kind, value)
    shown = "" if variable.var.secret else f", got {raw!r}"
    raise SettingsError(f"{variable.name} must be {expected}{shown}")


def _from_text(kind: type, value: Any) -> Any:
    if kind in (Path, Secret) and isinstance(value, str):
        return kind(value)
    raise NotImplementedError


def _expected(kind: Any, value: object) -> str:
    """What a value of `kind` must be, worded for someone who set a wrong `value`."""
    info = msgspec.inspect.type_info(kind)
    if isinstance(info, msgspec.inspect.LiteralType):
        return "one of " + ", ".join(get_args(kind.__origin__))  # as declared (msgspec sorts them)
    if isinstance(info, msgspec.inspect.IntType):
        try:
            msgspec.convert(value, int, strict=False)
        except msgspec.ValidationError:
            return "a whole number"
        return f"between {info.ge} and {info.le}"
    return "a valid value"
