"""`/metrics` after known traffic: every request counted under its labels, tokens, cost,
savings, failures, fallbacks and latency histograms equal to what the ledger recorded, in
valid Prometheus text (parsed here with the official `prometheus_client` parser)."""
from __future__ import annotations

import sqlite3
import time

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support import MAIN_BASELINE, MAIN_MODELS, MAIN_TIERS, render_config

PROMPT = [{"role": "user", "content": "hello metrics"}]


@pytest.fixture(scope="module")
def metered(frugal_instance, mock, tmp_path_factory):
    ledger = tmp_path_factory.mktemp("metrics") / "ledger.sqlite"
    models = dict(MAIN_MODELS)
    tiers = {t: ["gpt-fail-500", *ms] if t == "simple" else ms for t, ms in MAIN_TIERS.items()}
    text = render_config(mock.url, models, tiers, MAIN_BASELINE) + f'\n[ledger]\npath = "{ledger}"\n'
    return frugal_instance("metrics", text), ledger


def samples(text: str) -> dict[tuple, float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def ledger_rows(path, n: int) -> list[dict]:
    deadline = time.monotonic() + 5
    while True:
        con = sqlite3.connect(path)
        con.row_factory = sqlite3.Row
        try:
            rows = [dict(r) for r in con.execute("SELECT * FROM requests")]
        except sqlite3.OperationalError:
            rows = []
        con.close()
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def total(s: dict, name: str, **labels) -> float:
    return sum(v for (n, ls), v in s.items() if n == name and all(dict(ls).get(k) == w for k, w in labels.items()))


def test_metrics_count_known_traffic_exactly(metered):
    gw, ledger = metered
    client = gw.openai()
    for _ in range(3):
        client.chat.completions.create(model="test-gpt-small", messages=PROMPT)
    client.chat.completions.create(model="test-claude-medium", messages=PROMPT)
    # Routed: the failing model is tried first in the simple tier, then the next answers.
    client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="gpt-fail-500", messages=PROMPT)
    rows = ledger_rows(ledger, 6)
    assert len(rows) == 6
    s = samples(gw.http.get("/metrics").text)
    assert total(s, "frugal_requests_total") == 6
    assert total(s, "frugal_requests_total", model="test-gpt-small", decision="explicit", status="200") == 3
    assert total(s, "frugal_requests_total", model="gpt-fail-500", status="502") == 1
    for model in {r["model"] for r in rows}:
        mine = [r for r in rows if r["model"] == model]
        assert total(s, "frugal_tokens_total", model=model, kind="input") == sum(r["input_tokens"] for r in mine)
        assert total(s, "frugal_tokens_total", model=model, kind="output") == sum(r["output_tokens"] for r in mine)
        assert abs(total(s, "frugal_cost_usd_total", model=model) - sum(float(r["cost_usd"]) for r in mine)) < 1e-9
    routing = sum(float(r["savings_routing_usd"]) for r in rows)
    assert abs(total(s, "frugal_savings_usd_total", source="routing") - routing) < 1e-9
    assert total(s, "frugal_upstream_failures_total", model="gpt-fail-500", status="500") == 2
    assert total(s, "frugal_fallbacks_total") == 1
    assert total(s, "frugal_request_errors_total", kind="all_upstreams_failed") == 1
    assert total(s, "frugal_request_duration_seconds_count", format="openai") == 6
    assert total(s, "frugal_overhead_seconds_count") == sum(r["overhead_ms"] is not None for r in rows)
    assert total(s, "frugal_tier_boundary") > 0
    assert ("frugal_verify_threshold", ()) in s


def test_the_grafana_example_reads_only_exported_metrics(metered):
    """docs/grafana/frugal.json is valid JSON and every metric its queries name is in a scrape."""
    import json
    import re

    from support import ROOT

    gw, _ = metered
    gw.openai().chat.completions.create(model="test-gpt-small", messages=PROMPT)
    text = gw.http.get("/metrics").text
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    # A family declared with no sample yet (no verified request so far) is exported too.
    exported |= {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    dashboard = json.loads((ROOT / "docs" / "grafana" / "frugal.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    named = {m for e in exprs for m in re.findall(r"\bfrugal_[a-z0-9_]+\b", e)}
    assert named, "no frugal metric in the dashboard's queries"
    missing = sorted(named - exported)
    assert missing == [], f"the Grafana dashboard queries metrics /metrics does not export: {missing}"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
