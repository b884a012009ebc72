from __future__ import annotations

import pytest

from queues.settings import Secret, SettingsError, hash_api_key, load_settings


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
