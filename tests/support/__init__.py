"""What the tests share, in one place; conftest files only turn it into fixtures.

- ``auth``: the API keys the test gateways accept.
- ``waiting``: ``wait_until`` / ``async_wait_until``, the one way to poll with a deadline.
- ``redis_server``: the session's Redis, and a `redis-server` of a test's own.
- ``servers``: an ASGI app (the gateway, the emulator) on real uvicorn in a thread.
- ``processes``: the gateway as a child process (``python -m cli serve``).
- ``workers``: a worker child process, and the job handlers it runs (``handlers``).
- ``jobs``: reading a job over the API until it reaches a state.
- ``litellm``: a real LiteLLM proxy in front of the emulator (chat tests and benchmarks).
- ``chat_stack``: the chat chain (gateway, worker, LiteLLM, emulator) the chat tests use.
- ``metrics``: reading a /metrics page.
- ``envelopes``: the API's error envelope.
- ``compose``: the compose files.
- ``wires``: request builders and stream readers for the emulator's provider wire formats.
"""
