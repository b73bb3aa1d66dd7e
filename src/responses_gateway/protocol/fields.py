"""Checks for single request fields, failing with the 400 that OpenAI gives. Pure: no I/O.

Each check raises InvalidRequest whose `param` is the dotted path of the field
(`reasoning.effort`, `input[3].content`) and whose `code` and message follow OpenAI's own:
`invalid_type`, `invalid_value`, `decimal_above_max_value`, `string_above_max_length`,
`object_above_max_properties`, `missing_required_parameter`, ...
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from .errors import InvalidRequest

__all__ = [
    "METADATA_MAX_KEYS",
    "METADATA_MAX_KEY_LENGTH",
    "METADATA_MAX_VALUE_LENGTH",
    "check_array",
    "check_bool",
    "check_enum",
    "check_integer",
    "check_max_items",
    "check_metadata",
    "check_number",
    "check_object",
    "check_string",
    "describe",
    "missing",
    "type_error",
]

METADATA_MAX_KEYS = 16
METADATA_MAX_KEY_LENGTH = 64
METADATA_MAX_VALUE_LENGTH = 512


def describe(value: Any) -> str:
    """How OpenAI names the JSON type of a wrong value: 'a string', 'an integer', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def type_error(param: str, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(f"Invalid type for '{param}': expected {expected}, but got "
                          f"{describe(value)} instead.", param=param, code="invalid_type")


def missing(param: str) -> InvalidRequest:
    return InvalidRequest(f"Missing required parameter: '{param}'.", param=param,
                          code="missing_required_parameter")


def _listed(values: Iterable[str], last: str) -> str:
    quoted = [f"'{v}'" for v in values]
    if len(quoted) < 3:
        return f" {last} ".join(quoted)
    return f"{', '.join(quoted[:-1])}, {last} {quoted[-1]}"


def check_enum(value: Any, param: str, allowed: tuple[str, ...]) -> None:
    """`value` (not None) must be one of `allowed`."""
    if not isinstance(value, str):
        raise type_error(param, f"one of {_listed(allowed, 'or')}", value)
    if value not in allowed:
        shown = value if len(value) <= 64 else value[:61] + "..."
        raise InvalidRequest(f"Invalid value: '{shown}'. Supported values are: "
                             f"{_listed(allowed, 'and')}.", param=param, code="invalid_value")


def check_number(value: Any, param: str, low: float | None = None,
                 high: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise type_error(param, "a decimal", value)
    _check_range(value, param, low, high, "decimal")


def check_integer(value: Any, param: str, low: int | None = None,
                  high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise type_error(param, "an integer", value)
    _check_range(value, param, low, high, "integer")


def _check_range(value: float, param: str, low: float | None, high: float | None,
                 kind: str) -> None:
    if low is not None and value < low:
        raise InvalidRequest(f"Invalid '{param}': {kind} below minimum value. Expected a value "
                             f">= {low:g}, but got {value:g} instead.", param=param,
                             code=f"{kind}_below_min_value")
    if high is not None and value > high:
        raise InvalidRequest(f"Invalid '{param}': {kind} above maximum value. Expected a value "
                             f"<= {high:g}, but got {value:g} instead.", param=param,
                             code=f"{kind}_above_max_value")


def check_bool(value: Any, param: str) -> None:
    if not isinstance(value, bool):
        raise type_error(param, "a boolean", value)


def check_string(value: Any, param: str, *, max_length: int | None = None,
                 non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise type_error(param, "a string", value)
    if non_empty and not value:
        raise InvalidRequest(f"Invalid '{param}': empty string. Expected a string with minimum "
                             "length 1, but got an empty string instead.", param=param,
                             code="empty_string")
    if max_length is not None and len(value) > max_length:
        raise InvalidRequest(f"Invalid '{param}': string too long. Expected a string with "
                             f"maximum length {max_length}, but got a string with length "
                             f"{len(value)} instead.", param=param,
                             code="string_above_max_length")
    return value


def check_object(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise type_error(param, "an object", value)
    return value


def check_array(value: Any, param: str, of: str = "") -> list[Any]:
    if not isinstance(value, list):
        raise type_error(param, f"an array{of}", value)
    return value


def check_max_items(value: list[Any], param: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidRequest(f"Invalid '{param}': array too long. Expected an array with "
                             f"maximum length {limit}, but got an array with length "
                             f"{len(value)} instead.", param=param,
                             code="array_above_max_length")


def check_metadata(value: Any, param: str = "metadata") -> Mapping[str, str]:
    """Up to 16 string keys of at most 64 characters, each to a string of at most 512."""
    metadata = check_object(value, param)
    if len(metadata) > METADATA_MAX_KEYS:
        raise InvalidRequest(f"Invalid '{param}': too many properties. Expected an object with "
                             f"at most {METADATA_MAX_KEYS} properties, but got an object with "
                             f"{len(metadata)} properties instead.", param=param,
                             code="object_above_max_properties")
    for key, item in metadata.items():
        if len(key) > METADATA_MAX_KEY_LENGTH:
            shown = key[:20] + "..."
            raise InvalidRequest(f"Invalid property name in '{param}': '{shown}' is too long. "
                                 f"Expected a string with maximum length "
                                 f"{METADATA_MAX_KEY_LENGTH}, but got a string with length "
                                 f"{len(key)} instead.", param=param,
                                 code="property_name_above_max_length")
        check_string(item, f"{param}.{key}", max_length=METADATA_MAX_VALUE_LENGTH)
    return metadata
