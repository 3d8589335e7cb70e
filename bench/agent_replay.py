#!/usr/bin/env python3
"""Replay a recorded Claude Code session through frugal and measure what an agent session
needs from a router: does the tier stay put, and does the provider see a prompt whose
earlier part is byte-identical from turn to turn (so its prompt cache can serve it)?

The fixture (tests/e2e/fixtures/claude_code_session.jsonl.xz, recorded by
bench/record_agent_session.py) is every request Claude Code sent over a 30-turn task:
system prompt, 21 tools, messages growing with tool_use / tool_result pairs. Each turn is
posted, as recorded byte for byte, to frugal's `/v1/messages?beta=true` with `model: auto`
(as Claude Code sent it) and one `x-session-id`, streamed as Claude Code streams.
mock-upstream (started with `--log-raw-bodies`) keeps the exact bytes frugal sent
upstream.

Figures (docs/agents.md defines them):

- downward tier changes across turns (`x-frugal-tier`), and the models that served;
- prompt stream: a body's tools, then its system blocks, then its messages (Anthropic's
  cache order), each as the raw JSON text it had in the body, one per line. "Markers
  aside" removes `cache_control` members first: they mark where to cache and are not
  part of the cached content (Claude Code itself moves its marker to the newest message
  every turn);
- prefix-stable turns: turns whose prompt stream starts with the previous turn's whole
  prompt stream (markers aside);
- cache-eligible share: over all turns, the bytes of each turn's prompt stream that are
  a byte-identical prefix of the previous turn's, over all bytes (the first turn counts
  in full, none of it eligible). Tokens are approximated as bytes / 4, so the share is
  the same in tokens; strict (markers included) and markers-aside shares are both given,
  for what frugal sent upstream and, for comparison, for what the client sent frugal.

    python3 bench/agent_replay.py                 # starts mock-upstream and frugal (target/debug)
    python3 bench/agent_replay.py --json
    python3 bench/agent_replay.py --frugal-url http://127.0.0.1:8080 --mock-url http://127.0.0.1:9000

Exits 1 when a target is missed: a downward tier change, a turn whose prompt is not a
byte-identical extension of the last (markers aside), or an eligible share under 90 %.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "e2e" / "fixtures" / "claude_code_session.jsonl.xz"
TIERS = ("simple", "medium", "complex", "frontier")
SHARE_TARGET = 0.90
# A `cache_control` member with the comma that joins it to its object (no nesting inside).
MARKER = re.compile(r',\s*"cache_control"\s*:\s*\{[^{}]*\}|"cache_control"\s*:\s*\{[^{}]*\}\s*,?')


# --- the prompt stream ------------------------------------------------------------------


def _skip_ws(s: str, i: int) -> int:
    while i < len(s) and s[i] in " \t\r\n":
        i += 1
    return i


def _members(s: str, i: int):
    """(key, start, end) of each member of the JSON object starting at s[i]."""
    dec = json.JSONDecoder()
    i = _skip_ws(s, i)
    assert s[i] == "{", "not an object"
    i = _skip_ws(s, i + 1)
    while s[i] != "}":
        key, i = dec.raw_decode(s, i)
        i = _skip_ws(s, i)
        assert s[i] == ":"
        start = _skip_ws(s, i + 1)
        _, end = dec.raw_decode(s, start)
        yield key, start, end
        i = _skip_ws(s, end)
        if s[i] == ",":
            i = _skip_ws(s, i + 1)


def _elements(s: str, start: int) -> list[str]:
    """Raw text of each element of the JSON array starting at s[start]."""
    dec = json.JSONDecoder()
    out = []
    i = _skip_ws(s, start + 1)
    while s[i] != "]":
        _, end = dec.raw_decode(s, i)
        out.append(s[i:end])
        i = _skip_ws(s, end)
        if s[i] == ",":
            i = _skip_ws(s, i + 1)
    return out


def prompt_segments(raw: str) -> list[str]:
    """tools, then system blocks, then messages, each as its raw JSON text in `raw`."""
    found: dict[str, list[str]] = {}
    for key, start, end in _members(raw, 0):
        if key in ("tools", "system", "messages"):
            found[key] = _elements(raw, start) if raw[start] == "[" else [raw[start:end]]
    return found.get("tools", []) + found.get("system", []) + found.get("messages", [])


def prompt_stream(raw: str, markers: bool) -> str:
    segments = prompt_segments(raw)
    if not markers:
        segments = [MARKER.sub("", s) for s in segments]
    return "\n".join(segments) + "\n"


def common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    lo, hi = 0, n  # binary search on equal prefixes: fast on long strings
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass
class Sharing:
    """How much of each turn's prompt repeats the previous turn's, byte for byte."""

    eligible_bytes: int = 0
    total_bytes: int = 0
    extends_previous: list[bool] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.eligible_bytes / self.total_bytes if self.total_bytes else 0.0


def sharing(raw_bodies: list[str], markers: bool) -> Sharing:
    out = Sharing()
    previous = None
    for raw in raw_bodies:
        stream = prompt_stream(raw, markers)
        out.total_bytes += len(stream)
        if previous is not None:
            n = common_prefix(stream, previous)
            out.eligible_bytes += n
            out.extends_previous.append(n == len(previous))
        previous = stream
    return out


# --- the replay ---------------------------------------------------------------------------


def load_session(path: Path = FIXTURE) -> list[dict]:
    with lzma.open(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass
class Turn:
    status: int
    tier: str
    model: str
    request_id: str
    retries: int


def replay(frugal_url: str, rows: list[dict], session_id: str, api_key: str = "client-key") -> list[Turn]:
    turns = []
    with httpx.Client(base_url=frugal_url, timeout=60) as http:
        for row in rows:
            headers = dict(row["headers"])
            headers.update({"x-api-key": api_key, "x-session-id": session_id})
            with http.stream("POST", row["path"] + "?beta=true", headers=headers,
                             content=row["raw_body"].encode()) as r:
                body = r.read().decode(errors="replace")
            if r.status_code == 200 and "event: message_stop" not in body:
                raise AssertionError(f"turn {len(turns) + 1}: the stream did not finish: {body[-300:]}")
            turns.append(Turn(r.status_code, r.headers.get("x-frugal-tier", ""),
                              r.headers.get("x-frugal-model", ""),
                              r.headers.get("x-frugal-request-id", ""),
                              int(r.headers.get("x-stainless-retry-count", "0") or 0)))
    return turns


def downward_changes(tiers: list[str]) -> int:
    ranks = [TIERS.index(t) for t in tiers]
    return sum(1 for a, b in zip(ranks, ranks[1:]) if b < a)


@dataclass
class Figures:
    turns: int
    statuses: list[int]
    tiers: list[str]
    models: list[str]
    downward_tier_changes: int
    upstream_requests: int
    prefix_stable_turns: int
    upstream_share_markers_aside: float
    upstream_share_strict: float
    client_share_markers_aside: float
    client_share_strict: float
    upstream_prompt_bytes: int

    def misses(self) -> list[str]:
        out = []
        if any(s != 200 for s in self.statuses):
            out.append(f"statuses {self.statuses}")
        if self.downward_tier_changes:
            out.append(f"{self.downward_tier_changes} downward tier changes")
        if self.upstream_requests != self.turns:
            out.append(f"{self.upstream_requests} upstream requests for {self.turns} turns")
        if self.prefix_stable_turns != self.turns - 1:
            out.append(f"only {self.prefix_stable_turns} of {self.turns - 1} turns extend the previous prompt")
        if self.upstream_share_markers_aside < SHARE_TARGET:
            out.append(f"cache-eligible share {self.upstream_share_markers_aside:.1%} < {SHARE_TARGET:.0%}")
        return out


def measure(turns: list[Turn], rows: list[dict], upstream_raw: list[str]) -> Figures:
    client_raw = [r["raw_body"] for r in rows]
    up_aside, up_strict = sharing(upstream_raw, False), sharing(upstream_raw, True)
    cl_aside, cl_strict = sharing(client_raw, False), sharing(client_raw, True)
    return Figures(
        turns=len(turns),
        statuses=[t.status for t in turns],
        tiers=[t.tier for t in turns],
        models=[t.model for t in turns],
        downward_tier_changes=downward_changes([t.tier for t in turns if t.tier]),
        upstream_requests=len(upstream_raw),
        prefix_stable_turns=sum(up_aside.extends_previous),
        upstream_share_markers_aside=up_aside.share,
        upstream_share_strict=up_strict.share,
        client_share_markers_aside=cl_aside.share,
        client_share_strict=cl_strict.share,
        upstream_prompt_bytes=up_aside.total_bytes,
    )


def upstream_bodies(mock_url: str) -> list[str]:
    recs = httpx.get(mock_url + "/mock/requests", timeout=30).json()
    out = []
    for rec in recs:
        if rec["path"] != "/v1/messages":
            continue
        if "raw_body" not in rec:
            raise SystemExit("mock-upstream does not keep raw bodies: start it with --log-raw-bodies")
        out.append(rec["raw_body"])
    return out


def with_system_messages(rows: list[dict], every: int) -> list[dict]:
    """A variant of the session: every `every` turns Claude Code's kind of mid-conversation
    system message (`role: "system"`, a `<system-reminder>`) is appended after the newest
    message, and stays in place in every later turn, as a client keeps its history.
    Bodies are re-serialized compactly (as Claude Code writes JSON) so turns stay
    comparable."""
    out = []
    inserts: list[tuple[int, int]] = []  # (position in messages, reminder number)
    for t, row in enumerate(rows):
        body = json.loads(row["raw_body"])
        if t and t % every == 0:
            inserts.append((len(body["messages"]), len(inserts) + 1))
        for at, n in reversed(inserts):
            text = f"<system-reminder>Reminder {n}: keep the answer short.</system-reminder>"
            body["messages"].insert(at, {"role": "system", "content": text})
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        out.append({**row, "raw_body": raw})
    return out


# --- standalone run ---------------------------------------------------------------------


CONFIG = """
[providers.anthropic]
base_url = "{mock}"

