"""Tests for gateway/settings/smtp_users.py: SMTP logins are checked, hashed,
limited to their domains and saved in a real store."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import InvalidInput, NotFoundError
from gateway.settings import smtp_users
from gateway.settings.passwords import verify_password
from gateway.store import Store

PASSWORD = "a-long-enough-password"


def test_a_login_keeps_a_hash_that_verifies_and_its_domains_normalised() -> None:
    """The password is kept only as a hash that verifies it; domains are lower-cased,
    stripped of a final dot, sorted and kept once."""
    user = smtp_users.smtp_user("shop", PASSWORD, ["Shop.Test.", "shop.test", "a.test"])
    assert PASSWORD not in user.password_hash
    assert verify_password(PASSWORD, user.password_hash)
    assert not verify_password(PASSWORD + "x", user.password_hash)
    assert user.sender_domains == ("a.test", "shop.test")
    assert smtp_users.describe(user) == {
        "name": "shop",
        "sender_domains": ["a.test", "shop.test"],
        "recipient_domains": [],
    }


@pytest.mark.parametrize(
    ("name", "password", "senders", "pointer"),
    [
        ("-shop", PASSWORD, [], "#/name"),
        ("shop", "short", [], "#/password"),
        ("shop", "a-long-password\r\nwith a break", [], "#/password"),
        ("shop", PASSWORD, ["ok.test", "not a domain"], "#/sender_domains/1"),
        ("shop", PASSWORD, [42], "#/sender_domains/0"),
    ],
)
def test_a_bad_field_is_named(
    name: str, password: str, senders: list[object], pointer: str
) -> None:
    """A bad name, a short or broken password and a value that is no domain are refused."""
    with pytest.raises(InvalidInput) as refused:
        smtp_users.smtp_user(name, password, senders)
    assert refused.value.field == pointer


@pytest.mark.parametrize(
    ("address", "domains", "allowed"),
    [
        ("a@shop.test", (), True),
        ("a@shop.test", ("shop.test",), True),
        ("a@mail.shop.test", ("shop.test",), True),
        ("a@SHOP.TEST.", ("shop.test",), True),
        ("a@evilshop.test", ("shop.test",), False),
        ("a@shop.test.evil", ("shop.test",), False),
    ],
)
def test_a_domain_allows_itself_and_its_subdomains_only(
    address: str, domains: tuple[str, ...], allowed: bool
) -> None:
    """A limit admits the domain and its subdomains, never a name that merely ends alike."""
    assert smtp_users.domain_allowed(address, domains) is allowed


@given(
    st.from_regex(r"[a-z]{1,10}\.test", fullmatch=True),
    st.from_regex(r"[a-z]{1,10}", fullmatch=True),
)
def test_a_prefix_glued_to_the_domain_is_never_allowed(domain: str, prefix: str) -> None:
    """``evilshop.test`` is not ``shop.test``, whatever the letters before it."""
    assert not smtp_users.domain_allowed(f"a@{prefix}{domain}", (domain,))
    assert smtp_users.domain_allowed(f"a@{prefix}.{domain}", (domain,))


async def test_save_and_remove_are_audited_and_an_unknown_login_is_not_found(
    store: Store,
) -> None:
    """A saved login can be read back; removing it twice says the second time that it
    is not there; each change names who made it."""
    await smtp_users.save(store, smtp_users.smtp_user("shop", PASSWORD), actor="alice")
    assert (await store.get_smtp_user("shop")).name == "shop"
    await smtp_users.remove(store, "shop", actor="bob")
    with pytest.raises(NotFoundError):
        await smtp_users.remove(store, "shop", actor="bob")
    assert [e.actor for e in await store.list_audit(setting="smtp-users/shop")] == ["bob", "alice"]
