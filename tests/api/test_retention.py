"""The gateway's retention comes from its settings (`MPC_RESULT_TTL_S`, `MPC_EXPIRED_GRACE_S`):
a job it ends (a cancel) keeps its result and record for as long as they say."""

from __future__ import annotations

import httpx
import msgspec
import pytest
import redis

from api.app import create_app
from catalog import Catalog
from queues import keys
from queues.settings import Settings
from tests.support.auth import AUTH
from tests.support.servers import running_server

TEXT_JOB = {"task": "summarize", "input": {"messages": [{"role": "user", "content": "hi"}]}}


def test_a_job_the_gateway_cancels_follows_its_retention(settings: Settings, catalog: Catalog) -> None:
    short = msgspec.structs.replace(settings, result_ttl_s=20, expired_grace_s=15)
    db = redis.Redis.from_url(settings.redis_url)
    with running_server(create_app(short, catalog)) as base, httpx.Client(base_url=base, headers=AUTH) as client:
        job = client.post("/api/jobs", json=TEXT_JOB)
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]
        assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 200
        record = client.get(f"/api/jobs/{job_id}").json()
    try:
        assert record["status"] == "canceled"
        assert record["expires_at"] == pytest.approx(record["finished_at"] + 20, abs=1)
        for key in (keys.job(job_id), keys.job_events(job_id)):
            assert 20 < db.ttl(key) <= 20 + 15
    finally:
        db.close()
