//! JSON minification of text that is a JSON document (tool results, tool-call arguments):
//! removes insignificant whitespace between tokens and nothing else. It works on the text,
//! never re-serialises, so numbers (`1.0`, `1e5`, 20-digit ids), escapes and key order
//! are kept byte for byte; only the four JSON whitespace bytes outside strings go.

use serde::de::IgnoredAny;

/// The minified text, or `None` when `text` is not a JSON object/array or is already
/// minimal. Scalars are left alone (nothing to remove).
pub fn minify(text: &str) -> Option<String> {
    let first = text.bytes().find(|b| !is_ws(*b))?;
    if first != b'{' && first != b'[' {
        return None;
    }
    if !has_removable_ws(text.as_bytes()) {
        return None;
    }
    // Validate before touching anything: text that only looks like JSON stays as written.
    serde_json::from_str::<IgnoredAny>(text).ok()?;
    Some(strip(text))
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Where a byte-by-byte walk over JSON text is: inside a string literal or not. The one
/// copy of the string/escape rules that every walk here shares.
#[derive(Default)]
struct Strings {
    in_str: bool,
    escaped: bool,
}

impl Strings {
    /// Feed the next byte; true when it lies outside every string (quotes count as inside).
    fn outside(&mut self, b: u8) -> bool {
        if self.in_str {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_str = false;
            }
            false
        } else if b == b'"' {
            self.in_str = true;
            false
        } else {
            true
        }
    }
}

/// Whether any whitespace sits outside a string (cheap pre-check: no allocation).
fn has_removable_ws(bytes: &[u8]) -> bool {
    let mut strings = Strings::default();
    bytes.iter().any(|&b| strings.outside(b) && is_ws(b))
}

/// Copy `text` without whitespace outside strings. Only valid for valid JSON: in valid
/// JSON every whitespace byte outside a string separates two tokens that are delimited
/// on their own (punctuation or string quotes), except between two bare literals, which
/// JSON's grammar never puts side by side.
fn strip(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut strings = Strings::default();
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if strings.outside(b) && is_ws(b) {
            out.extend_from_slice(&bytes[run_start..i]);
            run_start = i + 1;
        }
    }
    out.extend_from_slice(&bytes[run_start..]);
    // Only ASCII whitespace bytes were removed, so UTF-8 boundaries are intact.
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// Whether two texts hold the same JSON value (objects compared key by key, numbers by
/// their exact text thanks to the check below). Used by `--check` and the tests.
pub fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        // `==` ignores key order; the serialised forms (preserve_order) do not.
        (Ok(x), Ok(y)) => {
            let (sx, sy) = (x.to_string(), y.to_string());
            x == y && sx == sy && number_texts(a) == number_texts(b)
        }
        _ => false,
    }
}

/// The number literals of a JSON text, in order (to prove numbers were not rewritten).
fn number_texts(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut strings = Strings::default();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // A number's bytes hold no quote, so skipping them leaves `strings` right.
        if strings.outside(b) && (b == b'-' || b.is_ascii_digit()) {
            let start = i;
            while i < bytes.len()
                && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
            {
                i += 1;
            }
            out.push(&text[start..i]);
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"{"a": 1, "b": [1, 2]}"#, Some(r#"{"a":1,"b":[1,2]}"#)),
            (
                "[\n  1.0,\n  1e5,\n  12345678901234567890123\n]",
                Some("[1.0,1e5,12345678901234567890123]"),
            ),
            (
                r#"{"s": "keep  this \" and , : this"}"#,
                Some(r#"{"s":"keep  this \" and , : this"}"#),
            ),
            (r#"{"b": 1, "a": 2}"#, Some(r#"{"b":1,"a":2}"#)),
            (r#"{"a":1}"#, None),
            ("  {\"é\": \"ü\\u00e9\" }  ", Some("{\"é\":\"ü\\u00e9\"}")),
            ("255.0", None),
            ("Error: payment amount does not add up", None),
            ("{not json}", None),
            ("[1, 2", None),
            ("{\"a\": 1} trailing", None),
        ];
        for (input, want) in cases {
            assert_eq!(minify(input).as_deref(), *want, "input {input:?}");
            if let Some(w) = want {
                assert!(same_json(input, w));
                assert_eq!(minify(w), None, "idempotent on {w:?}");
            }
        }
    }

    #[test]
    fn same_json_sees_rewritten_numbers() {
        assert!(!same_json("[1.0]", "[1]"));
        assert!(same_json("[1.0]", "[ 1.0 ]"));
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            "[ a-z\\n\\t\"\\\\,:{}é]{0,12}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
                prop::collection::vec(("[a-z \\n]{0,6}", inner), 0..5)
                    .prop_map(|kv| { serde_json::Value::Object(kv.into_iter().collect()) }),
            ]
        })
    }

    proptest! {
        #[test]
        fn pretty_json_minifies_to_the_same_value(v in arb_json()) {
            let pretty = serde_json::to_string_pretty(&v).expect("serialise");
            let compact = serde_json::to_string(&v).expect("serialise");
            match minify(&pretty) {
                Some(m) => {
                    prop_assert_eq!(&m, &compact);
                    prop_assert!(same_json(&pretty, &m));
                    prop_assert_eq!(minify(&m), None);
                }
                None => prop_assert_eq!(&pretty, &compact),
            }
        }

        #[test]
        fn arbitrary_text_is_never_damaged(s in "\\PC{0,64}") {
            if let Some(m) = minify(&s) {
                prop_assert!(same_json(&s, &m));
            }
        }
    }
}
