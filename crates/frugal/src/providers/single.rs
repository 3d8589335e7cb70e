//! One model, one whole answer: what verified answers need (the answering model, its
//! checker and each escalation are called by name, not walked as fallbacks). Optionally
//! asks an OpenAI-compatible provider for token log-probabilities, and keeps them from a
//! client that did not ask for them.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{body, ClientRequest, Failure, Upstreams};
use crate::error::{AttemptError, GatewayError};
use crate::types::ChatResponse;

/// One model's whole answer.
pub struct Called {
    pub model: String,
    /// The answer in the client's format.
    pub body: Value,
    pub response: ChatResponse,
    pub elapsed: Duration,
    /// exp(mean token log-probability), when asked for and returned.
    pub token_probability: Option<f64>,
}

/// Why one call gave no answer.
pub enum CallFailed {
    /// The request itself was refused (4xx): no other model will take it either.
    Rejected(GatewayError),
    /// This model failed (5xx, 429, timeout, cannot carry the request): another may answer.
    Failed(AttemptError),
}

impl Upstreams {
    /// `model` answers the (non-streaming) request; `logprobs` asks an OpenAI-compatible
    /// provider for token log-probabilities.
    pub async fn call(
        &self,
        model: &str,
        client: &ClientRequest<'_>,
        logprobs: bool,
    ) -> Result<Called, CallFailed> {
        let internal = |m: String| CallFailed::Rejected(GatewayError::Internal(m));
        let info = self
            .config
            .model(model)
            .ok_or_else(|| internal(format!("planned model {model} vanished")))?;
        let provider = self
            .config
            .provider_of(info)
            .ok_or_else(|| internal(format!("model {model} has no provider")))?;
        let failed = |status: Option<u16>, reason: String, wait: Option<Duration>| {
            CallFailed::Failed(AttemptError::new(
                &provider.name,
                &info.name,
                status,
                reason,
                wait,
            ))
        };
        if let Some(left) = self.cooldowns.remaining(&info.name) {
            let why = format!("cooling down for {} ms after retry-after", left.as_millis());
            return Err(failed(Some(429), why, Some(left)));
        }
        let mut up = match body::build(client, provider, info, &self.config.compression) {
            Ok(up) => up,
            Err(e @ GatewayError::Untranslatable(_)) => {
                return Err(failed(
                    None,
                    format!("cannot carry this request: {e}"),
                    None,
                ))
            }
            Err(e) => return Err(CallFailed::Rejected(e)),
        };
        // Chat Completions only: the Responses API asks for them through `include`.
        let ask_logprobs = logprobs && up.format == crate::types::Format::OpenAi;
        if ask_logprobs {
            if let Some(obj) = up.body.as_object_mut() {
                obj.insert("logprobs".into(), Value::Bool(true));
            }
        }
        let started = Instant::now();
        let mut json = match self.post_json(&up, provider).await {
            Ok(json) => json,
            Err(Failure::Rejected { status, message }) => {
                return Err(CallFailed::Rejected(GatewayError::UpstreamRejected {
                    provider: provider.name.clone(),
                    status,
                    message,
                }))
            }
            Err(Failure::Retryable {
                status,
                reason,
                retry_after,
            }) => {
                if let Some(wait) = retry_after {
                    self.cooldowns.set(&info.name, wait);
                }
                return Err(failed(status, reason, retry_after));
            }
        };
        let elapsed = started.elapsed();
        let token_probability = if ask_logprobs {
            crate::verify::live::token_probability(&json)
        } else {
            None
        };
        let client_asked = client.raw.get("logprobs").and_then(Value::as_bool) == Some(true);
        if ask_logprobs && !client_asked {
            strip_logprobs(&mut json);
        }
        let (body, response) = self
            .whole_answer(json, up.format, client.format)
            .map_err(|f| match f {
                Failure::Retryable { status, reason, .. } => failed(status, reason, None),
                Failure::Rejected { message, .. } => failed(Some(200), message, None),
            })?;
        Ok(Called {
            model: info.name.clone(),
            body,
            response,
            elapsed,
            token_probability,
        })
    }
}

/// Removes the log-probabilities frugal asked for from every choice.
fn strip_logprobs(json: &mut Value) {
    if let Some(choices) = json.get_mut("choices").and_then(Value::as_array_mut) {
        for c in choices {
            if let Some(obj) = c.as_object_mut() {
                obj.remove("logprobs");
            }
        }
    }
}
