"""The link signer on its own: what it accepts and what it refuses."""

from __future__ import annotations

import pytest

from artifacts import SignedUrlExpired, SignedUrlInvalid, UrlSigner


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        UrlSigner(b"k" * 31)


def test_the_key_never_shows() -> None:
    assert "secret" not in repr(UrlSigner(b"secret" * 6))


def test_a_link_works_until_its_expiry_and_not_at_it() -> None:
    now = [1000.0]
    signer = UrlSigner(b"k" * 32, clock=lambda: now[0])
    query = signer.sign("job_1/speech.mp3", 2000)
    assert query.expires == 2000
    assert len(query.signature) == 64
    now[0] = 1999.9
    signer.verify("job_1/speech.mp3", "2000", query.signature)
    now[0] = 2000.0
    with pytest.raises(SignedUrlExpired):
        signer.verify("job_1/speech.mp3", "2000", query.signature)


def test_a_tampered_expired_link_is_invalid_rather_than_expired() -> None:
    # Checked in that order so that an attacker learns nothing from the answer.
    signer = UrlSigner(b"k" * 32, clock=lambda: 5000.0)
    query = signer.sign("job_1/speech.mp3", 2000)
    with pytest.raises(SignedUrlInvalid):
        signer.verify("job_1/speech.mp3", "2001", query.signature)


@pytest.mark.parametrize("expires", ["", "+2000", " 2000", "2000.0", "\uff12\uff10\uff10\uff10", "1" * 13])
def test_an_expiry_that_is_not_plain_digits_is_invalid(expires: str) -> None:
    signer = UrlSigner(b"k" * 32, clock=lambda: 0.0)
    with pytest.raises(SignedUrlInvalid):
        signer.verify("job_1/speech.mp3", expires, signer.sign("job_1/speech.mp3", 2000).signature)
