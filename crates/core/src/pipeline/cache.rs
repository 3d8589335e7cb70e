//! Automatic prompt caching, as pure edits of a provider body. Anthropic: put
//! `cache_control` breakpoints on the longest stable prefixes (the whole prompt, which the
//! next turn will extend; the end of the previous turn, which the last request wrote; the
//! static tools+system prefix shared across sessions), respecting the model's minimum
//! cacheable length and the 4-breakpoint limit, never moving or removing the caller's.
//! OpenAI: a `prompt_cache_key` derived from the conversation's opening, so every turn of
//! a session lands on the same cache shard. No I/O, no routing.

use crate::hashing::fnv1a;
use serde_json::{json, Map, Value};

/// Anthropic accepts at most this many `cache_control` markers per request.
pub const MAX_BREAKPOINTS: usize = 4;

/// Which content blocks may carry `cache_control` (thinking blocks may not).
const CACHEABLE: [&str; 6] = [
    "text",
    "image",
    "tool_use",
    "tool_result",
    "document",
    "search_result",
];

/// What was placed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// Breakpoints the caller had set (they count against the limit).
    pub existing: usize,
    /// Breakpoints frugal added, as (area, index) where area is "tools", "system" or the
    /// message index; index is the block within it.
    pub added: Vec<(String, usize)>,
    /// Estimated tokens of the longest marked prefix (the cache-eligible part).
    pub cached_prefix_tokens: u64,
}

/// A position that can hold a breakpoint, with the estimated prompt length up to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spot {
    area: Area,
    index: usize,
    cum_tokens: u64,
    /// Already carries a (caller's or earlier) breakpoint.
    marked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Area {
    Tools,
    System,
    Message(usize),
}

/// Cheap prompt-length estimate for placement decisions: ~4 bytes per token undercounts
/// Claude's tokenizer slightly, so a breakpoint is only spent where the prefix is very
/// likely above the minimum. Images count a flat 1,000 tokens.
pub fn estimate_tokens(block: &Value) -> u64 {
    match block {
        Value::String(s) => s.len() as u64 / 4,
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("image") => 1_000,
        other => other.to_string().len() as u64 / 4,
    }
}

/// Place Anthropic breakpoints on `body` (a Messages API body) for a model whose minimum
/// cacheable prompt is `min_tokens`.
pub fn anthropic_breakpoints(body: &mut Value, min_tokens: u64) -> Placement {
    let mut placement = Placement {
        existing: count_existing(body),
        ..Placement::default()
    };
    let budget = MAX_BREAKPOINTS.saturating_sub(placement.existing);
    if budget == 0 {
        return placement;
    }
    let spots = spots(body);
    let mut chosen: Vec<Spot> = Vec::new();
    for candidate in candidates(body, &spots) {
        if chosen.len() == budget {
            break;
        }
        // A candidate that already holds a marker is satisfied: nothing to add there.
        if !candidate.marked && candidate.cum_tokens >= min_tokens && !chosen.contains(&candidate) {
            chosen.push(candidate);
        }
    }
    for s in &chosen {
        if mark(body, s) {
            let area = match s.area {
                Area::Tools => "tools".to_string(),
                Area::System => "system".to_string(),
                Area::Message(i) => i.to_string(),
            };
            placement.added.push((area, s.index));
            placement.cached_prefix_tokens = placement.cached_prefix_tokens.max(s.cum_tokens);
        }
    }
    placement
}

/// Every block that may take a breakpoint, in prompt order, with cumulative estimates.
fn spots(body: &Value) -> Vec<Spot> {
    let mut out = Vec::new();
    let mut cum = 0u64;
    let mut push = |area: Area, index: usize, block: &Value, ok: bool| {
        cum += estimate_tokens(block);
        if ok {
            out.push(Spot {
                area,
                index,
                cum_tokens: cum,
                marked: block.get("cache_control").is_some(),
            });
        }
    };
    for (j, t) in arr(body, "tools").iter().enumerate() {
        push(Area::Tools, j, t, true);
    }
    match body.get("system") {
        Some(s @ Value::String(text)) => push(Area::System, 0, s, !text.is_empty()),
        Some(Value::Array(blocks)) => {
            for (j, b) in blocks.iter().enumerate() {
                push(Area::System, j, b, markable(b));
            }
        }
        _ => {}
    }
    for (i, m) in arr(body, "messages").iter().enumerate() {
        match m.get("content") {
            Some(s @ Value::String(text)) => push(Area::Message(i), 0, s, !text.is_empty()),
            Some(Value::Array(blocks)) => {
                for (j, b) in blocks.iter().enumerate() {
                    push(Area::Message(i), j, b, markable(b));
                }
            }
            _ => {}
        }
    }
    out
}

