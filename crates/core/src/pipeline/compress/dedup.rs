//! Exact-duplicate tool results: a tool result identical to an earlier one in the same
//! request is replaced by a short reference to that earlier call. Off by default: the
//! model then has to follow the reference instead of reading the data where it is, which
//! is a change in what it sees even though no information is lost. Only tool results are
//! touched (never text a person wrote), and the decision depends only on earlier turns,
//! so the pass stays prefix-stable.

use std::collections::HashMap;

/// Results shorter than this are kept: the reference would save little or nothing.
pub const MIN_BYTES: usize = 256;

/// The reference text that replaces a duplicate.
pub fn reference(first_call: &str) -> String {
    format!("[frugal: identical to the tool result of call {first_call} above]")
}

/// Whether `text` is a reference this pass wrote.
pub fn is_reference(text: &str) -> bool {
    text.starts_with("[frugal: identical to the tool result of call ") && text.ends_with(" above]")
}

/// Remembers the tool results seen so far in one request.
#[derive(Default)]
pub struct Seen {
    first_call: HashMap<String, String>,
}

impl Seen {
    /// The replacement for `text` (a result of `call_id`), if it repeats an earlier result.
    pub fn check(&mut self, text: &str, call_id: Option<&str>) -> Option<String> {
        if text.len() < MIN_BYTES {
            return None;
        }
        if let Some(first) = self.first_call.get(text) {
            return Some(reference(first));
        }
        if let Some(id) = call_id {
            self.first_call.insert(text.to_string(), id.to_string());
        }
        None
    }
}
