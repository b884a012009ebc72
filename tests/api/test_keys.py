"""Managed API keys through the gateway: `/api/admin/keys`, scopes, revocation on every gateway."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import redis as sync_redis

from api.app import create_app
from api.auth import ROUTE_SCOPES, required_scope
from catalog import Catalog
from queues import keys
from queues.settings import Settings, hash_api_key
from tests.support.auth import AUTH
from tests.support.envelopes import assert_envelope
from tests.support.servers import running_server
from tests.support.waiting import wait_until


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _create(client: httpx.Client, **body: object) -> str:
    made = client.post("/api/admin/keys", json=body)
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    key = made.json()["key"]
    assert isinstance(key, str) and key.startswith("mpc_")
    return key


def test_a_new_key_has_every_scope_but_admin_and_is_kept_as_a_digest(client: httpx.Client, redis_url: str) -> None:
    key = _create(client, name="platform-a")
    with httpx.Client(base_url=str(client.base_url), headers=_bearer(key), timeout=10) as own:
        # The bootstrap refresh loop is not waited for: the creating gateway reloads within 0.5 s.
        assert wait_until(lambda: own.post("/api/select-model", json={"task": "tts"}).status_code == 200, timeout=2)
        refused = own.get("/api/admin/keys")
        error = assert_envelope(refused, 403, "missing_scope")
        assert "'admin'" in error["message"]
        job = own.post("/api/jobs", json={"task": "nope"})
        assert job.status_code == 422  # past auth: the jobs scope is there
    stored = sync_redis.Redis.from_url(redis_url)
    try:
        digest = hash_api_key(key)
        assert stored.hexists(keys.API_KEYS, digest)
        everything = b"".join(
            k + b"".join(v for pair in stored.hgetall(k).items() for v in pair) if stored.type(k) == b"hash" else k
            for k in stored.keys("mpc:api_key*")
        )
        assert key.encode() not in everything
    finally:
        stored.close()
    # The gateway writes a key's coarse last use in its background refresh.
    assert wait_until(lambda: client.get("/api/admin/keys").json()["data"][0]["last_used_at"] is not None, timeout=2)
    listed = client.get("/api/admin/keys").json()["data"]
    assert [entry["name"] for entry in listed] == ["platform-a"]
    assert abs(listed[0]["last_used_at"] - time.time()) < 60
    assert listed[0]["scopes"] == ["select", "chat", "jobs", "media"]
    assert key not in str(listed) and digest not in str(listed)


def test_a_request_outside_the_keys_scopes_is_a_403_naming_the_scope(client: httpx.Client) -> None:
    key = _create(client, name="selector", scopes=["select"])
    with httpx.Client(base_url=str(client.base_url), headers=_bearer(key), timeout=10) as own:
        assert wait_until(lambda: own.post("/api/select-model", json={"task": "tts"}).status_code == 200, timeout=2)
        chat = own.post("/api/chat/completions", json={"model": "x", "messages": []})
        assert "'chat'" in assert_envelope(chat, 403, "missing_scope")["message"]
        assert "'jobs'" in assert_envelope(own.get("/api/jobs/job_x"), 403, "missing_scope")["message"]
        assert "'media'" in assert_envelope(own.get("/api/videos"), 403, "missing_scope")["message"]
        assert own.get("/api/tasks").status_code == 200


def test_owner_of_a_managed_key_is_neither_the_key_nor_its_digest(client: httpx.Client, redis_url: str) -> None:
    key = _create(client, name="owner-check", scopes=["jobs"])
    with httpx.Client(base_url=str(client.base_url), headers=_bearer(key), timeout=10) as own:
        assert wait_until(lambda: own.get("/api/jobs/job_nope").status_code == 404, timeout=2)
        submitted = own.post(
            "/api/jobs", json={"task": "summarize", "input": {"messages": [{"role": "user", "content": "hi"}]}}
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        # Updating the key keeps its owner: its job is still its own.
        assert client.patch("/api/admin/keys/owner-check", json={"rpm": 1000}).status_code == 200
        time.sleep(0.7)
        assert own.get(f"/api/jobs/{job_id}").status_code == 200
    stored = sync_redis.Redis.from_url(redis_url)
    try:
        owner = stored.hget(keys.job(job_id), "owner")
    finally:
        stored.close()
    assert owner is not None and owner.startswith(b"key_")
    assert owner.decode() not in (key, hash_api_key(key))


@pytest.fixture
def two_gateways(settings: Settings, catalog: Catalog) -> Iterator[tuple[str, str]]:
    with running_server(create_app(settings, catalog)) as one, running_server(create_app(settings, catalog)) as two:
        yield one, two


def test_revocation_counts_on_every_gateway_within_a_second(two_gateways: tuple[str, str]) -> None:
    one, two = two_gateways
    with httpx.Client(base_url=one, headers=AUTH, timeout=10) as admin:
        key = _create(admin, name="short-lived")
        for base in two_gateways:
            assert wait_until(
                lambda base=base: httpx.get(f"{base}/api/tasks", headers=_bearer(key)).status_code == 200, timeout=2
            )
        assert admin.delete("/api/admin/keys/short-lived").json() == {
            "object": "api_key",
            "name": "short-lived",
            "revoked": True,
        }
        revoked_at = time.monotonic()
    # Neither gateway holds a request: each learns it in its own background refresh.
    for base in (two, one):
        while (answer := httpx.get(f"{base}/api/tasks", headers=_bearer(key))).status_code != 401:
            assert time.monotonic() - revoked_at < 1.0, "the revoked key still worked after 1 s"
            time.sleep(0.02)
        assert_envelope(answer, 401, "invalid_api_key")


def test_admin_keys_errors_are_enveloped(client: httpx.Client) -> None:
    assert_envelope(client.post("/api/admin/keys", json={"name": "bad name"}), 400, "invalid_value")
    error = assert_envelope(client.post("/api/admin/keys", json={"name": "x", "scopes": ["root"]}), 400)
    assert error["param"] == "scopes" and "root" in error["message"]
    assert assert_envelope(client.post("/api/admin/keys", json={"name": "x", "rpm": 0}), 400)["param"] == "rpm"
    error = assert_envelope(client.post("/api/admin/keys", json={"name": "x", "concurrency": {"gpu": 1}}), 400)
    assert error["param"] == "concurrency"
    assert_envelope(client.post("/api/admin/keys", json={"name": "x", "color": "red"}), 422)
    _create(client, name="taken")
    assert_envelope(client.post("/api/admin/keys", json={"name": "taken"}), 409, "key_exists")
    assert_envelope(client.patch("/api/admin/keys/ghost", json={"rpm": 5}), 404, "key_not_found")
    assert_envelope(client.delete("/api/admin/keys/ghost"), 404, "key_not_found")
    changed = client.patch("/api/admin/keys/taken", json={"tpm": 500, "concurrency": {"media": 2}, "scopes": ["chat"]})
    assert changed.json()["limits"] == {"tpm": 500, "concurrency": {"media": 2}}
    cleared = client.patch("/api/admin/keys/taken", json={"tpm": None, "concurrency": {"media": None}})
    assert cleared.json()["limits"] == {} and cleared.json()["scopes"] == ["chat"]


def test_every_authenticated_route_declares_its_scope(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    authenticated = [p for p in paths if p.startswith("/api/") and not p.startswith("/api/artifacts/")]
    assert authenticated
    for path in authenticated:
        assert required_scope(path) in {scope for _, scope in ROUTE_SCOPES}
