"""Every enabled catalog video model, created, polled and downloaded through the real LiteLLM
proxy against the emulator: the MP4 that comes back is real (ffprobe: H.264, the asked
duration and size), the emulator's request log shows one create per video, and what
LiteLLM 1.106.12 makes of each wire is pinned here (status names, the re-encoded ids of
status answers, what each fault looks like to the client). OpenAI's Videos API (sora) has
no catalog model; it is reached through an extra deployment of this module's proxy.

The models no emulator can serve are `UNREACHABLE_VIDEO`, which must match docs/providers.md.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalog import load_catalog
from sandbox.emulator.client import EmulatorClient
from sandbox.emulator.litellm_config import UNREACHABLE_VIDEO, upstream_models
from tests.support.litellm import LiteLLMProxy, project_litellm_config, running_litellm
from tests.support.media_probe import probe

PROVIDERS_DOC = Path(__file__).resolve().parents[2] / "docs" / "providers.md"
SORA = "openai/sora-2"
GENERATION_S = 1.5
POLL_S = 0.15
PROMPT = "a red fox running through snow"
IMAGE_URL = "https://example.com/fox.png"  # passed on, never fetched: the emulator only checks it is there
# What the client asks (seconds, size) per provider, and what the provider makes of it.
ASK = {
    "openai": ("4", "1280x720"),
    "fal": ("5", "1280x720"),
    "runwayml": ("5", "1280x720"),
    "gemini": ("8", "1280x720"),
}
# LiteLLM sends MiniMax h3 the resolution tier above 720 ("768P"): the video is 1366x768.
MADE = {"fal/minimax/h3/text-to-video": (5.0, 1366, 768)}
# Status names LiteLLM reports per provider, in order (Veo: "processing", not an OpenAI status).
STATUSES = {
    "openai": ["queued", "in_progress", "completed"],
    "fal": ["queued", "in_progress", "completed"],
    "pika": ["queued", "in_progress", "completed"],
    "runwayml": ["queued", "in_progress", "completed"],
    "gemini": ["processing", "completed"],
}


def video_models() -> list[str]:
    return sorted(m.id for m in load_catalog().data.models if "video_generate" in m.tasks and m.enabled)


REACHABLE = [model_id for model_id in video_models() if model_id not in UNREACHABLE_VIDEO]
THROUGH_VIDEOS_API = [model_id for model_id in REACHABLE if not model_id.startswith("heygen/")]
HEYGEN = [model_id for model_id in REACHABLE if model_id.startswith("heygen/")]


def _config(emulator_base: str) -> dict[str, Any]:
    config = project_litellm_config(emulator_base)
    sora = {
        "model_name": SORA,
        "litellm_params": {"model": SORA, "api_key": "sk-emulated", "api_base": f"{emulator_base}/openai/v1"},
        "model_info": {"mode": "video_generation"},
    }
    config["model_list"].append(sora)
    return config


@pytest.fixture(scope="module")
def proxy(emulator: EmulatorClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteLLMProxy]:
    with running_litellm(_config(emulator.base_url), workdir=tmp_path_factory.mktemp("litellm-video")) as running:
        yield running


@pytest.fixture
async def client(proxy: LiteLLMProxy) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=proxy.base_url, headers=proxy.auth, timeout=60) as http:
        yield http


@pytest.fixture(autouse=True)
def _quick_videos(_fresh: None, emulator: EmulatorClient) -> None:
    emulator.set_model("*", video_seconds=GENERATION_S)


def _catalog_model(model_id: str) -> tuple[str, str, str]:
    """(provider, LiteLLM model_name, the model name the emulator logs)."""
    if model_id == SORA:
        return "openai", SORA, "sora-2"
    model = load_catalog().models[model_id]
    return model.provider, model.provider_id, upstream_models(_config("http://x"))[model.provider_id]


def _decoded(video_id: str) -> dict[str, str]:
    raw = base64.b64decode(video_id.removeprefix("video_")).decode()
    return dict(part.split(":", 1) for part in raw.removeprefix("litellm:").split(";"))


async def _create(client: httpx.AsyncClient, model_id: str, **extra: str) -> httpx.Response:
    provider, name, _ = _catalog_model(model_id)
    seconds, size = ASK["fal" if provider == "pika" else provider]
    form = {"model": name, "prompt": PROMPT, "seconds": seconds, "size": size, **extra}
    if _needs_image(name):
        # The proxy takes multipart `input_reference` only as a file, and both adapters then
        # fail (test_image_to_video_needs_an_image_url_in_a_json_body): send JSON with a URL.
        return await client.post("/v1/videos", json={**form, "input_reference": IMAGE_URL})
    return await client.post("/v1/videos", data=form)


def _needs_image(litellm_model: str) -> bool:
    return "image-to-video" in litellm_model or litellm_model.endswith("gen4_turbo")


async def _poll(client: httpx.AsyncClient, video_id: str, *, until: float = 20.0) -> list[dict[str, Any]]:
    """Status answers until a final one (or ``until`` seconds), reusing the create id."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        response = await client.get(f"/v1/videos/{video_id}")
        assert response.status_code == 200, response.text
        seen.append(response.json())
        if seen[-1]["status"] in ("completed", "failed"):
            break
        await asyncio.sleep(POLL_S)
    return seen


