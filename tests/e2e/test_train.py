"""`frugal train --ledger`: the router learns from frugal's own traffic. A gateway with
`store_prompts = true` answers routed requests, the client rates the routed-down answers
(long prompts badly, short ones well), the gateway stops gracefully, and `frugal train`
turns the ledger into a router whose stage 1 now weighs length up; the trained file then
serves, also swapped into a running gateway by SIGHUP. Without stored prompts the command
fails and says why."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from support import (FRUGAL_BIN, MAIN_BASELINE, MAIN_MODELS, MAIN_TIERS, ROOT, frugal_env, render_config,
                     start_process)

WORDS = "the report lists every shipment with its weight and its destination port and date"


def run_frugal(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(FRUGAL_BIN), *args], cwd=cwd, env=frugal_env(), capture_output=True,
                          text=True, timeout=120)


def serve(mock_url: str, ledger: Path, tmp: Path, log_dir: Path, name: str, extra: str = ""):
    cfg = tmp / f"{name}.toml"
    text = render_config(mock_url, MAIN_MODELS, MAIN_TIERS, MAIN_BASELINE)
    # Boundaries high enough that every prompt is answered below the baseline's tier.
    text = text.replace("[routing]\n", "[routing]\nboundaries = [0.97, 0.98, 0.99]\n", 1)
    cfg.write_text(text + f'\n[ledger]\npath = "{ledger}"\n{extra}\n')
    proc = start_process(name, [str(FRUGAL_BIN), "serve", "--config", str(cfg), "--listen", "127.0.0.1:0"],
                         frugal_env(), log_dir, "frugal listening on")
    return proc, cfg


def collect_traffic(url: str, n: int) -> None:
    """n short prompts rated 1 and n long ones rated 0, each through `model: auto`."""
    with httpx.Client(base_url=url, timeout=15, headers={"authorization": "Bearer sk-client"}) as c:
        for i in range(n):
            for long in (False, True):
                text = f"item {i}: " + (" ".join([WORDS] * 12) if long else "name a colour")
                r = c.post("/v1/chat/completions",
                           json={"model": "auto", "messages": [{"role": "user", "content": text}]})
                assert r.status_code == 200, r.text
                assert r.headers["x-frugal-model"] != MAIN_BASELINE, r.headers
                rid = r.headers["x-frugal-request-id"]
                fb = c.post("/v1/feedback", json={"request_id": rid, "score": 0.0 if long else 1.0})
                assert fb.status_code == 200, fb.text


@pytest.fixture(scope="module")
def trained(mock, log_dir, tmp_path_factory):
    """A router trained from a ledger of rated traffic, and the gateway config that made it."""
    tmp = tmp_path_factory.mktemp("train")
    ledger = tmp / "traffic.sqlite"
    proc, cfg = serve(mock.url, ledger, tmp, log_dir, "frugal-train", "store_prompts = true")
    collect_traffic(proc.url, 15)
    proc.stop()  # SIGTERM: the ledger is drained before exit
    out = tmp / "router.json"
    r = run_frugal("train", "--ledger", str(ledger), "--out", str(out), cwd=tmp)
    assert r.returncode == 0, r.stderr
    assert "ledger" in r.stderr and "30 rows" in r.stderr, r.stderr
    assert "warning: trained on ledger rows only" in r.stderr, r.stderr
    assert "before serving it" in r.stderr, r.stderr
    return out, cfg


def test_train_from_ledger_feedback(trained, tmp_path):
    out, cfg = trained
    model = json.loads(out.read_text())
    weights = dict(zip(model["features"], model["stage1"]["w"]))
    assert weights["log_chars"] > 0, weights
    assert any("ledger" in f for f in model["provenance"]["files"]), model["provenance"]

    # The trained router serves: a long prompt now scores above a short one.
    routed = tmp_path / "routed.toml"
    routed.write_text(cfg.read_text().replace("[routing]\n", f'[routing]\nrouter_model = "{out}"\n', 1))
    scores = []
    for prompt in ("name a colour", " ".join([WORDS] * 12)):
        r = run_frugal("route", "--config", str(routed), "--json", prompt, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        scores.append(json.loads(r.stdout)["classification"]["score"])
    assert scores[1] > scores[0], scores


def test_train_from_a_ledger_without_prompts_says_why(mock, log_dir, tmp_path):
    ledger = tmp_path / "hashed.sqlite"
    proc, _ = serve(mock.url, ledger, tmp_path, log_dir, "frugal-train-hashed")
    collect_traffic(proc.url, 2)
    proc.stop()
    r = run_frugal("train", "--ledger", str(ledger), "--out", str(tmp_path / "r.json"), cwd=tmp_path)
    assert r.returncode != 0
    assert "store_prompts = true" in r.stderr and "without a stored conversation" in r.stderr, r.stderr
    assert not (tmp_path / "r.json").exists()


def test_train_from_a_missing_ledger_is_an_error(tmp_path):
    r = run_frugal("train", "--ledger", str(tmp_path / "nope.sqlite"), "--out", str(tmp_path / "r.json"),
                   cwd=tmp_path)
    assert r.returncode != 0 and "no such SQLite file" in r.stderr, r.stderr
    assert not (tmp_path / "nope.sqlite").exists()


def health_router(url: str) -> dict:
    return httpx.get(url + "/health", timeout=5).json()["router"]


def wait_for_router(url: str, fingerprint: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        router = health_router(url)
        if router["fingerprint"] != fingerprint or time.monotonic() > deadline:
            return router
        time.sleep(0.05)


def test_sighup_swaps_in_a_retrained_router_and_keeps_it_on_a_bad_file(trained, mock, log_dir, tmp_path):
    out, cfg = trained
    live = tmp_path / "live-router.json"
    shutil.copy(ROOT / "crates" / "core" / "assets" / "router.json", live)
    config = tmp_path / "reload.toml"
    config.write_text(cfg.read_text().replace("[routing]\n", f'[routing]\nrouter_model = "{live}"\n', 1)
                      .replace("traffic.sqlite", "reload.sqlite"))
    proc = start_process("frugal-reload", [str(FRUGAL_BIN), "serve", "--config", str(config), "--listen",
                                           "127.0.0.1:0"], frugal_env(), log_dir, "frugal listening on")
    try:
        before = health_router(proc.url)
        assert before["source"] == str(live) and before["rows"] > 10_000, before

        shutil.copy(out, live)
        proc.popen.send_signal(signal.SIGHUP)
        after = wait_for_router(proc.url, before["fingerprint"])
        assert after["fingerprint"] != before["fingerprint"] and after["rows"] == 30, after
        assert "router reloaded" in proc.log_text()

        live.write_text("{not a router")
        proc.popen.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "router reload failed" not in proc.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "router reload failed" in proc.log_text()
        assert health_router(proc.url) == after  # the previous router still serves
        r = httpx.post(proc.url + "/v1/chat/completions", timeout=15, headers={"authorization": "Bearer sk-c"},
                       json={"model": "auto", "messages": [{"role": "user", "content": "name a colour"}]})
        assert r.status_code == 200, r.text
    finally:
        proc.stop()
