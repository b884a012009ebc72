"""arq workers: the job runner, its wake-up and heartbeat, and (in later issues) the job
functions that call LiteLLM."""