def _distinct(values: list[Any]) -> list[Any]:
    return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]


# -- every model, end to end --------------------------------------------------------------
@pytest.mark.parametrize("model_id", [*THROUGH_VIDEOS_API, SORA])
async def test_create_poll_download(client: httpx.AsyncClient, emulator: EmulatorClient, model_id: str) -> None:
    provider, name, upstream = _catalog_model(model_id)
    created = await _create(client, model_id)
    assert created.status_code == 200, created.text
    video_id = created.json()["id"]
    seen = await _poll(client, video_id)
    assert _distinct([s["status"] for s in seen]) == STATUSES[provider]
    if provider in ("openai", "runwayml"):  # the providers that report a progress figure
        progress = [s["progress"] for s in seen if s["status"] == "in_progress"]
        assert progress == sorted(progress) and 0 <= progress[0] < 100

    content = await client.get(f"/v1/videos/{video_id}/content")
    assert content.status_code == 200, content.text
    assert content.content[4:8] == b"ftyp"
    probed = probe(content.content)
    asked_seconds, asked_size = ASK["fal" if provider == "pika" else provider]
    width, height = (int(side) for side in asked_size.split("x"))
    expected = MADE.get(model_id, (float(asked_seconds), width, height))
    assert (probed.codec, probed.width, probed.height) == ("h264", *expected[1:])
    assert probed.duration == pytest.approx(expected[0], abs=0.01)

    calls = emulator.requests(model=upstream)
    assert [c["path"] for c in calls if c["method"] == "POST"] == [calls[0]["path"]]  # one create
    assert len(calls) >= len(seen) + 1

    # Status answers carry a re-encoded id that lost the deployment (a client must keep the
    # create id): the model_id is empty, or for fal the queue app (the first 2 segments).
    route_model = name.partition("/")[2]
    assert _decoded(video_id)["model_id"] == route_model
    lost = {_decoded(s["id"])["model_id"] for s in seen}
    assert lost == ({"/".join(route_model.split("/")[:2])} if name.startswith("fal_ai/") else {""})
    assert {_decoded(s["id"])["video_id"] for s in seen} == {_decoded(video_id)["video_id"]}


