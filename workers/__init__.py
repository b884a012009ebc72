"""arq workers: the job runner, its wake-up and heartbeat, and the job handlers that call
LiteLLM (`workers.registry` says which task runs through which handler)."""
