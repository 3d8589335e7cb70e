//! Single-shot upstream calls beside chat: Anthropic's `POST /v1/messages/count_tokens`
//! (exact prompt counts, free at Anthropic, not metered) and the JSON round trip it
//! shares with the embeddings pass-through (`embeddings.rs`). No fallback: the caller
//! named the model, and another model would count (or embed) differently.

use bytes::Bytes;
use serde_json::Value;

use super::body::{UpstreamRequest, ANTHROPIC_VERSION};
use super::{outcome, Failure, Upstreams};
use crate::catalog::{ModelInfo, ProviderKind};
use crate::config::ProviderConfig;

impl Upstreams {
    /// Ask the Anthropic provider of `model` to count the tokens of `body` (a Messages
    /// request without `max_tokens`, as the client sent it): `model` becomes the upstream
    /// name, `role: "system"` messages move to the top-level system exactly as they would
    /// for `/v1/messages`, and the client's `anthropic-beta` header is passed on. Returns
    /// the provider's answer (`{"input_tokens": N}`), checked to carry the count.
    pub async fn count_tokens(
        &self,
        provider: &ProviderConfig,
        model: &ModelInfo,
        body: &Value,
        anthropic_beta: Option<&str>,
    ) -> Result<Value, Failure> {
        if provider.kind != ProviderKind::Anthropic {
            return Err(Failure::retryable(
                None,
                "count_tokens is an Anthropic endpoint",
            ));
        }
        let mut body = body.clone();
        crate::wire::anthropic::place_system_messages(&mut body);
        if let Some(obj) = body.as_object_mut() {
            obj.insert("model".into(), Value::String(model.upstream_name.clone()));
        }
        let mut headers: Vec<(&'static str, String)> = vec![
            ("content-type", "application/json".into()),
            ("anthropic-version", ANTHROPIC_VERSION.into()),
        ];
        if let Some(key) = &provider.api_key {
            headers.push(("x-api-key", key.expose().to_string()));
        }
        if let Some(beta) = anthropic_beta {
            headers.push(("anthropic-beta", beta.to_string()));
        }
        let up = UpstreamRequest {
            format: crate::types::Format::Anthropic,
            url: format!("{}/v1/messages/count_tokens", provider.base_url),
            headers,
            body,
        };
        let answer = self.post_json(&up, provider).await?;
        if answer.get("input_tokens").and_then(Value::as_u64).is_none() {
            return Err(Failure::retryable(
                Some(200),
                "count_tokens answer has no input_tokens",
            ));
        }
        Ok(answer)
    }

    /// POST `up` and read its JSON answer within the provider's timeout; a non-2xx status
    /// is sorted into `Failure` exactly as for chat requests (`outcome::send`).
    pub(super) async fn post_json(
        &self,
        up: &UpstreamRequest,
        provider: &ProviderConfig,
    ) -> Result<Value, Failure> {
        let resp = outcome::send(&self.http, up, provider.timeout).await?;
        let bytes: Bytes = tokio::time::timeout(provider.timeout, resp.bytes())
            .await
            .map_err(|_| Failure::retryable(None, "timeout reading the response body"))?
            .map_err(|e| {
                Failure::retryable(
                    None,
                    format!("response body interrupted: {}", outcome::describe(&e)),
                )
            })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Failure::retryable(Some(200), format!("malformed JSON from upstream: {e}"))
        })
    }
}
