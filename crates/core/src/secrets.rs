//! Every configured secret (provider keys, client keys) is removed from whatever leaves
//! the process: client bodies, relayed stream frames, log lines, ledger error texts.
//!
//! Matching is exact on the secret's value and on its obvious encodings (percent-encoded,
//! JSON-escaped, base64 in any of the three byte alignments and both alphabets, hex), so a
//! provider that quotes the key inside `api_key=…`, `(key=…)`, a text/plain body or an
//! SSE error event is caught whatever the surrounding characters. The set is process-wide
//! because the log writer, which runs outside any request, must see the same secrets as
//! the request path; `Secret::new` registers each value as the configuration is read.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock, RwLock};

use aho_corasick::AhoCorasick;
use base64::Engine as _;

/// What a matched secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Secrets shorter than this are not matched: a 3-character "key" would redact ordinary
/// words in every answer (such a key is refused by no provider, but it is no secret either).
const MIN_SECRET_LEN: usize = 8;

/// Base64 fragments shorter than this carry too little of the key to be worth matching.
const MIN_ENCODED_LEN: usize = 12;

/// The registered secrets and one automaton over all their forms.
#[derive(Default)]
pub struct Redactor {
    secrets: Vec<String>,
    matcher: Option<AhoCorasick>,
}

impl Redactor {
    /// A redactor for these secret values (short and empty ones are ignored).
    pub fn new<I, S>(secrets: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(|s| s.as_ref().to_string())
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        secrets.sort();
        secrets.dedup();
        let mut patterns: Vec<String> = secrets.iter().flat_map(|s| forms(s)).collect();
        patterns.sort();
        patterns.dedup();
        let matcher = if patterns.is_empty() {
            None
        } else {
            // Leftmost-longest: a key that contains another key is removed whole.
            AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(&patterns)
                .ok()
        };
        Redactor { secrets, matcher }
    }

    /// The text with every secret form replaced by [`REDACTED`]; borrowed when clean.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match &self.matcher {
            Some(m) if m.is_match(text) => {
                let mut out = String::with_capacity(text.len());
                m.replace_all_with(text, &mut out, |_, _, dst| {
                    dst.push_str(REDACTED);
                    true
                });
                Cow::Owned(out)
            }
            _ => Cow::Borrowed(text),
        }
    }

    /// Bytes with every secret form replaced; borrowed when clean.
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        match &self.matcher {
            Some(m) if m.is_match(bytes) => {
                let mut out = Vec::with_capacity(bytes.len());
                m.replace_all_with_bytes(bytes, &mut out, |_, _, dst| {
                    dst.extend_from_slice(REDACTED.as_bytes());
                    true
                });
                Cow::Owned(out)
            }
            _ => Cow::Borrowed(bytes),
        }
    }

    /// True when `text` holds any form of a registered secret.
    pub fn leaks(&self, text: &[u8]) -> bool {
        self.matcher.as_ref().is_some_and(|m| m.is_match(text))
    }
}

/// The forms a secret can take in a provider's echo of it.
fn forms(secret: &str) -> Vec<String> {
    let bytes = secret.as_bytes();
    let mut out = vec![secret.to_string()];
    out.push(percent_encode(bytes));
    out.push(percent_encode_all(bytes));
    if let Ok(json) = serde_json::to_string(secret) {
        let inner = &json[1..json.len() - 1];
        out.push(inner.to_string());
        out.push(inner.replace('/', "\\/"));
    }
    let hex = crate::hashing::hex(bytes);
    out.push(hex.to_uppercase());
    out.push(hex);
    // Base64 of a longer text that contains the secret: whatever the secret's offset, one of
    // the three suffixes below starts on a 3-byte group boundary and encodes to these exact
    // characters (trailing bytes that share a group with what follows are left out).
    for skip in 0..3 {
        let Some(rest) = bytes.get(skip..) else {
            continue;
        };
        let whole = rest.len() / 3 * 3;
        for engine in [
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            let encoded = engine.encode(&rest[..whole]);
            if encoded.len() >= MIN_ENCODED_LEN {
                out.push(encoded);
            }
        }
    }
    out
}

