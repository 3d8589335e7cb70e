"""Model-aware routing learns from this deployment's rated answers: after the cheap model is
rated poor on one kind of request, that kind goes to a model that has not failed it, while
other kinds stay on the cheap model; the labels are kept in the ledger, so a restarted
gateway (or another replica) knows them; and `frugal route` explains every candidate's
estimate."""
from __future__ import annotations

import json
import subprocess

import httpx

from support import FRUGAL_BIN, MAIN_BASELINE, MAIN_MODELS, MAIN_TIERS, frugal_env, render_config, start_process

SQL_PROMPTS = [f"Write a SQL query that lists the {w} customers by total order value in 2024."
               for w in ("top ten", "newest", "oldest", "German", "inactive", "returning", "biggest", "first")]
GREETING = "hi"


def config(mock_url: str, ledger) -> str:
    text = render_config(mock_url, MAIN_MODELS, MAIN_TIERS, MAIN_BASELINE, learn=True)
    return text + f'\n[ledger]\npath = "{ledger}"\n'


def start(name: str, cfg, log_dir):
    return start_process(name, [str(FRUGAL_BIN), "serve", "--config", str(cfg), "--listen", "127.0.0.1:0"],
                         frugal_env(), log_dir, "frugal listening on")


def ask(c: httpx.Client, prompt: str) -> httpx.Response:
    r = c.post("/v1/chat/completions", json={"model": "auto", "messages": [{"role": "user", "content": prompt}]})
    assert r.status_code == 200, r.text
    return r


def test_rated_answers_teach_which_model_is_good_at_what(mock, log_dir, tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    cfg = tmp_path / "frugal.toml"
    cfg.write_text(config(mock.url, ledger))
    proc = start("frugal-quality", cfg, log_dir)
    headers = {"authorization": "Bearer sk-quality-test"}
    try:
        with httpx.Client(base_url=proc.url, timeout=15, headers=headers) as c:
            first = ask(c, SQL_PROMPTS[0]).headers["x-frugal-model"]
            # The model that first answered SQL questions is poor at them, the others fine:
            # every answer is rated so.
            served = []
            for p in SQL_PROMPTS:
                r = ask(c, p)
                served.append(r.headers["x-frugal-model"])
                score = 0.0 if served[-1] == first else 1.0
                fb = c.post("/v1/feedback", json={"request_id": r.headers["x-frugal-request-id"], "score": score})
                assert fb.status_code == 200, fb.text
            assert served[0] == first and served[-1] != first, served
            # What it learned is visible: labels per model and their mean.
            known = {m["model"]: m for m in c.get("/health").json()["quality"]["models"]}
            assert known[first]["labels"] >= 1 and known[first]["mean"] < 0.5, known
            moved = ask(c, "Write a SQL query that lists the top five suppliers by total order value.")
            assert moved.headers["x-frugal-model"] != first, moved.headers
            # Another kind of request is not affected.
            assert ask(c, GREETING).headers["x-frugal-model"] == "test-gpt-small"
    finally:
        proc.stop()
    # A new process on the same ledger knows what the first one learned.
    proc = start("frugal-quality-restarted", cfg, log_dir)
    try:
        assert "quality labels loaded from the ledger" in proc.log_text()
        with httpx.Client(base_url=proc.url, timeout=15, headers=headers) as c:
            again = ask(c, "Write a SQL query that lists the top five suppliers by total order value.")
            assert again.headers["x-frugal-model"] != first, again.headers
    finally:
        proc.stop()


def test_route_explains_every_candidates_estimate(tmp_path):
    cfg = tmp_path / "frugal.toml"
    cfg.write_text(render_config("http://127.0.0.1:9", MAIN_MODELS, MAIN_TIERS, MAIN_BASELINE))
    r = subprocess.run([str(FRUGAL_BIN), "route", "--config", str(cfg), "--json", SQL_PROMPTS[0]],
                       env=frugal_env(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    est = plan["estimates"]
    assert [e["model"] for e in est] == [c["model"] for c in plan["candidates"]]
    for e in est:
        assert 0 <= e["q"] <= 1 and e["sigma"] > 0 and "utility" in e and "est_cost_usd" in e
    r = subprocess.run([str(FRUGAL_BIN), "route", "--config", str(cfg), SQL_PROMPTS[0]],
                       env=frugal_env(), capture_output=True, text=True, timeout=30)
    assert "estimates (best first" in r.stdout, r.stdout
