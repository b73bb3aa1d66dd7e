"""Client keys: NAME=KEY specs, the keys file (permissions, fields), matching, reloads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from responses_gateway.keys import (
    ClientKey,
    KeyRing,
    check_unique,
    digest_name,
    keys_from_file,
    parse_key_spec,
)


@pytest.mark.parametrize("spec, name, secret", [
    ("alice=sk-alice-1", "alice", "sk-alice-1"),
    ("team.ops_2=abc=def", "team.ops_2", "abc=def"),
    ("sk-plain", None, "sk-plain"),
    ("YWJjZA==", None, "YWJjZA=="),  # base64 padding is not a name
    ("1abc=xyz", None, "1abc=xyz"),  # a name starts with a letter
    ("alice=", None, "alice="),
])
def test_key_specs(spec: str, name: str | None, secret: str) -> None:
    key = parse_key_spec(spec)
    assert key.secret == secret
    assert key.name == (name or digest_name(spec))
    assert secret not in repr(key)


def _write(path: Path, text: str, mode: int = 0o600) -> str:
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def test_keys_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "keys.toml", """
[[keys]]
name = "alice"
key = "sk-a"
models = ["qwen-*", "mock-echo"]
daily_tokens = 1000

[[keys]]
name = "bob"
key_env = "BOB_KEY"
""")
    alice, bob = keys_from_file(path, {"BOB_KEY": "sk-b"})
    assert alice == ClientKey(name="alice", secret="sk-a", models=("qwen-*", "mock-echo"),
                              daily_tokens=1000)
    assert bob.secret == "sk-b" and bob.models == () and bob.daily_tokens is None
    assert alice.allows("qwen-plus") and alice.allows("mock-echo")
    assert not alice.allows("gpt-4o") and bob.allows("gpt-4o")


@pytest.mark.parametrize("text, needle", [
    ('[[keys]]\nname = "a"\n', "needs `key` or `key_env`"),
    ('[[keys]]\nname = "a"\nkey_env = "UNSET_VAR"\n', "UNSET_VAR is not set"),
    ('[[keys]]\nname = "9a"\nkey = "x"\n', "name must be a name"),
    ('[[keys]]\nname = "a"\nkey = "x"\nmodel = ["y"]\n', "unknown fields ['model']"),
    ('[[keys]]\nname = "a"\nkey = "x"\ndaily_tokens = 0\n', "positive integer"),
    ('[[keys]]\nname = "a"\nkey = "x"\nmodels = "y"\n', "list of model names"),
    ('keys = 1\n', "needs [[keys]] tables"),
    ('[[keys]\n', "keys file"),
])
def test_bad_keys_files_name_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ValueError, match="keys file") as caught:
        keys_from_file(_write(tmp_path / "k.toml", text), {})
    assert needle in str(caught.value)


def test_keys_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "k.toml", '[[keys]]\nname = "a"\nkey = "x"\n', mode=0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        keys_from_file(path, {})


def test_duplicate_names_or_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="unique: a"):
        check_unique((ClientKey(name="a", secret="1"), ClientKey(name="a", secret="2")))
    with pytest.raises(ValueError, match="given twice"):
        check_unique((ClientKey(name="a", secret="1"), ClientKey(name="b", secret="1")))


def test_ring_matches_and_reloads_keeping_fixed_keys(tmp_path: Path) -> None:
    path = _write(tmp_path / "k.toml", '[[keys]]\nname = "file1"\nkey = "sk-f1"\n')
    fixed = (parse_key_spec("ops=sk-ops"),)
    ring = KeyRing(fixed, path=path, from_file=keys_from_file(path, {}))
    assert ring.required
    assert ring.match("sk-ops").name == "ops"  # type: ignore[union-attr]
    assert ring.match("sk-f1").name == "file1"  # type: ignore[union-attr]
    assert ring.match("sk-nope") is None
    _write(tmp_path / "k.toml", '[[keys]]\nname = "file2"\nkey = "sk-f2"\n')
    assert ring.reload() is None
    assert ring.match("sk-f1") is None and ring.match("sk-f2") is not None
    assert ring.match("sk-ops") is not None
    _write(tmp_path / "k.toml", '[[keys]]\nname = "broken"\n')  # a bad file changes nothing
    assert ring.reload() is not None
    assert ring.match("sk-f2") is not None


def test_reload_that_would_leave_no_key_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "k.toml", '[[keys]]\nname = "only"\nkey = "sk-1"\n')
    ring = KeyRing((), path=path, from_file=keys_from_file(path, {}))
    _write(tmp_path / "k.toml", "keys = []\n")
    assert "no keys left" in (ring.reload() or "")
    assert ring.match("sk-1") is not None
