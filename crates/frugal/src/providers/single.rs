//! One model, one whole answer: what verified answers need (the answering model, its
//! checker and each escalation are called by name, not walked as fallbacks). Optionally
//! asks an OpenAI-compatible provider for token log-probabilities, and keeps them from a
//! client that did not ask for them.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::body::UpstreamRequest;
use super::{body, ClientRequest, Failure, Upstreams};
use crate::catalog::ModelInfo;
use crate::config::ProviderConfig;
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
        let target = self.target(model).map_err(CallFailed::Rejected)?;
        if let Some(cooling) = self.cooling(&target) {
            return Err(CallFailed::Failed(cooling));
        }
        let mut up = match body::build(
            client,
            target.provider,
            target.info,
            &self.config.compression,
        ) {
            Ok(up) => up,
            Err(e @ GatewayError::Untranslatable(_)) => {
                return Err(target.failed(None, format!("cannot carry this request: {e}"), None))
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
        let mut json = self.post(&target, &up).await?;
        let elapsed = started.elapsed();
        let token_probability = ask_logprobs
            .then(|| crate::verify::live::token_probability(&json))
            .flatten();
        let client_asked = client.raw.get("logprobs").and_then(Value::as_bool) == Some(true);
        if ask_logprobs && !client_asked {
            strip_logprobs(&mut json);
        }
        let (body, response) = self
            .whole_answer(json, up.format, client.format)
            .map_err(|f| match f {
                Failure::Retryable { status, reason, .. } => target.failed(status, reason, None),
                Failure::Rejected { message, .. } => target.failed(Some(200), message, None),
            })?;
        Ok(Called {
            model: target.info.name.clone(),
            body,
            response,
            elapsed,
            token_probability,
        })
    }

    /// The model and its provider, as configured.
    pub(super) fn target(&self, model: &str) -> Result<Target<'_>, GatewayError> {
        let info = self
            .config
            .model(model)
            .ok_or_else(|| GatewayError::Internal(format!("planned model {model} vanished")))?;
        let provider = self
            .config
            .provider_of(info)
            .ok_or_else(|| GatewayError::Internal(format!("model {model} has no provider")))?;
        Ok(Target { info, provider })
    }

    /// Sends the request; a rejection is the client's, anything retryable is this
    /// model's failure (and a `retry-after` cools the model down).
    async fn post(&self, target: &Target<'_>, up: &UpstreamRequest) -> Result<Value, CallFailed> {
        self.post_json(up, target.provider)
            .await
            .map_err(|f| match self.failure(target, f) {
                Ok(attempt) => CallFailed::Failed(attempt),
                Err(rejected) => CallFailed::Rejected(rejected),
            })
    }

    /// The model's failure while it cools down after a `retry-after`, if it does.
    pub(super) fn cooling(&self, target: &Target<'_>) -> Option<AttemptError> {
        let left = self.cooldowns.remaining(&target.info.name)?;
        let why = format!("cooling down for {} ms after retry-after", left.as_millis());
        Some(target.attempt(Some(429), why, Some(left)))
    }

    /// What a failed upstream call means: this model's failure (another may be tried; a
    /// `retry-after` cools the model down), or the upstream refusing the request itself.
    pub(super) fn failure(
        &self,
        target: &Target<'_>,
        f: Failure,
    ) -> Result<AttemptError, GatewayError> {
        match f {
            Failure::Rejected { status, message } => Err(GatewayError::UpstreamRejected {
                provider: target.provider.name.clone(),
                status,
                message,
            }),
            Failure::Retryable {
                status,
                reason,
                retry_after,
            } => {
                if let Some(wait) = retry_after {
                    self.cooldowns.set(&target.info.name, wait);
                }
                Ok(target.attempt(status, reason, retry_after))
            }
        }
    }
}

/// The model one call goes to, and its provider.
pub(super) struct Target<'a> {
    pub info: &'a ModelInfo,
    pub provider: &'a ProviderConfig,
}

impl Target<'_> {
    /// This model's attempt failed (the caller may try another).
    pub fn attempt(
        &self,
        status: Option<u16>,
        reason: String,
        wait: Option<Duration>,
    ) -> AttemptError {
        AttemptError::new(&self.provider.name, &self.info.name, status, reason, wait)
    }

    fn failed(&self, status: Option<u16>, reason: String, wait: Option<Duration>) -> CallFailed {
        CallFailed::Failed(self.attempt(status, reason, wait))
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
