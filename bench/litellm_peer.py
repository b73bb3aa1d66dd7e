"""LiteLLM's proxy as the bench's third column, on its Responses-to-chat bridge.

It lives in its own virtual environment outside the repository (made on first use, pinned
version), because it is not a dependency of the gateway. When it cannot be installed or
started, the bench says so in its table instead of failing.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import orjson

from load import Target, free_port, pinned

VERSION = "1.106.12"
DEFAULT_VENV = Path.home() / ".cache" / "responses-gateway" / "bench-litellm"
# "custom_openai/" is an OpenAI-compatible chat provider without a native Responses API, so
# LiteLLM answers /v1/responses by translating to /chat/completions, as the gateway does.
_CONFIG = """model_list:
  - model_name: bench
    litellm_params:
      model: custom_openai/bench
      api_base: {upstream}
      api_key: bench
litellm_settings:
  drop_params: true
  telemetry: false
"""


def _install(venv: Path) -> str | None:
    """Make the environment if needed; None when ready, else why not."""
    binary = venv / "bin" / "litellm"
    if binary.exists():
        return None
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q",
                        f"litellm[proxy]=={VERSION}"], check=True, capture_output=True,
                       timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        return f"skipped: LiteLLM {VERSION} could not be installed ({type(exc).__name__})"
    return None if binary.exists() else f"skipped: no litellm binary in {venv}"


def start(venv: Path, upstream: str, scratch: str, cpu: int | None
          ) -> tuple[Target | None, str | None]:
    problem = _install(venv)
    if problem is not None:
        return None, problem
    config = Path(scratch) / "litellm.yaml"
    config.write_text(_CONFIG.format(upstream=upstream))
    port = free_port()
    log = Path(scratch) / "litellm.log"
    key = "sk-bench-" + secrets.token_hex(16)  # it refuses to start without a master key
    env = {**os.environ, "LITELLM_MASTER_KEY": key, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR",
           "LITELLM_TELEMETRY": "False", "NO_DOCS": "True"}
    proc = subprocess.Popen(
        pinned([str(venv / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1",
                "--port", str(port), "--num_workers", "1"], cpu),
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    body = {"model": "bench", "input": "Say hello.", "instructions": "Be brief.",
            "temperature": 0.2, "max_output_tokens": 64}
    target = Target("litellm", proc, f"http://127.0.0.1:{port}/v1/responses",
                    orjson.dumps(body), orjson.dumps({**body, "stream": True}))
    target.headers["Authorization"] = f"Bearer {key}"
    target.log = log  # type: ignore[attr-defined]
    target.health = f"http://127.0.0.1:{port}/health/liveliness"
    return target, None
