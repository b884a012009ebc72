"""What the sandbox gives LiteLLM and the dev stack for media: routes, GEMINI_API_BASE, the
model names the emulator sees, the shared artifact directory and signing key."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from sandbox.dev_stack import DevStack, _artifact_env
from sandbox.emulator.litellm_config import upstream_models
from sandbox.litellm_proxy import offline_env
from tests.support.litellm import project_litellm_config

BASE = "http://127.0.0.1:9"


def _params(config: dict[str, object], name: str) -> dict[str, object]:
    entries = config["model_list"]
    assert isinstance(entries, list)
    [entry] = [e for e in entries if e["model_name"] == name]
    params: dict[str, object] = entry["litellm_params"]
    return params


def test_media_deployments_point_at_the_emulator() -> None:
    config = project_litellm_config(BASE)
    assert _params(config, "elevenlabs/eleven_v3")["api_base"] == f"{BASE}/elevenlabs"
    assert _params(config, "fal_ai/fal-ai/flux/dev")["api_base"] == f"{BASE}/fal"
    assert _params(config, "gemini/gemini-3.5-transcribe")["api_base"] == f"{BASE}/gemini"
    assert _params(config, "gemini/gemini-3.8-flash-tts")["api_base"] == f"{BASE}/gemini/v1beta"
    hf = _params(config, "huggingface/sentence-transformers/all-MiniLM-L6-v2")
    assert hf["api_base"] == (
        f"{BASE}/huggingface/hf-inference/pipeline/feature-extraction/sentence-transformers/all-MiniLM-L6-v2"
    )
    assert hf["input_type"] == "feature-extraction"
    assert _params(config, "runwayml/eleven_multilingual_v2")["api_base"] == f"{BASE}/unemulated/runwayml"


def test_video_deployments_point_at_the_emulator() -> None:
    config = project_litellm_config(BASE)
    assert _params(config, "gemini/veo-3.1-generate-001")["api_base"] == f"{BASE}/gemini"
    assert _params(config, "runwayml/gen4.5")["api_base"] == f"{BASE}/runway/v1"
    assert _params(config, "runwayml/gen4_image")["api_base"] == f"{BASE}/unemulated/runwayml"
    assert _params(config, "fal_ai/fal-ai/pika/v2.2/text-to-video")["api_base"] == f"{BASE}/fal"
    general = config["general_settings"]
    assert isinstance(general, dict)
    [heygen] = general["pass_through_endpoints"]
    assert heygen["target"] == f"{BASE}/heygen"


def test_the_proxy_gets_gemini_api_base() -> None:
    env = offline_env(project_litellm_config(BASE), "sk-test")
    assert env["GEMINI_API_BASE"] == f"{BASE}/gemini/v1beta"


def test_fal_models_are_named_by_the_endpoint_litellm_posts_to() -> None:
    upstream = upstream_models(project_litellm_config(BASE))
    assert upstream["fal_ai/fal-ai/imagen4/preview/fast"] == "fal-ai/imagen4/preview"
    assert upstream["fal_ai/fal-ai/flux-pro/v1.1-ultra"] == "fal-ai/flux-pro/v1.1-ultra"
    assert upstream["elevenlabs/eleven_v3"] == "eleven_v3"


def test_dev_stack_shares_a_fresh_artifact_directory_and_signing_key() -> None:
    stack, other = DevStack(), DevStack()
    env = _artifact_env(stack, {})
    directory = Path(urlsplit(env["MPC_ARTIFACTS_URL"]).path)
    assert directory.is_dir() and env["MPC_ARTIFACTS_URL"].startswith("file:///")
    assert len(env["MPC_ARTIFACTS_SIGNING_KEY"]) >= 32
    assert _artifact_env(other, {})["MPC_ARTIFACTS_SIGNING_KEY"] != env["MPC_ARTIFACTS_SIGNING_KEY"]
    stack.stop()
    other.stop()
    assert not directory.exists()
    given = {"MPC_ARTIFACTS_URL": "file:///srv/artifacts", "MPC_ARTIFACTS_SIGNING_KEY": "k" * 40}
    assert _artifact_env(DevStack(), given) == {}
