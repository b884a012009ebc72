from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from queues.settings import Secret, SettingsError, configuration_rows, hash_api_key, load_settings

REPO = Path(__file__).resolve().parents[2]


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.port == 3000
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.api_key_hashes == ()


def test_reads_every_variable() -> None:
    settings = load_settings(
        {
            "MPC_REDIS_URL": "redis://:pw@10.0.0.1:6380/2",
            "MPC_LITELLM_BASE_URL": "http://litellm:4000/",
            "MPC_LITELLM_API_KEY": "sk-litellm-master",
            "MPC_API_KEYS": "key-aaaaaaaaaaaaaaaa, key-bbbbbbbbbbbbbbbb",
            "MPC_CATALOG_PATH": "/tmp/c.json",
            "MPC_PORT": "3100",
            "MPC_MAX_BODY_BYTES": "2048",
            "MPC_LOG_LEVEL": "debug",
        }
    )
    assert settings.port == 3100
    assert settings.litellm_base_url == "http://litellm:4000"
    assert settings.litellm_api_key.reveal() == "sk-litellm-master"
    assert settings.api_key_hashes == tuple(
        sorted(hash_api_key(k) for k in ("key-aaaaaaaaaaaaaaaa", "key-bbbbbbbbbbbbbbbb"))
    )
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MPC_PORT", "abc", "MPC_PORT must be a whole number"),
        ("MPC_PORT", "70000", "MPC_PORT must be between 1 and 65535"),
        ("MPC_REDIS_URL", "http://secret-host:6379", "MPC_REDIS_URL must be a URL starting with redis://"),
        ("MPC_LITELLM_BASE_URL", "litellm:4000", "MPC_LITELLM_BASE_URL must be a URL starting with http://"),
        ("MPC_API_KEYS", "short", "every key must be at least 16 characters"),
        ("MPC_LOG_LEVEL", "loud", "MPC_LOG_LEVEL must be one of"),
    ],
)
def test_bad_values_stop_with_a_message_naming_the_variable(name: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({name: value})
    assert expected in str(caught.value)


def test_bad_urls_and_keys_are_never_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"MPC_REDIS_URL": "http://user:hunter2-secret@host"})
    assert "hunter2" not in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        load_settings({"MPC_API_KEYS": "tooshortsecret"})
    assert "tooshortsecret" not in str(caught.value)


def test_secret_never_shows_itself() -> None:
    secret = Secret("sk-very-secret")
    assert "sk-very-secret" not in repr(secret)
    assert "sk-very-secret" not in str(secret)
    assert "sk-very-secret" not in f"{secret} {secret!r}"
    settings = load_settings({"MPC_LITELLM_API_KEY": "sk-very-secret"})
    assert "sk-very-secret" not in repr(settings)


# A value each variable refuses. Variables that take any text have none: they are listed
# apart, so that a new variable must be added to one or the other.
REFUSED = {
    "MPC_API_KEYS": "key-aaaaaaaaaaaaaaaa,short",
    "MPC_HOST": None,
    "MPC_PORT": "0",
    "MPC_MAX_BODY_BYTES": "12",
    "MPC_HEADER_TIMEOUT_S": "0",
    "MPC_BODY_TIMEOUT_S": "forever",
    "MPC_MAX_HEADER_BYTES": "100",
    "MPC_MAX_STREAMS_PER_KEY": "0",
    "MPC_CORS_ORIGINS": "https://app.example.com/path",
    "MPC_REDIS_URL": "redis:///0",
    "MPC_REDIS_ACK_REPLICAS": "one",
    "MPC_REDIS_ACK_TIMEOUT_MS": "0",
    "MPC_CATALOG_PATH": None,
    "MPC_LOG_LEVEL": "TRACE",
    "MPC_LITELLM_BASE_URL": "ftp://litellm",
    "MPC_LITELLM_API_KEY": None,
    "MPC_WORKER_HANDLERS": None,
    "MPC_WORKER_SHUTDOWN_GRACE_S": "-1",
    "MPC_WORKER_MAX_JOBS": "1025",
    "MPC_WORKER_METRICS_PORT": "65536",
    "MPC_BREAKER_COOL_OFF_S": "1.5",
    "MPC_ARTIFACTS_URL": "relative/artifacts",
    "MPC_ARTIFACTS_S3_ENDPOINT": "minio:9000",
    "MPC_ARTIFACTS_S3_REGION": None,
    "MPC_ARTIFACTS_SIGNING_KEY": "too-short-for-a-key",
    "MPC_ARTIFACT_URL_TTL_S": "30",
    "MPC_MAX_UPLOAD_BYTES": "1",
    "MPC_PUBLIC_URL": "gateway.example.com",
    "MPC_EMBED_TIMEOUT_S": "0",
    "MPC_IMAGE_TIMEOUT_S": "3601",
    "MPC_SPEECH_TIMEOUT_S": "fast",
    "MPC_TRANSCRIBE_TIMEOUT_S": "-5",
    "MPC_OUTBOUND_ALLOW": "10.0.0.0/8,not a host",
    "MPC_RESULT_TTL_S": "9",
    "MPC_EXPIRED_GRACE_S": "5",
}


