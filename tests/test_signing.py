"""Tests for gateway/signing.py: Standard Webhooks signatures, ``sign`` and ``verify``."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from gateway.signing import SignatureError, sign, verify

KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another key, another key, another").decode()
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
BODY = b'{"id":"evt_1","type":"account.created"}'


def expected_signature(key: bytes, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The Standard Webhooks signature, computed here without gateway code."""
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(signature: str, *, msg_id: str = MSG_ID, timestamp: int | str = NOW) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def signed_headers(
    secret: str = SECRET, *, timestamp: int = NOW, body: bytes = BODY
) -> dict[str, str]:
    return headers(sign(secret, MSG_ID, timestamp, body), timestamp=timestamp)


def test_standard_webhooks_test_vector() -> None:
    """sign() and verify() agree with the published Standard Webhooks test vector."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    timestamp = 1614265330
    body = b'{"test": 2432232314}'
    independent = expected_signature(
        base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), msg_id, timestamp, body
    )
    assert independent == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(secret, msg_id, timestamp, body) == independent
    verify([secret], headers(independent, msg_id=msg_id, timestamp=timestamp), body, now=timestamp)


def test_whsec_secret_is_base64_decoded() -> None:
    """A 'whsec_' secret signs with the bytes its base64 part decodes to."""
    assert sign(SECRET, MSG_ID, NOW, BODY) == expected_signature(KEY, MSG_ID, NOW, BODY)


def test_raw_secret_is_used_as_bytes() -> None:
    """A secret without the 'whsec_' prefix is used as its UTF-8 bytes."""
    secret = "a plain shared secret"
    assert sign(secret, MSG_ID, NOW, BODY) == expected_signature(secret.encode(), MSG_ID, NOW, BODY)
    verify([secret], headers(expected_signature(secret.encode(), MSG_ID, NOW, BODY)), BODY, now=NOW)


def test_whsec_prefix_with_invalid_base64_is_a_raw_secret() -> None:
    """A 'whsec_' secret whose rest is not base64 is used whole, as raw bytes."""
    secret = "whsec_not base64!"
    assert sign(secret, MSG_ID, NOW, BODY) == expected_signature(secret.encode(), MSG_ID, NOW, BODY)


def test_correct_signature_passes() -> None:
    """A request signed with the configured secret within the time window is accepted."""
    verify([SECRET], headers(expected_signature(KEY, MSG_ID, NOW, BODY)), BODY, now=NOW)


def test_headers_are_matched_case_insensitively() -> None:
    """Headers as aiohttp hands them over (a case-insensitive multidict) are read."""
    request_headers = CIMultiDict(
        {
            "Webhook-Id": MSG_ID,
            "Webhook-Timestamp": str(NOW),
            "Webhook-Signature": expected_signature(KEY, MSG_ID, NOW, BODY),
        }
    )
    verify([SECRET], request_headers, BODY, now=NOW)


def test_wrong_secret_fails() -> None:
    """A signature made with another secret is refused."""
    with pytest.raises(SignatureError, match="no valid signature"):
        verify([SECRET], signed_headers(OTHER_SECRET), BODY, now=NOW)


def test_no_configured_secret_fails() -> None:
    """With an empty list of secrets, no signature can be valid."""
    with pytest.raises(SignatureError, match="no valid signature"):
        verify([], signed_headers(), BODY, now=NOW)


@pytest.mark.parametrize(
    "body",
    [BODY + b" ", BODY.replace(b"evt_1", b"evt_2"), b"", BODY.upper()],
    ids=["trailing-space", "changed-id", "empty", "upper-case"],
)
def test_tampered_body_fails(body: bytes) -> None:
    """Any change to the body after signing invalidates the signature."""
    with pytest.raises(SignatureError, match="no valid signature"):
        verify([SECRET], signed_headers(), body, now=NOW)


def test_tampered_id_fails() -> None:
    """The webhook-id is part of what is signed, so changing it invalidates the signature."""
    tampered = {**signed_headers(), "webhook-id": "msg_other"}
    with pytest.raises(SignatureError, match="no valid signature"):
        verify([SECRET], tampered, BODY, now=NOW)


def test_signed_timestamp_cannot_be_replaced() -> None:
    """Moving webhook-timestamp, even within the window, invalidates the signature."""
    moved = {**signed_headers(timestamp=NOW - 100), "webhook-timestamp": str(NOW)}
    with pytest.raises(SignatureError, match="no valid signature"):
        verify([SECRET], moved, BODY, now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_fails(missing: str) -> None:
    """Each of webhook-id, webhook-timestamp and webhook-signature is required."""
    incomplete = signed_headers()
    del incomplete[missing]
    with pytest.raises(SignatureError, match="are required"):
        verify([SECRET], incomplete, BODY, now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_empty_header_fails(missing: str) -> None:
    """An empty required header counts as missing."""
    blank = {**signed_headers(), missing: ""}
    with pytest.raises(SignatureError, match="are required"):
        verify([SECRET], blank, BODY, now=NOW)


@pytest.mark.parametrize(
    "timestamp", ["soon", "1767225600.0", "-1767225600", "+1767225600", "1e9", " 1767225600", "0x1"]
)
def test_non_numeric_timestamp_fails(timestamp: str) -> None:
    """A webhook-timestamp that is not whole decimal seconds is refused."""
    with pytest.raises(SignatureError, match="whole seconds"):
        verify(
            [SECRET], headers(sign(SECRET, MSG_ID, NOW, BODY), timestamp=timestamp), BODY, now=NOW
        )


def test_superscript_digit_timestamp_fails_with_signature_error() -> None:
    """A timestamp of Unicode digits that int() cannot read is a SignatureError too."""
    with pytest.raises(SignatureError):
        verify([SECRET], headers(sign(SECRET, MSG_ID, NOW, BODY), timestamp="²"), BODY, now=NOW)


@pytest.mark.parametrize("digits", [21, 400, 5000])
def test_timestamp_of_many_digits_fails_with_signature_error(digits: int) -> None:
    """A timestamp of hundreds of digits is refused as not a time, not compared as a float."""
    with pytest.raises(SignatureError, match="whole seconds"):
        verify([SECRET], headers(sign(SECRET, MSG_ID, NOW, BODY), timestamp="9" * digits), BODY)


@pytest.mark.parametrize("msg_id", ["msg_\udcff", "msg_\n1", "m" * 257])
def test_unprintable_or_long_webhook_id_fails_with_signature_error(msg_id: str) -> None:
    """A webhook-id of bytes that were not UTF-8, a line break or 257 characters is refused."""
    with pytest.raises(SignatureError, match="webhook-id must be printable"):
        verify([SECRET], headers("v1,abc", msg_id=msg_id), BODY, now=NOW)


def test_non_ascii_webhook_id_is_signed_as_utf8() -> None:
    """A printable non-ASCII webhook-id is signed over its UTF-8 bytes, as senders sign it."""
    msg_id = "msg_\u00e9t\u00e9"
    good = expected_signature(KEY, msg_id, NOW, BODY)
    verify([SECRET], headers(good, msg_id=msg_id), BODY, now=NOW)


@pytest.mark.parametrize("offset", [-360, 360, -86400, 10**6])
def test_timestamp_outside_five_minutes_fails(offset: int) -> None:
    """A correctly signed request stamped more than 5 minutes from now is refused (replay)."""
    stamp = NOW + offset
    with pytest.raises(SignatureError, match="more than 5 minutes"):
        verify([SECRET], signed_headers(timestamp=stamp), BODY, now=NOW)


@pytest.mark.parametrize("offset", [-300, -299, 0, 299, 300])
def test_timestamp_within_five_minutes_passes(offset: int) -> None:
    """A correctly signed request stamped up to 5 minutes before or after now is accepted."""
    verify([SECRET], signed_headers(timestamp=NOW + offset), BODY, now=NOW)


def test_rotation_second_secret_matches() -> None:
    """With two secrets configured, a request signed with the second is accepted."""
    verify([OTHER_SECRET, SECRET], signed_headers(SECRET), BODY, now=NOW)
    verify([SECRET, OTHER_SECRET], signed_headers(OTHER_SECRET), BODY, now=NOW)


def test_one_valid_signature_among_several_passes() -> None:
    """A header listing several space-separated signatures passes when any one is valid."""
    good = expected_signature(KEY, MSG_ID, NOW, BODY)
    wrong = expected_signature(b"wrong key", MSG_ID, NOW, BODY)
    for listed in (f"{wrong} {good}", f"{good} {wrong}", f"v1,AAAA v1a,xyz {good}"):
        verify([SECRET], headers(listed), BODY, now=NOW)


def test_several_invalid_signatures_fail() -> None:
    """A header listing only invalid signatures is refused."""
    listed = " ".join(
        expected_signature(key, MSG_ID, NOW, BODY) for key in (b"one", b"two", b"three")
    )
    with pytest.raises(SignatureError, match="no valid signature"):
        verify([SECRET], headers(listed), BODY, now=NOW)


def test_signature_without_version_prefix_fails() -> None:
    """The bare base64 digest, without the 'v1,' prefix, is not accepted."""
    bare = expected_signature(KEY, MSG_ID, NOW, BODY).removeprefix("v1,")
    with pytest.raises(SignatureError, match="no valid signature"):
        verify([SECRET], headers(bare), BODY, now=NOW)


@given(
    st.dictionaries(
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "other"]),
        # Lone surrogates are what aiohttp makes of header bytes that are not UTF-8.
        st.text(st.characters(categories=["L", "N", "P", "Z", "Cc", "Cs"]), max_size=80)
        | st.text("0123456789", min_size=15, max_size=500),
    ),
    st.binary(max_size=200),
)
def test_hostile_headers_raise_only_signature_error(hdrs: dict[str, str], body: bytes) -> None:
    """Whatever forged headers hold, verification raises SignatureError and nothing else."""
    with pytest.raises(SignatureError):
        verify([SECRET, OTHER_SECRET], hdrs, body, now=NOW)
