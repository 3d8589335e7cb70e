//! tau-bench replay: every model call of the 200 airline trajectories as the request the
//! agent sent (OpenAI), compressed; tool-result savings, prefix stability, and a model of
//! Anthropic's prompt cache over the same calls sent to Claude with automatic breakpoints.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde_json::{json, Value};

use frugal_core::pipeline::cache::anthropic_breakpoints;
use frugal_core::pipeline::compress::{compress_body, CompressConfig};
use frugal_core::tokens::{claude_from_o200k, count_reference};
use frugal_core::types::Format;
use frugal_core::wire::{self, BuildOptions};

pub struct TauResult {
    pub calls: usize,
    pub prefix_stable: usize,
    pub tool_tokens_before: u64,
    pub tool_tokens_after: u64,
    pub input_tokens_uncompressed: u64,
    pub input_tokens: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    /// Per call: (compress_body time in µs, o200k tokens of the call's text).
    pub timings: Vec<(f64, u64)>,
}

pub fn trajectories(path: &str) -> Vec<Vec<Value>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let rows: Vec<Value> = serde_json::from_str(&text).unwrap_or_default();
    rows.into_iter()
        .filter_map(|r| r.get("traj").and_then(Value::as_array).cloned())
        .collect()
}

fn body(messages: &[Value]) -> Value {
    json!({"model": "auto", "messages": messages})
}

