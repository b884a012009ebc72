from __future__ import annotations

import httpx
import pytest

from api.app import create_app
from catalog import Catalog
from queues.settings import Settings, SettingsError
from tests.support.envelopes import assert_envelope
from tests.support.redis_server import RedisServer
from tests.support.servers import running_server


def test_health_reports_redis_and_catalog(client: httpx.Client, catalog: Catalog) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["redis"]["status"] == "ok"
    assert body["checks"]["catalog"]["data"]["version"] == catalog.version
    assert body["checks"]["catalog"]["data"]["models"] == len(catalog.models)
    # No worker has announced itself in this test: the gateway is up but degraded.
    assert body["status"] == "degraded"
    assert any(reason.startswith("workers:") for reason in body["reasons"])


def test_probes_need_no_key(gateway: str) -> None:
    assert httpx.get(f"{gateway}/health/live").json() == {"status": "ok"}
    assert httpx.get(f"{gateway}/health/ready").status_code == 200
    assert httpx.get(f"{gateway}/health").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key-0000000000"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}],
)
@pytest.mark.parametrize(
    ("method", "path"),
    # select-model is answered by the fast lane (api/fastlane.py), the others by FastAPI.
    [("GET", "/api/tasks"), ("POST", "/api/select-model"), ("POST", "/api/jobs"), ("POST", "/api/chat/completions")],
)
def test_api_routes_refuse_missing_or_wrong_keys(gateway: str, headers: dict[str, str], method: str, path: str) -> None:
    response = httpx.request(method, f"{gateway}{path}", headers=headers, json={"task": "chat_general"})
    error = assert_envelope(response, 401, "invalid_api_key")
    assert error["type"] == "authentication_error"
    assert "wrong-key" not in response.text


def test_unknown_route_is_an_enveloped_404(client: httpx.Client) -> None:
    assert_envelope(client.get("/api/nope"), 404, "not_found")


def test_other_methods_on_the_fast_lane_route_are_an_enveloped_405(client: httpx.Client) -> None:
    assert_envelope(client.get("/api/select-model"), 405, "method_not_allowed")


def test_fast_lane_answers_carry_the_request_id(client: httpx.Client) -> None:
    sent = client.post("/api/select-model", json={"task": "tts"}, headers={"X-Request-ID": "trace-42"})
    assert sent.status_code == 200 and sent.headers["x-request-id"] == "trace-42"
    assert sent.headers["content-type"] == "application/json"
    made = client.post("/api/select-model", json={"task": "nope"})
    assert made.status_code == 422 and made.headers["x-request-id"].startswith("req_")


def test_gateway_refuses_to_start_without_keys(catalog: Catalog) -> None:
    with pytest.raises(SettingsError, match="MPC_API_KEYS"):
        create_app(Settings(), catalog)


def test_health_is_503_when_redis_is_down_and_recovers(settings: Settings, catalog: Catalog) -> None:
    own = RedisServer()
    own.start()
    app = create_app(Settings(redis_url=own.url, api_key_hashes=settings.api_key_hashes), catalog)
    try:
        with running_server(app) as base:
            assert httpx.get(f"{base}/health/ready").status_code == 200
            own.stop()
            down = httpx.get(f"{base}/health", timeout=5)
            assert down.status_code == 503
            assert down.json()["status"] == "down"
            assert httpx.get(f"{base}/health/ready", timeout=5).status_code == 503
            own.start()
            assert httpx.get(f"{base}/health/ready", timeout=5).status_code == 200
    finally:
        own.close()
