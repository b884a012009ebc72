"""Byte ranges against Python's own slicing, names against the filesystem, and the description
as JSON."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from artifacts import Artifact, ArtifactMetadata, ByteRange, InvalidArtifactName, RangeNotSatisfiable
from artifacts._names import artifact_key

sizes = st.integers(min_value=1, max_value=10_000)
offsets = st.integers(min_value=0, max_value=12_000)


@given(size=sizes, start=offsets, end=st.none() | offsets)
def test_a_range_covers_what_the_matching_slice_does(size: int, start: int, end: int | None) -> None:
    content = range(size)
    wanted = content[start : None if end is None else end + 1]
    try:
        first, last = ByteRange(start, end).resolve(size)
    except RangeNotSatisfiable:
        assert len(wanted) == 0
    else:
        assert content[first : last + 1] == wanted
        assert len(wanted) > 0


@given(size=sizes, suffix=st.integers(min_value=0, max_value=12_000))
def test_a_suffix_range_is_the_last_bytes(size: int, suffix: int) -> None:
    if suffix == 0:
        with pytest.raises(RangeNotSatisfiable):
            ByteRange(None, suffix).resolve(size)
        return
    first, last = ByteRange(None, suffix).resolve(size)
    assert range(size)[first : last + 1] == range(size)[-suffix:]


# Mostly the characters that matter (dots, separators, NUL), so that valid keys come up too.
segments = st.text(alphabet=st.sampled_from("aZ09._-/\\\x00 é"), max_size=8) | st.text(max_size=140)


@given(job_id=segments, name=segments)
def test_a_key_that_passes_is_one_directory_below_the_root(job_id: str, name: str) -> None:
    root = Path("/srv/artifacts")
    try:
        key = artifact_key(job_id, name)
    except InvalidArtifactName:
        return
    path = (root / key).resolve()
    assert path.parent.parent == root
    assert path.name == name
    assert not name.startswith(".")


def test_the_description_as_json_omits_what_is_unknown() -> None:
    artifact = Artifact(
        name="speech.mp3",
        content_type="audio/mpeg",
        bytes=3,
        sha256="ab" * 32,
        url="/api/artifacts/job_1/speech.mp3?expires=1&signature=00",
        expires_at=1.5,
    )
    assert msgspec.json.decode(msgspec.json.encode(artifact)) == {
        "name": "speech.mp3",
        "content_type": "audio/mpeg",
        "bytes": 3,
        "sha256": "ab" * 32,
        "url": "/api/artifacts/job_1/speech.mp3?expires=1&signature=00",
        "expires_at": 1.5,
    }
    with_size = msgspec.structs.replace(artifact, metadata=ArtifactMetadata(width=64, height=32))
    assert msgspec.json.decode(msgspec.json.encode(with_size))["metadata"] == {"width": 64, "height": 32}
