"""A bare FastAPI app with one `GET /health` route: the start-up baseline.

`python -m tests.bench._bare_app PORT` serves it with the uvicorn settings `mpc-api serve`
uses (uvloop, httptools, no access log).
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        loop="uvloop",
        http="httptools",
        access_log=False,
    )
