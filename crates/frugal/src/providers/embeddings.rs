//! OpenAI `POST /v1/embeddings` at the provider of a named model, with frugal's key. The
//! client's body is forwarded with only `model` changed (to its upstream name), so
//! `dimensions`, `encoding_format` and `user` arrive as sent. Never routed, no fallback:
//! vectors from another model would live in another space.

use serde_json::Value;

use super::body::UpstreamRequest;
use super::{Failure, Upstreams};
use crate::catalog::{ModelInfo, ProviderKind};
use crate::config::ProviderConfig;

impl Upstreams {
    /// The provider's embeddings answer for `body`, checked to carry `usage.prompt_tokens`
    /// (what the row is billed on).
    pub async fn embeddings(
        &self,
        provider: &ProviderConfig,
        model: &ModelInfo,
        body: &Value,
    ) -> Result<Value, Failure> {
        if provider.kind != ProviderKind::OpenAi {
            return Err(Failure::Rejected {
                status: 400,
                message: format!(
                    "model `{}` is served by {}, which has no embeddings endpoint",
                    model.name, provider.name
                ),
            });
        }
        let mut body = body.clone();
        if let Some(obj) = body.as_object_mut() {
            obj.insert("model".into(), Value::String(model.upstream_name.clone()));
        }
        let mut headers: Vec<(&'static str, String)> =
            vec![("content-type", "application/json".into())];
        if let Some(key) = &provider.api_key {
            headers.push(("authorization", format!("Bearer {}", key.expose())));
        }
        let up = UpstreamRequest {
            format: crate::types::Format::OpenAi,
            url: format!("{}/embeddings", provider.base_url),
            headers,
            body,
        };
        let answer = self.post_json(&up, provider).await?;
        if answer
            .pointer("/usage/prompt_tokens")
            .and_then(Value::as_u64)
            .is_none()
        {
            return Err(Failure::retryable(
                Some(200),
                "embeddings answer has no usage.prompt_tokens",
            ));
        }
        Ok(answer)
    }
}
