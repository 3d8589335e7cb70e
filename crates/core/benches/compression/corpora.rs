//! The other corpora: BFCL (schemas and calls keep their JSON value), lost-in-the-middle
//! (every gold UUID / answer survives every pass), FastChat (multi-turn chat), and the
//! lossless `check` on every request built from them (code fences byte-identical).

use serde_json::{json, Value};

use frugal_core::pipeline::compress::{check, compress_body, json_min, CompressConfig};
use frugal_core::tokens::count_reference;
use frugal_core::types::Format;

#[derive(Default)]
pub struct Checked {
    pub requests: usize,
    pub failed: usize,
    pub fences: usize,
    pub json_parts: usize,
    pub first_problem: Option<String>,
}

impl Checked {
    pub fn add(&mut self, format: Format, original: &Value, cfg: &CompressConfig) -> Value {
        let mut body = original.clone();
        compress_body(format, &mut body, cfg);
        let c = check::check(format, original, &body, cfg);
        self.requests += 1;
        self.fences += c.fences;
        self.json_parts += c.json_parts;
        if !c.ok() {
            self.failed += 1;
            self.first_problem
                .get_or_insert_with(|| c.problems.join("; "));
        }
        body
    }
}

pub fn jsonl(path: &str) -> Vec<Value> {
    let text = if path.ends_with(".gz") {
        std::process::Command::new("gzip")
            .args(["-dc", path])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    } else {
        std::fs::read_to_string(path).unwrap_or_default()
    };
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[derive(Default)]
pub struct Bfcl {
    pub schemas: usize,
    pub schemas_same: usize,
    pub schema_tokens_pretty: u64,
    pub schema_tokens_min: u64,
    pub calls: usize,
    pub calls_same: usize,
}

/// BFCL rows as OpenAI requests: the question, the offered tools, and the expected call
/// written back as a (pretty-printed) assistant tool call with its result.
pub fn bfcl(dir: &str, cfg: &CompressConfig, checked: &mut Checked) -> Bfcl {
    let mut b = Bfcl::default();
    for name in [
        "BFCL_v4_live_simple.json",
        "BFCL_v4_live_multiple.json",
        "BFCL_v4_multi_turn_base.json",
    ] {
        let rows = jsonl(&format!("{dir}/{name}"));
        let answers = jsonl(&format!("{dir}/possible_answer/{name}"));
        for (row, ans) in rows
            .iter()
            .zip(answers.iter().chain(std::iter::repeat(&Value::Null)))
        {
            let functions = row["function"].as_array().cloned().unwrap_or_default();
            for f in &functions {
                schema_text(f, &mut b);
            }
            let tools: Vec<Value> = functions
                .iter()
                .map(|f| json!({"type": "function", "function": f}))
                .collect();
            let mut messages: Vec<Value> = row["question"]
                .as_array()
                .and_then(|turns| turns.first())
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (k, call) in ans["ground_truth"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let Some((fname, args)) = call.as_object().and_then(|o| o.iter().next()) else {
                    continue;
                };
                let chosen: serde_json::Map<String, Value> = args
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.get(0).cloned().unwrap_or(Value::Null)))
                    .collect();
                let text = serde_json::to_string_pretty(&chosen).unwrap_or_default();
                let id = format!("call_{k}");
                messages.push(json!({"role": "assistant", "content": null, "tool_calls": [
                    {"id": id, "type": "function", "function": {"name": fname, "arguments": text}}]}));
                messages.push(json!({"role": "tool", "tool_call_id": id, "content": text}));
            }
            let original = json!({"model": "auto", "messages": messages, "tools": tools});
            let out = checked.add(Format::OpenAi, &original, cfg);
            if out["tools"] != original["tools"] {
                checked.failed += 1;
            }
            let before = check::strings(Format::OpenAi, &original);
            let after = check::strings(Format::OpenAi, &out);
            for ((slot, x), (_, y)) in before.iter().zip(&after) {
                if slot.kind == frugal_core::pipeline::compress::walk::SlotKind::ToolArgs {
                    b.calls += 1;
                    b.calls_same += usize::from(json_min::same_json(x, y));
                }
            }
        }
    }
    b
}

/// A schema as text (as it appears in system prompts or MCP listings): pretty vs minified.
fn schema_text(f: &Value, b: &mut Bfcl) {
    let pretty = serde_json::to_string_pretty(f).unwrap_or_default();
    let min = json_min::minify(&pretty).unwrap_or_else(|| pretty.clone());
    b.schemas += 1;
    b.schemas_same += usize::from(json_min::same_json(&pretty, &min));
    b.schema_tokens_pretty += count_reference(&pretty);
    b.schema_tokens_min += count_reference(&min);
}

#[derive(Default)]
pub struct Litm {
    pub kv_prompts: usize,
    pub kv_survived: usize,
    pub qa_prompts: usize,
    pub qa_survived: usize,
}

