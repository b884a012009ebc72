"""The worker steps of a plan: run by the plan's own worker, with no provider call.

- `rank_documents`: cosine similarity of each document's vector to the query's, the top k
  kept as numbered context ("[1] …") that the answering step cites. Retrieval over the
  request's own documents, no vector database.
- `combine_video_audio`: the narration laid onto the video as one MP4 by ffmpeg (video
  copied, audio encoded to AAC), stored as the plan job's own artifact.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from artifacts import ArtifactStore
from workers import _ffmpeg
from workers.context import JobContext
from workers.errors import JobFailed
from workers.media import encoded, write_artifact
from workers.plan_inputs import Bound, read_artifact

DEFAULT_TOP_K = 3
MAX_TOP_K = 16
COMBINED_NAME = "combined.mp4"
_CITATION = re.compile(r"\[(\d{1,3})\]")


def top_k_of(request_input: Any) -> int:
    """`input.top_k` of the plan's request (1 to 16), else 3."""
    value = request_input.get("top_k") if isinstance(request_input, dict) else None
    return value if isinstance(value, int) and 1 <= value <= MAX_TOP_K else DEFAULT_TOP_K


def rank(values: Mapping[str, Bound], top_k: int) -> dict[str, Any]:
    query = values["query"].value[0]
    vectors: list[list[float]] = values["documents"].value
    texts: list[str] = values["texts"].value
    if len(vectors) != len(texts):
        raise JobFailed(
            f"{len(vectors)} document vectors for {len(texts)} documents.", code="plan_binding_failed", param="texts"
        )
    scored = sorted(((_cosine(query, vector), i) for i, vector in enumerate(vectors)), key=lambda p: (-p[0], p[1]))
    documents = [
        {"citation": n, "index": i, "score": round(score, 6), "text": texts[i]}
        for n, (score, i) in enumerate(scored[:top_k], start=1)
    ]
    text = "\n\n".join(f"[{d['citation']}] {d['text']}" for d in documents)
    return {"documents": documents, "text": text}


def citations(answer: str, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The context documents the answer cites (`[n]`), in the order it first cites them."""
    by_number = {d["citation"]: d for d in context.get("documents", [])}
    cited: list[dict[str, Any]] = []
    for match in _CITATION.finditer(answer):
        document = by_number.get(int(match[1]))
        if document is not None and document not in cited:
            cited.append(document)
    return cited


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


async def combine(job: JobContext, store: ArtifactStore, values: Mapping[str, Bound]) -> dict[str, Any]:
    video, audio = values["video"].value, values["audio"].value
    with tempfile.TemporaryDirectory(prefix="mpc-combine-") as workdir:
        # Two inputs, and MP4's index written up front: files, not pipes.
        video_path, audio_path, out_path = (Path(workdir) / n for n in ("video.mp4", "audio", COMBINED_NAME))
        video_path.write_bytes(await read_artifact(store, video["job_id"], video["artifact"]["name"]))
        audio_path.write_bytes(await read_artifact(store, audio["job_id"], audio["artifact"]["name"]))
        await _mux(video_path, audio_path, out_path)
        artifact = await write_artifact(
            store, job, COMBINED_NAME, _file_chunks(out_path), content_type="video/mp4", metadata=None
        )
    return {"artifacts": [encoded(artifact)], "artifact_job_id": job.job_id}


async def _mux(video: Path, audio: Path, out: Path) -> None:
    args = ["-nostdin", "-v", "error", "-y", "-i", str(video), "-i", str(audio)]
    args += ["-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "128k"]
    args += ["-movflags", "+faststart", str(out)]
    process = await asyncio.create_subprocess_exec(
        "ffmpeg", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, process.pid, _ffmpeg.lowered_priority())
    try:
        _, stderr = await process.communicate()
    finally:
        if process.returncode is None:  # cancelled: leave no ffmpeg behind
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await asyncio.shield(process.wait())
    if process.returncode != 0:
        detail = stderr.decode(errors="replace").strip()[-500:]
        raise JobFailed(f"ffmpeg could not combine the video and the narration: {detail}", code="combine_failed")


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := await asyncio.to_thread(file.read, _ffmpeg.READ_BYTES):
            yield chunk