[providers.openai]
base_url = "{mock}/v1"

[models."agent-claude-small"]
provider = "anthropic"
tier = "simple"
input = 0.80
output = 4.00
context_window = 200000
tools = true
vision = true
max_output = 32000

[models."agent-claude-medium"]
provider = "anthropic"
tier = "medium"
input = 1.00
output = 5.00
context_window = 200000
tools = true
vision = true
max_output = 32000

[models."agent-claude-large"]
provider = "anthropic"
tier = "complex"
input = 3.00
output = 15.00
context_window = 200000
tools = true
vision = true
max_output = 32000

[models."agent-claude-frontier"]
provider = "anthropic"
tier = "frontier"
input = 5.00
output = 25.00
context_window = 200000
tools = true
vision = true
max_output = 32000

[models."agent-gpt-small"]
provider = "openai"
tier = "simple"
input = 0.10
output = 0.40
context_window = 200000
tools = true
vision = true
max_output = 32000

[routing]
baseline = "agent-claude-frontier"

[routing.tiers]
simple = ["agent-gpt-small", "agent-claude-small"]
medium = ["agent-claude-medium"]
complex = ["agent-claude-large"]
frontier = ["agent-claude-frontier"]

[routing.quality]
learn = false
explore = 0.0
"""


def start(argv: list[str], banner: str, env: dict[str, str], log) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(re.escape(banner) + r" (http://\S+)", line)
        if m:
            return proc, m.group(1).rstrip("/")
    raise SystemExit(f"{argv[0]} exited before listening")


def catalogue_off() -> str:
    import tomllib
    with open(ROOT / "crates" / "core" / "src" / "catalog.toml", "rb") as f:
        names = tomllib.load(f).get("models", {})
    return "".join(f'\n[models."{n}"]\nenabled = false\n' for n in names)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixture", type=Path, default=FIXTURE)
    ap.add_argument("--frugal-url")
    ap.add_argument("--mock-url")
    ap.add_argument("--bin-dir", type=Path, default=ROOT / "target" / "debug")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--system-every", type=int, metavar="K",
                    help="synthesise a mid-conversation system message every K turns (see with_system_messages)")
    args = ap.parse_args()
    rows = [r for r in load_session(args.fixture) if r["path"] == "/v1/messages"]
    if args.system_every:
        rows = with_system_messages(rows, args.system_every)
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            log = open(Path(tmp) / "stderr.log", "w")
            env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
            mock_url, frugal_url = args.mock_url, args.frugal_url
            if mock_url is None:
                p, mock_url = start([str(args.bin_dir / "mock-upstream"), "--port", "0", "--log-raw-bodies"],
                                    "mock-upstream listening on", env, log)
                procs.append(p)
            if frugal_url is None:
                cfg = Path(tmp) / "frugal.toml"
                cfg.write_text(CONFIG.format(mock=mock_url) + catalogue_off())
                env.update(ANTHROPIC_API_KEY="sk-ant-replay", OPENAI_API_KEY="sk-replay")
                p, frugal_url = start([str(args.bin_dir / "frugal"), "serve", "--config", str(cfg),
                                       "--listen", "127.0.0.1:0"], "frugal listening on", env, log)
                procs.append(p)
            httpx.delete(mock_url + "/mock/requests", timeout=10)
            turns = replay(frugal_url, rows, "replay-session-1")
            figures = measure(turns, rows, upstream_bodies(mock_url))
            # The same turns each in a session of its own: what stickiness prevented.
            alone = [replay(frugal_url, [row], f"replay-alone-{i}")[0].tier for i, row in enumerate(rows)]
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=10)
    alone_down = downward_changes([t for t in alone if t])
    if args.json:
        print(json.dumps({**asdict(figures), "tiers_alone": alone, "downward_tier_changes_alone": alone_down},
                         indent=2))
    else:
        print(f"turns: {figures.turns}, all answered 200: {all(s == 200 for s in figures.statuses)}")
        print(f"tiers: {' '.join(sorted(set(figures.tiers)))}; downward tier changes: {figures.downward_tier_changes}")
        print(f"each turn in a session of its own instead: {alone_down} downward tier changes "
              f"({' '.join(f'{i + 1}:{t}' for i, t in enumerate(alone) if t != figures.tiers[i])})")
        print(f"models: {' '.join(sorted(set(figures.models)))}; upstream requests: {figures.upstream_requests}")
        print(f"turns whose upstream prompt extends the previous one byte for byte (markers aside): "
              f"{figures.prefix_stable_turns} of {figures.turns - 1}")
        print(f"cache-eligible share of input (upstream, markers aside): {figures.upstream_share_markers_aside:.1%}"
              f" (strict: {figures.upstream_share_strict:.1%}); ~{figures.upstream_prompt_bytes // 4} tokens in all")
        print(f"the same for what the client sent: {figures.client_share_markers_aside:.1%}"
              f" (strict: {figures.client_share_strict:.1%})")
    misses = figures.misses()
    for m in misses:
        print("MISSED:", m, file=sys.stderr)
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
