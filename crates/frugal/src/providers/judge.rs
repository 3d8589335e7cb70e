//! The LLM judge over frugal's own provider adapters: one non-streamed call to the
//! configured cheap model, temperature 0, a few output tokens, a strict timeout. Its cost
//! is metered like any request's; a failure is reported, never guessed at.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::{ClientRequest, Reply, Upstreams};
use crate::config::{Config, JudgeConfig};
use crate::cost::cost_usd;
use crate::pipeline::classify::judge::{
    judge_request, parse_rating, Judge, JudgeResult, JudgeUsage,
};
use crate::pipeline::classify::text::request_texts;
use crate::pipeline::estimate::Estimate;
use crate::pipeline::select::explicit_plan;
use crate::types::ChatRequest;
use crate::wire;

/// Asks the configured judge model through the shared upstreams.
pub struct ProviderJudge {
    upstreams: Arc<Upstreams>,
    config: Arc<Config>,
    judge: JudgeConfig,
    /// Total spent on judging (USD), for metering.
    spent: std::sync::Mutex<Decimal>,
    calls: std::sync::atomic::AtomicU64,
    failures: std::sync::atomic::AtomicU64,
}

impl ProviderJudge {
    pub fn new(
        upstreams: Arc<Upstreams>,
        config: Arc<Config>,
        judge: JudgeConfig,
    ) -> ProviderJudge {
        ProviderJudge {
            upstreams,
            config,
            judge,
            spent: std::sync::Mutex::new(Decimal::ZERO),
            calls: Default::default(),
            failures: Default::default(),
        }
    }

    /// (calls, USD spent) so far.
    pub fn metered(&self) -> (u64, Decimal) {
        let spent = self.spent.lock().map(|d| *d).unwrap_or_default();
        (self.calls.load(std::sync::atomic::Ordering::Relaxed), spent)
    }

    async fn ask(&self, request: &ChatRequest) -> JudgeResult {
        let text = request_texts(request).last_user;
        let req = judge_request(&text, &self.judge.model);
        let (answer, cost) = ask_model(&self.upstreams, &self.config, &req).await?;
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut spent) = self.spent.lock() {
            *spent += cost;
        }
        parse_rating(&answer).ok_or_else(|| {
            format!(
                "judge answered `{}`, not a rating 1-10",
                answer.chars().take(40).collect::<String>()
            )
        })
    }
}

/// One non-streamed call to the catalogue model `req.model` through the upstreams: the
/// answer's text and what it cost. Shared by the routing judge and the answer grader.
pub async fn ask_model(
    upstreams: &Upstreams,
    config: &Config,
    req: &ChatRequest,
) -> Result<(String, Decimal), String> {
    let model = config
        .model(&req.model)
        .ok_or("model vanished from the catalogue")?;
    let format = config
        .provider_of(model)
        .ok_or("model has no provider")?
        .kind
        .format();
    let opts = wire::BuildOptions {
        default_max_tokens: model.max_output,
    };
    let raw = wire::build_request(format, req, &model.upstream_name, &opts)
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let plan = explicit_plan(config, &req.model, &Estimate::of(req)).map_err(|e| e.to_string())?;
    let client = ClientRequest {
        format,
        req,
        raw: &raw,
        passthrough_headers: &[],
    };
    let served = upstreams
        .send(&plan, &client)
        .await
        .map_err(|e| e.to_string())?;
    let Reply::Complete { response, .. } = served.reply else {
        return Err("answered with a stream".into());
    };
    Ok((response.text(), cost_usd(&model.prices, &response.usage)))
}

impl Judge for ProviderJudge {
    fn rate<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> Pin<Box<dyn Future<Output = JudgeResult> + Send + 'a>> {
        Box::pin(async move {
            let result = match tokio::time::timeout(self.judge.timeout, self.ask(request)).await {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "judge timed out after {} ms",
                    self.judge.timeout.as_millis()
                )),
            };
            if result.is_err() {
                self.failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            result
        })
    }

    fn usage(&self) -> JudgeUsage {
        let (calls, spent) = self.metered();
        JudgeUsage {
            calls,
            failures: self.failures.load(std::sync::atomic::Ordering::Relaxed),
            usd: spent.to_string().parse().unwrap_or(0.0),
        }
    }
}
