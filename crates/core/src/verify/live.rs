//! Verified answers while serving: the evidence one live answer carries (its comparable
//! form, its red flags, its token probability) and the confidence they combine into. Pure:
//! the answers come from the server, which called the models.
//!
//! Confidence is 0 with any red flag; otherwise the mean of what is known of the answer:
//! its best agreement with the other answers in hand (`answer::agree`: exact for choices,
//! numbers, JSON and short entities, token Jaccard for code and free text; tool calls agree
//! when name and arguments are equal), the geometric-mean probability of its tokens
//! (when the provider returned log-probabilities) and an LLM verifier's grade (when one is
//! configured). With none of them, 0: when unsure, route up.

use serde::Serialize;
use serde_json::Value;

use super::answer::agree;
use super::flags::{red_flags, RedFlag};
use crate::types::{ChatRequest, ChatResponse, Part, Role, StopReason, ToolDef};

/// What the request expects of any answer, read once.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// The text answers are compared against (the last user turn).
    pub prompt: String,
    /// A JSON response format was asked for (OpenAI `response_format`, Anthropic
    /// `output_config.format`).
    pub json: bool,
    pub tools: Vec<ToolDef>,
}

impl Expect {
    pub fn of(req: &ChatRequest, raw: &Value) -> Expect {
        let prompt = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
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
            .unwrap_or_default();
        let format_type = raw
            .pointer("/response_format/type")
            .or_else(|| raw.pointer("/output_config/format/type"))
            .and_then(Value::as_str);
        Expect {
            prompt,
            json: matches!(format_type, Some("json_object" | "json_schema")),
            tools: req.tools.clone(),
        }
    }
}

/// One answer, reduced to what verification looks at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// The text, with each tool call as a `call name {canonical arguments}` line.
    pub comparable: String,
    pub flags: Vec<RedFlag>,
    /// exp(mean token log-probability), when the provider returned them.
    pub token_probability: Option<f64>,
    /// The LLM verifier's grade (0..1), when one graded this answer.
    pub grade: Option<f64>,
}

impl Evidence {
    pub fn of(expect: &Expect, resp: &ChatResponse, token_probability: Option<f64>) -> Evidence {
        let calls: Vec<(&str, &Value)> = resp
            .content
            .iter()
            .filter_map(|p| match p {
                Part::ToolUse { name, input, .. } => Some((name.as_str(), input)),
                _ => None,
            })
            .collect();
        let text = resp.text();
        let mut flags = if calls.is_empty() {
            red_flags(&expect.prompt, &text)
        } else {
            vec![]
        };
        match &resp.stop_reason {
            Some(StopReason::MaxTokens) => flags.push(RedFlag::Truncated),
            Some(StopReason::Refusal | StopReason::ContentFilter)
                if !flags.contains(&RedFlag::Refusal) =>
            {
                flags.push(RedFlag::Refusal)
            }
            _ => {}
        }
        if expect.json && calls.is_empty() && serde_json::from_str::<Value>(text.trim()).is_err() {
            flags.push(RedFlag::InvalidJson);
        }
        if calls
            .iter()
            .any(|(name, args)| !arguments_fit(&expect.tools, name, args))
        {
            flags.push(RedFlag::InvalidToolArguments);
        }
        flags.dedup();
        let mut comparable = text;
        for (name, args) in calls {
            comparable.push_str(&format!("\ncall {name} {}", canonical(args)));
        }
        Evidence {
            comparable,
            flags,
            token_probability,
            grade: None,
        }
    }
}

/// How far two answers agree, 0..1: tool calls must match exactly, text by `answer::agree`.
pub fn agreement(prompt: &str, a: &Evidence, b: &Evidence) -> f64 {
    let calls = |e: &Evidence| -> Vec<String> {
        e.comparable
            .lines()
            .filter(|l| l.starts_with("call "))
            .map(str::to_string)
            .collect()
    };
    let (ca, cb) = (calls(a), calls(b));
    if !ca.is_empty() || !cb.is_empty() {
        return if ca == cb { 1.0 } else { 0.0 };
    }
    agree(prompt, &a.comparable, &b.comparable)
}

/// The confidence in `answer` given the other answers in hand (see the module docs).
pub fn confidence(prompt: &str, answer: &Evidence, others: &[&Evidence]) -> f64 {
    if !answer.flags.is_empty() {
        return 0.0;
    }
    let mut parts: Vec<f64> = vec![];
    if !others.is_empty() {
        parts.push(
            others
                .iter()
                .map(|o| agreement(prompt, answer, o))
                .fold(0.0, f64::max),
        );
    }
    for p in [answer.token_probability, answer.grade]
        .into_iter()
        .flatten()
    {
        parts.push(p.clamp(0.0, 1.0));
    }
    if parts.is_empty() {
        return 0.0;
    }
    parts.iter().sum::<f64>() / parts.len() as f64
}

/// exp(mean log-probability) of an OpenAI chat completion's first choice's tokens.
pub fn token_probability(openai_body: &Value) -> Option<f64> {
    let content = openai_body
        .pointer("/choices/0/logprobs/content")?
        .as_array()?;
    let lps: Vec<f64> = content
        .iter()
        .filter_map(|t| t.get("logprob").and_then(Value::as_f64))
        .filter(|x| x.is_finite())
        .collect();
    if lps.is_empty() {
        return None;
    }
    Some((lps.iter().sum::<f64>() / lps.len() as f64).exp())
}

/// JSON with object keys sorted at every level (maps keep insertion order here), so the
/// same arguments in another order compare equal.
fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sorted(v)).unwrap_or_default()
}

