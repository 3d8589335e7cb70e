//! Hands a sample of routed-down answers to the grader, off the request path: the grade
//! arrives later as feedback (source `judge`) on the request's ledger row.

use crate::ledger::{Feedback, Signal};
use crate::pipeline::classify::text::request_texts;
use crate::pipeline::{Decision, Plan};
use crate::types::{ChatRequest, ChatResponse};

use super::AppState;

/// What was asked and answered, for grading.
pub struct Answered<'a> {
    pub request_id: &'a str,
    pub model: &'a str,
    pub req: &'a ChatRequest,
    pub response: &'a ChatResponse,
}

/// A uniform sample in 0..1 from the request id (a fresh UUID: random enough to sample by).
fn sample(request_id: &str) -> f64 {
    crate::hashing::unit_interval(request_id.as_bytes())
}

/// Grade the answer in the background when it was routed below the baseline's tier and the
/// sample and the budget allow.
pub fn maybe_grade(app: &AppState, plan: &Plan, a: &Answered<'_>) {
    let Some(grader) = app.grader.clone() else {
        return;
    };
    let routed_down = plan.decision == Decision::Routed
        && match (app.config.model(a.model), app.config.baseline_model()) {
            (Some(m), Some(b)) => m.tier < b.tier,
            _ => false,
        };
    // An exploration is graded whenever the budget allows: it exists to be learned from.
    let draw = if plan.explored {
        0.0
    } else {
        sample(a.request_id)
    };
    if !(routed_down || plan.explored) || !grader.wants(draw) {
        return;
    }
    let ledger = app.ledger.clone();
    let (question, answer) = (request_texts(a.req).last_user, a.response.text());
    let (request_id, model, tier) = (
        a.request_id.to_string(),
        a.model.to_string(),
        plan.tier.to_string(),
    );
    tokio::spawn(async move {
        match grader.grade(&question, &answer).await {
            Ok(score) => {
                let f = Feedback {
                    request_id,
                    ts_ms: crate::ledger::now_ms(),
                    tier: Some(tier),
                    model: Some(model),
                    score,
                    source: Signal::Judge,
                    comment: None,
                };
                if !ledger.feedback(f) {
                    tracing::warn!("grade dropped: ledger channel full");
                }
            }
            Err(e) => tracing::warn!(%request_id, error = %e, "grading failed"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::sample;

    #[test]
    fn samples_spread_over_the_unit_interval() {
        let xs: Vec<f64> = (0..1000)
            .map(|i| sample(&format!("frg_{i:032x}")))
            .collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let low = xs.iter().filter(|x| **x < 0.1).count();
        assert!((50..150).contains(&low), "{low}");
    }
}