fn percent_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

fn percent_encode_all(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

fn global() -> &'static RwLock<Arc<Redactor>> {
    static GLOBAL: OnceLock<RwLock<Arc<Redactor>>> = OnceLock::new();
    GLOBAL.get_or_init(|| RwLock::new(Arc::new(Redactor::default())))
}

/// Add a secret to the process-wide set (called by `config::Secret::new`).
pub fn register(secret: &str) {
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    let mut guard = global()
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if guard.secrets.iter().any(|s| s == secret) {
        return;
    }
    let mut all = guard.secrets.clone();
    all.push(secret.to_string());
    *guard = Arc::new(Redactor::new(all));
}

/// The process-wide redactor.
pub fn current() -> Arc<Redactor> {
    global()
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// `text` without any registered secret.
pub fn redact(text: &str) -> String {
    current().redact(text).into_owned()
}

/// A log writer for `tracing_subscriber` that removes registered secrets from each event
/// before it reaches stderr: whatever a log call formats, at every level, is covered.
#[derive(Clone, Copy, Default)]
pub struct RedactingStderr;

/// One event's bytes, written out (redacted) when the formatter drops the writer.
pub struct EventBuffer(Vec<u8>);

impl std::io::Write for EventBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventBuffer {
    fn drop(&mut self) {
        use std::io::Write as _;
        let clean = current().redact_bytes(&self.0).into_owned();
        // A log line that cannot be written has nowhere else to go.
        let _ = std::io::stderr().lock().write_all(&clean);
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = EventBuffer;
    fn make_writer(&'a self) -> EventBuffer {
        EventBuffer(Vec::with_capacity(256))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-test-openai-SECRET";

    fn r() -> Redactor {
        Redactor::new([KEY, "sk-ant-test-SECRET", "short"])
    }

    #[test]
    fn every_surrounding_and_encoding() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let b64url = |s: &str| base64::engine::general_purpose::URL_SAFE.encode(s);
        let cases = [
            format!("api_key={KEY}"),
            format!("(key={KEY})"),
            format!("credential={KEY}."),
            format!("key:\n{KEY}"),
            format!("Authorization: Bearer {KEY}"),
            format!("x{KEY}y"),
            format!("{{\"k\":\"{KEY}\"}}"),
            format!("u={}", percent_encode_all(KEY.as_bytes())),
            format!("h={}", crate::hashing::hex(KEY.as_bytes())),
            format!("basic {}", b64(&format!("user:{KEY}"))),
            format!("b {}", b64(&format!("Bearer {KEY}"))),
            format!("b {}", b64url(&format!("xx{KEY}"))),
            b64(KEY),
        ];
        let red = r();
        for c in &cases {
            let out = red.redact(c);
            assert!(!out.contains(KEY), "{c:?} -> {out:?}");
            assert!(out.contains(REDACTED), "{c:?} -> {out:?}");
            assert!(red.leaks(c.as_bytes()), "{c:?}");
            let bytes = red.redact_bytes(c.as_bytes());
            assert!(!red.leaks(&bytes), "{c:?}");
        }
    }

    #[test]
    fn clean_text_is_borrowed_and_short_secrets_ignored() {
        let red = r();
        assert!(matches!(
            red.redact("model gpt-4o is busy"),
            Cow::Borrowed(_)
        ));
        assert_eq!(red.redact("a short word"), "a short word");
        assert!(matches!(Redactor::default().redact(KEY), Cow::Borrowed(_)));
    }

    #[test]
    fn registered_secrets_reach_the_global_redactor() {
        register("sk-global-registered-1234");
        assert_eq!(redact("x=sk-global-registered-1234;"), "x=<redacted>;");
    }
}
