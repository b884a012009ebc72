"""The local-directory backend: the default, and what the dev stack uses.

Layout under the root (see `_record` for why a record and a blob):

    <root>/<job_id>/<name>/record.json       the commit point: written last, atomically
    <root>/<job_id>/<name>/blob-<sha256>     the bytes, named by content so a retry that writes
                                             the same bytes writes the same file
    <root>/<job_id>/<name>/.tmp-<random>     a write in progress (never read, never listed)

A write streams into a temporary file in the artifact's own directory (so the final rename never
crosses a filesystem), fsyncs it, renames it to its blob name, then writes the record the same
way and fsyncs the directory: a crash at any point leaves either the old artifact or the new
one, plus at most a temporary file or an unreferenced blob, both invisible and removed by
`sweep` once stale. Blocking file calls run in threads so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import msgspec

from artifacts import _record
from artifacts._names import artifact_key, check_segment
from artifacts._record import BLOB_PREFIX, RECORD, Record, link_expiry
from artifacts._signing import UrlSigner
from artifacts._stream import ArtifactStream
from artifacts._write import write_artifact
from artifacts.errors import ArtifactNotFound, ArtifactStoreUnavailable
from artifacts.model import Artifact, ByteRange, MetadataSource, StoreHealth, SweepReport
from artifacts.store import DEFAULT_STALE_AFTER_S

TMP_PREFIX = ".tmp-"
_PROBE_PREFIX = ".probe-"
_READ_CHUNK = 256 * 1024
# An artifact replaced between reading its record and opening its blob is looked up again;
# more misses than this in a row mean it keeps being deleted, i.e. it is gone.
_OPEN_ATTEMPTS = 3

P = ParamSpec("P")
T = TypeVar("T")


def _reason(exc: OSError) -> str:
    # strerror, not str(exc): the latter names the file, which says more about the host than
    # a /health answer or a job error should.
    return exc.strerror or type(exc).__name__


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_dir(path: Path) -> None:
    """`mkdir -p`, making each new directory entry durable (a rename into a directory whose own
    entry was lost in a crash would be lost with it)."""
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            if not directory.is_dir():  # a file in the way; else another writer made it first
                raise
        _fsync_dir(directory.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _temp_path(directory: Path) -> Path:
    return directory / f"{TMP_PREFIX}{secrets.token_hex(8)}"


def _create(path: Path, opened: list[int]) -> None:
    """Create `path` for writing and put its descriptor in `opened` before returning, so the
    caller can close it even if it was cancelled while this ran in a thread."""
    # 0o644 less the umask, as for any new file: gateway and workers may run as different users.
    opened.append(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))


def _open_blob(path: Path, opened: list[int]) -> bool:
    """Open `path` for reading into `opened` (as `_create` does); False if it is gone."""
    try:
        opened.append(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
    except FileNotFoundError:
        return False
    return True


def _replace_atomically(path: Path, data: bytes) -> None:
    tmp = _temp_path(path.parent)
    opened: list[int] = []
    try:
        _create(tmp, opened)
        _write_all(opened[0], data)
        os.fsync(opened[0])
        os.replace(tmp, path)
    finally:
        for fd in opened:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):  # renamed: the normal case
            tmp.unlink()


def _load_record(directory: Path) -> Record | None:
    try:
        return _record.decode((directory / RECORD).read_bytes())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except msgspec.DecodeError:  # not one of ours (records are replaced whole): treat as absent
        return None


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:  # another sweeper or a delete got there first
        return False
    return True


def _older_than(path: Path, cutoff: float) -> bool:
    try:
        return path.lstat().st_mtime < cutoff
    except FileNotFoundError:
        return False


def _remove_dir_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (a writer is in it) or already gone
        path.rmdir()


async def _run(action: str, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking file call in a thread; an OSError means the store is unusable.

    A thread cannot be stopped, so if the caller is cancelled this waits for the call to finish
    before passing the cancellation on: clean-up code never races a write, a rename or a
    descriptor still in use."""
    call = asyncio.ensure_future(asyncio.to_thread(func, *args, **kwargs))
    try:
        return await asyncio.shield(call)
    except asyncio.CancelledError:
        await asyncio.wait([call])
        raise
    except OSError as exc:
        raise ArtifactStoreUnavailable("local", action, _reason(exc)) from exc


