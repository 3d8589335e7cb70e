"""Stage 3, the LLM judge: asked only about requests the local stages are unsure of; its
rating decides the tier; when it fails the request goes one tier up, never down."""

from __future__ import annotations

import json

import pytest

from support import MAIN_BASELINE, MAIN_MODELS, MAIN_TIERS, ROOT, model, render_config

PROMPT = [{"role": "user", "content": "Summarise the plot of Hamlet in three sentences."}]


@pytest.fixture(scope="module")
def stage1_router(log_dir):
    """The shipped router without its stage-2 head, so stage 1's doubt reaches the judge."""
    m = json.loads((ROOT / "crates/core/assets/router.json").read_text())
    m["stage2"], m["embedding_id"] = None, None
    path = log_dir / "router-stage1-only.json"
    path.write_text(json.dumps(m))
    return path


@pytest.fixture(scope="module")
def _score(mock, frugal_instance, stage1_router):
    text = render_config(mock.url, MAIN_MODELS, MAIN_TIERS, MAIN_BASELINE)
    text = text.replace("[routing]\n", f"[routing]\nrouter_model = {json.dumps(str(stage1_router))}\n", 1)
    gw = frugal_instance("stage1-only", text)
    raw = gw.openai().chat.completions.with_raw_response.create(model="auto", messages=PROMPT)
    return float(raw.headers["x-frugal-score"])


def _judged_instance(frugal_instance, mock, name, judge_model, score, router):
    # Put the first boundary just above this prompt's score, so stage 1 abstains.
    models = dict(MAIN_MODELS, **{judge_model: model("openai", "simple", 0.01, 0.02)})
    text = render_config(mock.url, models, MAIN_TIERS, MAIN_BASELINE)
    b0 = min(score + 0.01, 0.95)
    text = text.replace(
        "[routing]\n",
        f"[routing]\nrouter_model = {json.dumps(str(router))}\nboundaries = [{b0:.4f}, 0.97, 0.98]\n", 1)
    text += f"\n[routing.judge]\nmodel = \"{judge_model}\"\ntimeout_ms = 2000\n"
    return frugal_instance(name, text)


def test_the_judge_decides_what_the_local_stages_are_unsure_of(mock, frugal_instance, _score, stage1_router):
    judged = _judged_instance(frugal_instance, mock, "judge-ok", "judge-rating-1", _score, stage1_router)
    mock.clear()
    raw = judged.openai().chat.completions.with_raw_response.create(model="auto", messages=PROMPT)
    assert raw.headers["x-frugal-stage"] == "judge"
    assert raw.headers["x-frugal-tier"] == "simple"  # rating 1 → the cheapest tier
    assert mock.models_called()[0] == "judge-rating-1"  # the judge was asked first
    judge_body = mock.chat_requests()[0]["body"]
    assert judge_body["max_completion_tokens"] <= 4 and judge_body["temperature"] == 0
    metrics = judged.http.get("/metrics").text
    calls = [l for l in metrics.splitlines() if l.startswith("frugal_judge_calls_total ")]
    assert calls and float(calls[0].split()[1]) >= 1, metrics


def test_failing_judge_routes_up_never_down(mock, frugal_instance, _score, stage1_router):
    judged = _judged_instance(frugal_instance, mock, "judge-broken", "judge-fail-500", _score, stage1_router)
    raw = judged.openai().chat.completions.with_raw_response.create(model="auto", messages=PROMPT)
    assert raw.headers["x-frugal-stage"] == "judge_failed"
    assert raw.headers["x-frugal-tier"] == "medium"  # one above the score's tier
    failures = [l for l in judged.http.get("/metrics").text.splitlines() if l.startswith("frugal_judge_failures_total ")]
    assert failures and float(failures[0].split()[1]) >= 1


def test_confident_requests_never_reach_the_judge(mock, frugal_instance, _score, stage1_router):
    judged = _judged_instance(frugal_instance, mock, "judge-ok", "judge-rating-1", _score, stage1_router)
    mock.clear()
    raw = judged.openai().chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-frugal-stage"] == "rules"
    assert "judge-rating-1" not in mock.models_called()
