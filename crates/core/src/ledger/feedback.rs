//! Quality signals: parsing explicit feedback (`POST /v1/feedback` bodies and the
//! `x-frugal-feedback` header) and the in-memory cache of recently finished requests that
//! answers feedback lookups before their row is written and detects retries (the same
//! conversation from the same client within the retry window counts against the model that
//! answered it the first time). Pure and bounded; no I/O.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::Value;

use super::{Feedback, Record, Signal};

/// Most requests remembered; the oldest are forgotten first.
const RECENT_CAPACITY: usize = 100_000;
/// How long a finished request stays findable in memory.
const RECENT_KEEP_MS: i64 = 3_600_000;
const COMMENT_MAX_CHARS: usize = 2_000;

/// Explicit feedback as a client sends it, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackInput {
    pub request_id: String,
    pub score: f64,
    pub comment: Option<String>,
}

/// Parse a `POST /v1/feedback` body: `{request_id, score 0..1 | thumbs "up"|"down",
/// comment?}`. The error names the field.
pub fn parse_body(body: &[u8]) -> Result<FeedbackInput, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        request_id: Option<Value>,
        score: Option<Value>,
        thumbs: Option<Value>,
        comment: Option<Value>,
    }
    let b: Body = serde_json::from_slice(body)
        .map_err(|e| format!("request body is not a valid feedback object: {e}"))?;
    let request_id = match b.request_id {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => s.trim().to_string(),
        Some(_) => return Err("request_id: must be a non-empty string".into()),
        None => return Err("request_id: missing (the x-frugal-request-id of the answer)".into()),
    };
    let score = match (b.score, b.thumbs) {
        (Some(_), Some(_)) => return Err("score, thumbs: give one or the other, not both".into()),
        (None, None) => {
            return Err("score: missing (a number 0..1, or thumbs: \"up\"|\"down\")".into())
        }
        (Some(v), None) => match v.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => x,
            _ => return Err("score: must be a number from 0 to 1".into()),
        },
        (None, Some(v)) => match v.as_str() {
            Some("up") => 1.0,
            Some("down") => 0.0,
            _ => return Err("thumbs: must be \"up\" or \"down\"".into()),
        },
    };
    let comment = match b.comment {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= COMMENT_MAX_CHARS => Some(s),
        Some(Value::String(_)) => {
            return Err(format!(
                "comment: longer than {COMMENT_MAX_CHARS} characters"
            ))
        }
        Some(_) => return Err("comment: must be a string".into()),
    };
    Ok(FeedbackInput {
        request_id,
        score,
        comment,
    })
}

/// Parse `x-frugal-feedback: <request_id>=<score|up|down>[, ...]`.
pub fn parse_header(value: &str) -> Result<Vec<FeedbackInput>, String> {
    value
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|part| {
            let (id, score) = part.split_once('=').ok_or_else(|| {
                format!(
                    "x-frugal-feedback: `{}` is not <request_id>=<score>",
                    part.trim()
                )
            })?;
            let score = match score.trim() {
                "up" => 1.0,
                "down" => 0.0,
                s => s
                    .parse::<f64>()
                    .ok()
                    .filter(|x| (0.0..=1.0).contains(x))
                    .ok_or_else(|| {
                        format!("x-frugal-feedback: score `{s}` is not 0..1, up or down")
                    })?,
            };
            let id = id.trim();
            if id.is_empty() {
                return Err("x-frugal-feedback: empty request id".into());
            }
            Ok(FeedbackInput {
                request_id: id.to_string(),
                score,
                comment: None,
            })
        })
        .collect()
}

/// A feedback row about `record`.
pub fn about(record: &Record, input: FeedbackInput, source: Signal) -> Feedback {
    Feedback {
        request_id: input.request_id,
        ts_ms: super::now_ms(),
        tier: record.tier.clone(),
        model: record.model.clone(),
        score: input.score,
        source,
        comment: input.comment,
    }
}

/// What is remembered of a request: enough for feedback and retry detection (a full
/// record would cost ~1 KB each at 100,000 entries).
struct Entry {
    ts_ms: i64,
    /// Who made the request: feedback is only taken from the same key.
    key_hash: String,
    tier: Option<String>,
    model: Option<String>,
    decision: String,
    answered: bool,
    conversation: Option<String>,
    /// Whether a retry signal may still be raised against it (once per request).
    retry_open: bool,
}

impl Entry {
    fn record(&self, request_id: &str) -> Record {
        Record {
            request_id: request_id.to_string(),
            ts_ms: self.ts_ms,
            key_hash: self.key_hash.clone(),
            tier: self.tier.clone(),
            model: self.model.clone(),
            decision: self.decision.clone(),
            status: if self.answered { 200 } else { 0 },
            ..Record::default()
        }
    }
}

#[derive(Default)]
struct State {
    by_id: HashMap<String, Entry>,
    /// Client + conversation → the request that last answered it.
    by_conversation: HashMap<String, String>,
    order: VecDeque<(i64, String)>,
}

/// Recently finished requests, bounded in count and age.
pub struct Recent {
    state: Mutex<State>,
    window_ms: i64,
}

fn conversation_key(r: &Record) -> Option<String> {
    if r.conversation_hash.is_empty() {
        return None;
    }
    Some(format!(
        "{}|{}|{}",
        r.key_hash, r.project, r.conversation_hash
    ))
}

impl Recent {
    pub fn new(window_secs: u64) -> Recent {
        Recent {
            state: Mutex::new(State::default()),
            window_ms: (window_secs as i64).saturating_mul(1000),
        }
    }

