"""scrypt password hashes for SMTP logins."""

from __future__ import annotations

from gateway.settings.passwords import hash_password, verify_password


def test_a_hash_verifies_its_password_only_and_never_holds_it() -> None:
    """The stored form is salted scrypt, never the password, and checks only the right one."""
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("scrypt$")
    assert "correct horse" not in first
    assert first != second
    assert verify_password("correct horse", first)
    assert not verify_password("correct horsE", first)
    assert not verify_password("correct horse", None)
    assert not verify_password("correct horse", "md5$whatever")
    assert not verify_password("correct horse", "scrypt$x$y")
