//! `GET /metrics`: the Prometheus text format — the traffic (requests, tokens, cost,
//! savings, verification, upstream failures, latency and overhead; crate::metrics), the
//! ledger writer's counters, the judge's and the grader's calls and spend, the feedback
//! loop's boundaries and the verification threshold, and the Claude token factor.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::metrics::Exposition;

pub async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    // The copy is taken under the metrics lock; everything else formats outside it.
    let counts = app.metrics.snapshot();
    let mut page = Exposition::default();
    page.traffic(&counts);
    ledger(&mut page, &app);
    routing(&mut page, &app);
    helpers(&mut page, &app);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        page.finish(),
    )
        .into_response()
}

fn ledger(page: &mut Exposition, app: &AppState) {
    let s = app.ledger.stats();
    let backend = [("backend", s.backend)];
    for (name, kind, help, v) in [
        (
            "frugal_ledger_rows_written_total",
            "counter",
            "Request rows written to the ledger.",
            s.written as f64,
        ),
        (
            "frugal_ledger_feedback_written_total",
            "counter",
            "Feedback rows written to the ledger.",
            s.feedback_written as f64,
        ),
        (
            "frugal_ledger_rows_dropped_total",
            "counter",
            "Rows lost: ledger channel full or writes failing.",
            s.dropped as f64,
        ),
        (
            "frugal_ledger_write_errors_total",
            "counter",
            "Failed ledger write attempts.",
            s.write_errors as f64,
        ),
        (
            "frugal_ledger_rows_pruned_total",
            "counter",
            "Rows deleted by retention.",
            s.pruned as f64,
        ),
        (
            "frugal_ledger_queue_depth",
            "gauge",
            "Rows waiting for the ledger writer.",
            s.queued as f64,
        ),
        (
            "frugal_ledger_queue_capacity",
            "gauge",
            "Ledger channel capacity.",
            s.capacity as f64,
        ),
    ] {
        page.family(name, kind, help).sample(name, &backend, v);
    }
}

fn routing(page: &mut Exposition, app: &AppState) {
    let name = "frugal_tier_boundary";
    page.family(
        name,
        "gauge",
        "Score boundaries between tiers in force (moved by the feedback loop).",
    );
    for (pair, b) in ["simple_medium", "medium_complex", "complex_frontier"]
        .iter()
        .zip(app.pipeline.boundaries().get())
    {
        page.sample(name, &[("between", pair)], b);
    }
    let v = app.verify_threshold.info();
    page.single(
        "frugal_verify_threshold",
        "gauge",
        "Confidence below which a verified answer escalates (moved by ratings).",
        v.threshold,
    );
    page.single(
        "frugal_verify_threshold_moves_total",
        "counter",
        "Ratings that moved the verification threshold.",
        v.moves as f64,
    );
    let q = app.pipeline.quality();
    page.single(
        "frugal_quality_labels",
        "gauge",
        "Rated answers the model-aware router knows.",
        q.rows() as f64,
    );
}

fn helpers(page: &mut Exposition, app: &AppState) {
    page.single(
        "frugal_claude_tokens_per_o200k",
        "gauge",
        "Claude tokens per o200k token (calibrated on this gateway's Anthropic traffic).",
        crate::tokens::claude_factor(),
    );
    if let Some(judge) = &app.judge {
        let u = judge.usage();
        page.single(
            "frugal_judge_calls_total",
            "counter",
            "Requests rated by the LLM judge (stage 3).",
            u.calls as f64,
        );
        page.single(
            "frugal_judge_failures_total",
            "counter",
            "Judge errors and timeouts (routed one tier up).",
            u.failures as f64,
        );
        page.single(
            "frugal_judge_spend_usd_total",
            "counter",
            "What the judge's calls cost.",
            u.usd,
        );
    }
    if let Some(grader) = &app.grader {
        let u = grader.usage();
        page.single(
            "frugal_grader_calls_total",
            "counter",
            "Routed-down answers graded by the sampled grader.",
            u.calls as f64,
        );
        page.single(
            "frugal_grader_failures_total",
            "counter",
            "Grading calls that failed.",
            u.failures as f64,
        );
        page.single(
            "frugal_grader_spend_usd_total",
            "counter",
            "What the grader's calls cost.",
            u.usd,
        );
    }
}
