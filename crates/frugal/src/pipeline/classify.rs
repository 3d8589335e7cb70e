//! Stage two of the pipeline: score a request's complexity (0..1, higher needs a stronger
//! model) and place it in a tier, routing up when the score sits close to a boundary.
//!
//! This is the interim scorer: prompt length (which alone routes about as well as
//! published bag-of-words routers on MMLU) plus a handful of hand-weighted structural cues.
//! The learned cascade (rules → embeddings → judge) replaces `score_text`; the contract
//! (`Classification`) stays.

use serde::Serialize;

use crate::types::{ChatRequest, Part, Role, Tier};

/// Scores within this distance below a boundary are "unsure" and go one tier up.
const UNSURE_MARGIN: f64 = 0.04;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    pub score: f64,
    /// The tier by score alone, after "route up when unsure".
    pub tier: Tier,
    /// 0..1: how far the score is from the nearest boundary, relative to the tier width.
    pub confidence: f64,
    /// Which cascade stage decided ("rules", "embedding", "judge").
    pub stage: &'static str,
    /// The signals that moved the score most, for explanations.
    pub signals: Vec<(&'static str, f64)>,
}

pub struct Classifier {
    boundaries: [f64; 3],
}

impl Classifier {
    pub fn new(boundaries: [f64; 3]) -> Classifier {
        Classifier { boundaries }
    }

    /// Score and tier a request. `shift` moves every boundary (profiles).
    pub fn classify(&self, req: &ChatRequest, shift: f64) -> Classification {
        let (score, signals) = score_request(req);
        let b = self.boundaries.map(|x| (x + shift).clamp(0.0, 1.0));
        let mut idx = b.iter().filter(|&&x| score >= x).count();
        let next_up = b.get(idx).copied();
        let below = if idx == 0 { 0.0 } else { b[idx - 1] };
        let above = next_up.unwrap_or(1.0);
        let width = (above - below).max(1e-9);
        let dist = (score - below).min(above - score).max(0.0);
        let confidence = (2.0 * dist / width).clamp(0.0, 1.0);
        let unsure = next_up.is_some_and(|up| up - score < UNSURE_MARGIN);
        if unsure {
            idx += 1;
        }
        Classification {
            score,
            tier: Tier::ALL[idx.min(3)],
            confidence,
            stage: "rules",
            signals,
        }
    }
}

/// The text of the last user message (tool results excluded).
pub fn last_user_text(req: &ChatRequest) -> String {
    req.messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User && m.content.iter().any(|p| matches!(p, Part::Text { .. })))
        .map(|m| {
            m.content
                .iter()
                .filter_map(|p| match p {
                    Part::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn score_request(req: &ChatRequest) -> (f64, Vec<(&'static str, f64)>) {
    let last = last_user_text(req);
    let (mut score, mut signals) = score_text(&last);
    // A short follow-up inherits some weight of its conversation.
    let turns = req.messages.len();
    if turns > 2 {
        let w = (0.02 * (turns as f64).ln()).min(0.08);
        score += w;
        signals.push(("conversation_depth", w));
    }
    if !req.tools.is_empty() {
        score += 0.05;
        signals.push(("tools_offered", 0.05));
    }
    signals.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    (score.clamp(0.0, 1.0), signals)
}

/// Length plus structural cues of one prompt.
pub fn score_text(text: &str) -> (f64, Vec<(&'static str, f64)>) {
    let lower = text.to_lowercase();
    let chars = text.chars().count() as f64;
    // ln(chars) scaled so ~20 chars → 0.12 and ~4,000 chars → 0.7.
    let length = ((chars + 1.0).ln() / 12.0).min(0.75);
    let mut signals = vec![("length", length)];
    let mut add = |name: &'static str, hit: bool, w: f64| {
        if hit {
            signals.push((name, w));
        }
    };
    add("code_block", text.contains("```"), 0.10);
    add(
        "math",
        [
            "equation",
            "integral",
            "prove",
            "derivative",
            "theorem",
            "solve for",
        ]
        .iter()
        .any(|k| lower.contains(k)),
        0.08,
    );
    add(
        "multi_step",
        [
            "step by step",
            "analyze",
            "analyse",
            "compare",
            "design",
            "architect",
            "trade-off",
            "tradeoff",
        ]
        .iter()
        .any(|k| lower.contains(k)),
        0.10,
    );
    add(
        "generate_code",
        [
            "write a function",
            "implement",
            "refactor",
            "debug",
            "write code",
        ]
        .iter()
        .any(|k| lower.contains(k)),
        0.08,
    );
    let greeting = chars < 40.0
        && ["hi", "hello", "hey", "thanks", "thank you", "good morning"]
            .iter()
            .any(|g| lower.trim_start().starts_with(g));
    add("greeting", greeting, -0.15);
    let score = signals.iter().map(|s| s.1).sum::<f64>();
    (score.clamp(0.0, 1.0), signals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Message;

    fn req(text: &str) -> ChatRequest {
        ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: vec![Part::text(text)],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn greeting_is_simple_and_design_question_is_not() {
        let c = Classifier::new([0.30, 0.55, 0.80]);
        assert_eq!(c.classify(&req("hi"), 0.0).tier, Tier::Simple);
        let hard = "Design a distributed rate limiter, compare token bucket and sliding window \
                    trade-offs step by step, and implement it:\n```rust\nfn main() {}\n```"
            .repeat(3);
        assert!(c.classify(&req(&hard), 0.0).tier >= Tier::Complex);
    }

    #[test]
    fn unsure_routes_up() {
        let c = Classifier::new([0.30, 0.55, 0.80]);
        // Shift the boundaries so the first one sits 0.01 above this prompt's score.
        let text = "x".repeat(35);
        let s = score_text(&text).0;
        let cl = c.classify(&req(&text), s + 0.01 - 0.30);
        assert!(
            cl.tier >= Tier::Medium,
            "score {s} should be pushed up: {cl:?}"
        );
    }

    #[test]
    fn profile_shift_makes_routing_cheaper() {
        let c = Classifier::new([0.30, 0.55, 0.80]);
        let r = req(&"explain the difference between processes and threads ".repeat(4));
        assert!(c.classify(&r, 0.2).tier <= c.classify(&r, 0.0).tier);
    }
}