def _publish_blob(opened: list[int], tmp: Path, blob: Path) -> None:
    os.fsync(opened[0])
    os.close(opened.pop())
    os.replace(tmp, blob)
    _fsync_dir(blob.parent)


def _commit_record(directory: Path, record: Record) -> None:
    _replace_atomically(directory / RECORD, _record.encode(record))
    _fsync_dir(directory)
    # Superseded blobs: readers that already opened one keep reading it (POSIX unlink).
    for entry in directory.iterdir():
        if entry.name.startswith(BLOB_PREFIX) and entry.name != record.blob:
            _unlink(entry)


class _LocalSink:
    """A blob being written: a temporary file in the artifact's own directory (so the final
    rename never crosses a filesystem), renamed to `blob-<sha256>` once complete."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._tmp = _temp_path(directory)
        self._opened: list[int] = []

    async def open(self) -> None:
        await _run("write", _create, self._tmp, self._opened)

    async def add(self, chunk: bytes) -> None:
        await _run("write", _write_all, self._opened[0], chunk)

    async def finish(self, sha256: str) -> str:
        blob = BLOB_PREFIX + sha256
        await _run("write", _publish_blob, self._opened, self._tmp, self._directory / blob)
        return blob

    async def commit(self, record: Record) -> None:
        await _run("write", _commit_record, self._directory, record)

    async def discard(self) -> None:
        # The temporary file goes; a blob already renamed waits for its record or for `sweep`.
        while self._opened:
            with contextlib.suppress(OSError):
                os.close(self._opened.pop())
        with contextlib.suppress(OSError):
            self._tmp.unlink()


class LocalStore:
    """Artifacts in a local directory; links are signed by `signer` and served by the gateway
    under `url_base` (`<url_base>/<job_id>/<name>?expires=...&signature=...`)."""

    backend = "local"

    def __init__(
        self,
        root: Path,
        signer: UrlSigner,
        *,
        url_base: str = "/api/artifacts",
        url_ttl_s: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root).absolute()
        self._signer = signer
        self._url_base = url_base.rstrip("/")
        self._url_ttl_s = url_ttl_s
        self._clock = clock

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _dir(self, job_id: str, name: str) -> Path:
        artifact_key(job_id, name)  # validates both segments
        return self.root / job_id / name

    def _url(self, record: Record) -> str:
        expires = link_expiry(self._clock(), self._url_ttl_s, record.expires_at)
        query = self._signer.sign(artifact_key(record.job_id, record.name), expires)
        return f"{self._url_base}/{record.job_id}/{record.name}?expires={query.expires}&signature={query.signature}"

    async def write(
        self,
        job_id: str,
        name: str,
        chunks: AsyncIterable[bytes],
        *,
        expires_at: float,
        content_type: str | None = None,
        metadata: MetadataSource = None,
        max_bytes: int | None = None,
    ) -> Artifact:
        directory = self._dir(job_id, name)
        record = await write_artifact(
            lambda _content_type: self._begin(directory),
            chunks,
            job_id=job_id,
            name=name,
            expires_at=expires_at,
            content_type=content_type,
            metadata=metadata,
            max_bytes=max_bytes,
            clock=self._clock,
        )
        return record.describe(self._url(record))

    @staticmethod
    async def _begin(directory: Path) -> _LocalSink:
        await _run("write", _ensure_dir, directory)
        sink = _LocalSink(directory)
        try:
            await sink.open()
        except BaseException:
            await sink.discard()
            raise
        return sink

    async def _live_record(self, job_id: str, name: str) -> Record:
        record = await _run("read", _load_record, self._dir(job_id, name))
        if record is None or record.expired(self._clock()):
            raise ArtifactNotFound(job_id, name)
        return record

    async def describe(self, job_id: str, name: str) -> Artifact:
        record = await self._live_record(job_id, name)
        return record.describe(self._url(record))

    async def list_artifacts(self, job_id: str) -> list[Artifact]:
        check_segment("job id", job_id)
        records = await _run("list", self._records_of, self.root / job_id)
        now = self._clock()
        return [record.describe(self._url(record)) for record in records if not record.expired(now)]

    @staticmethod
    def _records_of(job_dir: Path) -> list[Record]:
        if not job_dir.is_dir():
            return []
        found = (_load_record(entry) for entry in sorted(job_dir.iterdir()) if not entry.name.startswith("."))
        return [record for record in found if record is not None]

    async def open(self, job_id: str, name: str, byte_range: ByteRange | None = None) -> ArtifactStream:
        directory = self._dir(job_id, name)
        opened: list[int] = []
        try:
            for _ in range(_OPEN_ATTEMPTS):
                record = await self._live_record(job_id, name)
                start, end = byte_range.resolve(record.bytes) if byte_range else (0, record.bytes - 1)
                if await _run("read", _open_blob, directory / record.blob, opened):
                    break
                # Replaced (or deleted) since we read the record: look again.
            else:
                raise ArtifactNotFound(job_id, name)
        except BaseException:
            for fd in opened:
                os.close(fd)
            raise
        fd = opened[0]

        async def release() -> None:
            os.close(fd)  # no read is in flight: `_io` waits for its thread even when cancelled

        return ArtifactStream(record.describe(self._url(record)), start, end, self._chunks(fd, start, end), release)

    async def _chunks(self, fd: int, start: int, end: int) -> AsyncIterator[bytes]:
        offset = start
        while offset <= end:
            data = await _run("read", os.pread, fd, min(_READ_CHUNK, end - offset + 1), offset)
            if not data:
                raise ArtifactStoreUnavailable(self.backend, "read", "the file is shorter than its record")
            offset += len(data)
            yield data

    async def delete(self, job_id: str, name: str) -> bool:
        return await _run("delete", self._delete, self._dir(job_id, name))

    @staticmethod
    def _delete(directory: Path) -> bool:
        existed = _unlink(directory / RECORD)  # first: from here on the artifact is invisible
        if directory.is_dir():
            for entry in directory.iterdir():
                if entry.name.startswith(BLOB_PREFIX):
                    _unlink(entry)
            _remove_dir_if_empty(directory)
            _remove_dir_if_empty(directory.parent)
        return existed

    def verify_signed_url(self, job_id: str, name: str, expires: str, signature: str) -> None:
        self._signer.verify(artifact_key(job_id, name), expires, signature)

    async def sweep(self, *, now: float | None = None, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> SweepReport:
        when = self._clock() if now is None else now
        return await _run("sweep", self._sweep, when, when - stale_after_s)

    def _sweep(self, now: float, cutoff: float) -> SweepReport:
        expired = stale = 0
        if not self.root.is_dir():
            return SweepReport()
        for top in self.root.iterdir():
            if top.name.startswith(_PROBE_PREFIX) and _older_than(top, cutoff):
                stale += _unlink(top)  # a probe whose `check` was killed
            if not top.is_dir() or top.name.startswith("."):
                continue
            for directory in top.iterdir():
                if not directory.is_dir():
                    continue
                record = _load_record(directory)
                if record is not None and record.expired(now):
                    expired += self._delete(directory)
                    continue
                for entry in directory.iterdir():
                    leftover = entry.name.startswith(TMP_PREFIX) or (
                        entry.name.startswith(BLOB_PREFIX) and (record is None or entry.name != record.blob)
                    )
                    if leftover and _older_than(entry, cutoff):
                        stale += _unlink(entry)
                if record is None and _older_than(directory, cutoff):
                    _remove_dir_if_empty(directory)
            if _older_than(top, cutoff):
                _remove_dir_if_empty(top)
        return SweepReport(expired=expired, stale=stale)

    async def check(self) -> StoreHealth:
        try:
            await asyncio.to_thread(self._probe)
        except OSError as exc:
            return StoreHealth(ok=False, backend=self.backend, detail=_reason(exc))
        return StoreHealth(ok=True, backend=self.backend)

    def _probe(self) -> None:
        _ensure_dir(self.root)
        fd, path = tempfile.mkstemp(prefix=_PROBE_PREFIX, dir=self.root)
        os.close(fd)
        os.unlink(path)

    async def aclose(self) -> None:
        """Nothing to release; here so both backends close the same way."""

    async def __aenter__(self) -> LocalStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
