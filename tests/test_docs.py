"""The docs keep naming every command-line flag, environment variable and provider profile
the code has, and hold no real-looking key.

The tests read `cli.build_parser()` and the option table (`options.OPTIONS`), so a new flag
or environment variable that the docs do not mention fails here instead of drifting silently;
README's flag table must be exactly the one the table generates. (The
example script is run against a real gateway in tests/e2e/test_example.py.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from responses_gateway import cli
from responses_gateway.options import OPTIONS, markdown_table

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "online_serving" / "openai_responses_proxy_example.py"
README = ROOT / "README.md"
README_ZH = ROOT / "docs" / "README.zh-CN.md"
DOCS = (README, README_ZH, ROOT / "docs" / "architecture.md",
        ROOT / "docs" / "configuration.md", ROOT / "docs" / "providers.md", EXAMPLE)

# Something shaped like a real OpenAI-style secret key. Placeholders such as `sk-...` or
# `sk-local` are fine; 20+ key characters are not.
_REAL_LOOKING_KEY = re.compile(r"sk-[A-Za-z0-9]{20,}")


def _flags() -> list[str]:
    return sorted(option for action in cli.build_parser()._actions
                  for option in action.option_strings
                  if option.startswith("--") and option != "--help")


def _env_names() -> list[str]:
    return sorted(option.env_name for option in OPTIONS if option.env_name)


@pytest.mark.parametrize("doc", [README, README_ZH], ids=lambda p: p.name)
def test_readme_mentions_every_flag(doc: Path) -> None:
    text = doc.read_text()
    missing = [flag for flag in _flags() if not re.search(re.escape(flag) + r"(?![\w-])", text)]
    assert not missing, f"{doc.relative_to(ROOT)} does not mention {missing}"


@pytest.mark.parametrize("doc", [README, README_ZH, ROOT / "docs" / "configuration.md"],
                         ids=lambda p: p.name)
def test_docs_mention_every_environment_variable(doc: Path) -> None:
    text = doc.read_text()
    missing = [name for name in _env_names() if not re.search(rf"\b{name}\b", text)]
    assert not missing, f"{doc.relative_to(ROOT)} does not mention {missing}"


def test_docs_name_every_provider_profile() -> None:
    text = (ROOT / "docs" / "providers.md").read_text()
    from responses_gateway.providers import PROFILES

    missing = [name for name in PROFILES if f"`{name}`" not in text]
    assert not missing, f"docs/providers.md does not describe the profiles {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_real_looking_keys_in_docs(doc: Path) -> None:
    found = _REAL_LOOKING_KEY.findall(doc.read_text())
    assert not found, f"{doc.relative_to(ROOT)} contains key-like strings: {found}"


_TABLE = re.compile(r"<!-- flags:start -->\n(.*?)<!-- flags:end -->", re.S)


def test_readme_flag_table_is_generated_from_the_option_table() -> None:
    found = _TABLE.search(README.read_text())
    assert found, "README.md lacks the <!-- flags:start --> ... <!-- flags:end --> block"
    assert found.group(1) == markdown_table(), (
        "README's flag table differs from options.OPTIONS; regenerate it with "
        "`python -m responses_gateway.options README.md`")


def test_every_option_is_in_help_under_its_group() -> None:
    text = cli.build_parser().format_help()
    for option in OPTIONS:
        assert option.flags[0] in text
        if option.env_name:
            assert option.env_name in text, f"--help does not name {option.env_name}"
