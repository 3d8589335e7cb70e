//! A JSON request body through the lossless compression entry point
//! (`pipeline::compress::compress_body`), in both formats.
//!
//! Input layout: byte 0 picks the passes (bit 0 json_minify, bit 1 whitespace, bit 2
//! dedup), the rest is the body. Invariants:
//! - `compress::check::check` finds no problem: nothing but visited message text changes,
//!   no non-whitespace character changes outside JSON parts, JSON parts keep their value,
//!   number text and key order, code fences are byte-identical, a dedup reference repeats an
//!   earlier tool result, compression is idempotent, and every prefix of the conversation
//!   compresses to a prefix of the whole;
//! - the compressed body parses (`wire::parse_request`) exactly when the original does, and
//!   without dedup to the same request up to whitespace inside strings.
#![no_main]
use frugal_core::pipeline::compress::{check, compress_body, CompressConfig};
use frugal_core::wire;
use frugal_fuzz::FORMATS;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Every string in `v` with its whitespace removed (the only thing the lossless passes may
/// change, dedup aside).
fn squeeze(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.split_whitespace().collect()),
        Value::Array(a) => Value::Array(a.into_iter().map(squeeze).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, squeeze(v))).collect()),
        other => other,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some(original) = frugal_fuzz::json(rest) else {
        return;
    };
    let cfg = CompressConfig {
        enabled: true,
        json_minify: flags & 1 != 0,
        whitespace: flags & 2 != 0,
        dedup: flags & 4 != 0,
        count_tokens: false,
        prune_tools: false, // lossy by design: not covered by the lossless promises
        ..CompressConfig::default()
    };
    for format in FORMATS {
        let mut compressed = original.clone();
        compress_body(format, &mut compressed, &cfg);
        let outcome = check::check(format, &original, &compressed, &cfg);
        assert!(
            outcome.ok(),
            "{format:?} {cfg:?}: {:?}\noriginal: {original}\ncompressed: {compressed}",
            outcome.problems
        );
        let before = wire::parse_request(format, &original);
        let after = wire::parse_request(format, &compressed);
        assert_eq!(
            before.is_ok(),
            after.is_ok(),
            "{format:?}: parses before {:?}, after {:?}\ncompressed: {compressed}",
            before.as_ref().err(),
            after.as_ref().err()
        );
        if let (Ok(b), Ok(a), false) = (before, after, cfg.dedup) {
            let to_value = |r| serde_json::to_value(r).expect("a request serialises");
            assert_eq!(
                squeeze(to_value(&a)),
                squeeze(to_value(&b)),
                "{format:?}: compressed body parses to a different request\ncompressed: {compressed}"
            );
        }
    }
});
