//! HTTP surface: routes, shared state, graceful shutdown. Handlers stay thin — parse the
//! client's format, call the pipeline and the upstreams, render in the same format.

mod body;
mod calibrate;
mod chat;
mod count_tokens;
mod dashboard;
mod embeddings;
mod feedback;
mod grade;
mod head_errors;
mod headers;
mod info;
mod listen;
mod metrics;
mod reply;
mod verified;

use std::sync::Arc;

use axum::routing::{any, get, post};
use axum::Router;

use crate::config::Config;
use crate::pipeline::session::SessionTracker;
use crate::pipeline::Pipeline;
use crate::providers::Upstreams;

/// Everything a handler needs, shared by all requests.
pub struct AppState {
    pub config: Arc<Config>,
    pub pipeline: Pipeline,
    pub upstreams: Arc<Upstreams>,
    pub sessions: SessionTracker,
    /// Sampled grading of routed-down answers, when `[feedback] grade_model` is set.
    pub grader: Option<Arc<crate::providers::grader::Grader>>,
    /// Stage 3 of the classifier, when `routing.judge` is configured.
    pub judge: Option<Arc<dyn crate::pipeline::classify::judge::Judge>>,
    /// Request rows and feedback (never waited on by the request path).
    pub ledger: crate::ledger::Ledger,
    /// Request bodies held in memory at once (`server.body_budget_bytes`).
    pub bodies: Arc<body::Budget>,
    /// The verified-answer threshold in force, moved by rated answers.
    pub verify_threshold: Arc<crate::verify::threshold::Threshold>,
    /// Traffic metrics for `/metrics`, fed by every finished request record.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Keys, budgets, rate and concurrency limits (limits/).
    pub limits: Arc<crate::limits::Limits>,
}

impl AppState {
    /// State without a ledger (nothing is recorded).
    pub fn new(config: Arc<Config>) -> anyhow::Result<Arc<AppState>> {
        AppState::with_ledger(config, crate::ledger::Ledger::disabled())
    }

    pub fn with_ledger(
        config: Arc<Config>,
        ledger: crate::ledger::Ledger,
    ) -> anyhow::Result<Arc<AppState>> {
        let limits = Arc::new(crate::limits::Limits::new(&config, None));
        AppState::with_limits(config, ledger, limits)
    }

    /// State with a ledger and limits whose keys and counters live in its database.
    pub fn with_limits(
        config: Arc<Config>,
        ledger: crate::ledger::Ledger,
        limits: Arc<crate::limits::Limits>,
    ) -> anyhow::Result<Arc<AppState>> {
        let upstreams = Arc::new(Upstreams::new(config.clone())?);
        let judge = config.routing.judge.clone().map(|j| {
            let judge =
                crate::providers::judge::ProviderJudge::new(upstreams.clone(), config.clone(), j);
            Arc::new(judge) as Arc<dyn crate::pipeline::classify::judge::Judge>
        });
        let grader = match &config.feedback.grading {
            None => None,
            Some(g) => Some(Arc::new(crate::providers::grader::Grader::new(
                upstreams.clone(),
                config.clone(),
                g.clone(),
            )?)),
        };
        let pipeline = Pipeline::new(config.clone())?;
        // Every rating of a routed answer becomes a label of the model-aware router at once.
        let quality = pipeline.quality().clone();
        let verify_threshold = Arc::new(crate::verify::threshold::Threshold::new(
            &config.routing.verify,
        ));
        let threshold = verify_threshold.clone();
        ledger.on_feedback(Arc::new(move |f| {
            if let Some(t) = threshold.learn(&f.request_id, f.score) {
                tracing::info!(request_id = %f.request_id, score = f.score, threshold = t,
                    "a rated verified answer moved the verification threshold");
            }
            f.model
                .as_ref()
                .and_then(|model| quality.learn(&f.request_id, model, f.score))
        }));
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let observed = metrics.clone();
        ledger.on_record(Arc::new(move |r| observed.observe(r)));
        Ok(Arc::new(AppState {
            bodies: body::Budget::new(config.server.body_budget_bytes),
            ledger,
            limits,
            pipeline,
            upstreams,
            sessions: SessionTracker::new(config.routing.session_ttl),
            judge,
            grader,
            verify_threshold,
            metrics,
            config,
        }))
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat::openai))
        .route("/v1/messages", post(chat::anthropic))
        .route("/v1/responses", post(chat::responses))
        .route("/v1/responses/{*rest}", any(info::responses_state))
        .route("/v1/messages/count_tokens", post(count_tokens::count))
        .route("/v1/embeddings", post(embeddings::create))
        .route("/v1/models", get(info::models))
        .route("/health", get(info::health))
        .route("/v1/feedback", post(feedback::submit))
        .route("/metrics", get(metrics::metrics))
        .fallback(info::not_found)
        .method_not_allowed_fallback(info::method_not_allowed)
        .with_state(state.clone())
        .merge(dashboard::router(state))
}

