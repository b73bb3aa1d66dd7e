"""protocol/fields.py: single-field checks with OpenAI's codes and wording."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from responses_gateway.protocol.errors import InvalidRequest
from responses_gateway.protocol.fields import (
    check_enum,
    check_integer,
    check_metadata,
    check_number,
    check_string,
)


def error_of(check: Callable[[], Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        check()
    return info.value


def test_enum_value_lists_the_supported_values() -> None:
    error = error_of(lambda: check_enum("loud", "text.verbosity", ("low", "medium", "high")))
    assert error.message == ("Invalid value: 'loud'. Supported values are: 'low', 'medium', "
                             "and 'high'.")
    assert (error.param, error.code) == ("text.verbosity", "invalid_value")


def test_enum_of_the_wrong_type() -> None:
    error = error_of(lambda: check_enum(5, "text.verbosity", ("low", "high")))
    assert error.message == ("Invalid type for 'text.verbosity': expected one of 'low' or "
                             "'high', but got an integer instead.")
    assert error.code == "invalid_type"


@pytest.mark.parametrize("value, code, text", [
    (-5, "decimal_below_min_value", "Expected a value >= 0, but got -5 instead."),
    (100, "decimal_above_max_value", "Expected a value <= 2, but got 100 instead."),
    (2.5, "decimal_above_max_value", "Expected a value <= 2, but got 2.5 instead."),
])
def test_number_range(value: float, code: str, text: str) -> None:
    error = error_of(lambda: check_number(value, "temperature", 0, 2))
    assert error.code == code and error.message.endswith(text)


@pytest.mark.parametrize("value", [True, "1", None, [1]])
def test_number_type(value: Any) -> None:
    assert error_of(lambda: check_number(value, "top_p", 0, 1)).code == "invalid_type"


def test_integer_rejects_a_decimal() -> None:
    error = error_of(lambda: check_integer(1.5, "top_logprobs", 0, 20))
    assert error.message == ("Invalid type for 'top_logprobs': expected an integer, but got a "
                             "decimal number instead.")


def test_string_length() -> None:
    error = error_of(lambda: check_string("x" * 65, "safety_identifier", max_length=64))
    assert error.code == "string_above_max_length"
    assert error_of(lambda: check_string("", "c", non_empty=True)).code == "empty_string"


@pytest.mark.parametrize("metadata, param, code", [
    ({f"k{i}": "v" for i in range(17)}, "metadata", "object_above_max_properties"),
    ({"k" * 65: "v"}, "metadata", "property_name_above_max_length"),
    ({"k": "v" * 513}, "metadata.k", "string_above_max_length"),
    ({"k": None}, "metadata.k", "invalid_type"),
    ([], "metadata", "invalid_type"),
])
def test_metadata_limits(metadata: Any, param: str, code: str) -> None:
    error = error_of(lambda: check_metadata(metadata))
    assert (error.param, error.code) == (param, code)


def test_metadata_at_the_limits_is_accepted() -> None:
    metadata = {f"{i:064d}": "v" * 512 for i in range(16)}
    assert check_metadata(metadata) == metadata
