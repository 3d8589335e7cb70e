//! Proof obligations of the lossless passes, checked on one request: JSON parts keep
//! their value (and number text, and key order), code fences are byte-identical, no
//! non-whitespace character changes outside JSON, nothing but visited strings changes,
//! compression is idempotent, and every prefix of the conversation compresses to a
//! prefix of the whole. Used by `frugal compress --check`, the tests and the benchmark.

use serde_json::Value;

use super::walk::{self, Slot, SlotKind};
use super::{compress_body, dedup, json_min, whitespace, CompressConfig};
use crate::types::Format;

/// What was verified, and every violation found.
#[derive(Debug, Clone, Default)]
pub struct CheckOutcome {
    pub strings: usize,
    pub json_parts: usize,
    pub fences: usize,
    pub prefixes: usize,
    pub problems: Vec<String>,
}

impl CheckOutcome {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The visited strings of a body, in order.
pub fn strings(format: Format, body: &Value) -> Vec<(Slot, String)> {
    let mut copy = body.clone();
    let mut out = Vec::new();
    walk::visit(format, &mut copy, &mut |slot: &Slot, s: &mut String| {
        out.push((slot.clone(), std::mem::take(s)));
    });
    out
}

/// The body with every visited string emptied: what must not change at all.
fn skeleton(format: Format, body: &Value) -> Value {
    let mut copy = body.clone();
    walk::visit(format, &mut copy, &mut |_: &Slot, s: &mut String| s.clear());
    copy
}

/// Check `compressed` (the output of `compress_body` on `original`) against `original`.
pub fn check(
    format: Format,
    original: &Value,
    compressed: &Value,
    cfg: &CompressConfig,
) -> CheckOutcome {
    let mut out = CheckOutcome::default();
    if skeleton(format, original) != skeleton(format, compressed) {
        out.problems
            .push("something other than message text changed".into());
    }
    let a = strings(format, original);
    let b = strings(format, compressed);
    if a.len() != b.len() {
        out.problems
            .push(format!("{} strings before, {} after", a.len(), b.len()));
    }
    for (i, ((slot, before), (_, after))) in a.iter().zip(&b).enumerate() {
        out.strings += 1;
        check_string(&mut out, (i, slot), before, after, &a[..i]);
    }
    let mut again = compressed.clone();
    compress_body(format, &mut again, cfg);
    if &again != compressed {
        out.problems.push("compression is not idempotent".into());
    }
    check_prefixes(&mut out, format, original, compressed, cfg);
    out
}

fn check_string(
    out: &mut CheckOutcome,
    (i, slot): (usize, &Slot),
    before: &str,
    after: &str,
    earlier: &[(Slot, String)],
) {
    let at = format!("string {i} ({:?}, message {:?})", slot.kind, slot.message);
    if dedup::is_reference(after) && !dedup::is_reference(before) {
        let repeats = earlier
            .iter()
            .any(|(s, t)| s.kind == SlotKind::ToolResult && t == before);
        if !repeats {
            out.problems
                .push(format!("{at}: replaced by a reference but repeats nothing"));
        }
        return;
    }
    let fences = whitespace::fenced_blocks(before);
    out.fences += fences.len();
    if fences != whitespace::fenced_blocks(after) {
        out.problems.push(format!("{at}: a code fence changed"));
    }
    let is_tool = matches!(slot.kind, SlotKind::ToolResult | SlotKind::ToolArgs);
    if is_tool && serde_json::from_str::<Value>(before).is_ok() {
        out.json_parts += 1;
        if !json_min::same_json(before, after) {
            out.problems.push(format!(
                "{at}: JSON value, number text or key order changed"
            ));
        }
        return;
    }
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    if words(before) != words(after) {
        out.problems
            .push(format!("{at}: a non-whitespace character changed"));
    }
}

/// Compressing the first k messages must give the first k messages of the whole.
fn check_prefixes(
    out: &mut CheckOutcome,
    format: Format,
    original: &Value,
    compressed: &Value,
    cfg: &CompressConfig,
) {
    let n = walk::message_count(format, original);
    let key = walk::messages_key(format);
    let full = compressed
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for k in 1..n {
        out.prefixes += 1;
        let mut part = original.clone();
        if let Some(m) = part.get_mut(key).and_then(Value::as_array_mut) {
            m.truncate(k);
        }
        compress_body(format, &mut part, cfg);
        let got = part
            .get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let same_rest = without(&part, key) == without(compressed, key);
        if got != &full[..k] || !same_rest {
            out.problems.push(format!(
                "turns 1..{k} do not compress to a prefix of the whole"
            ));
        }
    }
}

fn without(v: &Value, key: &str) -> Value {
    let mut c = v.clone();
    if let Some(o) = c.as_object_mut() {
        o.shift_remove(key);
    }
    c
}
