//! Fault modes: parsing them from a model name or the `x-mock-fault` header, and deciding what a
//! faulty request gets (delay, error kind, broken body). It does not render any wire format.

use std::time::Duration;

use crate::MockState;

/// Header that selects a fault for one request; it wins over a fault token in the model name.
pub const FAULT_HEADER: &str = "x-mock-fault";

/// One way a request can go wrong, chosen per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fail with this HTTP status and the provider's matching error body.
    /// Only 400, 401, 500, 503 and 529 are produced by [`parse_fault`].
    Fail(u16),
    /// 429 with `retry-after: N` seconds.
    RateLimited { retry_after_secs: u64 },
    /// Wait this long before sending the response headers.
    SlowFirstByte(Duration),
    /// Fixed extra latency before answering (load tests); behaves like `SlowFirstByte`.
    Latency(Duration),
    /// Send part of the body, then abort the connection.
    CutMidStream,
    /// 200 with a body (or SSE event) that is not valid JSON.
    MalformedJson,
    /// 500 the first time a model is seen, a normal answer afterwards.
    FailOnce500,
}

/// What a request that passed validation gets, once any fault delay has elapsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Answer(Delivery),
    Fail(Failure),
}

/// How a successful answer is put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Normal,
    CutMidStream,
    MalformedJson,
}

/// Error classes that each wire format renders in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    BadRequest,
    Unauthorized,
    RateLimited { retry_after_secs: u64 },
    Internal,
    Unavailable,
    Overloaded,
}

