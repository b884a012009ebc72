"""The emulated model and stream load of `chat_ttft`, which `litellm_gc` measures too."""

from __future__ import annotations

MODEL = "gpt-4o"
PROVIDER_ID = "openai/gpt-4o"
STREAMS = 16
TTFT_MS = 50
TPS = 20
TOKENS = 40
# Connection i starts i * STAGGER_S late: one stream's length spread over the 16.
STAGGER_S = (TTFT_MS / 1000 + (TOKENS - 1) / TPS) / STREAMS
