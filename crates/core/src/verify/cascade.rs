//! The verified cascade over a ladder of models, cheapest first, and its accounting.
//!
//! For one request:
//! 1. the starting rung answers and, in parallel, the checker (by default the next rung up)
//!    answers the same prompt;
//! 2. a rung's confidence is 0 when its answer has a red flag, else its best agreement with
//!    every *other* answer already obtained (the checker's and the lower rungs');
//! 3. confidence ≥ T and no red flag → that rung's answer is served; else the next rung is called
//!    (no new call when it is the checker, whose answer is already in hand) and checked
//!    the same way; the last rung is always trusted (so when the checker *is* the last
//!    rung, a doubtful first answer is replaced by the checker's directly).
//!
//! Every model called counts once, whether its answer was served, used as a check or
//! thrown away. Since a rung's evidence does not depend on T, the confidences are computed
//! once per request ([`Trace`]) and any threshold is then a lookup ([`Trace::decide`]).

use serde::Serialize;

use super::answer::agree;
use super::flags::red_flags;

/// What one threshold decided for one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Every model called, in call order (answer, check, escalations), each once.
    pub calls: Vec<String>,
    /// The model whose answer is served.
    pub answered_by: String,
    /// Whether it is not the first rung called.
    pub escalated: bool,
}

/// One request walked up the ladder with every rung's confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The rungs from the starting one up to the top.
    pub rungs: Vec<String>,
    /// The checker called beside the first rung (none when it is that rung or absent).
    pub checker: Option<String>,
    /// Confidence of each rung but the last (which is trusted), 0..1.
    pub confidence: Vec<f64>,
    /// Whether that rung's answer has a red flag (escalated at any threshold).
    pub flagged: Vec<bool>,
}

/// The confidence in `answer`: 0 with any red flag, else its best agreement with the other
/// answers (0 when there are none).
pub fn confidence(prompt: &str, answer: &str, others: &[&str]) -> f64 {
    if !red_flags(prompt, answer).is_empty() {
        return 0.0;
    }
    others
        .iter()
        .map(|o| agree(prompt, answer, o))
        .fold(0.0, f64::max)
}

/// The checker actually called beside rung `start`: the one asked for, unless it is the
/// starting rung itself, in which case the next rung up (none at the top).
pub fn effective_checker(ladder: &[String], start: usize, checker: Option<&str>) -> Option<String> {
    let wanted = checker
        .map(str::to_string)
        .or_else(|| ladder.get(1).cloned())?;
    if wanted != ladder[start] {
        return Some(wanted);
    }
    ladder.get(start + 1).cloned()
}

/// Walks `ladder` from rung `start`, computing every rung's confidence from the answers
/// `answer_of` returns (a missing answer counts as empty: a red flag).
pub fn trace<'a>(
    prompt: &str,
    ladder: &[String],
    start: usize,
    checker: Option<&str>,
    answer_of: impl Fn(&str) -> Option<&'a str>,
) -> Trace {
    let start = start.min(ladder.len().saturating_sub(1));
    let mut rungs: Vec<String> = ladder[start..].to_vec();
    let checker = if rungs.len() > 1 {
        effective_checker(ladder, start, checker)
    } else {
        None
    };
    // The top rung as checker: its (trusted) answer is already paid for, so a doubtful
    // first answer is replaced by it directly, without the rungs in between.
    if rungs.len() > 2 && checker.as_deref() == rungs.last().map(String::as_str) {
        rungs.drain(1..rungs.len() - 1);
    }
    let mut seen: Vec<(String, &str)> = Vec::new();
    if let Some(c) = &checker {
        seen.push((c.clone(), answer_of(c).unwrap_or("")));
    }
    let mut confidence = Vec::with_capacity(rungs.len().saturating_sub(1));
    let mut flagged = Vec::with_capacity(rungs.len().saturating_sub(1));
    for m in &rungs[..rungs.len().saturating_sub(1)] {
        let a = answer_of(m).unwrap_or("");
        let others: Vec<&str> = seen
            .iter()
            .filter(|(n, _)| n != m)
            .map(|(_, t)| *t)
            .collect();
        confidence.push(self::confidence(prompt, a, &others));
        flagged.push(!red_flags(prompt, a).is_empty());
        seen.push((m.clone(), a));
    }
    Trace {
        rungs,
        checker,
        confidence,
        flagged,
    }
}

impl Trace {
    /// The outcome at threshold `t`: escalate while the answer has a red flag or its
    /// confidence is below `t` (so `t = 0` escalates on red flags only, `t > 1` always).
    pub fn decide(&self, t: f64) -> Outcome {
        let served = self
            .confidence
            .iter()
            .zip(&self.flagged)
            .position(|(c, f)| !*f && *c >= t)
            .unwrap_or(self.rungs.len().saturating_sub(1));
        let mut calls: Vec<String> = Vec::with_capacity(served + 2);
        let mut push = |m: &String| {
            if !calls.contains(m) {
                calls.push(m.clone());
            }
        };
        if let Some(first) = self.rungs.first() {
            push(first);
        }
        if let Some(c) = &self.checker {
            push(c);
        }
        for m in self.rungs.iter().take(served + 1) {
            push(m);
        }
        Outcome {
            answered_by: self.rungs.get(served).cloned().unwrap_or_default(),
            escalated: served > 0,
            calls,
        }
    }
}
