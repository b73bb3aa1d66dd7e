"""Hypothesis strategies over the Responses request schema (issue 12 item 5).

- `valid_bodies()`: create bodies OpenAI would accept, over every field the gateway checks;
- `invalid_cases()`: a valid body with exactly one field made invalid, and the `param` the
  400 must name;
- `wild_bodies()`: a valid body with some fields replaced by arbitrary JSON (anything goes);
- `items()` / `wild_items()`: input items, valid or arbitrary, for `input` and conversations.

Used by tests/protocol/test_properties.py (in process) and tests/e2e/test_properties.py
(against the real gateway and mock provider).
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = ["examples", "invalid_cases", "items", "valid_bodies", "wild_bodies", "wild_items"]

# Bounded for CI: a fixed number of examples, derandomized (the same ones every run, so a
# failure reproduces), with a per-example deadline. RG_HYPOTHESIS_EXAMPLES raises the count
# for a longer local run.
def examples(count: int, *, deadline_ms: int = 5000) -> Any:
    return settings(max_examples=int(os.environ.get("RG_HYPOTHESIS_EXAMPLES", count)),
                    deadline=deadline_ms, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


MODELS = ("mock-echo", "mock-think", "mock-length")
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
SUMMARIES = ("auto", "concise", "detailed")
INCLUDABLE = ("reasoning.encrypted_content", "message.output_text.logprobs",
              "web_search_call.results", "message.input_image.image_url")
TIERS = ("auto", "default", "flex", "scale", "priority", "fast", "ultrafast")
HOSTED_TOOLS = ("web_search", "file_search", "code_interpreter", "image_generation", "mcp")

text = st.text(max_size=40)
names = st.from_regex(r"[a-zA-Z0-9_-]{1,30}", fullmatch=True)
json_leaves = st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | \
    st.floats(allow_nan=False, allow_infinity=False) | text
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=4) |
                           st.dictionaries(text, inner, max_size=4), max_leaves=12)

_parts = st.lists(st.fixed_dictionaries({"type": st.just("input_text"), "text": text}),
                  min_size=1, max_size=3)
_user_message = st.fixed_dictionaries(
    {"role": st.sampled_from(("user", "system", "developer")), "content": text | _parts},
    optional={"type": st.just("message")})
_assistant_message = st.fixed_dictionaries(
    {"role": st.just("assistant"), "type": st.just("message"),
     "content": st.lists(st.fixed_dictionaries({"type": st.just("output_text"), "text": text}),
                         min_size=1, max_size=2)})
_reasoning = st.fixed_dictionaries(
    {"type": st.just("reasoning"),
     "summary": st.lists(st.fixed_dictionaries({"type": st.just("summary_text"),
                                                "text": text}), max_size=2)})
_hosted_item = st.fixed_dictionaries({"type": st.sampled_from(("web_search_call",
                                                               "mcp_list_tools"))})


@st.composite
def _tool_round(draw: st.DrawFn) -> list[dict[str, Any]]:
    call_id = draw(names)
    return [{"type": "function_call", "call_id": call_id, "name": draw(names),
             "arguments": "{}"},
            {"type": "function_call_output", "call_id": call_id, "output": draw(text)}]


def items() -> st.SearchStrategy[list[dict[str, Any]]]:
    """A valid input list that ends with a user message (so there is something to answer)."""
    single = (_user_message | _assistant_message | _reasoning | _hosted_item).map(lambda i: [i])
    rounds = st.lists(single | _tool_round(), max_size=3).map(lambda rs: [i for r in rs for i in r])
    return st.tuples(rounds, _user_message).map(lambda pair: [*pair[0], pair[1]])


def wild_items() -> st.SearchStrategy[Any]:
    """Items that may be anything: valid ones, mangled ones, or arbitrary JSON."""
    # Values of every JSON type, the containers often (an array where a string belongs was
    # a 500 once), then arbitrary ones.
    odd = st.sampled_from(([], {}, [[]], {"a": {}}, [1, "x"], 0, -1, 2.5, True, None, "",
                           "x" * 600)) | json_values
    mangled = st.builds(lambda item, key, value: {**item, key: value},
                        _user_message | _assistant_message | _reasoning | _tool_round().map(
                            lambda r: r[1]),
                        st.sampled_from(("type", "role", "content", "id", "status", "summary",
                                         "call_id", "output")),
                        odd)
    return mangled | _user_message | json_values


_function_tool = st.fixed_dictionaries(
    {"type": st.just("function"), "name": names,
     "parameters": st.just({"type": "object", "properties": {"city": {"type": "string"}}})},
    optional={"description": text, "strict": st.booleans()})

OPTIONAL_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "instructions": text,
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "presence_penalty": st.floats(-2, 2),
    "frequency_penalty": st.floats(-2, 2),
    "max_output_tokens": st.integers(1, 4096),
    "top_logprobs": st.integers(0, 20),
    "store": st.booleans(),
    "stream": st.booleans(),
    "parallel_tool_calls": st.booleans(),
    "metadata": st.dictionaries(st.text(max_size=64), st.text(max_size=512), max_size=16),
    "reasoning": st.fixed_dictionaries({}, optional={"effort": st.sampled_from(EFFORTS),
                                                     "summary": st.sampled_from(SUMMARIES)}),
    "text": st.fixed_dictionaries({}, optional={
        "verbosity": st.sampled_from(("low", "medium", "high")),
        "format": st.sampled_from(({"type": "text"}, {"type": "json_object"}))}),
    "include": st.lists(st.sampled_from(INCLUDABLE), max_size=3),
    "truncation": st.sampled_from(("auto", "disabled")),
    "service_tier": st.sampled_from(TIERS),
    "tools": st.lists(_function_tool | st.fixed_dictionaries(
        {"type": st.sampled_from(HOSTED_TOOLS)}), max_size=3),
    "tool_choice": st.sampled_from(("auto", "none")),
    "user": text,
    "safety_identifier": st.text(max_size=64),
    "prompt_cache_key": text,
    "client_metadata": json_values,  # unknown fields are ignored
}


def valid_bodies() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"model": st.sampled_from(MODELS),
         "input": st.text(min_size=1, max_size=40) | items()},
        optional=OPTIONAL_FIELDS)


ints = st.integers(-2**63, 2**63 - 1)  # what JSON writers take


def _not_in(allowed: tuple[str, ...]) -> st.SearchStrategy[Any]:
    return st.text(max_size=20).filter(lambda v: v not in allowed) | ints | \
        st.booleans() | st.lists(ints, max_size=2)


def _wrong_number(low: float, high: float) -> st.SearchStrategy[Any]:
    outside = st.floats(allow_nan=False, allow_infinity=False).filter(
        lambda v: not low <= v <= high)
    return outside | st.text(max_size=5) | st.booleans() | st.lists(ints, max_size=2)


def _too_deep(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth):
        value = {"type": "object", "properties": {"a": value}}
    return value


# field -> (strategy of (new value, param)); the body's other fields stay valid.
_MUTATIONS: dict[str, st.SearchStrategy[tuple[Any, str]]] = {
    "temperature": _wrong_number(0, 2).map(lambda v: (v, "temperature")),
    "top_p": _wrong_number(0, 1).map(lambda v: (v, "top_p")),
    "max_output_tokens": (st.integers(-2**63, -1) | text).map(
        lambda v: (v, "max_output_tokens")),
    "top_logprobs": st.integers(21, 2**63 - 1).map(lambda v: (v, "top_logprobs")),
    "stream": (ints | text).map(lambda v: (v, "stream")),
    "metadata": st.one_of(
        st.dictionaries(st.text(max_size=8), st.just("v"), min_size=17, max_size=20).map(
            lambda v: (v, "metadata")),
        st.text(min_size=513, max_size=600).map(lambda v: ({"k": v}, "metadata.k")),
        (ints | st.booleans() | st.lists(text, max_size=2)).map(
            lambda v: ({"k": v}, "metadata.k")),
        st.text(min_size=65, max_size=80).map(lambda k: ({k: "v"}, "metadata"))),
    "conversation": (st.booleans() | ints | st.lists(text, max_size=2)).map(
        lambda v: (v, "conversation")),
    "include": st.tuples(st.lists(st.sampled_from(INCLUDABLE), max_size=2),
                         _not_in(INCLUDABLE)).map(
        lambda p: ([*p[0], p[1]], f"include[{len(p[0])}]")),
    "reasoning": _not_in(EFFORTS).map(lambda v: ({"effort": v}, "reasoning.effort")),
    "text": _not_in(("low", "medium", "high")).map(
        lambda v: ({"verbosity": v}, "text.verbosity")),
    "truncation": _not_in(("auto", "disabled")).map(lambda v: (v, "truncation")),
    "service_tier": _not_in(TIERS).map(lambda v: (v, "service_tier")),
    "tools": st.one_of(
        st.text(min_size=1, max_size=20).filter(lambda t: t not in _KNOWN_TOOLS).map(
            lambda t: ([{"type": t}], "tools[0].type")),
        st.integers(129, 200).map(lambda d: (
            [{"type": "function", "name": "f", "parameters": _too_deep(d // 2)}],
            "tools[0].parameters"))),
    "input": st.one_of(
        (ints | st.lists(ints, max_size=2) | st.just({})).map(
            lambda v: ([{"role": v, "content": "hi"}], "input[0].role")),
        (ints | st.booleans() | st.just({"a": 1})).map(
            lambda v: ([{"role": "user", "content": v}], "input[0].content"))),
}
_KNOWN_TOOLS = frozenset({"function", "custom", "namespace", "file_search", "web_search",
                          "web_search_2025_08_26", "web_search_preview",
                          "web_search_preview_2025_03_11", "computer", "computer_use",
                          "computer_use_preview", "mcp", "code_interpreter",
                          "programmatic_tool_calling", "image_generation", "local_shell",
                          "shell", "tool_search", "apply_patch"})


@st.composite
def invalid_cases(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """(a body with one invalid field, the param its 400 must name)."""
    body = draw(valid_bodies())
    field = draw(st.sampled_from(sorted(_MUTATIONS)))
    value, param = draw(_MUTATIONS[field])
    body[field] = value
    if field == "tools":
        body.pop("tool_choice", None)
    return body, param


@st.composite
def wild_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid body with a few fields (known or not) replaced by arbitrary JSON."""
    body = draw(valid_bodies())
    if draw(st.booleans()):  # only the input is wild, so nothing else fails first
        body["input"] = draw(st.lists(wild_items(), min_size=1, max_size=3))
        return body
    keys = draw(st.lists(st.sampled_from(("model", *OPTIONAL_FIELDS, "conversation",
                                          "previous_response_id", "stop")),
                         min_size=1, max_size=3, unique=True))
    for key in keys:
        body[key] = draw(json_values)
    return body
