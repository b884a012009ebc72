"""Bearer API-key authentication: keys kept as SHA-256 digests, compared in constant time."""

from __future__ import annotations

import hmac

from api.errors import Unauthorized
from queues.settings import hash_api_key


def authenticate(authorization: str | None, key_hashes: tuple[str, ...]) -> str:
    """Return the caller's key digest (the job owner), or raise 401.

    Every configured digest is compared, so the time taken does not tell which key (or
    how much of one) matched.
    """
    if not authorization:
        raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("Malformed Authorization header: expected 'Bearer <key>'.")
    digest = hash_api_key(key.strip())
    matched = False
    for known in key_hashes:
        matched |= hmac.compare_digest(digest, known)
    if not matched:
        raise Unauthorized("Invalid API key.")
    return digest
