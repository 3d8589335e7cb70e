//! Token estimates made before the call: how long the prompt is and how long the answer
//! is likely to be, so candidates can be compared on input + expected output cost.

use crate::types::{ChatRequest, Part};

/// Characters per token for the quick estimate. English prose with BPE tokenizers averages
/// about four characters a token; code and JSON run a little shorter.
const CHARS_PER_TOKEN: u64 = 4;
/// Tokens a typical answer takes when the request says nothing about length.
const DEFAULT_OUTPUT_TOKENS: u64 = 350;
/// Image inputs: a mid-size image is ~800–1,600 tokens on both providers.
const TOKENS_PER_IMAGE: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Estimate {
    pub fn of(req: &ChatRequest) -> Estimate {
        let mut chars: u64 = req.system.iter().map(|b| b.text.len() as u64).sum();
        let mut images = 0u64;
        for m in &req.messages {
            for p in &m.content {
                part_size(p, &mut chars, &mut images);
            }
        }
        for t in &req.tools {
            chars += t.name.len() as u64
                + t.description.as_ref().map_or(0, |d| d.len() as u64)
                + t.parameters.to_string().len() as u64;
        }
        let input_tokens = chars.div_ceil(CHARS_PER_TOKEN) + images * TOKENS_PER_IMAGE;
        let wanted = expected_output(req);
        let output_tokens = match req.max_tokens {
            Some(max) => wanted.min(u64::from(max)),
            None => wanted,
        };
        Estimate {
            input_tokens,
            output_tokens,
        }
    }
}

fn part_size(p: &Part, chars: &mut u64, images: &mut u64) {
    match p {
        Part::Text { text, .. } => *chars += text.len() as u64,
        Part::Image { .. } => *images += 1,
        Part::ToolUse { name, input, .. } => {
            *chars += (name.len() + input.to_string().len()) as u64
        }
        Part::ToolResult { content, .. } => {
            for c in content {
                part_size(c, chars, images);
            }
        }
    }
}

/// Expected answer length from what the last user turn asks for: a request for a
/// detailed, long or step-by-step answer costs its output tokens.
fn expected_output(req: &ChatRequest) -> u64 {
    let last = crate::pipeline::classify::text::request_texts(req)
        .last_user
        .to_lowercase();
    const LONG: [&str; 9] = [
        "step by step",
        "step-by-step",
        "in detail",
        "detailed",
        "comprehensive",
        "essay",
        "write a report",
        "full implementation",
        "thorough",
    ];
    const SHORT: [&str; 5] = [
        "one word",
        "yes or no",
        "briefly",
        "short answer",
        "just the",
    ];
    if LONG.iter().any(|k| last.contains(k)) {
        1_500
    } else if SHORT.iter().any(|k| last.contains(k)) {
        30
    } else {
        DEFAULT_OUTPUT_TOKENS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Message, Role};

    fn req(text: &str, max: Option<u32>) -> ChatRequest {
        ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: vec![Part::text(text)],
            }],
            max_tokens: max,
            ..Default::default()
        }
    }

    #[test]
    fn long_answers_cost_more_output() {
        let short = Estimate::of(&req("capital of France? one word", None));
        let long = Estimate::of(&req("explain TCP congestion control in detail", None));
        assert!(long.output_tokens > 10 * short.output_tokens);
    }

    #[test]
    fn max_tokens_caps_the_estimate() {
        assert_eq!(
            Estimate::of(&req("write an essay", Some(100))).output_tokens,
            100
        );
        assert_eq!(Estimate::of(&req("abcdefgh", None)).input_tokens, 2);
    }
}
