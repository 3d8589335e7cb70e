//! Red flags: properties of an answer that escalate it whatever any checker says — an empty
//! answer, a refusal, no valid choice where the prompt asks for one, obviously truncated
//! code, invalid JSON where JSON was asked for. Pure functions of prompt and answer.

use serde::Serialize;

use super::answer;

/// Why an answer cannot be trusted on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RedFlag {
    Empty,
    Refusal,
    NoValidChoice,
    TruncatedCode,
    InvalidJson,
    /// The provider stopped at the token limit (`length` / `max_tokens`).
    Truncated,
    /// A tool call whose arguments do not fit the tool's schema.
    InvalidToolArguments,
}

/// Phrases that open (or make up) a refusal. Matched case-insensitively at the start of the
/// answer or of one of its first sentences, so an explanation that *quotes* them later on
/// does not count.
const REFUSALS: &[&str] = &[
    "i can't",
    "i cannot",
    "i can not",
    "i'm unable",
    "i am unable",
    "i'm not able",
    "i am not able",
    "i won't",
    "i will not",
    "as an ai",
    "i'm sorry, but",
    "i apologize, but",
    "sorry, i can",
];

/// Every red flag of `answer` to `prompt` (empty when it may be trusted on agreement).
pub fn red_flags(prompt: &str, answer_text: &str) -> Vec<RedFlag> {
    let a = answer_text.trim();
    if a.is_empty() {
        return vec![RedFlag::Empty];
    }
    let mut flags = Vec::new();
    if is_refusal(a) {
        flags.push(RedFlag::Refusal);
    }
    if answer::asks_for_choice(prompt)
        && answer::extract_choice(a, &answer::options(prompt)).is_none()
    {
        flags.push(RedFlag::NoValidChoice);
    }
    if answer::asks_for_code(prompt) && looks_truncated(&answer::code_of(a), a) {
        flags.push(RedFlag::TruncatedCode);
    }
    if asks_for_json(prompt) && answer::extract_json(a).is_none() {
        flags.push(RedFlag::InvalidJson);
    }
    flags
}

/// A refusal phrase at the start of the answer or of one of its first three sentences.
pub fn is_refusal(answer_text: &str) -> bool {
    let lower = answer_text.to_lowercase().replace('’', "'");
    lower
        .split(['.', '!', '\n'])
        .take(3)
        .map(str::trim_start)
        .any(|s| REFUSALS.iter().any(|r| s.starts_with(r)))
}

/// Whether the prompt demands a JSON answer.
fn asks_for_json(prompt: &str) -> bool {
    let l = prompt.to_lowercase();
    l.contains("respond in json") || l.contains("answer in json") || l.contains("valid json")
}

/// Obvious truncation of code: a fence opened and never closed, brackets left open, or a
/// last line that cannot end a statement (`def f(x):` with no body, a trailing operator or
/// comma). `whole` is the full answer (for the fence count).
pub fn looks_truncated(code: &str, whole: &str) -> bool {
    if whole.matches("```").count() % 2 == 1 {
        return true;
    }
    let mut depth: i64 = 0;
    for c in strip_strings(&answer::strip_docstrings(code)).chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    if depth > 0 {
        return true;
    }
    let last = code
        .lines()
        .map(str::trim_end)
        .rfind(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    match last {
        None => true,
        Some(l) => {
            l.ends_with(':')
                || l.ends_with(',')
                || l.ends_with('\\')
                || l.ends_with(" =")
                || l.ends_with(" +")
                || l.ends_with(" and")
                || l.ends_with(" or")
        }
    }
}

/// The code with the contents of string literals and comments removed (so brackets in
/// strings do not count).
fn strip_strings(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut comment = false;
    for c in code.chars() {
        if comment {
            if c == '\n' {
                comment = false;
                out.push(c);
            }
            continue;
        }
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q || c == '\n' {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '#' => comment = true,
                _ => out.push(c),
            },
        }
    }
    out
}
