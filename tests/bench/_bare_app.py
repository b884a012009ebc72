"""A bare FastAPI app: the baselines of the start-up, select_http and artifact_download benchmarks.

`python -m tests.bench._bare_app PORT` serves `GET /health` only (the start-up baseline);
with `--select` it also serves `POST /select`, which parses a pydantic body shaped like
select-model's and answers a constant dict of the gateway's answer shape: what plain
FastAPI costs for that exchange with no work behind it. The route is opt-in because
building it (pydantic models, FastAPI's body dependant) adds ~20-30 ms to the import,
which would move the start-up baseline. With `--file PATH` it serves `GET /file`: Starlette's
`FileResponse` of that file.

Either way it is served with the uvicorn settings `mpc-api serve` uses (uvloop, httptools,
no access log).
"""

import sys
from typing import Any

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def add_select_route(app: FastAPI) -> None:
    from pydantic import BaseModel

    class ProvidersFilter(BaseModel):
        allow: list[str] = []
        deny: list[str] = []

    class SelectBody(BaseModel):
        task: str
        tier: str | None = None
        speed: str | None = None
        domains: list[str] = []
        domains_required: bool = False
        capabilities: list[str] = []
        providers: ProvidersFilter | None = None
        min_context: int | None = None
        allow_downgrade: bool = False
        fallbacks: int = 3
        model: str | None = None
        explain: bool = False

    def ref(model_id: str) -> dict[str, str]:
        return {"id": model_id, "provider": model_id.split("/")[0], "provider_id": model_id}

    selection: dict[str, Any] = {
        "task": "chat_general",
        "model": {**ref("groq/openai/gpt-oss-120b"), "modality": "text", "tier": "strong", "speed": "fast"},
        "fallbacks": [
            ref("deepinfra/Qwen/Qwen3-Coder-480B-A35B-Instruct-Turbo"),
            ref("gemini/gemini-2.5-flash"),
            ref("openai/gpt-5.4-mini"),
        ],
        "tier_requested": "strong",
        "tier_used": "strong",
        "catalog_version": "bench",
    }

    @app.post("/select")
    async def select(body: SelectBody) -> dict[str, Any]:
        return selection


def add_file_route(app: FastAPI, path: str) -> None:
    from starlette.responses import FileResponse

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(path, media_type="audio/wav")


if __name__ == "__main__":
    if "--select" in sys.argv[2:]:
        add_select_route(app)
    if "--file" in sys.argv[2:]:
        add_file_route(app, sys.argv[sys.argv.index("--file") + 1])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        loop="uvloop",
        http="httptools",
        access_log=False,
    )
