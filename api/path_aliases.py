"""The paths OpenAI clients assume, served by the `/api/…` routes.

Many clients append `/v1` to whatever base URL they are given (Langflow's "OpenAI
Compatible" provider, Dify's, most SDK wrappers), so every OpenAI-compatible route is also
served under `/api/v1/…` and `/v1/…`. `/chat/v1/…` is the same again for chat pickers
(OpenWebUI shows every id it is given as a chat model): there `GET /models` lists only what
a chat can use (`modality=text`).

The path is rewritten before anything else runs, so an alias gets the same handlers, the
same authentication, the fast lane and the route's metric label.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

# The OpenAI-compatible resources (first segment after the prefix); nothing else is aliased.
OPENAI_RESOURCES = frozenset({"chat", "completions", "embeddings", "images", "audio", "models", "files", "videos"})
ALIAS_PREFIXES = ("/api/v1/", "/v1/", "/chat/v1/")
CHAT_PICKER_PREFIX = "/chat/v1/"
CANONICAL_PREFIX = "/api/"


def alias_prefix(path: str) -> str | None:
    """The alias prefix `path` begins with, when what follows is an OpenAI resource."""
    for prefix in ALIAS_PREFIXES:
        if path.startswith(prefix):
            return prefix if path[len(prefix) :].partition("/")[0] in OPENAI_RESOURCES else None
    return None


class PathAliases:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            _rewrite(scope)
        await self.app(scope, receive, send)


def _rewrite(scope: Scope) -> None:
    root = scope.get("root_path", "")
    path: str = scope["path"]
    mounted = bool(root) and path.startswith(root)
    start = len(root) if mounted else 0
    prefix = alias_prefix(path[start:])
    if prefix is None:
        return
    scope["path"] = path[:start] + CANONICAL_PREFIX + path[start + len(prefix) :]
    raw: bytes | None = scope.get("raw_path")
    if raw is not None:  # percent-encoded as sent: only its (ASCII) prefix changes
        at = raw.find(prefix.encode())
        if at >= 0:
            scope["raw_path"] = raw[:at] + CANONICAL_PREFIX.encode() + raw[at + len(prefix) :]
    if prefix == CHAT_PICKER_PREFIX and scope["path"].endswith("/api/models"):
        query: bytes = scope.get("query_string", b"")
        if b"modality=" not in query:
            scope["query_string"] = b"modality=text" + (b"&" + query if query else b"")
