"""An artifact's address: (job id, name), checked before either touches a path or a key."""

from __future__ import annotations

import re

from artifacts.errors import InvalidArtifactName

# One path segment of safe characters: no separator, NUL, or leading dot (so neither `.`, `..`
# nor the store's own hidden files - temporary writes, probes - can be named).
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_segment(what: str, value: str) -> str:
    if not _SEGMENT.fullmatch(value):
        raise InvalidArtifactName(what, value)
    return value


def artifact_key(job_id: str, name: str) -> str:
    """`job_id/name`, the artifact's key in every backend and in its URL signature.

    Both parts are single safe segments, so the key has exactly one `/` and cannot be confused
    with another (job, name) pair."""
    return f"{check_segment('job id', job_id)}/{check_segment('name', name)}"
