#!/usr/bin/env python3
"""Record what Claude Code really sends over a long agent session, for the replay fixture
(tests/e2e/fixtures/claude_code_session.jsonl.xz, read by bench/agent_replay.py and
tests/e2e/test_agent_replay.py).

Claude Code runs non-interactively (`claude -p`) straight against mock-upstream (no frugal
in between: the fixture is the client's own bytes) in its scripted agent mode
(`x-mock-agent` header, crates/mock-upstream/src/agent_messages.rs). The task names
FILES source files of this repository copied into a scratch project; the mock reads one
per turn (Read, then Bash `cat`, alternately), so the session has FILES + 1 turns whose
messages grow with tool_use / tool_result pairs. Tool search is off
(ENABLE_TOOL_SEARCH=false) so every built-in tool's schema is sent on every turn, as
with API keys where deferred loading is unavailable.

Every request the mock logged (raw body bytes, non-secret headers) is written as one JSON
line; the device id and session id Claude Code generates are replaced by fixed values of
the same length. The API key is a placeholder and the mock's log redacts it anyway.

    python3 bench/record_agent_session.py                 # 29 files -> 30 turns
    python3 bench/record_agent_session.py --files 5 --out /tmp/s.jsonl.xz
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = Path("/tmp/frugal-agent-session/project")
FIXED_SESSION = "00000000-0000-4000-8000-000000000000"
KEPT_HEADERS = ("anthropic-beta", "anthropic-version", "user-agent", "x-app", "content-type")
CLAUDE = ROOT / "target" / "npm" / "node_modules" / ".bin" / "claude"


def claude_env(home: Path, base_url: str) -> dict[str, str]:
    """Claude Code without network side traffic, updates or telemetry, in an isolated HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_"))}
    env.update({
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "sk-ant-placeholder-not-a-key",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "ENABLE_TOOL_SEARCH": "false",
    })
    return env


def make_project(files: int) -> list[Path]:
    if PROJECT.exists():
        shutil.rmtree(PROJECT)
    PROJECT.mkdir(parents=True)
    sources = sorted((ROOT / "crates" / "core" / "src").rglob("*.rs"))[:files]
    out = []
    for src in sources:
        dest = PROJECT / src.relative_to(ROOT / "crates" / "core" / "src").as_posix().replace("/", "_")
        lines = src.read_text().splitlines()[:80]
        dest.write_text("\n".join(lines) + "\n")
        out.append(dest)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=29)
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "e2e" / "fixtures" / "claude_code_session.jsonl.xz")
    ap.add_argument("--claude", type=Path, default=CLAUDE)
    ap.add_argument("--mock-bin", type=Path, default=ROOT / "target" / "debug" / "mock-upstream")
    args = ap.parse_args()

    paths = make_project(args.files)
    home = PROJECT.parent / "home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    mock = subprocess.Popen([str(args.mock_bin), "--port", "0", "--log-raw-bodies"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert mock.stdout is not None
        url = re.search(r"(http://\S+)", mock.stdout.readline()).group(1)  # type: ignore[union-attr]
        task = ("Read each of these files, one at a time, and then tell me what they contain: "
                + " ".join(str(p) for p in paths))
        env = claude_env(home, url)
        env["ANTHROPIC_CUSTOM_HEADERS"] = "x-mock-agent: 1"
        run = subprocess.run([str(args.claude), "-p", task, "--model", "auto", "--allowedTools", "Read,Bash"],
                             cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            print(run.stdout, run.stderr, file=sys.stderr)
            return 1
        with urllib.request.urlopen(url + "/mock/requests") as r:
            logged = json.load(r)
    finally:
        mock.terminate()
        mock.wait(timeout=10)

    rows = []
    for rec in logged:
        raw = rec["raw_body"]
        body = rec["body"]
        user_id = json.loads(body.get("metadata", {}).get("user_id", "{}") or "{}")
        for secretish in (user_id.get("device_id"), user_id.get("session_id")):
            if secretish:
                fixed = (FIXED_SESSION if len(secretish) == len(FIXED_SESSION) else "0" * len(secretish))
                raw = raw.replace(secretish, fixed)
        headers = {k: v for k, v in rec["headers"] if k in KEPT_HEADERS}
        rows.append({"path": rec["path"], "headers": headers, "raw_body": raw})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(args.out, "wt", preset=9 | lzma.PRESET_EXTREME) as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    turns = sum(1 for r in rows if r["path"] == "/v1/messages")
    print(f"{len(rows)} requests ({turns} to /v1/messages) -> {args.out} ({args.out.stat().st_size} bytes)")
    print("claude said:", run.stdout.strip()[:200].replace("\n", " | "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