def _heygen_request(model_id: str, words: str) -> tuple[str, dict[str, Any]]:
    if model_id == "heygen/video-agent":
        return "/heygen/v1/video_agent/generate", {"prompt": words, "config": {"duration_sec": 6}}
    character = {"type": "avatar", "avatar_id": "Daisy-inskirt-20220818", "avatar_style": "normal"}
    if model_id == "heygen/avatar-iv":
        character["use_avatar_iv_model"] = True
    voice = {"type": "text", "input_text": words, "voice_id": "2d5b0e6cf36f460aa7fc47e3eee4ba54"}
    return "/heygen/v2/video/generate", {"video_inputs": [{"character": character, "voice": voice}]}


@pytest.mark.parametrize("model_id", HEYGEN)
async def test_heygen_through_the_pass_through(
    client: httpx.AsyncClient, emulator: EmulatorClient, model_id: str
) -> None:
    words = "Welcome to the quarterly update from the whole team."  # 9 words: 3.6 s spoken
    path, body = _heygen_request(model_id, words)
    created = await client.post(path, json=body)
    assert created.status_code == 200, created.text
    video_id = created.json()["data"]["video_id"]
    statuses: list[str] = []
    for _ in range(100):
        status = await client.get("/heygen/v1/video_status.get", params={"video_id": video_id})
        assert status.status_code == 200, status.text
        data = status.json()["data"]
        statuses.append(data["status"])
        if data["status"] == "completed":
            break
        await asyncio.sleep(POLL_S)
    assert _distinct(statuses) == ["pending", "processing", "completed"]
    async with httpx.AsyncClient(timeout=30) as cdn:  # as a worker would: a CDN link, no auth
        mp4 = await cdn.get(data["video_url"])
    assert mp4.status_code == 200 and mp4.headers["content-type"] == "video/mp4"
    probed = probe(mp4.content)
    expected = (6.0, 1280, 720) if model_id == "heygen/video-agent" else (3.6, 1280, 720)
    assert (probed.codec, probed.width, probed.height) == ("h264", *expected[1:])
    assert probed.duration == pytest.approx(expected[0], abs=0.01)
    assert data["duration"] == expected[0]

    calls = emulator.requests(provider="heygen")
    assert {c["model"] for c in calls} == {model_id.removeprefix("heygen/")}
    assert [c["method"] for c in calls].count("POST") == 1
    # LiteLLM injects the HeyGen key and drops the client's Authorization.
    assert all(c["headers"].get("x-api-key") == "[REDACTED]" and "authorization" not in c["headers"] for c in calls)


