"""Tests for gateway/ingress/events.py: platform events validated field by field."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.addresses import check_address
from gateway.context import Event, EventRecipient
from gateway.ingress.events import InvalidEvent, parse_event
from tests.encoded_words import EVIL, Payload, encode, payloads

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"

VALID: dict[str, Any] = {
    "id": "evt_1001",
    "type": "invoice.issued",
    "occurred_at": "2026-11-01T10:00:00Z",
    "recipient": {
        "kind": "customer",
        "id": "cus_1",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
    },
    "data": {"invoice_number": "INV-1", "lines": [{"amount": "9.80"}]},
}


def event_with(**changes: Any) -> dict[str, Any]:
    """VALID with top-level keys replaced; a value of ... removes the key."""
    body = copy.deepcopy(VALID)
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return body


def recipient_with(**changes: Any) -> dict[str, Any]:
    """VALID with recipient keys replaced; a value of ... removes the key."""
    body = copy.deepcopy(VALID)
    for key, value in changes.items():
        if value is ...:
            body["recipient"].pop(key)
        else:
            body["recipient"][key] = value
    return body


def pointers(body: Any) -> list[str]:
    with pytest.raises(InvalidEvent) as info:
        parse_event(body)
    return [pointer for pointer, _ in info.value.errors]


def test_valid_event() -> None:
    """A well-formed body becomes an Event carrying every field."""
    event = parse_event(copy.deepcopy(VALID))
    assert event == Event(
        id="evt_1001",
        type="invoice.issued",
        occurred_at=datetime(2026, 11, 1, 10, 0, tzinfo=UTC),
        recipient=EventRecipient(
            kind="customer", id="cus_1", email="ada@example.com", name="Ada Lovelace"
        ),
        data={"invoice_number": "INV-1", "lines": [{"amount": "9.80"}]},
    )


def test_offset_is_kept() -> None:
    """An occurred_at with a non-UTC offset keeps that offset."""
    event = parse_event(event_with(occurred_at="2026-11-01T12:30:00+02:30"))
    assert event.occurred_at.utcoffset() == timedelta(hours=2, minutes=30)
    assert event.occurred_at == datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    assert event.occurred_at.tzinfo == timezone(timedelta(hours=2, minutes=30))


def test_optional_fields() -> None:
    """recipient.name and data may be left out: the name becomes '' and data {}."""
    body = recipient_with(name=...)
    del body["data"]
    event = parse_event(body)
    assert event.recipient.name == ""
    assert event.data == {}


def test_reseller_kind() -> None:
    """A reseller recipient keeps its kind."""
    assert parse_event(recipient_with(kind="reseller")).recipient.kind == "reseller"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_fixture_events_are_valid(path: Path) -> None:
    """Every sample event in tests/fixtures/events parses, with the type its file is named for."""
    event = parse_event(json.loads(path.read_text(encoding="utf-8")))
    assert event.type == path.stem


@pytest.mark.parametrize("body", [None, [], "event", 42, 1.5, True, [VALID]])
def test_body_must_be_an_object(body: Any) -> None:
    """Anything but a JSON object is refused at the root pointer '#'."""
    assert pointers(body) == ["#"]


@pytest.mark.parametrize(
    ("body", "pointer", "detail"),
    [
        (event_with(id=...), "#/id", "non-empty string"),
        (event_with(id=""), "#/id", "non-empty string"),
        (event_with(id="   "), "#/id", "non-empty string"),
        (event_with(id=1001), "#/id", "non-empty string"),
        (event_with(id="x" * 257), "#/id", "at most 256 characters"),
        (event_with(id="evt\r\n1"), "#/id", "CR, LF or NUL"),
        (event_with(type=...), "#/type", "non-empty string"),
        (event_with(type=["invoice.issued"]), "#/type", "non-empty string"),
        (event_with(type="t" * 65), "#/type", "at most 64 characters"),
        (event_with(type="invoice\x00issued"), "#/type", "CR, LF or NUL"),
        (event_with(occurred_at=...), "#/occurred_at", "non-empty string"),
        (event_with(occurred_at=1762000000), "#/occurred_at", "non-empty string"),
        (event_with(occurred_at="yesterday"), "#/occurred_at", "RFC 3339"),
        (event_with(occurred_at="2026-11-01T10:00:00"), "#/occurred_at", "offset"),
        (event_with(occurred_at="2026-11-01"), "#/occurred_at", "offset"),
        (event_with(occurred_at="2026-13-01T10:00:00Z"), "#/occurred_at", "RFC 3339"),
        (event_with(recipient=...), "#/recipient", "must be an object"),
        (event_with(recipient="ada@example.com"), "#/recipient", "must be an object"),
        (event_with(recipient=[]), "#/recipient", "must be an object"),
        (recipient_with(kind=...), "#/recipient/kind", "non-empty string"),
        (recipient_with(kind="admin"), "#/recipient/kind", '"customer" or "reseller"'),
        (recipient_with(kind="Customer"), "#/recipient/kind", '"customer" or "reseller"'),
        (recipient_with(id=...), "#/recipient/id", "non-empty string"),
        (recipient_with(id=7), "#/recipient/id", "non-empty string"),
        (recipient_with(name=7), "#/recipient/name", "must be a string"),
        (recipient_with(name="Ada\nBcc: x@example.com"), "#/recipient/name", "CR, LF or NUL"),
        (recipient_with(name="n" * 257), "#/recipient/name", "at most 256 characters"),
        (recipient_with(email=...), "#/recipient/email", "non-empty string"),
        (recipient_with(email=""), "#/recipient/email", "non-empty string"),
        (recipient_with(email="ada"), "#/recipient/email", "not a valid email address"),
        (
            recipient_with(email="Ada <ada@example.com>"),
            "#/recipient/email",
            "not a valid email address",
        ),
        (
            recipient_with(email="ada@example.com\r\nRCPT TO:<x@example.com>"),
            "#/recipient/email",
            "CR, LF or NUL",
        ),
        (event_with(data=[]), "#/data", "must be an object"),
        (event_with(data="none"), "#/data", "must be an object"),
        (event_with(data=None), "#/data", "must be an object"),
    ],
)
def test_invalid_field_is_named_by_its_pointer(body: Any, pointer: str, detail: str) -> None:
    """Each invalid field yields exactly one error naming its JSON pointer and the problem."""
    with pytest.raises(InvalidEvent) as info:
        parse_event(body)
    matching = [d for p, d in info.value.errors if p == pointer]
    assert matching, info.value.errors
    assert any(detail in d for d in matching), matching
    assert {p for p, _ in info.value.errors} == {pointer}
    assert pointer in str(info.value)


def test_several_errors_are_reported_at_once() -> None:
    """Every bad field is reported in one InvalidEvent, in the order of the body."""
    body = {
        "id": "",
        "type": "invoice.issued",
        "occurred_at": "not a date",
        "recipient": {"kind": "robot", "id": "cus_1", "email": "nobody"},
        "data": [],
    }
    assert pointers(body) == [
        "#/id",
        "#/occurred_at",
        "#/recipient/kind",
        "#/recipient/email",
        "#/data",
    ]


def test_empty_object_names_every_required_field() -> None:
    """An empty object is refused with an error for each required field."""
    assert pointers({}) == ["#/id", "#/type", "#/occurred_at", "#/recipient"]


def test_invalid_event_is_a_value_error_with_readable_text() -> None:
    """InvalidEvent is a ValueError whose text lists 'pointer: detail' pairs."""
    with pytest.raises(ValueError, match=r"#/recipient/kind: must be \"customer\" or \"reseller\""):
        parse_event(recipient_with(kind="admin"))


# Property tests: parse_event takes outside input, so nothing may escape but InvalidEvent.

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)

MISSING = object()


def field(valid: Any) -> st.SearchStrategy[Any]:
    """Mostly the valid value; otherwise an arbitrary JSON value, any string, or no key at all."""
    other = st.one_of(json_values, st.text(max_size=300), st.just(MISSING))
    return st.tuples(st.integers(0, 9), other).map(lambda pick: valid if pick[0] < 8 else pick[1])


def assemble(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not MISSING}


event_like = st.builds(
    assemble,
    id=field("evt_1"),
    type=field("invoice.issued"),
    occurred_at=field("2026-11-01T10:00:00Z"),
    recipient=st.one_of(
        json_values,
        st.builds(
            assemble,
            kind=field("customer"),
            id=field("cus_1"),
            name=field("Ada"),
            email=st.one_of(field("ada@example.com"), st.emails(), st.text(max_size=80)),
        ),
    ),
    data=field({}),
)


def check_outcome(body: Any) -> None:
    errors: list[tuple[str, str]] | None = None
    try:
        event = parse_event(body)
    except InvalidEvent as exc:
        errors = exc.errors
    if errors is not None:
        assert errors
        assert all(pointer.startswith("#") and detail for pointer, detail in errors)
        return
    assert isinstance(event, Event)
    assert event.id.strip()
    assert event.type.strip()
    assert event.occurred_at.tzinfo is not None
    assert check_address(event.recipient.email) == event.recipient.email
    assert event.recipient.kind in ("customer", "reseller")
    assert isinstance(event.data, dict)


@given(json_values)
def test_arbitrary_json_gives_an_event_or_invalid_event(body: Any) -> None:
    """For any JSON-like value, parse_event returns an Event or raises InvalidEvent only."""
    check_outcome(body)


@given(event_like)
def test_event_shaped_json_gives_an_event_or_invalid_event(body: dict[str, Any]) -> None:
    """For event-shaped objects with arbitrary fields, the result is an Event or InvalidEvent."""
    check_outcome(body)


@given(st.text(), st.text(), st.text())
def test_header_fields_with_line_breaks_or_nul_never_parse(name: str, email: str, eid: str) -> None:
    """No recipient name, address or event id with a line break or NUL gets through."""
    body = copy.deepcopy(VALID)
    body["id"] = eid or "evt"
    body["recipient"] |= {"name": name, "email": email}
    try:
        event = parse_event(json.loads(json.dumps(body)))
    except InvalidEvent:
        return
    for value in (event.recipient.name, event.recipient.email, event.id):
        assert len(f"{value}.".splitlines()) == 1
        assert "\x00" not in value


# Line breaks hidden in RFC 2047 encoded words

ENCODED_CRLF = f"=?utf-8?q?Ada=0D=0ABcc:_{EVIL}?="


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ENCODED_CRLF),
        ("name", encode(f"Ada\r\nReply-To: {EVIL}\r\n\r\nForged body".encode(), "b")),
        ("id", ENCODED_CRLF),
        # A dot-atom local part may hold a whole encoded word.
        ("email", "=?utf-8?q?=0D=0ABcc=3A_evil=40evil.example?=@example.com"),
    ],
)
def test_recipient_fields_hiding_a_break_are_refused(field: str, value: str) -> None:
    """A recipient name, id or address whose encoded word decodes to CR LF is
    refused, naming the field."""
    assert pointers(recipient_with(**{field: value})) == [f"#/recipient/{field}"]


def test_data_hiding_a_break_is_refused_by_its_pointer() -> None:
    """Every string in the data is decoded, nested ones too; each refusal
    names its field as an RFC 6901 pointer."""
    body = event_with(
        data={
            "invoice_number": ENCODED_CRLF,
            "lines": [{"amount": "9.80", "note": encode(b"x\nBcc: y@z.example", "b")}],
            "a/b~c": "=?utf-8?q?=00?=",
            "plain": "line one\r\nline two",
        }
    )
    assert pointers(body) == ["#/data/a~1b~0c", "#/data/invoice_number", "#/data/lines/0/note"]


def test_data_keeps_its_own_line_breaks_and_harmless_words() -> None:
    """Data may span lines (a subject folds them into spaces) and may carry
    encoded words that decode to ordinary text."""
    data = {"note": "line one\nline two", "name": "=?utf-8?q?Zo=C3=AB?="}
    assert parse_event(event_with(data=data)).data == data


@given(payloads())
def test_a_recipient_name_of_encoded_words_is_refused_exactly_when_it_hides_a_break(
    payload: Payload,
) -> None:
    """In Q or B, in one word or cut into several: refused exactly when the
    words decode to a line break or NUL."""
    body = recipient_with(name=payload.unfolded)
    if payload.hostile:
        assert pointers(body) == ["#/recipient/name"]
    else:
        assert parse_event(body).recipient.name == payload.unfolded


@given(payloads())
def test_data_of_encoded_words_is_refused_exactly_when_it_hides_a_break(payload: Payload) -> None:
    """Folded across lines or not, a data value is refused exactly when its words
    decode to a line break or NUL."""
    for written in (payload.unfolded, payload.folded):
        body = event_with(data={"invoice_number": written})
        if payload.hostile:
            assert pointers(body) == ["#/data/invoice_number"]
        else:
            assert parse_event(body).data == {"invoice_number": written}