    /// A copy of a remembered request.
    pub fn get(&self, request_id: &str) -> Option<Record> {
        let s = self.state.lock().ok()?;
        s.by_id.get(request_id).map(|e| e.record(request_id))
    }

    /// Remember a finished request; if it repeats a conversation the same client had
    /// answered within the window, return a negative signal against that earlier answer.
    pub fn observe(&self, record: &Record) -> Option<Feedback> {
        let mut s = self.state.lock().ok()?;
        evict(&mut s, record.ts_ms);
        let key = conversation_key(record);
        let mut signal = None;
        if let Some(prev_id) = key.as_ref().and_then(|k| s.by_conversation.get(k)).cloned() {
            if let Some(p) = s.by_id.get_mut(&prev_id) {
                let within = record.ts_ms - p.ts_ms <= self.window_ms;
                if p.retry_open && p.answered && within && prev_id != record.request_id {
                    p.retry_open = false;
                    let source = if record.decision == "explicit" && p.decision == "routed" {
                        Signal::Escalation
                    } else {
                        Signal::Retry
                    };
                    signal = Some(Feedback {
                        request_id: prev_id.clone(),
                        ts_ms: record.ts_ms,
                        tier: p.tier.clone(),
                        model: p.model.clone(),
                        score: 0.0,
                        source,
                        comment: Some(format!("repeated by {}", record.request_id)),
                    });
                }
            }
        }
        if let Some(k) = &key {
            s.by_conversation
                .insert(k.clone(), record.request_id.clone());
        }
        s.order.push_back((record.ts_ms, record.request_id.clone()));
        s.by_id.insert(
            record.request_id.clone(),
            Entry {
                ts_ms: record.ts_ms,
                key_hash: record.key_hash.clone(),
                tier: record.tier.clone(),
                model: record.model.clone(),
                decision: record.decision.clone(),
                answered: record.status == 200 && record.error.is_none(),
                conversation: key,
                retry_open: true,
            },
        );
        signal
    }

    pub fn len(&self) -> usize {
        self.state.lock().map(|s| s.by_id.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn evict(s: &mut State, now_ms: i64) {
    while let Some((ts, _)) = s.order.front() {
        if s.order.len() <= RECENT_CAPACITY && now_ms - ts <= RECENT_KEEP_MS {
            break;
        }
        let Some((_, id)) = s.order.pop_front() else {
            break;
        };
        if let Some(e) = s.by_id.remove(&id) {
            if let Some(k) = e.conversation {
                if s.by_conversation.get(&k) == Some(&id) {
                    s.by_conversation.remove(&k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_validation() {
        let ok = parse_body(br#"{"request_id":"frg_1","thumbs":"down","comment":"wrong"}"#)
            .expect("valid");
        assert_eq!(ok.score, 0.0);
        assert_eq!(ok.comment.as_deref(), Some("wrong"));
        assert_eq!(
            parse_body(br#"{"request_id":"a","score":0.75}"#).map(|f| f.score),
            Ok(0.75)
        );
        for (body, field) in [
            (&br#"{"score":1}"#[..], "request_id"),
            (br#"{"request_id":"a"}"#, "score"),
            (br#"{"request_id":"a","score":1.5}"#, "score"),
            (br#"{"request_id":"a","score":1,"thumbs":"up"}"#, "thumbs"),
            (br#"{"request_id":"a","thumbs":"meh"}"#, "thumbs"),
            (br#"{"request_id":"a","score":1,"extra":1}"#, "extra"),
            (br#"not json"#, "valid"),
        ] {
            let e = parse_body(body).expect_err("invalid");
            assert!(e.contains(field), "{e}");
        }
    }

    #[test]
    fn header_parsing() {
        let v = parse_header("frg_a=0.5, frg_b=down").expect("valid");
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].score, v[1].score), (0.5, 0.0));
        assert!(parse_header("frg_a").is_err());
        assert!(parse_header("frg_a=7").is_err());
    }

    fn rec(id: &str, ts: i64, hash: &str) -> Record {
        Record {
            request_id: id.into(),
            ts_ms: ts,
            conversation_hash: hash.into(),
            status: 200,
            decision: "routed".into(),
            tier: Some("simple".into()),
            model: Some("m-small".into()),
            ..Default::default()
        }
    }

    #[test]
    fn retry_within_window_counts_once_against_the_first_answer() {
        let r = Recent::new(120);
        assert!(r.observe(&rec("a", 0, "c1")).is_none());
        let f = r.observe(&rec("b", 10_000, "c1")).expect("retry signal");
        assert_eq!(
            (f.request_id.as_str(), f.score, f.source),
            ("a", 0.0, Signal::Retry)
        );
        assert_eq!(f.model.as_deref(), Some("m-small"));
        // A third try counts against the second answer, not the first again.
        let f = r.observe(&rec("c", 20_000, "c1")).expect("signal");
        assert_eq!(f.request_id, "b");
        // Outside the window, or a different conversation: nothing.
        assert!(r.observe(&rec("d", 500_000, "c1")).is_none());
        assert!(r.observe(&rec("e", 500_001, "c2")).is_none());
        assert!(r.get("a").is_some());
    }

    #[test]
    fn failed_first_attempt_is_not_a_quality_signal() {
        let r = Recent::new(120);
        let mut first = rec("a", 0, "c1");
        first.status = 502;
        r.observe(&first);
        assert!(r.observe(&rec("b", 1_000, "c1")).is_none());
        let mut explicit = rec("c", 2_000, "c1");
        explicit.decision = "explicit".into();
        assert_eq!(
            r.observe(&explicit).map(|f| f.source),
            Some(Signal::Escalation)
        );
    }
}
