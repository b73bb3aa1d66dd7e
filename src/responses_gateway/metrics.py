"""Prometheus metrics: one `Metrics` object per process, kept on the app (no globals).

With `--workers N` the supervisor sets PROMETHEUS_MULTIPROC_DIR before forking, and each
worker writes its values there, so any worker's `/metrics` reports the whole gateway.
Label values that clients choose (model names) are bounded, so a client cannot make the
metric set grow without limit.
"""

from __future__ import annotations

import os
import time
from typing import Any, Awaitable, Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["CONTENT_TYPE", "Metrics", "instrument_store"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
_PREFIX = "responses_gateway"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
                  1, 5)
MAX_MODELS = 200  # distinct model label values; later ones are reported as "other"


class Metrics:
    """The gateway's metrics. Methods are cheap: a dict lookup and an add each."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        if self.multiprocess:
            # prometheus_client picks its value store when first imported, which may have
            # been before the supervisor set the directory: pick the file-backed one now.
            from prometheus_client import values

            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        live: dict[str, Any] = {"multiprocess_mode": "livesum"} if self.multiprocess else {}
        r = self.registry
        self.requests = Counter(f"{_PREFIX}_requests", "HTTP requests answered",
                                ["route", "method", "status", "model", "upstream", "key"],
                                registry=r)
        self.latency = Histogram(f"{_PREFIX}_request_duration_seconds",
                                 "Time from request to the last byte of the answer",
                                 ["route", "model", "upstream"], buckets=_LATENCY_BUCKETS,
                                 registry=r)
        self.ttft = Histogram(f"{_PREFIX}_time_to_first_token_seconds",
                              "Time from request to the provider's first chunk (streams)",
                              ["model", "upstream"], buckets=_LATENCY_BUCKETS, registry=r)
        self.upstream_errors = Counter(f"{_PREFIX}_upstream_errors",
                                       "Failed provider calls, by class",
                                       ["upstream", "error_class"], registry=r)
        self.in_flight = Gauge(f"{_PREFIX}_in_flight_requests", "Requests being answered",
                               registry=r, **live)
        self.streams = Gauge(f"{_PREFIX}_in_flight_streams", "SSE streams being sent",
                             registry=r, **live)
        self.tokens = Counter(f"{_PREFIX}_tokens", "Tokens reported by providers",
                              ["kind", "model", "upstream", "key"], registry=r)
        self.store_ops = Counter(f"{_PREFIX}_store_operations", "Store operations",
                                 ["operation", "backend", "outcome"], registry=r)
        self.store_latency = Histogram(f"{_PREFIX}_store_operation_duration_seconds",
                                       "Store operation time", ["operation", "backend"],
                                       buckets=_STORE_BUCKETS, registry=r)
        self.retries = Counter(f"{_PREFIX}_upstream_retries",
                               "What the provider's refusals taught (lessons.py): fixes "
                               "learned, requests retried with a fix, retries refused again",
                               ["upstream", "fix", "outcome"], registry=r)
        self._models: set[str] = set()

    def model_label(self, model: str) -> str:
        if model in self._models:
            return model
        if len(self._models) < MAX_MODELS:
            self._models.add(model)
            return model
        return "other"

    def count_tokens(self, usage: dict[str, Any], *, model: str, upstream: str,
                     key: str) -> None:
        model = self.model_label(model)
        details_in = usage.get("input_tokens_details") or {}
        details_out = usage.get("output_tokens_details") or {}
        for kind, value in (("input", usage.get("input_tokens")),
                            ("output", usage.get("output_tokens")),
                            ("cached", details_in.get("cached_tokens")),
                            ("reasoning", details_out.get("reasoning_tokens"))):
            if isinstance(value, int) and value > 0:
                self.tokens.labels(kind, model, upstream, key).inc(value)

    def count_lesson(self, event: str, upstream: str, _model: str, fix: str) -> None:
        """A `Lessons` listener: learned / retried / retry_failed, by upstream and fix."""
        self.retries.labels(upstream, fix[:80], event).inc()

    def exposition(self) -> bytes:
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def instrument_store(store: Any, metrics: Metrics) -> Any:
    """Time every public coroutine method of `store` (on the instance, so every backend,
    and methods added later, are covered without a wrapper class per backend)."""
    backend = str(getattr(store, "name", type(store).__name__))
    for name in dir(type(store)):
        if name.startswith("_") or name == "close":
            continue
        method = getattr(store, name, None)
        if method is None or not _is_coroutine_function(method):
            continue
        setattr(store, name, _timed(method, name, backend, metrics))
    return store


def _is_coroutine_function(value: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(value)


def _timed(method: Callable[..., Awaitable[Any]], name: str, backend: str,
           metrics: Metrics) -> Callable[..., Awaitable[Any]]:
    ok = metrics.store_ops.labels(name, backend, "ok")
    failed = metrics.store_ops.labels(name, backend, "error")
    latency = metrics.store_latency.labels(name, backend)

    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            result = await method(*args, **kwargs)
        except BaseException:
            failed.inc()
            raise
        finally:
            latency.observe(time.perf_counter() - started)
        ok.inc()
        return result

    timed.__name__ = name
    timed.__doc__ = method.__doc__
    return timed
