//! The `[routing.verify]` table: which routed traffic is verified, how confidence is
//! judged, what a stream does while its answer is checked. Raw TOML shape, field-wise merge
//! and the validated `VerifyConfig`.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVerify {
    /// Routing aliases verified besides `frugal/verified` (e.g. ["auto"]).
    pub aliases: Option<Vec<String>>,
    /// Escalate when the answer's confidence is below this (0..1).
    pub threshold: Option<f64>,
    /// How many times a doubtful answer may be replaced by a stronger model's.
    pub max_escalations: Option<u32>,
    /// Who checks the first answer: "auto", "self" (a second sample) or a model name.
    pub checker: Option<String>,
    /// Streams: "verify" (the checked answer is streamed once verified) or "skip".
    pub streams: Option<String>,
    /// Ask OpenAI-compatible providers for token log-probabilities and use them.
    pub logprobs: Option<bool>,
    /// Let rated answers move the threshold.
    pub learn: Option<bool>,
    /// The share of bad answers among trusted ones the threshold is moved toward.
    pub target_bad_rate: Option<f64>,
    /// A model that grades the first answer (0..10) as one more piece of evidence; off
    /// unless set.
    pub grader: Option<String>,
}

/// What a verified stream does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamVerify {
    /// Answer, check, then stream the verified answer (first byte later).
    Verify,
    /// Stream the first candidate's answer unverified.
    Skip,
}

/// Who checks the first answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checker {
    /// The cheapest other capable candidate below the escalation rungs; else a second sample.
    Auto,
    /// A second sample of the answering model.
    SelfSample,
    /// This model, when it can carry the request (else `Auto`).
    Model(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct VerifyConfig {
    pub aliases: Vec<String>,
    pub threshold: f64,
    pub max_escalations: u32,
    pub checker: Checker,
    pub streams: StreamVerify,
    pub logprobs: bool,
    pub learn: bool,
    pub target_bad_rate: f64,
    /// The LLM verifier (a catalogue model), when configured.
    pub grader: Option<String>,
}

/// The threshold cross-validated on RouterBench (mixtral checked by Yi-34B, 30 % budget:
/// T = 0.25–0.30; docs/verify.md).
pub const DEFAULT_THRESHOLD: f64 = 0.3;

impl Default for VerifyConfig {
    fn default() -> VerifyConfig {
        VerifyConfig {
            aliases: vec![],
            threshold: DEFAULT_THRESHOLD,
            max_escalations: 1,
            checker: Checker::Auto,
            streams: StreamVerify::Verify,
            logprobs: true,
            learn: true,
            target_bad_rate: 0.1,
            grader: None,
        }
    }
}

pub fn validate_verify(raw: Option<RawVerify>) -> Result<VerifyConfig, String> {
    let r = raw.unwrap_or_default();
    let d = VerifyConfig::default();
    let unit = |name: &str, v: Option<f64>, default: f64| match v {
        None => Ok(default),
        Some(x) if (0.0..=1.0).contains(&x) => Ok(x),
        Some(x) => Err(format!("routing.verify.{name}: {x} is not within 0..1")),
    };
    let streams = match r.streams.as_deref() {
        None | Some("verify") => StreamVerify::Verify,
        Some("skip") => StreamVerify::Skip,
        Some(other) => {
            return Err(format!(
                "routing.verify.streams: `{other}` is neither \"verify\" nor \"skip\""
            ))
        }
    };
    let checker = match r.checker.as_deref() {
        None | Some("auto") => Checker::Auto,
        Some("self") => Checker::SelfSample,
        Some("") => return Err("routing.verify.checker: must not be empty".into()),
        Some(model) => Checker::Model(model.to_string()),
    };
    let max_escalations = r.max_escalations.unwrap_or(d.max_escalations);
    if !(1..=5).contains(&max_escalations) {
        return Err(format!(
            "routing.verify.max_escalations: {max_escalations} is not within 1..5"
        ));
    }
    Ok(VerifyConfig {
        aliases: r.aliases.unwrap_or_default(),
        threshold: unit("threshold", r.threshold, d.threshold)?,
        max_escalations,
        checker,
        streams,
        logprobs: r.logprobs.unwrap_or(d.logprobs),
        learn: r.learn.unwrap_or(d.learn),
        target_bad_rate: unit("target_bad_rate", r.target_bad_rate, d.target_bad_rate)?,
        grader: r.grader,
    })
}
