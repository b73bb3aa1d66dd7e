"""Log lines cannot be forged: control characters in messages are escaped (issue 12 item 6)."""

from __future__ import annotations

import logging

from responses_gateway.logs import FORMAT, EscapingFormatter, escape


def test_escape_makes_line_breaks_and_controls_visible() -> None:
    assert escape("plain text") == "plain text"
    assert escape("a\r\nb\tc") == "a\\r\\nb\\tc"
    assert escape("esc\x1b[31mred\x7f") == "esc\\x1b[31mred\\x7f"
    assert escape("line\u2028sep") == "line\\x2028sep"


def test_a_message_with_a_newline_stays_one_line_but_a_traceback_keeps_its_lines() -> None:
    formatter = EscapingFormatter(FORMAT)
    record = logging.LogRecord("responses_gateway", logging.WARNING, __file__, 1,
                               "GET %s -> 503", ("/v1/responses/x\n2026 ERROR forged",), None)
    assert "\n" not in formatter.format(record)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = logging.LogRecord("responses_gateway", logging.ERROR, __file__, 1,
                                   "item %s", ("a\nb",), sys.exc_info())
    text = formatter.format(failed)
    assert text.splitlines()[0].endswith("item a\\nb")
    assert "Traceback" in text.splitlines()[1]
