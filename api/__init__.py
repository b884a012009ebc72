"""The HTTP layer: FastAPI app, routes, auth, errors, SSE relay. Talks to Redis only."""