/// Serve until ctrl-c or SIGTERM, then finish in-flight requests.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<AppState>) -> anyhow::Result<()> {
    let ledger = state.ledger.clone();
    let feedback_loop = crate::ledger::control::spawn(
        ledger.clone(),
        state.pipeline.boundaries().clone(),
        state.config.feedback.clone(),
    );
    let reloader = spawn_router_reload(state.clone());
    let limit_tasks = state.limits.spawn();
    let gateway_limits = state.limits.clone();
    // What earlier runs (and other replicas) learned, before the first request; then
    // what other replicas learn, as they learn it.
    let labels =
        crate::quality::sync::start(ledger.clone(), state.pipeline.quality().clone()).await;
    // Scripts and tests read this line to learn the port: printed once ready to answer.
    let addr = listener.local_addr()?;
    println!("frugal listening on http://{addr}");
    std::io::Write::flush(&mut std::io::stdout())?;
    tracing::info!(%addr, "frugal listening");
    let limits = listen::Limits {
        header_timeout: state.config.server.header_timeout,
        max_connections: state.config.server.max_connections,
    };
    listen::serve(
        listener,
        router(state),
        limits,
        shutdown_signal(),
        std::time::Duration::from_secs(60),
    )
    .await?;
    // Streams still finishing get a grace period; then every queued row is written.
    if let Some(task) = feedback_loop {
        task.abort();
    }
    if let Some(task) = reloader {
        task.abort();
    }
    if let Some(task) = labels {
        task.abort();
    }
    ledger.shutdown(std::time::Duration::from_secs(30)).await;
    // Streams have ended by now: their budget settlements are the last writes.
    gateway_limits
        .shutdown(std::time::Duration::from_secs(10))
        .await;
    for task in limit_tasks {
        task.abort();
    }
    Ok(())
}

/// On SIGHUP, load `routing.router_model` again (a router `frugal train` just wrote) without
/// dropping a request. A file that does not load leaves the serving router in place and is
/// logged as an error.
#[cfg(unix)]
fn spawn_router_reload(state: Arc<AppState>) -> Option<tokio::task::JoinHandle<()>> {
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP: router reload is off");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let s = state.clone();
            // Loading a full sentence-transformers model takes a while: off the runtime.
            match tokio::task::spawn_blocking(move || s.pipeline.reload_router()).await {
                Ok(Ok(info)) => tracing::info!(
                    source = %info.source,
                    fingerprint = %info.fingerprint,
                    rows = info.rows,
                    "router reloaded"
                ),
                Ok(Err(e)) => tracing::error!(
                    error = format!("{e:#}"),
                    "router reload failed: still serving the previous router"
                ),
                Err(e) => tracing::error!(error = %e, "router reload task failed"),
            }
        }
    }))
}

#[cfg(not(unix))]
fn spawn_router_reload(_: Arc<AppState>) -> Option<tokio::task::JoinHandle<()>> {
    None
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
