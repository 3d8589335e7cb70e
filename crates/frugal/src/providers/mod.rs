//! Upstream adapters and fallback. Walks a `Plan`'s candidates in order over one pooled
//! HTTP client: 429, 5xx, connect errors and timeouts move on to the next candidate; a
//! 4xx caused by the request itself is returned at once. Never decides routing.

mod body;
mod cooldown;
mod count_tokens;
mod embeddings;
pub mod grader;
pub mod judge;
mod outcome;
mod single;
mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::Config;
use crate::error::{AttemptError, GatewayError, Result};
use crate::pipeline::Plan;
use crate::types::{ChatResponse, Format};
use crate::wire;

pub use body::{ClientRequest, ANTHROPIC_VERSION};
pub use outcome::{classify_status, retry_after, Failure};
pub use single::{CallFailed, Called};
pub use stream::{StreamOutcome, StreamReply};

/// The answer of the first candidate that succeeded.
pub struct Served {
    /// Catalogue name of the model that answered.
    pub model: String,
    pub reply: Reply,
    /// Failed attempts before this one (empty when the first candidate answered).
    pub failed_attempts: Vec<AttemptError>,
    /// Time spent waiting on upstreams (all attempts, up to the answer or first event).
    pub upstream_time: Duration,
}

pub enum Reply {
    /// A whole answer: the body to return in the client's format and the parsed response.
    Complete {
        body: Value,
        response: Box<ChatResponse>,
    },
    /// A stream whose first event has arrived.
    Stream(StreamReply),
}

/// The provider adapters: one HTTP client, shared connection pools, per-model cool-downs.
pub struct Upstreams {
    http: reqwest::Client,
    config: Arc<Config>,
    cooldowns: cooldown::Cooldowns,
}

impl Upstreams {
    pub fn new(config: Arc<Config>) -> anyhow::Result<Upstreams> {
        let connect = config
            .providers
            .values()
            .map(|p| p.connect_timeout)
            .max()
            .unwrap_or(Duration::from_secs(5));
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()?;
        Ok(Upstreams {
            http,
            config,
            cooldowns: cooldown::Cooldowns::default(),
        })
    }

    /// Try the plan's candidates in order until one answers.
    pub async fn send(&self, plan: &Plan, client: &ClientRequest<'_>) -> Result<Served> {
        let mut failed: Vec<AttemptError> = vec![];
        let mut upstream_time = Duration::ZERO;
        // A candidate of the other format that cannot carry the request as sent (Claude
        // Code's `thinking` on a GPT model, say) is passed over for one that can; only when
        // none can is the client told which fields cannot cross.
        let mut cannot_carry: Option<GatewayError> = None;
        for cand in &plan.candidates {
            let model = self.config.model(&cand.model).ok_or_else(|| {
                GatewayError::Internal(format!("planned model {} vanished", cand.model))
            })?;
            let provider = self.config.provider_of(model).ok_or_else(|| {
                GatewayError::Internal(format!("model {} has no provider", model.name))
            })?;
            let attempt = |status: Option<u16>, reason: String, wait: Option<Duration>| {
                AttemptError::new(&provider.name, &model.name, status, reason, wait)
            };
            if let Some(left) = self.cooldowns.remaining(&model.name) {
                failed.push(attempt(
                    Some(429),
                    format!("cooling down for {} ms after retry-after", left.as_millis()),
                    Some(left),
                ));
                continue;
            }
            let up = match body::build(client, provider, model, &self.config.compression) {
                Ok(up) => up,
                Err(e @ GatewayError::Untranslatable(_)) if plan.candidates.len() > 1 => {
                    failed.push(attempt(
                        None,
                        format!("cannot carry this request: {e}"),
                        None,
                    ));
                    cannot_carry.get_or_insert(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let started = Instant::now();
            let result = if client.req.stream {
                stream::open(&self.http, &up, provider, client)
                    .await
                    .map(Reply::Stream)
            } else {
                self.complete(&up, provider, client.format).await
            };
            upstream_time += started.elapsed();
            match result {
                Ok(reply) => {
                    return Ok(Served {
                        model: model.name.clone(),
                        reply,
                        failed_attempts: failed,
                        upstream_time,
                    })
                }
                Err(Failure::Rejected { status, message }) => {
                    return Err(GatewayError::UpstreamRejected {
                        provider: provider.name.clone(),
                        status,
                        message,
                    })
                }
                Err(Failure::Retryable {
                    status,
                    reason,
                    retry_after,
                }) => {
                    let failure = attempt(status, reason, retry_after);
                    tracing::warn!(provider = %provider.name, model = %model.name, ?status,
                        reason = %failure.reason, "upstream attempt failed; trying next candidate");
                    if let Some(wait) = retry_after {
                        self.cooldowns.set(&model.name, wait);
                    }
                    failed.push(failure);
                }
            }
        }
        let all_untranslatable = failed.iter().all(|a| a.reason.starts_with("cannot carry"));
        match cannot_carry {
            Some(e) if all_untranslatable => Err(e),
            _ => Err(GatewayError::AllAttemptsFailed(failed)),
        }
    }

    async fn complete(
        &self,
        up: &body::UpstreamRequest,
        provider: &crate::config::ProviderConfig,
        client_format: Format,
    ) -> Result<Reply, Failure> {
        let json = self.post_json(up, provider).await?;
        let (body, response) = self.whole_answer(json, up.format, client_format)?;
        Ok(Reply::Complete {
            body,
            response: Box::new(response),
        })
    }

    /// A provider's whole answer → the client's body (the provider's own when formats
    /// match) and the parsed response.
    fn whole_answer(
        &self,
        json: Value,
        provider_format: Format,
        client_format: Format,
    ) -> Result<(Value, ChatResponse), Failure> {
        let response = wire::parse_response(provider_format, &json).map_err(|e| {
            // `Internal` hides its detail from clients; the attempt log needs it.
            let detail = e.to_string();
            Failure::retryable(Some(200), format!("unexpected response shape: {detail}"))
        })?;
        let body = if provider_format == client_format {
            json
        } else {
            wire::render_response(client_format, &response)
        };
        Ok((body, response))
    }
}
