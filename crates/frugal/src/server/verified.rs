//! Verified answers on the request path: the plan's first model answers while a second
//! answer (another cheap model, or a second sample) checks it; when the confidence is
//! below the live threshold, or the answer has a red flag, the next rung up answers
//! instead. The client gets one whole answer, as if from one model; every call is metered.
//! What is trusted is decided by `verify::live`; who is called, by `verify::ladder`.

use std::time::{Duration, Instant};

use crate::error::{AttemptError, GatewayError, Result};
use crate::ledger::{Verification, VerifyCall};
use crate::providers::{CallFailed, Called, ClientRequest, Reply, Served};
use crate::verify::ladder::{Check, Ladder};
use crate::verify::live::{confidence, Evidence, Expect};

use super::AppState;

/// A verified request's answer, and what verifying it did.
pub struct VerifiedAnswer {
    pub served: Served,
    pub verification: Verification,
}

/// The calls made so far and the answers in hand.
struct Walk<'a> {
    expect: &'a Expect,
    calls: Vec<VerifyCall>,
    failed: Vec<AttemptError>,
    /// Every answer in hand, with its index in `calls`.
    answers: Vec<(usize, Called, Evidence)>,
}

impl Walk<'_> {
    /// Records one call; returns the index of its answer in `answers`, if it answered.
    fn record(
        &mut self,
        role: &'static str,
        model: &str,
        result: std::result::Result<Called, CallFailed>,
    ) -> Result<Option<usize>> {
        match result {
            Ok(called) => {
                let evidence =
                    Evidence::of(self.expect, &called.response, called.token_probability);
                self.calls.push(VerifyCall {
                    model: called.model.clone(),
                    role,
                    served: false,
                    usage: Some(called.response.usage),
                    latency_ms: called.elapsed.as_secs_f64() * 1e3,
                    confidence: None,
                    flags: evidence
                        .flags
                        .iter()
                        .map(|f| format!("{f:?}").to_lowercase())
                        .collect(),
                    error: None,
                });
                self.answers.push((self.calls.len() - 1, called, evidence));
                Ok(Some(self.answers.len() - 1))
            }
            Err(CallFailed::Rejected(e)) if role == "answer" => Err(e),
            Err(failure) => {
                let reason = match failure {
                    CallFailed::Failed(a) => {
                        let reason = a.reason.clone();
                        self.failed.push(a);
                        reason
                    }
                    CallFailed::Rejected(e) => e.to_string(),
                };
                self.calls.push(VerifyCall {
                    model: model.to_string(),
                    role,
                    served: false,
                    usage: None,
                    latency_ms: 0.0,
                    confidence: None,
                    flags: vec![],
                    error: Some(reason),
                });
                Ok(None)
            }
        }
    }

    /// Records the LLM verifier's call; its grade (0..1) joins answer `i`'s evidence.
    fn record_grade(
        &mut self,
        i: usize,
        model: &str,
        result: std::result::Result<Called, CallFailed>,
    ) {
        let (usage, latency_ms, grade, error) = match result {
            Ok(called) => {
                let text = called.response.text();
                let grade = crate::providers::grader::parse_grade(&text);
                let error = grade.is_none().then(|| {
                    format!(
                        "grader answered `{}`",
                        text.chars().take(40).collect::<String>()
                    )
                });
                (
                    Some(called.response.usage),
                    called.elapsed.as_secs_f64() * 1e3,
                    grade,
                    error,
                )
            }
            Err(CallFailed::Failed(a)) => (None, 0.0, None, Some(a.reason)),
            Err(CallFailed::Rejected(e)) => (None, 0.0, None, Some(e.to_string())),
        };
        self.answers[i].2.grade = grade;
        self.calls.push(VerifyCall {
            model: model.to_string(),
            role: "grade",
            served: false,
            usage,
            latency_ms,
            confidence: grade,
            flags: vec![],
            error,
        });
    }

    /// The confidence in answer `i` against every other answer in hand.
    fn confidence_of(&mut self, i: usize) -> f64 {
        let others: Vec<&Evidence> = self
            .answers
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, (_, _, e))| e)
            .collect();
        let c = confidence(&self.expect.prompt, &self.answers[i].2, &others);
        let call = self.answers[i].0;
        self.calls[call].confidence = Some(c);
        c
    }

    /// Answer `i` served, with what verifying it did; `total` is the time since the
    /// first call went out.
    fn into_answer(
        self,
        i: usize,
        outcome: &'static str,
        first_confidence: Option<f64>,
        total: Duration,
    ) -> VerifiedAnswer {
        let Walk {
            mut calls,
            failed,
            mut answers,
            ..
        } = self;
        let (call_index, called, _) = answers.swap_remove(i);
        calls[call_index].served = true;
        let verification = Verification {
            outcome,
            confidence: first_confidence,
            delay: total.saturating_sub(called.elapsed),
            calls,
        };
        let served = Served {
            model: called.model,
            reply: Reply::Complete {
                body: called.body,
                response: Box::new(called.response),
            },
            failed_attempts: failed,
            upstream_time: total,
        };
        VerifiedAnswer {
            served,
            verification,
        }
    }
}

