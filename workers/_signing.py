"""Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
`{webhook-id}.{webhook-timestamp}.{body}` with the secret's base64-decoded bytes, sent as
`v1,<base64>`; several signatures (during a secret's rotation) are separated by spaces."""

from __future__ import annotations

import base64
import hashlib
import hmac

from queues.webhooks import SECRET_PREFIX


def signature(secrets: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode() for secret in secrets
    )


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))