/// Run the replay. `timing_cfg` is used for the per-call overhead measurement.
pub fn run(trajs: &[Vec<Value>], cfg: &CompressConfig, min_cache_tokens: u64) -> TauResult {
    let mut r = TauResult {
        calls: 0,
        prefix_stable: 0,
        tool_tokens_before: 0,
        tool_tokens_after: 0,
        input_tokens_uncompressed: 0,
        input_tokens: 0,
        cache_read: 0,
        cache_write: 0,
        timings: Vec::new(),
    };
    let mut sim = CacheSim::default();
    let mut token_memo: HashMap<String, u64> = HashMap::new();
    for traj in trajs {
        let mut full = body(traj);
        compress_body(Format::OpenAi, &mut full, cfg);
        let full_msgs = full["messages"].as_array().cloned().unwrap_or_default();
        for (m, c) in traj.iter().zip(&full_msgs) {
            if m["role"] == "tool" {
                r.tool_tokens_before += count_reference(m["content"].as_str().unwrap_or(""));
                r.tool_tokens_after += count_reference(c["content"].as_str().unwrap_or(""));
            }
        }
        for (a, m) in traj.iter().enumerate() {
            if m["role"] != "assistant" {
                continue;
            }
            r.calls += 1;
            let original = body(&traj[..a]);
            let mut call = original.clone();
            let t0 = Instant::now();
            compress_body(Format::OpenAi, &mut call, cfg);
            let us = t0.elapsed().as_secs_f64() * 1e6;
            let msgs = call["messages"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            if msgs == &full_msgs[..a] {
                r.prefix_stable += 1;
            }
            let before = text_tokens(&original, &mut token_memo);
            r.timings.push((us, before));
            if let Some(plain) = to_anthropic(&original) {
                r.input_tokens_uncompressed += prompt_tokens(&plain, &mut token_memo);
            }
            // The same call sent to Claude: translated, then given automatic breakpoints.
            let Some(mut anth) = to_anthropic(&call) else {
                continue;
            };
            anthropic_breakpoints(&mut anth, min_cache_tokens);
            let (total, read, write) = sim.request(&anth, min_cache_tokens, &mut token_memo);
            r.input_tokens += total;
            r.cache_read += read;
            r.cache_write += write;
        }
    }
    r
}

fn to_anthropic(openai_body: &Value) -> Option<Value> {
    let req = wire::openai::parse_request(openai_body).ok()?;
    let opts = BuildOptions {
        default_max_tokens: 4096,
    };
    wire::anthropic::build_request(&req, "claude-sonnet-4-5", &opts).ok()
}

/// o200k tokens of every string compression visits (the prompt text).
fn text_tokens(body: &Value, memo: &mut HashMap<String, u64>) -> u64 {
    frugal_core::pipeline::compress::check::strings(Format::OpenAi, body)
        .iter()
        .map(|(_, s)| memo_count(s, memo))
        .sum()
}

fn memo_count(s: &str, memo: &mut HashMap<String, u64>) -> u64 {
    if let Some(n) = memo.get(s) {
        return *n;
    }
    let n = count_reference(s);
    memo.insert(s.to_string(), n);
    n
}

/// Anthropic's cache as documented: a hit is the longest previously written prefix that
/// ends at a breakpoint or up to 20 blocks before one; every breakpoint whose prefix
/// reaches the minimum writes an entry; writes are billed from the hit to the last
/// breakpoint. Entries never expire here (the 5-minute TTL is refreshed by each turn).
#[derive(Default)]
struct CacheSim {
    written: HashSet<u64>,
}

impl CacheSim {
    /// (total, cache-read, cache-write) Claude-estimated input tokens of one request.
    fn request(
        &mut self,
        body: &Value,
        min_tokens: u64,
        memo: &mut HashMap<String, u64>,
    ) -> (u64, u64, u64) {
        let blocks = blocks(body);
        let mut cum = Vec::with_capacity(blocks.len());
        let mut hashes = Vec::with_capacity(blocks.len());
        let (mut t, mut h) = (0u64, 0xcbf2_9ce4_8422_2325u64);
        let mut breakpoints = Vec::new();
        for (i, b) in blocks.iter().enumerate() {
            let mut plain = b.clone();
            if let Some(o) = plain.as_object_mut() {
                if o.remove("cache_control").is_some() {
                    breakpoints.push(i);
                }
            }
            let text = plain.to_string();
            t += claude_from_o200k(memo_count(&text, memo));
            h = fnv(h, text.as_bytes());
            cum.push(t);
            hashes.push(h);
        }
        let mut hit: Option<usize> = None;
        for &bp in &breakpoints {
            for i in (bp.saturating_sub(20)..=bp).rev() {
                if self.written.contains(&hashes[i]) {
                    hit = hit.max(Some(i));
                    break;
                }
            }
        }
        let read = hit.map_or(0, |i| cum[i]);
        let mut write = 0;
        if let Some(&last) = breakpoints.last() {
            if cum[last] >= min_tokens {
                write = cum[last].saturating_sub(read);
            }
        }
        for &bp in &breakpoints {
            if cum[bp] >= min_tokens {
                self.written.insert(hashes[bp]);
            }
        }
        (t, read, write)
    }
}

/// The prompt's blocks in cache order: tools, system, then each message's content blocks
/// (role folded into the first block of each message).
fn blocks(body: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = body["tools"].as_array().cloned().unwrap_or_default();
    match &body["system"] {
        Value::String(s) => out.push(json!({"type": "text", "text": s})),
        Value::Array(bs) => out.extend(bs.iter().cloned()),
        _ => {}
    }
    for m in body["messages"].as_array().into_iter().flatten() {
        let role = m["role"].as_str().unwrap_or("");
        match &m["content"] {
            Value::String(s) => out.push(json!({"role": role, "type": "text", "text": s})),
            Value::Array(bs) => {
                for (j, b) in bs.iter().enumerate() {
                    let mut b = b.clone();
                    if j == 0 {
                        b["role"] = json!(role);
                    }
                    out.push(b);
                }
            }
            _ => {}
        }
    }
    out
}

/// Claude-estimated input tokens of a body, block by block (no caching).
fn prompt_tokens(body: &Value, memo: &mut HashMap<String, u64>) -> u64 {
    blocks(body)
        .iter()
        .map(|b| claude_from_o200k(memo_count(&b.to_string(), memo)))
        .sum()
}

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}