/// Picks the fault for a request. The header value must be exactly one mode; in the model name a
/// mode may appear anywhere as a token delimited by non-alphanumeric characters, so names such as
/// `mock-fail-500`, `claude-x@fail-429` or `gpt/latency-20` all work.
pub fn parse_fault(model: &str, header: Option<&str>) -> Option<Fault> {
    if let Some(value) = header {
        let value = value.trim();
        if let Some((fault, len)) = parse_mode_prefix(value) {
            if len == value.len() {
                return Some(fault);
            }
        }
    }
    // Scan token starts only, so `xfail-500` or `fail-5000` are not mistaken for modes.
    let bytes = model.as_bytes();
    (0..bytes.len())
        .filter(|&i| i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
        .find_map(|i| {
            let rest = &model[i..];
            let (fault, len) = parse_mode_prefix(rest)?;
            let ends_token = rest
                .as_bytes()
                .get(len)
                .is_none_or(|b| !b.is_ascii_alphanumeric());
            ends_token.then_some(fault)
        })
}

/// Builds a numbered fault from its number.
type MakeFault = fn(u64) -> Fault;

/// Parses the longest mode at the start of `s`, returning it and how many bytes it used.
fn parse_mode_prefix(s: &str) -> Option<(Fault, usize)> {
    // Numbered modes first: `fail-429-retry-N` must win over its prefix `fail-429`.
    let numbered: [(&str, MakeFault); 3] = [
        ("fail-429-retry-", |n| Fault::RateLimited {
            retry_after_secs: n,
        }),
        ("slow-first-byte-", |n| {
            Fault::SlowFirstByte(Duration::from_millis(n))
        }),
        ("latency-", |n| Fault::Latency(Duration::from_millis(n))),
    ];
    for (prefix, make) in numbered {
        if let Some(rest) = s.strip_prefix(prefix) {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if let Ok(n) = rest[..digits].parse::<u64>() {
                return Some((make(n), prefix.len() + digits));
            }
        }
    }
    let fixed = [
        ("fail-once-500", Fault::FailOnce500),
        ("fail-500", Fault::Fail(500)),
        ("fail-503", Fault::Fail(503)),
        ("fail-529", Fault::Fail(529)),
        ("fail-400", Fault::Fail(400)),
        ("fail-401", Fault::Fail(401)),
        (
            "fail-429",
            Fault::RateLimited {
                retry_after_secs: 1,
            },
        ),
        ("cut-mid-stream", Fault::CutMidStream),
        ("malformed-json", Fault::MalformedJson),
    ];
    fixed
        .into_iter()
        .find(|(token, _)| s.starts_with(token))
        .map(|(token, fault)| (fault, token.len()))
}

/// Applies the fault's delay and turns it into what the handler should send.
pub(crate) async fn resolve(fault: Option<Fault>, state: &MockState, model: &str) -> Outcome {
    let Some(fault) = fault else {
        return Outcome::Answer(Delivery::Normal);
    };
    match fault {
        Fault::SlowFirstByte(delay) | Fault::Latency(delay) => {
            tokio::time::sleep(delay).await;
            Outcome::Answer(Delivery::Normal)
        }
        Fault::CutMidStream => Outcome::Answer(Delivery::CutMidStream),
        Fault::MalformedJson => Outcome::Answer(Delivery::MalformedJson),
        Fault::FailOnce500 => {
            if state.first_sighting(model) {
                Outcome::Fail(Failure::Internal)
            } else {
                Outcome::Answer(Delivery::Normal)
            }
        }
        Fault::RateLimited { retry_after_secs } => {
            Outcome::Fail(Failure::RateLimited { retry_after_secs })
        }
        Fault::Fail(status) => Outcome::Fail(match status {
            400 => Failure::BadRequest,
            401 => Failure::Unauthorized,
            503 => Failure::Unavailable,
            529 => Failure::Overloaded,
            _ => Failure::Internal,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn model_name_tokens() {
        let cases: &[(&str, Option<Fault>)] = &[
            ("gpt-4o-mini", None),
            ("mock-fail-500", Some(Fault::Fail(500))),
            ("mock-fail-503", Some(Fault::Fail(503))),
            ("claude-x@fail-529", Some(Fault::Fail(529))),
            ("fail-400", Some(Fault::Fail(400))),
            ("m-fail-401", Some(Fault::Fail(401))),
            (
                "claude-x@fail-429",
                Some(Fault::RateLimited {
                    retry_after_secs: 1,
                }),
            ),
            (
                "m-fail-429-retry-7",
                Some(Fault::RateLimited {
                    retry_after_secs: 7,
                }),
            ),
            ("m-slow-first-byte-50", Some(Fault::SlowFirstByte(ms(50)))),
            ("m/latency-20", Some(Fault::Latency(ms(20)))),
            ("m-cut-mid-stream", Some(Fault::CutMidStream)),
            ("m-malformed-json-x", Some(Fault::MalformedJson)),
            ("m-fail-once-500", Some(Fault::FailOnce500)),
            // Not at a token boundary, or the number continues: not a mode.
            ("xfail-500", None),
            ("m-fail-5000", None),
            ("m-latency-", None),
            ("m-latency-x", None),
            ("", None),
        ];
        for (model, want) in cases {
            assert_eq!(parse_fault(model, None), *want, "model {model:?}");
        }
    }

    #[test]
    fn header_wins_and_must_be_exact() {
        assert_eq!(
            parse_fault("mock-fail-500", Some("fail-503")),
            Some(Fault::Fail(503))
        );
        assert_eq!(
            parse_fault("gpt", Some(" latency-5 ")),
            Some(Fault::Latency(ms(5)))
        );
        // A header that is not a mode falls back to the model name.
        assert_eq!(
            parse_fault("mock-fail-500", Some("fail-500x")),
            Some(Fault::Fail(500))
        );
        assert_eq!(parse_fault("gpt", Some("bogus")), None);
        assert_eq!(
            parse_fault("gpt", Some("fail-429-retry-3")),
            Some(Fault::RateLimited {
                retry_after_secs: 3
            })
        );
    }

    #[tokio::test]
    async fn fail_once_is_per_model() {
        let state = MockState::new();
        let fault = Some(Fault::FailOnce500);
        assert_eq!(
            resolve(fault, &state, "a").await,
            Outcome::Fail(Failure::Internal)
        );
        assert_eq!(
            resolve(fault, &state, "a").await,
            Outcome::Answer(Delivery::Normal)
        );
        assert_eq!(
            resolve(fault, &state, "b").await,
            Outcome::Fail(Failure::Internal)
        );
    }
}
