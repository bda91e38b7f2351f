"""Tests for gateway/errors.py: one root for every error, the matching built-in
for each real error, and the fields an invalid input names."""

from __future__ import annotations

import inspect

import pytest

from gateway import errors
from gateway.errors import GatewayError, InvalidEvent, InvalidInput

# Every exception the module defines (``Faults`` collects errors; it is not raised).
CLASSES = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if cls.__module__ == errors.__name__ and issubclass(cls, BaseException)
]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_class_has_gateway_error_as_its_root(cls: type) -> None:
    """Whatever Herald raises can be caught as a GatewayError."""
    assert issubclass(cls, GatewayError)


# Being refused for going too fast matches no built-in exception.
NO_BUILT_IN = {GatewayError, errors.RateLimitedError}


@pytest.mark.parametrize(
    "cls",
    [cls for cls in CLASSES if cls.__name__.endswith("Error") and cls not in NO_BUILT_IN],
    ids=lambda cls: cls.__name__,
)
def test_a_real_error_is_also_the_built_in_it_is(cls: type) -> None:
    """An ``...Error`` is also a standard exception (ValueError, OSError...), so code
    that knows nothing of Herald catches it as what it is."""
    plain = {Exception, BaseException, object}
    assert [b for b in cls.__mro__ if b.__module__ == "builtins" and b not in plain], cls


def test_invalid_input_names_its_field_without_the_pointer_prefix() -> None:
    """The text reads ``address: ...`` while ``field`` keeps the JSON pointer."""
    error = InvalidInput("#/address", "is not an address")
    assert str(error) == "address: is not an address"
    assert (error.field, error.detail, error.errors) == (
        "#/address",
        "is not an address",
        [("#/address", "is not an address")],
    )


def test_an_invalid_event_names_every_field_in_order() -> None:
    """The first error is the field; the text and ``errors`` hold all of them."""
    error = InvalidEvent([("#/type", "is required"), ("#/data/amount", "must be a string")])
    assert isinstance(error, InvalidInput)
    assert error.field == "#/type"
    assert str(error) == "#/type: is required; #/data/amount: must be a string"
    assert error.errors == [("#/type", "is required"), ("#/data/amount", "must be a string")]
