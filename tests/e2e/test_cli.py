"""The `frugal` command line around the server: config check, config errors that name the
field, refusing to serve without any usable provider, and `route`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support import FRUGAL_BIN, MAIN_MODELS, MAIN_TIERS, assert_no_secret, frugal_env, render_config

MOCK_URL = "http://127.0.0.1:9"  # never contacted by these commands


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    e = frugal_env(**env)
    for k, v in env.items():
        if v == "":
            e.pop(k, None)
    return subprocess.run([str(FRUGAL_BIN), *args], cwd=cwd, env=e, capture_output=True, text=True, timeout=30)


def test_config_check_prints_tiers_and_prices(tmp_path):
    cfg = tmp_path / "frugal.toml"
    cfg.write_text(render_config(MOCK_URL, MAIN_MODELS, MAIN_TIERS))
    r = run(["config", "check", "--config", str(cfg)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout
    for name in ("test-gpt-small", "test-claude-medium", "test-gpt-large", "test-claude-frontier"):
        assert name in r.stdout
    assert "OPENAI_API_KEY" in r.stdout
    assert_no_secret(r.stdout + r.stderr, "config check output")


def test_unpriced_model_is_an_error_naming_file_and_field(tmp_path):
    cfg = tmp_path / "frugal.toml"
    cfg.write_text('[models."half-priced"]\nprovider = "openai"\ntier = "simple"\ninput = 1.0\n')
    r = run(["config", "check", "--config", str(cfg)], tmp_path)
    assert r.returncode != 0
    assert str(cfg) in r.stderr
    assert 'models."half-priced".output' in r.stderr


def test_unknown_field_is_an_error(tmp_path):
    cfg = tmp_path / "frugal.toml"
    cfg.write_text('[providers.openai]\nbase_uri = "http://x"\n')
    r = run(["config", "check", "--config", str(cfg)], tmp_path)
    assert r.returncode != 0
    assert "base_uri" in r.stderr


def test_serve_refuses_without_any_key(tmp_path):
    r = run(["serve", "--listen", "127.0.0.1:0"], tmp_path, OPENAI_API_KEY="", ANTHROPIC_API_KEY="")
    assert r.returncode != 0
    assert "OPENAI_API_KEY" in r.stderr and "ANTHROPIC_API_KEY" in r.stderr


def test_route_explains_a_decision(tmp_path):
    cfg = tmp_path / "frugal.toml"
    cfg.write_text(render_config(MOCK_URL, MAIN_MODELS, MAIN_TIERS))
    r = run(["route", "--config", str(cfg), "--json", "hi"], tmp_path)
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["tier"] == "simple"
    assert plan["candidates"][0]["model"] == "test-gpt-small"
    r = run(["route", "--config", str(cfg), "--json", "--model", "test-claude-large", "hi"], tmp_path)
    plan = json.loads(r.stdout)
    assert [c["model"] for c in plan["candidates"]] == ["test-claude-large"]