/// Whether a tool call's arguments fit its declared schema: a known tool, an object, every
/// required property present, and each declared property's JSON type and enum respected.
/// (The common subset of JSON Schema that tool definitions use; anything else passes.)
fn arguments_fit(tools: &[ToolDef], name: &str, args: &Value) -> bool {
    let Some(tool) = tools.iter().find(|t| t.name == name) else {
        return tools.is_empty();
    };
    let Some(obj) = args.as_object() else {
        return false;
    };
    let schema = &tool.parameters;
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if required
        .iter()
        .filter_map(Value::as_str)
        .any(|r| !obj.contains_key(r))
    {
        return false;
    }
    let props = schema.get("properties").and_then(Value::as_object);
    obj.iter().all(|(k, v)| match props.and_then(|p| p.get(k)) {
        None => true,
        Some(prop) => value_fits(prop, v),
    })
}

fn value_fits(prop: &Value, v: &Value) -> bool {
    if let Some(allowed) = prop.get("enum").and_then(Value::as_array) {
        if !allowed.contains(v) {
            return false;
        }
    }
    let type_ok = |t: &str| match t {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    };
    match prop.get("type") {
        Some(Value::String(t)) => type_ok(t),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).any(type_ok),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Usage;
    use serde_json::json;

    fn resp(content: Vec<Part>, stop: StopReason) -> ChatResponse {
        ChatResponse {
            id: "r".into(),
            model: "m".into(),
            content,
            stop_reason: Some(stop),
            stop_sequence: None,
            usage: Usage::default(),
        }
    }

    fn text(t: &str) -> ChatResponse {
        resp(vec![Part::text(t)], StopReason::EndTurn)
    }

    fn quiz() -> Expect {
        Expect {
            prompt: "Which is a gas?\nA) iron\nB) helium\nC) salt\nAnswer with the letter.".into(),
            ..Expect::default()
        }
    }

    #[test]
    fn agreeing_choices_are_trusted_and_disagreeing_ones_are_not() {
        let e = quiz();
        let a = Evidence::of(&e, &text("B"), None);
        let b = Evidence::of(&e, &text("The answer is B) helium."), None);
        let c = Evidence::of(&e, &text("A"), None);
        assert_eq!(confidence(&e.prompt, &a, &[&b]), 1.0);
        assert_eq!(confidence(&e.prompt, &a, &[&c]), 0.0);
        // No evidence at all is no confidence.
        assert_eq!(confidence(&e.prompt, &a, &[]), 0.0);
    }

    #[test]
    fn red_flags_zero_the_confidence_whatever_agrees() {
        let e = quiz();
        let cut = Evidence::of(
            &e,
            &resp(vec![Part::text("B")], StopReason::MaxTokens),
            None,
        );
        assert_eq!(cut.flags, vec![RedFlag::Truncated]);
        let refused = Evidence::of(&e, &text("I can't help with that."), None);
        assert!(refused.flags.contains(&RedFlag::Refusal));
        let ok = Evidence::of(&e, &text("B"), None);
        assert_eq!(confidence(&e.prompt, &cut, &[&ok]), 0.0);
        let json = Expect {
            json: true,
            ..Expect::default()
        };
        let bad = Evidence::of(&json, &text("{\"a\": 1"), None);
        assert_eq!(bad.flags, vec![RedFlag::InvalidJson]);
        assert!(Evidence::of(&json, &text("{\"a\": 1}"), None)
            .flags
            .is_empty());
    }

    #[test]
    fn tool_calls_agree_on_name_and_arguments_and_must_fit_their_schema() {
        let e = Expect {
            tools: vec![ToolDef {
                name: "get_weather".into(),
                description: None,
                parameters: json!({"type": "object",
                    "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
                    "required": ["city"]}),
                cache_control: None,
            }],
            ..Expect::default()
        };
        let call = |args: Value| {
            resp(
                vec![Part::ToolUse {
                    id: "t".into(),
                    name: "get_weather".into(),
                    input: args,
                }],
                StopReason::ToolUse,
            )
        };
        let a = Evidence::of(&e, &call(json!({"unit": "c", "city": "Paris"})), None);
        let b = Evidence::of(&e, &call(json!({"city": "Paris", "unit": "c"})), None);
        let c = Evidence::of(&e, &call(json!({"city": "Rome"})), None);
        assert!(a.flags.is_empty());
        assert_eq!(agreement("", &a, &b), 1.0);
        assert_eq!(agreement("", &a, &c), 0.0);
        for bad in [
            json!({"unit": "c"}),
            json!({"city": 3}),
            json!({"city": "x", "unit": "k"}),
        ] {
            let ev = Evidence::of(&e, &call(bad.clone()), None);
            assert_eq!(ev.flags, vec![RedFlag::InvalidToolArguments], "{bad}");
        }
    }

    #[test]
    fn token_probability_is_the_geometric_mean_and_joins_the_confidence() {
        let body = json!({"choices": [{"logprobs": {"content": [
            {"token": "B", "logprob": -0.1}, {"token": ".", "logprob": -0.3}]}}]});
        let p = token_probability(&body).unwrap();
        assert!((p - (-0.2f64).exp()).abs() < 1e-12);
        assert_eq!(token_probability(&json!({"choices": [{}]})), None);
        let e = quiz();
        let a = Evidence::of(&e, &text("B"), Some(0.5));
        let b = Evidence::of(&e, &text("B"), None);
        assert!((confidence(&e.prompt, &a, &[&b]) - 0.75).abs() < 1e-12);
        let graded = Evidence {
            grade: Some(0.2),
            ..a.clone()
        };
        assert!((confidence(&e.prompt, &graded, &[&b]) - (1.0 + 0.5 + 0.2) / 3.0).abs() < 1e-12);
        assert!((confidence(&e.prompt, &a, &[]) - 0.5).abs() < 1e-12);
    }
}
