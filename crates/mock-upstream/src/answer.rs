//! Deterministic answer synthesis shared by both wire formats: what to say, when to stop, token
//! counts. It knows nothing about either provider's JSON shapes or about HTTP.

use serde_json::{json, Map, Value};

/// Answer prefixes and tool results are echoed up to this many characters.
const ECHO_CHARS: usize = 200;

/// The provider-neutral view of a request that the answer depends on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prompt {
    pub model: String,
    pub last_user_text: String,
    /// Text of the trailing tool result, when the conversation ends with one.
    pub tool_result: Option<String>,
    pub tools: Vec<ToolSpec>,
    pub tool_choice: ToolChoice,
    pub max_tokens: Option<u64>,
    pub stop: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct ToolSpec {
    pub name: String,
    /// JSON schema of the arguments (OpenAI `parameters`, Anthropic `input_schema`).
    pub schema: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    #[default]
    Auto,
    None,
    /// OpenAI `required`, Anthropic `any`.
    Any,
    Named(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    Text {
        text: String,
        finish: Finish,
    },
    ToolCall {
        name: String,
        arguments: Value,
        /// Whether the model chose to call (auto) rather than being forced; real Claude models
        /// usually say a few words before an unforced tool call.
        forced: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finish {
    Complete,
    Length,
    StopSequence(String),
}

/// Token counts in provider-neutral terms: `input` includes `cached`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    pub input: u64,
    pub cached: u64,
    pub output: u64,
}

/// Decides the answer for a prompt; the same prompt always gets the same answer (ids aside).
pub(crate) fn answer(prompt: &Prompt) -> Answer {
    // A model named `…rating-N…` plays an LLM judge: it answers just "N".
    if let Some(n) = rating_token(&prompt.model) {
        return limit_text(n.to_string(), prompt);
    }
    if let Some(q) = crate::quiz::answer(&prompt.model, &prompt.last_user_text) {
        return limit_text(q.text, prompt);
    }
    if let Some(result) = &prompt.tool_result {
        let text = format!(
            "mock answer from {}: tool result was {}",
            prompt.model,
            first_chars(result, ECHO_CHARS)
        );
        return limit_text(text, prompt);
    }
    if !prompt.tools.is_empty() && prompt.tool_choice != ToolChoice::None {
        let (name, forced) = match &prompt.tool_choice {
            ToolChoice::Named(name) => (name.clone(), true),
            ToolChoice::Any => (prompt.tools[0].name.clone(), true),
            ToolChoice::Auto | ToolChoice::None => (prompt.tools[0].name.clone(), false),
        };
        let schema = prompt
            .tools
            .iter()
            .find(|t| t.name == name)
            .map(|t| &t.schema);
        return Answer::ToolCall {
            arguments: schema.map_or_else(|| json!({}), arguments_from_schema),
            name,
            forced,
        };
    }
    let text = format!(
        "mock answer from {}: {}",
        prompt.model,
        first_chars(&prompt.last_user_text, ECHO_CHARS)
    );
    limit_text(text, prompt)
}

/// The log-probability each token of the answer gets when logprobs are asked for: a quiz
/// taker is sure of right answers (−0.02) and unsure of wrong ones (−1.5); else −0.1.
pub(crate) fn token_logprob(prompt: &Prompt) -> f64 {
    match crate::quiz::answer(&prompt.model, &prompt.last_user_text) {
        Some(q) if q.correct => -0.02,
        Some(_) => -1.5,
        None => -0.1,
    }
}

/// The N of a `rating-N` token in a model name (N in 1..=10).
fn rating_token(model: &str) -> Option<u8> {
    let at = model.find("rating-")?;
    let digits: String = model[at + 7..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|n| (1..=10).contains(n))
}

/// Applies stop sequences and `max_tokens`, whichever the "generation" reaches first.
fn limit_text(text: String, prompt: &Prompt) -> Answer {
    let stop_at = prompt
        .stop
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|at| (at, s)))
        .min_by_key(|(at, _)| *at);
    // A token is ~4 characters, so max_tokens allows that many characters of answer.
    let char_budget = prompt
        .max_tokens
        .map(|n| usize::try_from(n.saturating_mul(4)).unwrap_or(usize::MAX));
    let budget_byte = char_budget.and_then(|n| text.char_indices().nth(n).map(|(at, _)| at));
    match (stop_at, budget_byte) {
        (Some((at, seq)), budget) if budget.is_none_or(|b| at <= b) => Answer::Text {
            text: text[..at].to_string(),
            finish: Finish::StopSequence(seq.clone()),
        },
        (_, Some(budget)) => Answer::Text {
            text: text[..budget].to_string(),
            finish: Finish::Length,
        },
        _ => Answer::Text {
            text,
            finish: Finish::Complete,
        },
    }
}

/// Builds arguments that satisfy the shape of a JSON schema's top-level `properties`.
pub(crate) fn arguments_from_schema(schema: &Value) -> Value {
    let mut out = Map::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            out.insert(name.clone(), sample_for(prop));
        }
    }
    Value::Object(out)
}

fn sample_for(prop: &Value) -> Value {
    // `type` may be a list such as ["string", "null"]; the first non-null entry decides.
    let ty = match prop.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ => "string",
    };
    match ty {
        "integer" => json!(1),
        "number" => json!(1.5),
        "boolean" => json!(true),
        "array" => json!([]),
        "object" => json!({}),
        "null" => Value::Null,
        _ => json!("mock"),
    }
}

