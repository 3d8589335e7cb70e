"""A 30-turn Claude Code session (recorded by bench/record_agent_session.py: system prompt,
21 tools, messages growing with tool_use / tool_result pairs) replayed through frugal with
`model: auto` and one session id: the tier never falls, every turn's upstream prompt is a
byte-identical extension of the previous one (cache markers aside), and at least 90 % of
the input is cache-eligible. bench/agent_replay.py measures the same and defines the
figures; docs/agents.md reports them."""

from __future__ import annotations

import sys

import pytest

from support import ROOT, model, render_config
from test_ledger import rows as ledger_rows

sys.path.insert(0, str(ROOT / "bench"))
import agent_replay  # noqa: E402

# Anthropic models answered by mock-upstream's scripted agent mode (the `agent` token),
# one per tier, and a cheaper OpenAI model that cannot take Claude Code's `thinking`.
AGENT_MODELS = {
    "agent-gpt-small": model("openai", "simple", 0.10, 0.40),
    "agent-claude-small": model("anthropic", "simple", 0.80, 4.00),
    "agent-claude-medium": model("anthropic", "medium", 1.00, 5.00),
    "agent-claude-large": model("anthropic", "complex", 3.00, 15.00),
    "agent-claude-frontier": model("anthropic", "frontier", 5.00, 25.00),
}
AGENT_TIERS = {
    "simple": ["agent-gpt-small", "agent-claude-small"],
    "medium": ["agent-claude-medium"],
    "complex": ["agent-claude-large"],
    "frontier": ["agent-claude-frontier"],
}


def agent_gateway(frugal_instance, mock, name: str, ledger_path):
    text = render_config(mock.url, AGENT_MODELS, AGENT_TIERS, "agent-claude-frontier")
    gw = frugal_instance(name, text + f'\n[ledger]\npath = "{ledger_path}"\n')
    gw.ledger_path = ledger_path
    return gw


@pytest.fixture(scope="module")
def replay_gw(mock, frugal_instance, tmp_path_factory):
    return agent_gateway(frugal_instance, mock, "agent-replay",
                         tmp_path_factory.mktemp("agent-replay") / "ledger.sqlite")


def test_fixture_is_a_long_claude_code_session():
    rows = agent_replay.load_session()
    assert len(rows) == 30 and {r["path"] for r in rows} == {"/v1/messages"}
    first = agent_replay.prompt_segments(rows[0]["raw_body"])
    last = agent_replay.prompt_segments(rows[-1]["raw_body"])
    assert len(last) - len(first) == 58, "29 tool_use / tool_result pairs"
    assert rows[0]["headers"]["user-agent"].startswith("claude-cli/")


@pytest.mark.parametrize("system_every", [None, 5], ids=["as-recorded", "system-message-every-5-turns"])
def test_replayed_session_keeps_its_tier_and_its_cacheable_prefix(replay_gw, mock, system_every):
    """As recorded, and with a mid-conversation `role: "system"` message every five turns
    (frugal must place those without changing any earlier byte)."""
    rows = agent_replay.load_session()
    if system_every:
        rows = agent_replay.with_system_messages(rows, system_every)
    before = len(ledger_rows(replay_gw.ledger_path))
    turns = agent_replay.replay(replay_gw.url, rows, f"e2e-replay-{system_every}")
    figures = agent_replay.measure(turns, rows, agent_replay.upstream_bodies(mock.url))
    assert figures.misses() == [], figures
    assert figures.downward_tier_changes == 0
    assert figures.prefix_stable_turns == 29
    assert figures.upstream_share_markers_aside >= 0.90
    assert len(set(figures.models)) == 1, "one model kept warm"
    # Every turn metered once, answered 200.
    ledger = ledger_rows(replay_gw.ledger_path, expected=before + 30)[before:]
    assert [r["request_id"] for r in ledger] == [t.request_id for t in turns]
    assert {r["status"] for r in ledger} == {200}


def test_sharing_sees_a_changed_earlier_byte():
    """The measure is not blind: a body whose system prompt changed mid-session does not
    extend the previous turn, and its share falls."""
    rows = agent_replay.load_session()
    # From the second turn on (on the first, Claude Code's own environment message is a
    # block list, later a string: the client itself changes that earlier byte once).
    bodies = [r["raw_body"] for r in rows[1:4]]
    stable = agent_replay.sharing(bodies, markers=False)
    assert stable.extends_previous == [True, True]
    edited = bodies[:2] + [bodies[2].replace("You are an agent", "You are an agent!", 1)]
    assert edited[2] != bodies[2]
    changed = agent_replay.sharing(edited, markers=False)
    assert changed.extends_previous == [True, False]
    assert changed.share < stable.share
