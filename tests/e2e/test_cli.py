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


FIXTURE = Path(__file__).resolve().parent / "fixtures" / "routing_small.jsonl"


def test_model_aware_offline_contract(tmp_path):
    """`train --data` learns per-model quality for the files' model names (no prices needed);
    `route --batch --router R --predict` prints every model's estimate per row; `eval
    --models all` shows the model-aware router beside the others, with a plot."""
    router = tmp_path / "router.json"
    r = run(["train", "--data", str(FIXTURE), "--out", str(router)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "quality store:" in r.stderr
    r = run(["route", "--batch", str(FIXTURE), "--router", str(router), "--predict"], tmp_path)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    rows = [json.loads(l) for l in FIXTURE.read_text().splitlines()]
    assert [l["id"] for l in lines] == [row["id"] for row in rows]
    models = sorted({m for row in rows for m in row["scores"]})
    for line in lines:
        assert sorted(line["predicted"]) == models
        assert all(0.0 <= q <= 1.0 for q in line["predicted"].values())
    # Rows where the cheap model always fails get a lower estimate for it than rows where it succeeds.
    by_id = {l["id"]: l["predicted"] for l in lines}
    easy = [by_id[row["id"]]["cheap"] for row in rows if row["task"] == "easy"]
    hard = [by_id[row["id"]]["cheap"] for row in rows if row["task"] == "hard"]
    assert min(easy) > max(hard), (easy, hard)
    plot = tmp_path / "curve.svg"
    r = run(["eval", "--data", str(FIXTURE), "--models", "all", "--router", str(router),
             "--plot", str(plot), "--json"], tmp_path)
    assert r.returncode == 0, r.stderr
    names = [x["name"] for x in json.loads(r.stdout)["routers"]]
    assert "model-aware (router's store)" in names and "task oracle" in names, names
    assert plot.read_text().startswith("<svg")
    # Without a store that knows the data's models, the file is cross-validated by row.
    r = run(["eval", "--data", str(FIXTURE), "--models", "all", "--json"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "model-aware (5-fold CV by row)" in [x["name"] for x in json.loads(r.stdout)["routers"]]
