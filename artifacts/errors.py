"""Every error the artifact store raises, in one tree.

    ArtifactError                   base; `code` and `retryable` for the API's error handler
    ├── InvalidArtifactName         a job id or name that could leave its directory      -> 400
    ├── ArtifactNotFound            no such artifact, or it has expired                   -> 404
    ├── ContentTypeError            the bytes are not a type we store
    │   ├── UnsupportedContentType  the declared type is not one we can verify           -> 415
    │   └── ContentTypeMismatch     the bytes are not what was declared                  -> 415
    ├── ArtifactTooLarge            an upload went past its size cap                      -> 413
    ├── RangeNotSatisfiable         a byte range outside the artifact                     -> 416
    ├── SignedUrlError              a signed URL the gateway must refuse
    │   ├── SignedUrlExpired        genuine, but past its expiry                          -> 403
    │   └── SignedUrlInvalid        tampered with, or not signed by us                    -> 403
    └── ArtifactStoreUnavailable    the directory or object store cannot be used now      -> 503

The arrows are the HTTP statuses the gateway is expected to answer with; the store itself knows
nothing of HTTP. Only `ArtifactStoreUnavailable` is `retryable`: the same call may succeed once
the disk or the object store is back, and nothing half-written was left behind. Messages never
contain secrets (signing keys, credentials, presigned query strings) and are safe to show.
"""

from __future__ import annotations

from typing import ClassVar


class ArtifactError(Exception):
    """Base of every artifact store error. `message` is safe to show to a client."""

    code: ClassVar[str] = "artifact_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArtifactName(ArtifactError, ValueError):
    """A job id or artifact name outside `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`: it could name a
    path outside the store (`..`, `/`, NUL, an absolute path) or a file the store keeps for itself."""

    code = "invalid_artifact_name"

    def __init__(self, what: str, value: str) -> None:
        self.what = what
        self.value = value
        super().__init__(
            f"invalid artifact {what} {value!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


class ArtifactNotFound(ArtifactError):
    code = "artifact_not_found"

    def __init__(self, job_id: str, name: str) -> None:
        self.job_id = job_id
        self.name = name
        super().__init__(f"no artifact {name!r} for job {job_id!r} (never written, deleted or expired)")


class ContentTypeError(ArtifactError):
    code = "content_type_error"


class UnsupportedContentType(ContentTypeError):
    """The declared type is not one `artifacts._sniff` can recognise from the bytes; storing it
    unverified would let a client serve arbitrary content (HTML, scripts) from our origin."""

    code = "unsupported_content_type"

    def __init__(self, content_type: str, supported: tuple[str, ...]) -> None:
        self.content_type = content_type
        super().__init__(f"content type {content_type!r} is not supported; supported: {', '.join(supported)}")


class ContentTypeMismatch(ContentTypeError):
    """`sniffed` is None when the bytes match no format we know (including an empty stream)."""

    code = "content_type_mismatch"

    def __init__(self, declared: str | None, sniffed: str | None) -> None:
        self.declared = declared
        self.sniffed = sniffed
        found = f"the bytes are {sniffed}" if sniffed else "the bytes match no supported format"
        super().__init__(f"declared {declared}, but {found}" if declared else found)


class ArtifactTooLarge(ArtifactError):
    code = "artifact_too_large"

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        super().__init__(f"the content is larger than the limit of {max_bytes} bytes")


class RangeNotSatisfiable(ArtifactError):
    """`size` is the artifact's length, for the 416 answer's `Content-Range: bytes */size`."""

    code = "range_not_satisfiable"

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"the requested range is outside the artifact's {size} bytes")


class SignedUrlError(ArtifactError):
    code = "signed_url_error"


class SignedUrlExpired(SignedUrlError):
    code = "signed_url_expired"

    def __init__(self) -> None:
        super().__init__("this link has expired; ask the API for a new one")


class SignedUrlInvalid(SignedUrlError):
    code = "signed_url_invalid"

    def __init__(self) -> None:
        super().__init__("this link's signature is not valid")


class ArtifactStoreUnavailable(ArtifactError):
    """The store cannot be used right now (directory missing or not writable, disk full,
    object store down or refusing us). Nothing half-written is visible; try again later."""

    code = "artifact_store_unavailable"
    retryable = True

    def __init__(self, backend: str, action: str, reason: str) -> None:
        self.backend = backend
        self.action = action
        self.reason = reason
        super().__init__(f"the {backend} artifact store is unavailable ({action}: {reason})")
