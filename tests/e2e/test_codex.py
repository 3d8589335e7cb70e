"""Codex CLI end to end: `codex exec` (installed by .ci/run into target/npm) talks to frugal
over the Responses API with `model: auto`, and frugal routes every turn to mock-upstream's
scripted agent, which asks Codex to run a shell command and then answers with its output.
The final answer must hold the file's content, every turn must be answered (one ledger row
and one upstream request each), and Codex must not have retried anything."""

from __future__ import annotations

import os
import secrets
import subprocess
import time

import pytest

from support import ROOT, model, render_config
from test_ledger import rows

CODEX = ROOT / "target" / "npm" / "node_modules" / ".bin" / "codex"

# Upstream names containing `agent` select the mock's scripted agent. Claude models are
# the cheaper candidate in every tier, and Codex's request cannot cross to them (its
# built-in web_search tool, reasoning settings): routing must pass over them.
MODELS = {
    "agent-claude-small": model("anthropic", "simple", 0.05, 0.20, upstream_name="claude-agent-small"),
    "agent-gpt-small": model("openai", "simple", 0.10, 0.40, upstream_name="gpt-agent-small"),
    "agent-claude-large": model("anthropic", "complex", 1.00, 5.00, upstream_name="claude-agent-large"),
    "agent-gpt-large": model("openai", "complex", 2.00, 8.00, upstream_name="gpt-agent-large"),
}
TIERS = {
    "simple": ["agent-claude-small", "agent-gpt-small"],
    "medium": ["agent-claude-small", "agent-gpt-small"],
    "complex": ["agent-claude-large", "agent-gpt-large"],
    "frontier": ["agent-claude-large", "agent-gpt-large"],
}


def codex_or_skip() -> None:
    if CODEX.exists():
        return
    why = f"Codex CLI not installed at {CODEX} (.ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(why)
    pytest.skip(why)


def test_codex_exec_runs_a_command_through_frugal(mock, frugal_instance, tmp_path_factory):
    codex_or_skip()
    base = tmp_path_factory.mktemp("codex")
    ledger = base / "ledger.sqlite"
    text = render_config(mock.url, MODELS, TIERS, "agent-gpt-large")
    gw = frugal_instance("codex", text + f'\n[ledger]\npath = "{ledger}"\n')
    work, home = base / "work", base / "codex-home"
    work.mkdir()
    home.mkdir()
    token = f"frugal-codex-{secrets.token_hex(6)}"
    (work / "notes.txt").write_text(f"the answer is {token}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))}
    env.update(CODEX_HOME=str(home), FRUGAL_KEY="sk-codex-client", NO_COLOR="1")
    argv = [
        str(CODEX), "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
        "--model", "auto",
        "-c", "model_provider=frugal",
        "-c", "model_providers.frugal.name=frugal",
        "-c", f'model_providers.frugal.base_url="{gw.url}/v1"',
        "-c", "model_providers.frugal.wire_api=responses",
        "-c", "model_providers.frugal.env_key=FRUGAL_KEY",
        "Run `cat notes.txt` and tell me what it says.",
    ]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=180)
    elapsed = time.monotonic() - started
    report = f"rc={done.returncode} after {elapsed:.1f}s\nstdout:\n{done.stdout}\nstderr:\n{done.stderr[-4000:]}"
    assert done.returncode == 0, report
    assert token in done.stdout, report
    # Two turns: the task (→ a shell call) and the command's output (→ the answer).
    upstream = mock.requests(path="/v1/responses")
    assert len(upstream) == 2, [(r["path"], r["model"]) for r in mock.requests()]
    assert all(r["model"].startswith("gpt-agent") for r in upstream)
    second = upstream[1]["body"]["input"]
    outputs = [i for i in second if i.get("type") == "function_call_output"]
    assert len(outputs) == 1 and token in str(outputs[0]["output"])
    # No Claude model was called: the request cannot cross, so routing passed over them.
    assert mock.requests(path="/v1/messages") == []
    got = rows(ledger, expected=2)
    assert len(got) == 2, got
    for r in got:
        assert (r["format"], r["requested_model"], r["status"]) == ("responses", "auto", 200), r
        assert r["model"].startswith("agent-gpt"), r
        assert r["input_tokens"] > 0 and r["output_tokens"] > 0, r
