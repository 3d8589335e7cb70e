//! The operator's dashboard: `GET /dashboard` (one self-contained page, HTML/CSS/JS
//! embedded in the binary, charts drawn as inline SVG, nothing fetched from elsewhere) and
//! the JSON API it reads under `/api/…` (docs/dashboard.md). Everything here reads; the
//! only computation is the playground's plan, which calls no model. With an admin key
//! configured (`[auth] admin_key_env`) every route here requires it (`auth.rs`).

mod api;
mod auth;
mod explain;
mod keys;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Mutex;

use super::AppState;
use crate::ledger::dashboard::RollupRow;

/// How long one rollup serves further calls: the first view's panels (summary, series,
/// mix) are drawn from one scan of the ledger rather than one each.
const ROLLUP_TTL: Duration = Duration::from_secs(5);

/// The dashboard's state: the gateway's, and the rollup last read.
pub struct Dash {
    app: Arc<AppState>,
    /// Held while a rollup is read, so concurrent panels wait for one scan (single flight).
    rollup: Mutex<Option<Cached>>,
}

struct Cached {
    at: Instant,
    since_hour: i64,
    rows: Arc<Vec<RollupRow>>,
}

/// The dashboard's routes, with their state applied (merged into the gateway's router).
pub fn router(app: Arc<AppState>) -> Router {
    let dash = Arc::new(Dash {
        app,
        rollup: Mutex::new(None),
    });
    Router::new()
        .route("/dashboard", get(page))
        .route("/dashboard/", get(page))
        .route("/dashboard/app.js", get(script))
        .route("/dashboard/app.css", get(style))
        .route("/api/summary", get(api::summary))
        .route("/api/timeseries", get(api::timeseries))
        .route("/api/mix", get(api::mix))
        .route("/api/quality", get(api::quality))
        .route("/api/requests", get(api::requests))
        .route("/api/requests/{id}", get(api::request))
        .route("/api/route", post(api::route))
        .route("/api/keys", get(keys::keys))
        .layer(axum::middleware::from_fn_with_state(
            dash.clone(),
            auth::require_admin,
        ))
        .with_state(dash)
}

/// The page, and its script and style: fixed files, so the browser may keep them briefly.
async fn page() -> impl IntoResponse {
    asset(
        "text/html; charset=utf-8",
        include_str!("assets/index.html"),
    )
}

async fn script() -> impl IntoResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    )
}

async fn style() -> impl IntoResponse {
    asset("text/css; charset=utf-8", include_str!("assets/app.css"))
}

fn asset(kind: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
            // Nothing on the page comes from anywhere but this gateway.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'",
            ),
        ],
        body,
    )
}

impl Dash {
    /// The rollup from `since_hour` on: the cached one when it is fresh and covers the
    /// range, else one read from the store (other callers wait for it).
    async fn rollup(&self, since_hour: i64) -> anyhow::Result<Arc<Vec<RollupRow>>> {
        let store = self
            .app
            .ledger
            .store()
            .ok_or_else(|| anyhow::anyhow!("the ledger is disabled"))?;
        let mut cached = self.rollup.lock().await;
        if let Some(c) = cached.as_ref() {
            if c.at.elapsed() < ROLLUP_TTL && c.since_hour <= since_hour {
                let rows = c.rows.iter().filter(|r| r.hour >= since_hour).cloned();
                return Ok(Arc::new(rows.collect()));
            }
        }
        let rows = Arc::new(crate::ledger::dashboard::rollup(store.as_ref(), since_hour).await?);
        *cached = Some(Cached {
            at: Instant::now(),
            since_hour,
            rows: rows.clone(),
        });
        Ok(rows)
    }
}
