"""Per-key admission counters (admission.py): limits, release, hand-over to background runs."""

from __future__ import annotations

import pytest

from responses_gateway.admission import Admission
from responses_gateway.config import Limits
from responses_gateway.protocol.errors import TooManyRequests


def test_requests_beyond_the_limit_are_refused_per_bucket_and_released() -> None:
    admission = Admission(Limits(max_requests_per_key=2))
    first, second = admission.admit("a"), admission.admit("a")
    with pytest.raises(TooManyRequests) as refused:
        admission.admit("a")
    assert refused.value.status == 429 and refused.value.retry_after == "1"
    assert "--max-requests-per-key" in refused.value.message
    admission.admit("b")  # another key has its own count
    admission.release(first)
    admission.release(first)  # releasing twice gives back one slot only
    admission.admit("a")
    assert admission.held("a") == (2, 0)
    admission.release(second)


def test_uncounted_requests_never_refused_but_may_hold_streams() -> None:
    admission = Admission(Limits(max_requests_per_key=1, max_streams_per_key=1))
    admission.admit("a")
    reader = admission.admit("a", counted=False)
    admission.open_stream(reader)
    admission.open_stream(reader)  # idempotent per request
    with pytest.raises(TooManyRequests) as refused:
        admission.open_stream(admission.admit("a", counted=False))
    assert refused.value.code == "concurrent_streams_limit"
    admission.release(reader)
    assert admission.held("a") == (1, 0)
