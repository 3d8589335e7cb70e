"""Claude Code itself (the npm package, installed by .ci/run into target/npm) runs a
multi-turn task through frugal with `--model auto`, against mock-upstream's scripted agent
mode: the model reads two files the test wrote (Read, then Bash `cat`), then answers with
their content. Every request Claude Code sent is answered (one ledger row each, status 200,
nothing failed in frugal's log) and none is a client-side retry."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from support import ROOT, assert_no_secret
from test_agent_replay import agent_gateway
from test_ledger import rows as ledger_rows

CLAUDE = Path(os.environ.get("CLAUDE_BIN", ROOT / "target" / "npm" / "node_modules" / ".bin" / "claude"))
CLIENT_KEY = "sk-ant-client-key-for-claude-code"


@pytest.fixture(scope="module")
def claude_bin() -> Path:
    if not CLAUDE.exists():
        message = f"Claude Code is not installed at {CLAUDE} (.ci/run installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CLAUDE


@pytest.fixture(scope="module")
def cc_gw(mock, frugal_instance, tmp_path_factory):
    return agent_gateway(frugal_instance, mock, "claude-code",
                         tmp_path_factory.mktemp("claude-code") / "ledger.sqlite")


def run_claude(claude: Path, gw_url: str, workdir: Path, task: str) -> subprocess.CompletedProcess:
    home = workdir / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_", "OPENAI_"))}
    env.update({
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": gw_url,
        "ANTHROPIC_API_KEY": CLIENT_KEY,
        # Side requests (titles, quota checks) go to the small model: route those too.
        "ANTHROPIC_SMALL_FAST_MODEL": "auto",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "auto",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    })
    # --dangerously-skip-permissions is refused as root; allowing the two tools is enough.
    return subprocess.run(
        [str(claude), "-p", task, "--model", "auto", "--allowedTools", "Read,Bash"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )


def test_claude_code_reads_files_through_frugal(claude_bin, cc_gw, mock, tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    first, second = work / "first.txt", work / "second.txt"
    first.write_text("The first secret is PELICAN-42.\n")
    second.write_text("The second secret is OSPREY-7.\n")
    log_start = cc_gw.proc.log_size()

    run = run_claude(claude_bin, cc_gw.url, work,
                     f"Read {first} and then {second}, and tell me both secrets.")
    assert run.returncode == 0, f"stdout: {run.stdout}\nstderr: {run.stderr}"
    assert "PELICAN-42" in run.stdout and "OSPREY-7" in run.stdout, run.stdout

    sent = mock.requests()
    turns = [r for r in sent if r["path"] == "/v1/messages"]
    # The task, the answer to Read, the answer to Bash; side requests may come on top.
    tool_uses = [b for r in turns for m in r["body"]["messages"] if m["role"] == "assistant"
                 and isinstance(m["content"], list) for b in m["content"] if b.get("type") == "tool_use"]
    assert {b["name"] for b in tool_uses} == {"Read", "Bash"}
    results = json.dumps(turns[-1]["body"]["messages"])
    assert "PELICAN-42" in results and "OSPREY-7" in results, "tool results went upstream"
    assert all(r["model"].startswith("agent-claude-") for r in turns), [r["model"] for r in turns]

    # Every request frugal got was answered once: one ledger row per upstream call, each 200,
    # and no body sent twice (a client-side retry repeats its body).
    ledger = ledger_rows(cc_gw.ledger_path, expected=len(turns))
    assert len(ledger) == len(turns) >= 3
    assert {r["status"] for r in ledger} == {200}, [(r["model"], r["status"]) for r in ledger]
    # One session, named by Claude Code's own `x-claude-code-session-id`.
    sessions = {r["session"] for r in ledger}
    assert len(sessions) == 1 and len(sessions.pop()) == 36, [r["session"] for r in ledger]
    bodies = [r.get("raw_body") or json.dumps(r["body"]) for r in sent]
    assert len(set(bodies)) == len(bodies), "a request was sent twice"
    gained = cc_gw.log_text()[log_start:]
    assert "request failed" not in gained, gained[-3000:]
    for text, where in ((run.stdout, "Claude Code's output"), (gained, "frugal's log"),
                        (json.dumps(ledger), "the ledger")):
        assert CLIENT_KEY not in text, f"client key in {where}"
        assert_no_secret(text, where)
