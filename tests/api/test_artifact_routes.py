"""A job's artifacts through the gateway: the API-key route and the signed links, with Range,
ETag/If-None-Match, 416 and 403, written by a real worker through the real store."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest
import redis

from api.app import create_app
from artifacts import StoreConfig, UrlSigner, open_store
from catalog import Catalog
from queues import keys
from queues.settings import Settings
from tests.support.artifacts import sample, stream
from tests.support.auth import AUTH, OTHER_AUTH
from tests.support.envelopes import assert_envelope
from tests.support.servers import running_server
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess
from workers.media import ARTIFACT_MARGIN_S

PNG = sample("image.png")
# Not the defaults, so that the test of the worker's retention can tell them apart.
WORKER_RETENTION = {"MPC_RESULT_TTL_S": "7200", "MPC_EXPIRED_GRACE_S": "600"}


@pytest.fixture
def media_worker(media_settings: Settings) -> Iterator[WorkerProcess]:
    """A media worker with the test handlers, writing to the gateway's artifact store."""
    env = {
        "MPC_ARTIFACTS_URL": media_settings.artifacts_url,
        "MPC_ARTIFACTS_SIGNING_KEY": media_settings.artifacts_signing_key.reveal(),
        **WORKER_RETENTION,
    }
    worker = WorkerProcess(media_settings.redis_url, "media", extra_env=env)
    worker.wait_ready()
    yield worker
    worker.stop(signal.SIGKILL)


def finished_job(client: httpx.Client, artifact: str = "image.png") -> dict[str, Any]:
    response = client.post(
        "/api/jobs",
        json={
            "task": "video_generate",
            "input": {"prompt": "a test video"},
            "params": {"sleep": 0, "artifact": artifact},
        },
        headers={"Prefer": "wait=20"},
    )
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    assert job["status"] == "succeeded", job
    return job


@pytest.fixture
def job(media_client: httpx.Client, media_worker: WorkerProcess) -> dict[str, Any]:
    return finished_job(media_client)


def test_job_view_lists_the_artifact_with_a_fresh_absolute_link(
    media_client: httpx.Client, media_gateway: str, job: dict[str, Any]
) -> None:
    [listed] = job["output"]["artifacts"]
    assert listed["name"] == "image.png" and listed["content_type"] == "image/png" and listed["bytes"] == len(PNG)
    assert listed["url"].startswith(f"{media_gateway}/api/artifacts/{job['id']}/image.png?expires=")
    again = media_client.get(f"/api/jobs/{job['id']}").json()["output"]["artifacts"][0]
    assert again["url"].startswith(media_gateway) and again["sha256"] == listed["sha256"]
    with httpx.Client() as anonymous:  # no API key
        fetched = anonymous.get(again["url"])
    assert fetched.status_code == 200 and fetched.content == PNG
    assert fetched.headers["content-type"] == "image/png"
    assert fetched.headers["etag"] == f'"{listed["sha256"]}"'


def test_the_worker_keeps_the_job_and_its_artifact_as_its_retention_says(
    job: dict[str, Any], media_settings: Settings
) -> None:
    result_s, grace_s = (int(WORKER_RETENTION[name]) for name in ("MPC_RESULT_TTL_S", "MPC_EXPIRED_GRACE_S"))
    assert job["expires_at"] == pytest.approx(job["finished_at"] + result_s, abs=1)
    [listed] = job["output"]["artifacts"]
    assert listed["expires_at"] == pytest.approx(job["finished_at"] + result_s + ARTIFACT_MARGIN_S, abs=5)
    db = redis.Redis.from_url(media_settings.redis_url)
    try:
        for key in (keys.job(job["id"]), keys.job_events(job["id"])):
            assert result_s < db.ttl(key) <= result_s + grace_s
    finally:
        db.close()


def test_public_url_makes_the_links(media_settings: Settings, catalog: Catalog, job: dict[str, Any]) -> None:
    public = msgspec.structs.replace(media_settings, public_url="https://media.example.com/gw")
    with running_server(create_app(public, catalog)) as base, httpx.Client(base_url=base, headers=AUTH) as client:
        url = client.get(f"/api/jobs/{job['id']}").json()["output"]["artifacts"][0]["url"]
    assert url.startswith(f"https://media.example.com/gw/api/artifacts/{job['id']}/image.png?")


