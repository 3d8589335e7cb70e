//! Stage 3, the LLM judge: for the requests no local stage was sure about, a cheap model
//! rates the difficulty 1–10. This module owns the contract — the prompt, parsing the
//! rating, turning it into a tier, and the trait the network side implements — so the
//! pipeline stays free of I/O. Any failure routes up one tier, never down.

use std::future::Future;
use std::pin::Pin;

use crate::types::{ChatRequest, Message, Part, Role, TextBlock, Tier};

/// Characters of the user's text shown to the judge (the head carries the ask).
pub const MAX_JUDGED_CHARS: usize = 4_000;

const INSTRUCTIONS: &str = "You rate how capable an AI model must be to answer a request well. \
Reply with a single integer from 1 to 10 and nothing else. 1-3: greetings, simple lookups, \
reformatting, short factual answers. 4-6: explanations, summaries, routine code or maths. \
7-8: multi-step reasoning, non-trivial code, careful analysis. 9-10: research-level \
reasoning, hard proofs, complex system design.";

/// What a judge said, or why it could not say.
pub type JudgeResult = Result<u8, String>;

/// What judging has cost so far (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JudgeUsage {
    pub calls: u64,
    pub failures: u64,
    pub usd: f64,
}

/// A judge that rates a request. Implemented over frugal's provider adapters; tests use fakes.
pub trait Judge: Send + Sync {
    fn rate<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> Pin<Box<dyn Future<Output = JudgeResult> + Send + 'a>>;

    /// Calls answered, failures and spend so far.
    fn usage(&self) -> JudgeUsage {
        JudgeUsage::default()
    }
}

/// The request sent to the judge model: instructions, then the user's latest text.
pub fn judge_request(text: &str, model: &str) -> ChatRequest {
    let shown: String = text.chars().take(MAX_JUDGED_CHARS).collect();
    ChatRequest {
        model: model.to_string(),
        system: vec![TextBlock {
            text: INSTRUCTIONS.to_string(),
            cache_control: None,
        }],
        messages: vec![Message {
            role: Role::User,
            content: vec![Part::text(format!("Request:\n{shown}"))],
        }],
        max_tokens: Some(4),
        temperature: Some(0.0),
        ..Default::default()
    }
}

/// The first run of digits in a model's short answer ("Rating: 7." → 7).
pub fn first_integer(answer: &str) -> Option<u32> {
    let digits: String = answer
        .trim()
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The first integer 1–10 in the judge's answer.
pub fn parse_rating(answer: &str) -> Option<u8> {
    first_integer(answer)
        .filter(|n| (1..=10).contains(n))
        .map(|n| n as u8)
}

/// A rating as a score in 0..1 on the same scale as the local stages' calibrated scores.
pub fn rating_score(rating: u8) -> f64 {
    f64::from(rating.clamp(1, 10) - 1) / 9.0
}

/// The tier for a judge's verdict; `None` (failure, timeout) means one tier above `current`.
pub fn judged_tier(verdict: Option<u8>, boundaries: [f64; 3], current: Tier) -> Tier {
    match verdict {
        Some(r) => {
            let s = rating_score(r);
            Tier::ALL[boundaries.iter().filter(|b| s >= **b).count().min(3)]
        }
        None => current.up(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ratings() {
        assert_eq!(parse_rating("7"), Some(7));
        assert_eq!(parse_rating(" Rating: 10."), Some(10));
        assert_eq!(parse_rating("eleven"), None);
        assert_eq!(parse_rating("0"), None);
        assert_eq!(parse_rating("42"), None);
    }

    #[test]
    fn verdicts_to_tiers() {
        let b = [0.30, 0.55, 0.80];
        assert_eq!(judged_tier(Some(1), b, Tier::Medium), Tier::Simple);
        assert_eq!(judged_tier(Some(5), b, Tier::Simple), Tier::Medium);
        assert_eq!(judged_tier(Some(10), b, Tier::Simple), Tier::Frontier);
        assert_eq!(
            judged_tier(None, b, Tier::Medium),
            Tier::Complex,
            "failure routes up"
        );
    }

    #[test]
    fn judge_request_is_small_and_deterministic() {
        let r = judge_request(&"x".repeat(10_000), "judge-model");
        assert_eq!(r.max_tokens, Some(4));
        assert_eq!(r.temperature, Some(0.0));
        let Part::Text { text, .. } = &r.messages[0].content[0] else {
            panic!("text")
        };
        assert!(text.len() < MAX_JUDGED_CHARS + 20);
    }
}