# -- faults, one model per wire family ----------------------------------------------------
FAMILIES = {
    "openai": SORA,
    "fal": "pika/fal-ai/pika/v2.2/text-to-video",
    "runway": "runwayml/gen4.5",
    "veo": "gemini/veo-3.1-fast-generate-001",
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(("setting", "status"), [({"status": 503}, 503), ({"retry_after": 1}, 429)])
async def test_create_errors_reach_the_client_after_one_attempt(
    client: httpx.AsyncClient, emulator: EmulatorClient, family: str, setting: dict[str, Any], status: int
) -> None:
    model_id = FAMILIES[family]
    _, _, upstream = _catalog_model(model_id)
    emulator.set_model(upstream, video_seconds=GENERATION_S, fail_times=1, **setting)
    failed = await _create(client, model_id)
    assert failed.status_code == status
    if status == 429:
        assert failed.headers["llm_provider-retry-after"] == "1"
    assert [c["status"] for c in emulator.requests(model=upstream)] == [status]  # num_retries: 0
    assert emulator.videos() == []
    assert (await _create(client, model_id)).status_code == 200
    assert len(emulator.videos()) == 1


async def _created_and_done(client: httpx.AsyncClient, emulator: EmulatorClient, model_id: str) -> tuple[str, str]:
    _, _, upstream = _catalog_model(model_id)
    emulator.set_model(upstream, video_seconds=0.3)
    created = await _create(client, model_id)
    assert created.status_code == 200, created.text
    await asyncio.sleep(0.5)
    return created.json()["id"], upstream


@pytest.mark.parametrize("family", FAMILIES)
async def test_status_5xx_then_recovery(client: httpx.AsyncClient, emulator: EmulatorClient, family: str) -> None:
    video_id, upstream = await _created_and_done(client, emulator, FAMILIES[family])
    emulator.set_model(upstream, video_seconds=0.3, video_poll_status=503, fail_times=1)
    assert (await client.get(f"/v1/videos/{video_id}")).status_code == 503
    recovered = await client.get(f"/v1/videos/{video_id}")
    assert recovered.status_code == 200 and recovered.json()["status"] == "completed"


# What the client sees, per family: (status after the fault, content's HTTP status).
CONTENT_404 = {
    "openai": ("completed", 404),
    "fal": ("failed", 404),
    "runway": ("completed", 404),
    "veo": ("completed", 404),
}
NEVER_FINISHES = {
    "openai": ("in_progress", 404),
    "fal": ("in_progress", 400),
    "runway": ("in_progress", 500),
    "veo": ("processing", 500),
}
FAILED = {"openai": ("failed", 404), "fal": ("failed", 422), "runway": ("failed", 500), "veo": ("completed", 500)}


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"video_content_status": 404}, CONTENT_404),
        ({"video_never_finishes": True}, NEVER_FINISHES),
        ({"video_fail": True}, FAILED),
    ],
    ids=["content_404", "never_finishes", "failed"],
)
@pytest.mark.parametrize("family", FAMILIES)
async def test_video_faults_as_the_client_sees_them(
    client: httpx.AsyncClient,
    emulator: EmulatorClient,
    family: str,
    setting: dict[str, Any],
    expected: dict[str, tuple[str, int]],
) -> None:
    """fal: LiteLLM fetches the result inside the status call that sees COMPLETED, so a
    missing result shows as `failed` there. Veo: LiteLLM ignores a finished operation's
    `error` (status `completed`, then content fails with a 500)."""
    video_id, upstream = await _created_and_done(client, emulator, FAMILIES[family])
    emulator.set_model(upstream, video_seconds=0.3, **setting)
    status = await client.get(f"/v1/videos/{video_id}")
    assert status.status_code == 200
    content = await client.get(f"/v1/videos/{video_id}/content")
    assert (status.json()["status"], content.status_code) == expected[family]


@pytest.mark.parametrize("family", FAMILIES)
async def test_a_forgotten_video_is_a_404(client: httpx.AsyncClient, emulator: EmulatorClient, family: str) -> None:
    video_id, upstream = await _created_and_done(client, emulator, FAMILIES[family])
    emulator.set_model(upstream, video_forget=True)
    assert (await client.get(f"/v1/videos/{video_id}")).status_code == 404
    assert [c["method"] for c in emulator.requests(model=upstream)].count("POST") == 1