/// Roughly ceil(chars / 4), the usual rule of thumb for English text.
pub(crate) fn tokens_for_chars(chars: usize) -> u64 {
    u64::try_from(chars.div_ceil(4)).unwrap_or(u64::MAX)
}

/// Output tokens of a piece of generated text (never 0: real providers bill at least one).
pub(crate) fn output_tokens(text: &str) -> u64 {
    tokens_for_chars(text.chars().count()).max(1)
}

/// Characters of a JSON value as serialized, used to estimate input tokens.
pub(crate) fn json_chars(value: &Value) -> usize {
    if value.is_null() {
        return 0;
    }
    serde_json::to_string(value).map_or(0, |s| s.chars().count())
}

/// Cached tokens to report: the explicit `x-mock-cached-tokens` value wins, else half the prompt
/// when the request asked for caching.
pub(crate) fn cached_tokens(input: u64, header: Option<u64>, asked_for_cache: bool) -> u64 {
    match header {
        Some(n) => n.min(input),
        None if asked_for_cache => input / 2,
        None => 0,
    }
}

pub(crate) fn first_chars(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(at, _)| &s[..at])
}

/// Splits text into word-sized stream deltas, each piece but the first starting at a space, so
/// concatenating them gives back the text exactly.
pub(crate) fn word_pieces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        if ch == ' ' && !current.trim().is_empty() {
            pieces.push(std::mem::take(&mut current));
        }
        current.push(ch);
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// Splits a string into at least three pieces when it has at least three characters, the way
/// providers stream tool arguments a few tokens at a time.
pub(crate) fn json_pieces(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let size = (chars.len() / 3).clamp(1, 8);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod rating_tests {
    use super::rating_token;

    #[test]
    fn rating_tokens() {
        assert_eq!(rating_token("judge-rating-8"), Some(8));
        assert_eq!(rating_token("judge-rating-10x"), Some(10));
        assert_eq!(rating_token("judge-rating-0"), None);
        assert_eq!(rating_token("gpt-4o"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(text: &str) -> Prompt {
        Prompt {
            model: "m".into(),
            last_user_text: text.into(),
            ..Prompt::default()
        }
    }

    #[test]
    fn text_answer_echoes_first_200_chars() {
        let long = "é".repeat(300);
        let Answer::Text { text, finish } = answer(&prompt(&long)) else {
            panic!("expected text");
        };
        assert_eq!(text, format!("mock answer from m: {}", "é".repeat(200)));
        assert_eq!(finish, Finish::Complete);
    }

    #[test]
    fn max_tokens_cuts_and_reports_length() {
        let mut p = prompt("hello there");
        p.max_tokens = Some(2);
        assert_eq!(
            answer(&p),
            Answer::Text {
                text: "mock ans".into(),
                finish: Finish::Length
            }
        );
    }

    #[test]
    fn earliest_stop_sequence_wins_unless_budget_ends_first() {
        let mut p = prompt("one two three");
        p.stop = vec!["three".into(), "two".into(), String::new()];
        assert_eq!(
            answer(&p),
            Answer::Text {
                text: "mock answer from m: one ".into(),
                finish: Finish::StopSequence("two".into())
            }
        );
        p.max_tokens = Some(1);
        assert!(matches!(
            answer(&p),
            Answer::Text {
                finish: Finish::Length,
                ..
            }
        ));
    }

    #[test]
    fn tool_call_arguments_follow_schema() {
        let mut p = prompt("weather?");
        p.tools = vec![
            ToolSpec {
                name: "first".into(),
                schema: json!({"type": "object", "properties": {
                    "s": {"type": "string"}, "i": {"type": "integer"}, "n": {"type": "number"},
                    "b": {"type": "boolean"}, "a": {"type": "array"}, "o": {"type": "object"},
                    "opt": {"type": ["null", "integer"]}
                }}),
            },
            ToolSpec {
                name: "second".into(),
                schema: json!({}),
            },
        ];
        assert_eq!(
            answer(&p),
            Answer::ToolCall {
                name: "first".into(),
                arguments: json!({"s": "mock", "i": 1, "n": 1.5, "b": true, "a": [], "o": {}, "opt": 1}),
                forced: false,
            }
        );
        p.tool_choice = ToolChoice::Named("second".into());
        assert_eq!(
            answer(&p),
            Answer::ToolCall {
                name: "second".into(),
                arguments: json!({}),
                forced: true
            }
        );
        p.tool_choice = ToolChoice::None;
        assert!(matches!(answer(&p), Answer::Text { .. }));
        p.tool_choice = ToolChoice::Auto;
        p.tool_result = Some("sunny".into());
        assert!(
            matches!(answer(&p), Answer::Text { text, .. } if text == "mock answer from m: tool result was sunny")
        );
    }

    #[test]
    fn pieces_reassemble() {
        let text = "mock answer  from m: hi";
        assert_eq!(word_pieces(text).concat(), text);
        assert_eq!(word_pieces(text)[0], "mock");
        assert!(word_pieces("").is_empty());
        let args = r#"{"location":"mock"}"#;
        let pieces = json_pieces(args);
        assert!(pieces.len() >= 3);
        assert_eq!(pieces.concat(), args);
        assert_eq!(json_pieces("{}").concat(), "{}");
    }

    #[test]
    fn token_estimates() {
        assert_eq!(tokens_for_chars(0), 0);
        assert_eq!(tokens_for_chars(5), 2);
        assert_eq!(output_tokens(""), 1);
        assert_eq!(cached_tokens(100, Some(500), false), 100);
        assert_eq!(cached_tokens(100, None, true), 50);
        assert_eq!(cached_tokens(100, None, false), 0);
    }
}
