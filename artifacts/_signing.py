"""Short-lived links to local artifacts that work without the API key.

The link carries its expiry and an HMAC-SHA256 over (artifact key, expiry) made with a server
secret: changing the key, the expiry or the signature breaks it, and only a holder of the secret
can mint one. The object store signs its own links (presigned GET), so this is the local
backend's counterpart.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

import msgspec

from artifacts.errors import SignedUrlExpired, SignedUrlInvalid

# As long as SHA-256's output, the usual floor for an HMAC-SHA256 key: a shorter secret could
# be found offline from any one signed link.
MIN_KEY_BYTES = 32


class SignedQuery(msgspec.Struct, frozen=True):
    """The two query parameters of a signed link."""

    expires: int  # unix seconds
    signature: str  # hex HMAC-SHA256


class UrlSigner:
    __slots__ = ("_clock", "_key")

    def __init__(self, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the artifact signing key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self._clock = clock

    def __repr__(self) -> str:
        return "UrlSigner(key='********')"

    def _digest(self, artifact_key: str, expires: int) -> str:
        message = f"{artifact_key}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign(self, artifact_key: str, expires: int) -> SignedQuery:
        return SignedQuery(expires=expires, signature=self._digest(artifact_key, expires))

    def verify(self, artifact_key: str, expires: str, signature: str) -> None:
        """Accept a link's raw query values or raise `SignedUrlInvalid` / `SignedUrlExpired`.

        The signature is checked before the expiry, so a link whose expiry was pushed forward
        is reported as tampered with, not as expired."""
        # compare_digest refuses non-ASCII text with a TypeError: such a signature is simply wrong.
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12 and signature.isascii()):
            raise SignedUrlInvalid()
        when = int(expires)
        if not hmac.compare_digest(self._digest(artifact_key, when), signature):
            raise SignedUrlInvalid()
        if self._clock() >= when:
            raise SignedUrlExpired()