async def test_the_proxy_has_no_video_delete(client: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    """LiteLLM 1.106.12 routes no DELETE /v1/videos/{id} (its adapters have a delete, the
    proxy does not expose it): no provider's cancel is reachable through the proxy. Fails
    once LiteLLM adds the route."""
    emulator.set_model("sora-2", video_seconds=30)
    video_id = (await _create(client, SORA)).json()["id"]
    assert (await client.delete(f"/v1/videos/{video_id}")).status_code == 405
    assert [c["method"] for c in emulator.requests(model="sora-2")] == ["POST"]


@pytest.mark.parametrize(
    ("model_id", "upload_error"),
    [
        ("pika/fal-ai/pika/v2.2/image-to-video", "fal.ai needs a public image URL for input_reference"),
        ("runwayml/gen4_turbo", "Object of type BytesIO is not JSON serializable"),
    ],
)
async def test_image_to_video_needs_an_image_url_in_a_json_body(
    client: httpx.AsyncClient, emulator: EmulatorClient, model_id: str, upload_error: str
) -> None:
    """An uploaded `input_reference` file (what the openai SDK sends) is a 500 from both
    adapters, before any upstream call; a URL string in a JSON body is passed on (fal
    `image_url`, Runway `promptImage`). Without an image the provider refuses."""
    _, name, upstream = _catalog_model(model_id)
    form = {"model": name, "prompt": PROMPT, "seconds": "5", "size": "1280x720"}
    image = {"input_reference": ("fox.png", b"\x89PNG\r\n\x1a\n", "image/png")}
    uploaded = await client.post("/v1/videos", data=form, files=image)
    assert uploaded.status_code == 500 and upload_error in uploaded.json()["error"]["message"]
    assert emulator.requests(model=upstream) == []
    without = await client.post("/v1/videos", json=form)
    assert without.status_code in (400, 422)
    assert (await _create(client, model_id)).status_code == 200
    posted = [c["body"] for c in emulator.requests(model=upstream) if c["status"] == 200]
    assert IMAGE_URL in posted[0].values()


async def test_heygen_faults_pass_through_unchanged(client: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    path, body = _heygen_request("heygen/avatar-iii", "Hello there.")
    emulator.set_model("avatar-iii", status=503, fail_times=1, video_seconds=0.3)
    failed = await client.post(path, json=body)
    assert failed.status_code == 503 and failed.json()["error"]["message"]
    video_id = (await client.post(path, json=body)).json()["data"]["video_id"]
    emulator.set_model("avatar-iii", video_poll_status=500, fail_times=1, video_seconds=0.3)
    query = {"video_id": video_id}
    assert (await client.get("/heygen/v1/video_status.get", params=query)).status_code == 500
    emulator.set_model("avatar-iii", video_forget=True)
    assert (await client.get("/heygen/v1/video_status.get", params=query)).status_code == 404
    assert [c["method"] for c in emulator.requests(model="avatar-iii")].count("POST") == 2


async def test_another_proxy_process_resumes_the_polls(
    client: httpx.AsyncClient, emulator: EmulatorClient, tmp_path: Path
) -> None:
    """LiteLLM restarted mid-poll: the create id (which names the deployment) works on a new
    proxy process, and the provider's job has carried on; still one create per video."""
    emulator.set_model("*", video_seconds=2.0)
    created = {family: (await _create(client, model_id)).json()["id"] for family, model_id in FAMILIES.items()}
    with running_litellm(_config(emulator.base_url), workdir=tmp_path) as restarted:
        async with httpx.AsyncClient(base_url=restarted.base_url, headers=restarted.auth, timeout=60) as other:
            for family, video_id in created.items():
                seen = await _poll(other, video_id)
                assert seen[-1]["status"] == "completed", family
                content = await other.get(f"/v1/videos/{video_id}/content")
                assert content.status_code == 200 and content.content[4:8] == b"ftyp"
    jobs = emulator.videos()
    assert len(jobs) == len(FAMILIES) and all(job["downloads"] >= 1 for job in jobs)


# -- the model list cannot drift ----------------------------------------------------------
def test_every_video_model_is_reached_or_listed_with_a_reason() -> None:
    assert set(UNREACHABLE_VIDEO) <= set(video_models())
    assert set(REACHABLE) == set(video_models()) - set(UNREACHABLE_VIDEO)


def test_docs_list_the_video_models_and_the_unreachable_ones() -> None:
    doc = PROVIDERS_DOC.read_text()
    section = doc[doc.index("## Video models against the emulator") :]
    end = section.find("\n## ")  # the next section, if any
    section = section if end < 0 else section[:end]
    rows = dict(re.findall(r"^\| `([^`]+)` \| (end to end|unreachable) \|", section, re.MULTILINE))
    assert {m for m, how in rows.items() if how == "end to end"} == set(REACHABLE)
    unreachable = dict(re.findall(r"^\| `([^`]+)` \| unreachable \| (.+?) \|$", section, re.MULTILINE))
    assert unreachable == UNREACHABLE_VIDEO
