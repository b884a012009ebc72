"""Provider emulator: a local HTTP server speaking the wire formats LiteLLM's provider
adapters send (OpenAI-compatible, Anthropic, Gemini), with controllable latency, errors and
broken streams, so the real LiteLLM proxy can be pointed at it through ``api_base``.

- ``app.create_emulator()`` builds the ASGI app; ``python -m sandbox.emulator --port N`` serves it.
- ``control`` is the ``/_emulator`` API (per-model settings, request log).
- ``behaviour`` parses settings and ``[emulate: key=value ...]`` directives.
- ``openai_wire``, ``anthropic_wire``, ``gemini_wire`` speak the providers' formats;
  ``transport`` plays an answer with delays and faults; ``reply`` makes deterministic text.
- ``client`` is a small typed client of the control API.
- ``litellm_config`` points a LiteLLM config's deployments at the emulator.
"""
