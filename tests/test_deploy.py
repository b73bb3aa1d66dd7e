"""The container and service files stay consistent with the code: they run as a non-root
user, have a health check, name only settings that exist, and install extras that exist.
(CI has no Docker daemon, so the image itself is not built here; see docs/deployment.md.)"""

from __future__ import annotations

import configparser
import re
import tomllib
from pathlib import Path

import pytest

from responses_gateway.options import OPTIONS

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"
UNIT = ROOT / "deploy" / "responses-gateway.service"
DEPLOY_FILES = (DOCKERFILE, COMPOSE, UNIT, ROOT / "docs" / "deployment.md")

_KNOWN = {option.env_name for option in OPTIONS if option.env_name}


def _instructions(text: str) -> list[tuple[str, str]]:
    """Dockerfile instructions with continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_dockerfile_final_stage_runs_unprivileged_with_a_health_check() -> None:
    steps = _instructions(DOCKERFILE.read_text())
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    final = steps[last_from:]
    users = [rest for word, rest in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    health = [rest for word, rest in final if word == "HEALTHCHECK"]
    assert health and "/health" in health[0], health
    entry = [rest for word, rest in final if word == "ENTRYPOINT"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entry and any(name in entry[0] for name in scripts), entry


def test_dockerfile_installs_extras_that_exist() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get(
        "optional-dependencies", {})
    asked = re.findall(r"\[([a-z0-9_,-]+)\]", DOCKERFILE.read_text())
    assert asked
    for group in asked:
        for extra in group.split(","):
            assert extra in extras, f"Dockerfile installs unknown extra {extra!r}"


@pytest.mark.parametrize("path", DEPLOY_FILES, ids=lambda p: p.name)
def test_deploy_files_name_only_real_settings(path: Path) -> None:
    named = set(re.findall(r"RESPONSES_GATEWAY_[A-Z_]+", path.read_text()))
    unknown = sorted(named - _KNOWN)
    assert not unknown, f"{path.name} names settings that do not exist: {unknown}"


def test_systemd_unit_is_well_formed() -> None:
    unit = configparser.ConfigParser(strict=True, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    unit.read_string(UNIT.read_text())
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    assert service["ExecStart"].split()[0].endswith("/responses-gateway")
    assert service["KillSignal"] == "SIGTERM"
    assert service.get("DynamicUser") == "yes" or service.get("User") not in (None, "root")
    assert service["UMask"] == "0077"


def test_compose_gateways_share_a_store_and_need_keys() -> None:
    text = COMPOSE.read_text()
    shared = r"RESPONSES_GATEWAY_STORE: (\$\{RESPONSES_GATEWAY_STORE:-)?(redis|postgres(ql)?)://"
    assert re.search(shared, text), "replicas must share a store"
    for required in ("RESPONSES_GATEWAY_API_KEYS", "RESPONSES_GATEWAY_REASONING_KEY",
                     "RESPONSES_GATEWAY_UPSTREAM_API_KEY"):
        assert re.search(rf"{required}: \$\{{{required}:\?", text), \
            f"{required} must be required (${{VAR:?message}}) in the compose file"
    for service in ("redis", "postgres"):
        assert re.search(rf"^  {service}:\n", text, re.M), service