/// Lost-in-the-middle: the KV JSON as a user prompt and as a tool result, the QA oracle
/// passage as a prompt; every configuration of passes (dedup included) must keep the gold.
pub fn litm(dir: &str, configs: &[CompressConfig], checked: &mut Checked) -> Litm {
    let mut l = Litm::default();
    for row in jsonl(&format!(
        "{dir}/kv_retrieval_data/kv-retrieval-75_keys.jsonl.gz"
    )) {
        let records: serde_json::Map<String, Value> = row["ordered_kv_records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|kv| Some((kv.get(0)?.as_str()?.to_string(), kv.get(1)?.clone())))
            .collect();
        let data = serde_json::to_string_pretty(&Value::Object(records)).unwrap_or_default();
        let key = row["key"].as_str().unwrap_or("");
        let gold = row["value"].as_str().unwrap_or("");
        let prompt = format!(
            "Extract the value corresponding to the specified key in the JSON object below.\n\nJSON data:\n{data}\n\nKey: \"{key}\"\nCorresponding value:"
        );
        let original = json!({"model": "auto", "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "load", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": data},
            {"role": "user", "content": format!("Key: \"{key}\"")}
        ]});
        for cfg in configs {
            let out = checked.add(Format::OpenAi, &original, cfg);
            l.kv_prompts += 1;
            let text = out["messages"][0]["content"].as_str().unwrap_or("");
            let tool = out["messages"][2]["content"].as_str().unwrap_or("");
            l.kv_survived += usize::from(text.contains(gold) && tool.contains(gold));
        }
    }
    for row in jsonl(&format!("{dir}/qa_data/nq-open-oracle.jsonl.gz")) {
        let ctx: Vec<String> = row["ctxs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "(Title: {}) {}",
                    c["title"].as_str().unwrap_or(""),
                    c["text"].as_str().unwrap_or("")
                )
            })
            .collect();
        let prompt = format!(
            "Write a high-quality answer for the given question using only the provided search results.\n\n{}\n\nQuestion: {}\nAnswer:",
            ctx.join("\n"),
            row["question"].as_str().unwrap_or("")
        );
        let original = json!({"model": "auto", "messages": [{"role": "user", "content": prompt}]});
        for cfg in configs {
            let out = checked.add(Format::OpenAi, &original, cfg);
            let text = out["messages"][0]["content"].as_str().unwrap_or("");
            for a in row["answers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if prompt.contains(a) {
                    l.qa_prompts += 1;
                    l.qa_survived += usize::from(text.contains(a));
                }
            }
        }
    }
    l
}

/// FastChat ShareGPT conversations, each as one request in both formats.
pub fn fastchat(path: &str, cfg: &CompressConfig, checked: &mut Checked) -> (u64, u64) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let rows: Vec<Value> = serde_json::from_str(&text).unwrap_or_default();
    let (mut before, mut after) = (0, 0);
    for row in rows {
        let messages: Vec<Value> = row["conversations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let role = if t["from"] == "gpt" {
                    "assistant"
                } else {
                    "user"
                };
                json!({"role": role, "content": t["value"].clone()})
            })
            .collect();
        let openai = json!({"model": "auto", "messages": messages});
        let out = checked.add(Format::OpenAi, &openai, cfg);
        let count = |v: &Value| -> u64 {
            check::strings(Format::OpenAi, v)
                .iter()
                .map(|(_, s)| count_reference(s))
                .sum()
        };
        before += count(&openai);
        after += count(&out);
        let anthropic = json!({"model": "auto", "max_tokens": 100, "messages": messages});
        checked.add(Format::Anthropic, &anthropic, cfg);
    }
    (before, after)
}

/// Lossy tool pruning on BFCL live_simple + live_multiple: the share of requests whose
/// expected function(s) are still offered after pruning to `keep` tools, and the tools
/// offered before and after. Pruning sees only the question, as it would at request time.
pub fn prune_recall(dir: &str, keep: usize) -> (usize, usize, usize, usize) {
    let (mut requests, mut recalled, mut before, mut after) = (0, 0, 0, 0);
    for name in ["BFCL_v4_live_simple.json", "BFCL_v4_live_multiple.json"] {
        let rows = jsonl(&format!("{dir}/{name}"));
        let answers = jsonl(&format!("{dir}/possible_answer/{name}"));
        for (row, ans) in rows.iter().zip(answers.iter()) {
            let tools: Vec<Value> = row["function"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| json!({"type": "function", "function": f}))
                .collect();
            let messages = row["question"]
                .as_array()
                .and_then(|t| t.first())
                .cloned()
                .unwrap_or(json!([]));
            let mut body = json!({"model": "auto", "messages": messages, "tools": tools});
            before += tools.len();
            frugal_core::pipeline::compress::prune::prune_tools(Format::OpenAi, &mut body, keep);
            let offered: Vec<&str> = body["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
                .collect();
            after += offered.len();
            let expected: Vec<&String> = ans["ground_truth"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_object().and_then(|o| o.keys().next()))
                .collect();
            requests += 1;
            if expected.iter().all(|e| offered.contains(&e.as_str())) {
                recalled += 1;
            }
        }
    }
    (requests, recalled, before, after)
}