def test_every_declared_variable_has_a_refusal_case_or_takes_any_text() -> None:
    assert set(REFUSED) == {name for name, _, _ in configuration_rows()}


@pytest.mark.parametrize("name", [name for name, value in REFUSED.items() if value is not None])
def test_every_refusal_names_its_variable_first(name: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({name: REFUSED[name]})
    assert str(caught.value).startswith(f"{name} must be ")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MPC_REDIS_URL", "http://user:hunter2-secret@host:6379"),
        ("MPC_REDIS_URL", "redis:///hunter2-secret"),
        ("MPC_REDIS_URL", "redis+sentinel://:hunter2-secret@s1:26379"),
        ("MPC_REDIS_URL", "rediss://user:hunter2-secret@host:port/0"),
        ("MPC_LITELLM_BASE_URL", "litellm:hunter2-secret@host"),
        ("MPC_API_KEYS", "key-aaaaaaaaaaaaaaaa,hunter2-secret"),
        ("MPC_ARTIFACTS_SIGNING_KEY", "hunter2-secret"),
    ],
)
def test_a_refused_secret_is_in_no_part_of_the_error(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({name: value})
    shown = "".join(traceback.format_exception(caught.value))  # the message and any chained cause
    assert name in shown and "hunter2" not in shown


def test_a_refused_value_that_is_no_secret_is_echoed() -> None:
    with pytest.raises(SettingsError, match=r"^MPC_WORKER_SHUTDOWN_GRACE_S must be between 0 and 3600, got '7200'$"):
        load_settings({"MPC_WORKER_SHUTDOWN_GRACE_S": "7200"})


def test_a_blank_host_means_the_default_and_values_are_stripped() -> None:
    settings = load_settings({"MPC_HOST": "  ", "MPC_PORT": " 3100 ", "MPC_WORKER_HANDLERS": " tests.x "})
    assert (settings.host, settings.port, settings.worker_handlers) == ("127.0.0.1", 3100, "tests.x")


def test_the_rows_show_every_default_as_load_settings_applies_it() -> None:
    rows = {name: default for name, default, _ in configuration_rows()}
    defaults = load_settings({})
    assert rows["MPC_PORT"] == f"`{defaults.port}`"
    assert rows["MPC_BREAKER_COOL_OFF_S"] == f"`{defaults.breaker_cool_off_s}`"
    assert rows["MPC_LITELLM_API_KEY"] == "—" and not defaults.litellm_api_key
    assert defaults.catalog_path.relative_to(REPO).as_posix() in rows["MPC_CATALOG_PATH"]


def test_retention_is_refused_below_ten_seconds_with_its_bounds() -> None:
    with pytest.raises(SettingsError, match=r"^MPC_RESULT_TTL_S must be a whole number of seconds from 10 to 2592000"):
        load_settings({"MPC_RESULT_TTL_S": "1h"})
    with pytest.raises(SettingsError, match=r"^MPC_EXPIRED_GRACE_S must be between 10 and 2592000, got '5'$"):
        load_settings({"MPC_EXPIRED_GRACE_S": "5"})
    settings = load_settings({"MPC_RESULT_TTL_S": "10", "MPC_EXPIRED_GRACE_S": "10"})
    assert (settings.result_ttl_s, settings.expired_grace_s) == (10, 10)
    assert (load_settings({}).result_ttl_s, load_settings({}).expired_grace_s) == (None, 86400)
