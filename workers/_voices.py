"""OpenAI's voice names on every speech provider, so a fallback can keep speaking.

Clients send OpenAI's voices (`alloy`, `nova`, …): the OpenAI SDK's default, and what
OpenWebUI and Dify offer. LiteLLM maps them to ElevenLabs voice ids itself but passes them
unchanged to Gemini and Groq, which only know their own names and answer 400: a chain
`openai → gemini` would fail on the fallback instead of speaking. Each OpenAI voice is sent
to those providers as one of theirs of a similar register (the providers' voice lists:
ai.google.dev "Speech generation" voice options; console.groq.com Orpheus voices). Any other
name is the client's choice of a provider's own voice and is sent as it is.
"""

from __future__ import annotations

OPENAI_VOICES = (
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse", "marin", "cedar",
)  # fmt: skip

_GEMINI = {
    "alloy": "Kore", "ash": "Orus", "ballad": "Charon", "coral": "Aoede", "echo": "Puck", "fable": "Fenrir",
    "nova": "Leda", "onyx": "Charon", "sage": "Kore", "shimmer": "Zephyr", "verse": "Puck", "marin": "Aoede",
    "cedar": "Orus",
}  # fmt: skip
_GROQ = {
    "alloy": "hannah", "ash": "austin", "ballad": "daniel", "coral": "autumn", "echo": "troy", "fable": "daniel",
    "nova": "diana", "onyx": "austin", "sage": "hannah", "shimmer": "autumn", "verse": "troy", "marin": "diana",
    "cedar": "troy",
}  # fmt: skip
_BY_PROVIDER = {"gemini": _GEMINI, "groq": _GROQ}


def provider_voice(provider: str, voice: str) -> str:
    """The voice to send `provider` for the client's `voice`."""
    mapping = _BY_PROVIDER.get(provider)
    if mapping is None:
        return voice
    return mapping.get(voice.lower(), voice)
