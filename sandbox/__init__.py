"""The development sandbox: what `mpc-api dev` starts on one machine, and what the tests
and benchmarks start the same way.

- ``dev_stack``: the `mpc-api dev` supervisor (Redis, LiteLLM, emulator, gateway, workers).
- ``emulator``: the provider emulator LiteLLM is pointed at when no provider key is set
  (``python -m sandbox.emulator --port N``).
- ``embedded_redis``: redis-server, or fakeredis's server, when no MPC_REDIS_URL is given.
- ``litellm_proxy``: installing and starting the LiteLLM proxy as a child process.
- ``processes``: free ports, waiting for a child to answer, stopping children.

It may import any runtime package; none of them imports it: only `cli.py` (for `dev`) and
the tests do.
"""