def test_key_route_serves_whole_range_and_conditional(media_client: httpx.Client, job: dict[str, Any]) -> None:
    path = f"/api/jobs/{job['id']}/artifacts/image.png"
    whole = media_client.get(path)
    assert whole.status_code == 200 and whole.content == PNG
    assert whole.headers["content-length"] == str(len(PNG))
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-disposition"] == 'inline; filename="image.png"'
    etag = whole.headers["etag"]
    size = len(PNG)
    for header, start, end in (("bytes=0-9", 0, 9), ("bytes=100-", 100, size - 1), ("bytes=-16", size - 16, size - 1)):
        part = media_client.get(path, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == PNG[start : end + 1]
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert part.headers["content-length"] == str(end - start + 1)
    clipped = media_client.get(path, headers={"Range": "bytes=180-99999"})
    assert clipped.status_code == 206 and clipped.content == PNG[180:]
    # Several ranges are not served: the whole file, as RFC 9110 allows.
    several = media_client.get(path, headers={"Range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and several.content == PNG
    outside = media_client.get(path, headers={"Range": f"bytes={size}-"})
    assert_envelope(outside, 416, "range_not_satisfiable")
    assert outside.headers["content-range"] == f"bytes */{size}"
    not_modified = media_client.get(path, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    # A 304 comes before the range, even an unsatisfiable one.
    assert media_client.get(path, headers={"If-None-Match": etag, "Range": f"bytes={size}-"}).status_code == 304
    assert media_client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    stale_if_range = media_client.get(path, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale_if_range.status_code == 200 and stale_if_range.content == PNG
    assert media_client.get(path, headers={"Range": "bytes=0-9", "If-Range": etag}).status_code == 206


def test_key_route_is_owner_checked(media_gateway: str, media_client: httpx.Client, job: dict[str, Any]) -> None:
    path = f"/api/jobs/{job['id']}/artifacts/image.png"
    with httpx.Client(base_url=media_gateway, headers=OTHER_AUTH) as other:
        assert_envelope(other.get(path), 404, "job_not_found")
    with httpx.Client(base_url=media_gateway) as anonymous:
        assert_envelope(anonymous.get(path), 401)
    assert_envelope(media_client.get(f"/api/jobs/{job['id']}/artifacts/other.png"), 404, "artifact_not_found")
    assert_envelope(media_client.get(f"/api/jobs/{job['id']}/artifacts/..%2Fsecret"), 404)


def test_signed_link_range_etag_and_refusals(media_gateway: str, media_settings: Settings, job: dict[str, Any]) -> None:
    url = job["output"]["artifacts"][0]["url"]
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    with httpx.Client(base_url=media_gateway) as anonymous:
        part = anonymous.get(url, headers={"Range": "bytes=0-7"})
        assert part.status_code == 206 and part.content == PNG[:8]
        etag = part.headers["etag"]
        assert anonymous.get(url, headers={"If-None-Match": etag}).status_code == 304
        tampered = query["signature"][:-1] + ("0" if query["signature"][-1] != "0" else "1")
        bad = anonymous.get(parts.path, params={"expires": query["expires"], "signature": tampered})
        assert_envelope(bad, 403, "signed_url_invalid")
        later = anonymous.get(
            parts.path, params={"expires": str(int(query["expires"]) + 60), "signature": query["signature"]}
        )
        assert_envelope(later, 403, "signed_url_invalid")
        other_name = anonymous.get(parts.path.replace("image.png", "image2.png"), params=query)
        assert_envelope(other_name, 403, "signed_url_invalid")
        assert_envelope(anonymous.get(parts.path), 403, "signed_url_invalid")
        # A genuine link whose time has passed.
        signer = UrlSigner(media_settings.artifact_signing_key())
        old = signer.sign(f"{job['id']}/image.png", int(time.time()) - 5)
        expired = anonymous.get(parts.path, params={"expires": str(old.expires), "signature": old.signature})
        assert_envelope(expired, 403, "signed_url_expired")


def test_health_reports_the_store(media_client: httpx.Client) -> None:
    body = media_client.get("/health").json()
    assert body["checks"]["artifacts"] == {"status": "ok", "data": {"backend": "local"}}


def test_unusable_store_degrades_health_and_nothing_else(
    media_settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"a file where the store's directory should be")
    broken = msgspec.structs.replace(media_settings, artifacts_url=(blocker / "artifacts").as_uri())
    with running_server(create_app(broken, catalog)) as base, httpx.Client(base_url=base, headers=AUTH) as client:
        health = client.get("/health")
        assert health.status_code == 200
        report = health.json()
        assert report["status"] == "degraded"
        assert report["checks"]["artifacts"]["status"] == "degraded"
        assert any(reason.startswith("artifacts: local store unusable") for reason in report["reasons"])
        assert str(blocker) not in health.text  # names the problem, never a path
        assert client.get("/api/tasks").status_code == 200
        upload = client.post("/api/files", data={"purpose": "user_data"}, files={"file": ("a.png", PNG)})
        assert_envelope(upload, 503, "artifact_store_unavailable")


def test_gateway_sweeps_expired_artifacts(media_settings: Settings, catalog: Catalog) -> None:
    """The gateway's background sweep (first round at start-up) deletes what has expired."""
    root = Path(media_settings.artifacts_url.removeprefix("file://"))

    async def write(job_id: str, expires_at: float) -> None:
        store = await open_store(
            StoreConfig(**media_settings.artifact_store_options()), signing_key=media_settings.artifact_signing_key()
        )
        try:
            await store.write(job_id, "image.png", stream(PNG), expires_at=expires_at)
        finally:
            await store.aclose()

    asyncio.run(write("job_expired", time.time() - 1))
    asyncio.run(write("job_current", time.time() + 600))
    assert (root / "job_expired" / "image.png" / "record.json").exists()
    with running_server(create_app(media_settings, catalog)):
        assert wait_until(lambda: not any((root / "job_expired").rglob("*")), timeout=10)
    assert any((root / "job_current").rglob("record.json"))