fn arr<'a>(body: &'a Value, key: &str) -> &'a [Value] {
    body.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A block of a type that may carry a marker, and not an empty text.
fn markable(b: &Value) -> bool {
    let ty = b.get("type").and_then(Value::as_str).unwrap_or("");
    let empty_text = ty == "text" && b.get("text").and_then(Value::as_str) == Some("");
    CACHEABLE.contains(&ty) && !empty_text
}

/// Breakpoint positions in priority order: the whole prompt, the static prefix, the end
/// of the previous turn.
fn candidates(body: &Value, spots: &[Spot]) -> Vec<Spot> {
    let last_in = |pred: &dyn Fn(Area) -> bool| spots.iter().rev().find(|s| pred(s.area)).copied();
    let mut out = Vec::new();
    out.extend(spots.last().copied());
    out.extend(last_in(&|a| matches!(a, Area::Tools | Area::System)));
    let messages = arr(body, "messages");
    let last_assistant = messages
        .iter()
        .rposition(|m| m.get("role").and_then(Value::as_str) == Some("assistant"));
    if let Some(a) = last_assistant.filter(|a| *a > 0) {
        out.extend(last_in(&|area| matches!(area, Area::Message(i) if i < a)));
    }
    out
}

fn mark(body: &mut Value, s: &Spot) -> bool {
    let marker = json!({"type": "ephemeral"});
    let slot = match s.area {
        Area::Tools => body.get_mut("tools").and_then(|t| t.get_mut(s.index)),
        Area::System => body.get_mut("system"),
        Area::Message(i) => body
            .get_mut("messages")
            .and_then(|m| m.get_mut(i))
            .and_then(|m| m.get_mut("content")),
    };
    let Some(slot) = slot else { return false };
    let block = match (s.area, slot) {
        (Area::Tools, b) => b,
        (_, v @ Value::String(_)) => {
            // A string is one text block; the block form is what can carry the marker.
            let text = v.take();
            *v = json!([{"type": "text", "text": text}]);
            match v.get_mut(0) {
                Some(b) => b,
                None => return false,
            }
        }
        (_, Value::Array(blocks)) => match blocks.get_mut(s.index) {
            Some(b) => b,
            None => return false,
        },
        _ => return false,
    };
    match block.as_object_mut() {
        Some(o) => {
            o.insert("cache_control".into(), marker);
            true
        }
        None => false,
    }
}

/// `cache_control` markers already in the body (top level, tools, system, messages and
/// tool results' inner blocks).
pub fn count_existing(body: &Value) -> usize {
    let has = |v: &Value| usize::from(v.get("cache_control").is_some());
    let blocks = |v: Option<&Value>| -> usize {
        match v {
            Some(Value::Array(bs)) => bs
                .iter()
                .map(|b| {
                    has(b)
                        + match b.get("content") {
                            Some(Value::Array(inner)) => inner.iter().map(has).sum(),
                            _ => 0,
                        }
                })
                .sum(),
            _ => 0,
        }
    };
    has(body)
        + arr(body, "tools").iter().map(has).sum::<usize>()
        + blocks(body.get("system"))
        + arr(body, "messages")
            .iter()
            .map(|m| blocks(m.get("content")))
            .sum::<usize>()
}

/// Set `prompt_cache_key` on an OpenAI Chat Completions body unless the caller set one.
/// The key is a hash of the first system/developer message and the first user message:
/// stable for every turn of a conversation, different across conversations.
pub fn openai_cache_key(body: &mut Value) -> Option<String> {
    let obj = body.as_object_mut()?;
    if obj.contains_key("prompt_cache_key") {
        return None;
    }
    let key = session_key(obj)?;
    obj.insert("prompt_cache_key".into(), Value::String(key.clone()));
    Some(key)
}

fn session_key(obj: &Map<String, Value>) -> Option<String> {
    let messages = obj.get("messages")?.as_array()?;
    let first = |roles: &[&str]| {
        messages
            .iter()
            .find(|m| {
                m.get("role")
                    .and_then(Value::as_str)
                    .is_some_and(|r| roles.contains(&r))
            })
            .and_then(|m| m.get("content"))
            .map(Value::to_string)
            .unwrap_or_default()
    };
    let user = first(&["user"]);
    if user.is_empty() {
        return None;
    }
    let seed = format!("{}\u{0}{}", first(&["system", "developer"]), user);
    Some(format!("frugal-{:016x}", fnv1a(seed.as_bytes())))
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
