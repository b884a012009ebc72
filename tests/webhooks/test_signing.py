"""Signatures as the reference Standard Webhooks library verifies them."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from queues.webhooks import SigningSecrets, new_secret
from workers._signing import signature


def _headers(message_id: str, timestamp: int, signed: str) -> dict[str, str]:
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": signed}


def test_a_signature_verifies_with_the_secret_and_only_with_it() -> None:
    secret, other = new_secret(), new_secret()
    assert secret.startswith("whsec_") and secret != other
    body = b'{"type":"job.succeeded","data":{"id":"job_1","note":"caf\xc3\xa9"}}'
    now = int(time.time())
    headers = _headers("msg_1", now, signature([secret], "msg_1", now, body))
    assert Webhook(secret).verify(body, headers)["data"]["id"] == "job_1"
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"job_1", b"job_2"), headers)
    with pytest.raises(WebhookVerificationError):  # the id is signed too
        Webhook(secret).verify(body, {**headers, "webhook-id": "msg_2"})


def test_during_a_rotation_both_secrets_verify() -> None:
    old, new = new_secret(), new_secret()
    body, now = b"{}", int(time.time())
    signed = signature([new, old], "msg_1", now, body)
    assert len(signed.split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, _headers("msg_1", now, signed)) == {}


def test_the_overlap_ends() -> None:
    found = SigningSecrets(current="whsec_b", created_at=0, previous="whsec_a", previous_until=100.0)
    assert found.valid(99.0) == ["whsec_b", "whsec_a"]
    assert found.valid(100.0) == ["whsec_b"]


def test_the_library_signs_as_we_do() -> None:
    secret, now = new_secret(), int(time.time())
    theirs = Webhook(secret).sign("msg_9", datetime.fromtimestamp(now, UTC), "{}")
    assert signature([secret], "msg_9", now, b"{}") == theirs
