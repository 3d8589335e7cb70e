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
use single::Target;
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

/// How one candidate's attempt went.
enum Attempt {
    Answered(Reply),
    /// The upstream refused the request itself: no other candidate would do better.
    Rejected(GatewayError),
    /// This candidate failed (and, when it could not carry the request, why).
    Failed(AttemptError, Option<GatewayError>),
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
        let alternatives = plan.candidates.len() > 1;
        for cand in &plan.candidates {
            let target = self.target(&cand.model)?;
            let attempt = self.attempt(&target, client, alternatives, &mut upstream_time);
            match attempt.await {
                Attempt::Answered(reply) => {
                    return Ok(Served {
                        model: target.info.name.clone(),
                        reply,
                        failed_attempts: failed,
                        upstream_time,
                    })
                }
                Attempt::Rejected(e) => return Err(e),
                Attempt::Failed(failure, untranslatable) => {
                    if let Some(e) = untranslatable {
                        cannot_carry.get_or_insert(e);
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

    /// One candidate: skipped while it cools down, passed over when it cannot carry the
    /// request and another may, else called (a stream or a whole answer).
    async fn attempt(
        &self,
        target: &Target<'_>,
        client: &ClientRequest<'_>,
        alternatives: bool,
        upstream_time: &mut Duration,
    ) -> Attempt {
        let (model, provider) = (target.info, target.provider);
        if let Some(cooling) = self.cooling(target) {
            return Attempt::Failed(cooling, None);
        }
        let up = match body::build(client, provider, model, &self.config.compression) {
            Ok(up) => up,
            Err(e @ GatewayError::Untranslatable(_)) if alternatives => {
                let why = format!("cannot carry this request: {e}");
                return Attempt::Failed(target.attempt(None, why, None), Some(e));
            }
            Err(e) => return Attempt::Rejected(e),
        };
        let started = Instant::now();
        let result = if client.req.stream {
            stream::open(&self.http, &up, provider, client)
                .await
                .map(Reply::Stream)
        } else {
            self.complete(&up, provider, client.format).await
        };
        *upstream_time += started.elapsed();
        match result.map_err(|f| self.failure(target, f)) {
            Ok(reply) => Attempt::Answered(reply),
            Err(Err(rejected)) => Attempt::Rejected(rejected),
            Err(Ok(failure)) => {
                tracing::warn!(provider = %provider.name, model = %model.name,
                    status = ?failure.status, reason = %failure.reason,
                    "upstream attempt failed; trying next candidate");
                Attempt::Failed(failure, None)
            }
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