/// Answer `client` (a non-streaming request) up `ladder`, trusting an answer whose
/// confidence reaches the live threshold.
pub async fn answer(
    app: &AppState,
    request_id: &str,
    client: &ClientRequest<'_>,
    ladder: &Ladder,
    expect: &Expect,
) -> Result<VerifiedAnswer> {
    let started = Instant::now();
    let threshold = app.verify_threshold.get();
    let mut walk = Walk {
        expect,
        calls: vec![],
        failed: vec![],
        answers: vec![],
    };
    let first = first_round(app, client, ladder, &mut walk).await?;
    let first_confidence = first.map(|i| walk.confidence_of(i));
    let chosen = match (first, first_confidence) {
        (Some(i), Some(c)) if c >= threshold => Some((i, "trusted")),
        _ => escalate(app, client, ladder, &mut walk, threshold).await?,
    };
    // Every stronger model failed: the doubtful answer beats no answer.
    let Some((i, outcome)) = chosen.or_else(|| first.map(|i| (i, "escalation_failed"))) else {
        return Err(GatewayError::AllAttemptsFailed(walk.failed));
    };
    if outcome == "trusted" {
        app.verify_threshold.remember_trusted(request_id);
    }
    Ok(walk.into_answer(i, outcome, first_confidence, started.elapsed()))
}

/// The first answer, its check beside it (and its grading, when an LLM verifier is
/// configured): a trusted answer costs the slower of the two. The first answer's index
/// among the walk's answers, when it came.
async fn first_round(
    app: &AppState,
    client: &ClientRequest<'_>,
    ladder: &Ladder,
    walk: &mut Walk<'_>,
) -> Result<Option<usize>> {
    let cfg = &app.config.routing.verify;
    let checker = match &ladder.check {
        Check::Model(m) => m.as_str(),
        Check::SelfSample => ladder.start.as_str(),
    };
    let expect = walk.expect;
    let answer_and_grade = async {
        let first = app
            .upstreams
            .call(&ladder.start, client, cfg.logprobs)
            .await;
        let graded = match (&first, &cfg.grader) {
            (Ok(called), Some(model)) => {
                let text = Evidence::of(expect, &called.response, None).comparable;
                Some((
                    model.as_str(),
                    grade(app, model, &expect.prompt, &text).await,
                ))
            }
            _ => None,
        };
        (first, graded)
    };
    let ((first, graded), check) =
        tokio::join!(answer_and_grade, app.upstreams.call(checker, client, false),);
    let first = walk.record("answer", &ladder.start, first)?;
    walk.record("check", checker, check)?;
    if let (Some(i), Some((model, result))) = (first, graded) {
        walk.record_grade(i, model, result);
    }
    Ok(first)
}

/// Up the ladder, one stronger model at a time, until an answer reaches the threshold
/// (the last rung's answer is taken as it is).
async fn escalate(
    app: &AppState,
    client: &ClientRequest<'_>,
    ladder: &Ladder,
    walk: &mut Walk<'_>,
    threshold: f64,
) -> Result<Option<(usize, &'static str)>> {
    let logprobs = app.config.routing.verify.logprobs;
    for (n, rung) in ladder.rungs.iter().enumerate() {
        let result = app.upstreams.call(rung, client, logprobs).await;
        let Some(i) = walk.record("escalation", rung, result)? else {
            continue;
        };
        let last = n + 1 == ladder.rungs.len();
        if last || walk.confidence_of(i) >= threshold {
            return Ok(Some((i, "escalated")));
        }
    }
    Ok(None)
}

/// The LLM verifier grades `answer` to `prompt` (a non-streaming call to `model`).
async fn grade(
    app: &AppState,
    model: &str,
    prompt: &str,
    answer: &str,
) -> std::result::Result<Called, CallFailed> {
    let req = crate::providers::grader::grading_request(model, prompt, answer);
    let built = app.config.model(model).and_then(|m| {
        let format = app.config.provider_of(m)?.kind.format();
        let opts = crate::wire::BuildOptions {
            default_max_tokens: m.max_output,
        };
        Some((
            format,
            crate::wire::build_request(format, &req, &m.upstream_name, &opts),
        ))
    });
    let (format, raw) = match built {
        Some((format, Ok(raw))) => (format, raw),
        Some((_, Err(e))) => return Err(CallFailed::Rejected(e.into())),
        None => {
            return Err(CallFailed::Rejected(GatewayError::Internal(format!(
                "verifier model {model} has no provider"
            ))))
        }
    };
    let client = ClientRequest {
        format,
        req: &req,
        raw: &raw,
        passthrough_headers: &[],
    };
    app.upstreams.call(model, &client, false).await
}

/// The request as verification sends it: whole answers, not streams (a stream is rendered
/// from the verified answer afterwards).
pub fn unstreamed(
    req: &crate::types::ChatRequest,
    raw: &serde_json::Value,
) -> (crate::types::ChatRequest, serde_json::Value) {
    let mut req = req.clone();
    req.stream = false;
    let mut raw = raw.clone();
    if let Some(obj) = raw.as_object_mut() {
        obj.remove("stream");
        obj.remove("stream_options");
    }
    (req, raw)
}
