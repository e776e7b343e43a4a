"""Password hashes: scrypt, salted, self-describing."""

from __future__ import annotations

import pytest

from marketintel.auth.passwords import hash_password, verify_password


def test_hash_and_verify() -> None:
    stored = hash_password("correct horse battery staple")
    scheme, n, r, p, _salt, _digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "32768", "8", "1")
    assert "correct horse" not in stored
    assert verify_password("correct horse battery staple", stored)
    assert not verify_password("correct horse battery stapler", stored)
    # a fresh salt each time
    assert hash_password("correct horse battery staple") != stored


def test_malformed_hashes_match_nothing() -> None:
    for stored in ("", "plain", "bcrypt$1$2$3$4$5", "scrypt$x$8$1$AAAA$AAAA", "scrypt$16$8$1$!!$AAAA"):
        assert not verify_password("anything", stored)


def test_short_passwords_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 8 characters"):
        hash_password("short")
