//! The provider-side request: URL, headers and body for one candidate model. When the
//! client already speaks the provider's format the caller's body is forwarded as written
//! (only `model` changes) so fields frugal does not model still arrive; otherwise the
//! request is translated, and anything untranslatable is a 400.

use serde_json::{json, Value};

use crate::catalog::{ModelApi, ModelInfo, ProviderKind};
use crate::config::ProviderConfig;
use crate::error::{GatewayError, Result};
use crate::pipeline::cache;
use crate::pipeline::compress::CompressConfig;
use crate::types::{ChatRequest, Format};
use crate::wire;

/// Anthropic API version frugal speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// What the client sent, in both forms.
pub struct ClientRequest<'a> {
    pub format: Format,
    /// The parsed (and compressed) request.
    pub req: &'a ChatRequest,
    /// The body exactly as the client sent it.
    pub raw: &'a Value,
    /// Client headers worth forwarding when formats match (e.g. `anthropic-beta`).
    pub passthrough_headers: &'a [(String, String)],
}

/// A ready-to-send upstream request.
pub struct UpstreamRequest {
    /// The wire format of the body, and of the answer to expect.
    pub format: Format,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

pub fn build(
    client: &ClientRequest<'_>,
    provider: &ProviderConfig,
    model: &ModelInfo,
    caching: &CompressConfig,
) -> Result<UpstreamRequest> {
    let provider_format = upstream_format(client.format, provider, model);
    let mut body = if provider_format == client.format {
        passthrough_body(client, provider_format, &model.upstream_name)
    } else {
        let untranslatable = wire::untranslatable_fields(client.format, client.raw);
        if !untranslatable.is_empty() {
            return Err(GatewayError::Untranslatable(format!(
                "model `{}` is served by {} and the request uses {} which {} has no equivalent for; \
                 remove {} or request a {} model explicitly",
                model.name,
                provider.name,
                untranslatable.join(", "),
                provider_format.as_str(),
                if untranslatable.len() == 1 { "it" } else { "them" },
                client.format.as_str(),
            )));
        }
        let opts = wire::BuildOptions {
            default_max_tokens: model.max_output,
        };
        wire::build_request(provider_format, client.req, &model.upstream_name, &opts)?
    };
    let headers = upstream_headers(client, provider);
    let url = match provider_format {
        Format::OpenAi => format!("{}/chat/completions", provider.base_url),
        Format::Responses => format!("{}/responses", provider.base_url),
        Format::Anthropic => format!("{}/v1/messages", provider.base_url),
    };
    add_cache_hints(&mut body, provider, model, caching);
    Ok(UpstreamRequest {
        format: provider_format,
        url,
        headers,
        body,
    })
}

/// The headers of an upstream call: the provider's key in its own header, Anthropic's
/// version, and an Anthropic client's `anthropic-beta` when it goes to Anthropic.
fn upstream_headers(
    client: &ClientRequest<'_>,
    provider: &ProviderConfig,
) -> Vec<(&'static str, String)> {
    let mut headers: Vec<(&'static str, String)> =
        vec![("content-type", "application/json".into())];
    match provider.kind {
        ProviderKind::OpenAi => {
            if let Some(key) = &provider.api_key {
                headers.push(("authorization", format!("Bearer {}", key.expose())));
            }
        }
        ProviderKind::Anthropic => {
            if let Some(key) = &provider.api_key {
                headers.push(("x-api-key", key.expose().to_string()));
            }
            headers.push(("anthropic-version", ANTHROPIC_VERSION.into()));
            if client.format == Format::Anthropic {
                for (k, v) in client.passthrough_headers {
                    if k == "anthropic-beta" {
                        headers.push(("anthropic-beta", v.clone()));
                    }
                }
            }
        }
    }
    headers
}

/// The wire a request to `model` travels on: Anthropic's own, or for an OpenAI-kind
/// provider the client's own OpenAI endpoint when the model answers on it (no
/// translation), else the one endpoint the model has (catalogue `api`).
pub fn upstream_format(client: Format, provider: &ProviderConfig, model: &ModelInfo) -> Format {
    match (provider.kind, model.api) {
        (ProviderKind::Anthropic, _) => Format::Anthropic,
        (ProviderKind::OpenAi, ModelApi::Responses) => Format::Responses,
        (ProviderKind::OpenAi, ModelApi::Chat) => Format::OpenAi,
        (ProviderKind::OpenAi, ModelApi::Both) if client == Format::Responses => Format::Responses,
        (ProviderKind::OpenAi, ModelApi::Both) => Format::OpenAi,
    }
}

fn passthrough_body(client: &ClientRequest<'_>, format: Format, upstream_model: &str) -> Value {
    let mut body = client.raw.clone();
    // Claude Code puts `role: "system"` messages inside `messages`; only Claude Opus 4.8
    // accepts them there (every other model answers 400), so they are placed where every
    // model takes them without changing earlier bytes (wire::anthropic::system_messages).
    if format == Format::Anthropic {
        wire::anthropic::place_system_messages(&mut body);
    }
    if let Some(obj) = body.as_object_mut() {
        obj.insert("model".into(), Value::String(upstream_model.to_string()));
        // frugal meters every stream, so it always asks for the final usage chunk; the
        // stream relay drops that chunk again when the client did not ask for it.
        if format == Format::OpenAi && client.req.stream {
            let opts = obj.entry("stream_options").or_insert_with(|| json!({}));
            if let Some(o) = opts.as_object_mut() {
                o.insert("include_usage".into(), Value::Bool(true));
            }
        }
    }
    body
}

/// Automatic prompt caching on the finished body: Anthropic breakpoints above the model's
/// minimum cacheable length; a session `prompt_cache_key` for OpenAI itself (the
/// provider named `openai` or api.openai.com: other compatible servers may reject the field).
fn add_cache_hints(
    body: &mut Value,
    provider: &ProviderConfig,
    model: &ModelInfo,
    caching: &CompressConfig,
) {
    match provider.kind {
        ProviderKind::Anthropic if caching.cache_breakpoints => {
            // Unset: Anthropic's smallest current minimum; a breakpoint on a prefix below the
            // model's real minimum is harmless (nothing is cached, nothing is billed extra).
            cache::anthropic_breakpoints(body, model.min_cache_tokens.unwrap_or(1024));
        }
        ProviderKind::OpenAi
            if caching.prompt_cache_key
                && (provider.name == "openai" || provider.base_url.contains("api.openai.com")) =>
        {
            cache::openai_cache_key(body);
        }
        _ => {}
    }
}
