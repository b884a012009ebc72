"""Typed settings from `MPC_*` environment variables, shared by the gateway and the workers.

It lives in `queues` because that is the lowest package both `api` and `workers` may import
(see the package table in DESIGN.md). A wrong value stops start-up with a message that
names the variable; secret values are never echoed, only their variable names.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from catalog.loader import DEFAULT_CATALOG_PATH


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


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    redis_url: str = "redis://127.0.0.1:6379/0"
    litellm_base_url: str = "http://127.0.0.1:4000"
    litellm_api_key: Secret = msgspec.field(default_factory=lambda: Secret(""))
    api_key_hashes: tuple[str, ...] = ()
    catalog_path: Path = DEFAULT_CATALOG_PATH
    host: str = "127.0.0.1"
    port: int = 3000
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"
    worker_shutdown_grace_s: int = 25
    worker_handlers: str = ""  # extra handler modules, see workers.registry
    breaker_cool_off_s: float = 10.0  # how long an open provider breaker refuses calls
    worker_metrics_port: int = 0  # a worker's own /metrics port (0: not served)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_key_hashes)


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from the environment; raise `SettingsError` naming the variable."""
    env = os.environ if environ is None else environ
    kwargs: dict[str, object] = {}
    if "MPC_REDIS_URL" in env:
        kwargs["redis_url"] = _url(env, "MPC_REDIS_URL", schemes=("redis", "rediss", "unix"))
    if "MPC_LITELLM_BASE_URL" in env:
        kwargs["litellm_base_url"] = _url(env, "MPC_LITELLM_BASE_URL", schemes=("http", "https")).rstrip("/")
    if "MPC_LITELLM_API_KEY" in env:
        kwargs["litellm_api_key"] = Secret(env["MPC_LITELLM_API_KEY"].strip())
    if "MPC_API_KEYS" in env:
        kwargs["api_key_hashes"] = _api_key_hashes(env["MPC_API_KEYS"])
    if "MPC_CATALOG_PATH" in env:
        kwargs["catalog_path"] = Path(env["MPC_CATALOG_PATH"])
    if "MPC_HOST" in env:
        kwargs["host"] = env["MPC_HOST"].strip() or "127.0.0.1"
    if "MPC_PORT" in env:
        kwargs["port"] = _int(env, "MPC_PORT", low=1, high=65535)
    if "MPC_MAX_BODY_BYTES" in env:
        kwargs["max_body_bytes"] = _int(env, "MPC_MAX_BODY_BYTES", low=1024, high=256 * 1024 * 1024)
    if "MPC_LOG_LEVEL" in env:
        level = env["MPC_LOG_LEVEL"].strip().upper()
        if level not in _LOG_LEVELS:
            raise SettingsError(f"MPC_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {level!r}")
        kwargs["log_level"] = level
    if "MPC_WORKER_SHUTDOWN_GRACE_S" in env:
        kwargs["worker_shutdown_grace_s"] = _int(env, "MPC_WORKER_SHUTDOWN_GRACE_S", low=0, high=3600)
    if "MPC_BREAKER_COOL_OFF_S" in env:
        kwargs["breaker_cool_off_s"] = float(_int(env, "MPC_BREAKER_COOL_OFF_S", low=1, high=3600))
    if "MPC_WORKER_METRICS_PORT" in env:
        kwargs["worker_metrics_port"] = _int(env, "MPC_WORKER_METRICS_PORT", low=0, high=65535)
    if "MPC_WORKER_HANDLERS" in env:
        kwargs["worker_handlers"] = env["MPC_WORKER_HANDLERS"].strip()
    return Settings(**kwargs)  # type: ignore[arg-type]


def _int(env: Mapping[str, str], name: str, *, low: int, high: int) -> int:
    raw = env[name].strip()
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _url(env: Mapping[str, str], name: str, *, schemes: tuple[str, ...]) -> str:
    raw = env[name].strip()
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not (parts.netloc or parts.scheme == "unix"):
        # The URL may carry a password: name the variable and the expected form, not the value.
        raise SettingsError(f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return raw


def _api_key_hashes(raw: str) -> tuple[str, ...]:
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    for key in keys:
        if len(key) < 16:
            raise SettingsError("MPC_API_KEYS: every key must be at least 16 characters long")
    return tuple(sorted({hash_api_key(k) for k in keys}))
