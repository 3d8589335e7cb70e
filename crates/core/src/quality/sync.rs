//! Keeping the model-aware router's labels in the ledger's database: loaded at start-up
//! (what earlier runs learned), then polled (what other replicas sharing PostgreSQL learn).
//! Labels this process learns are written by the ledger writer with their feedback.

use std::sync::Arc;
use std::time::Duration;

use crate::ledger::Ledger;

use super::serving::QualityRouter;

/// Labels read per query.
const PAGE: usize = 5_000;
/// How often other replicas' labels are picked up.
const POLL: Duration = Duration::from_secs(10);

/// Load every stored label of the router's embedding, then poll for new ones in the
/// background. `None` (nothing to do) without a ledger.
pub async fn start(
    ledger: Ledger,
    router: Arc<QualityRouter>,
) -> Option<tokio::task::JoinHandle<()>> {
    ledger.store()?;
    if !router.learning() {
        return None;
    }
    let mut after = 0i64;
    match load(&ledger, &router, &mut after).await {
        Ok(n) if n > 0 => tracing::info!(
            labels = n,
            rows = router.rows(),
            "quality labels loaded from the ledger"
        ),
        Ok(_) => {}
        Err(e) => tracing::error!(
            error = format!("{e:#}"),
            "cannot load quality labels; learning starts empty"
        ),
    }
    Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(POLL).await;
            if let Err(e) = load(&ledger, &router, &mut after).await {
                tracing::warn!(error = format!("{e:#}"), "cannot read new quality labels");
            }
        }
    }))
}

/// Read labels after `after` page by page; returns how many were new here.
async fn load(ledger: &Ledger, router: &QualityRouter, after: &mut i64) -> anyhow::Result<usize> {
    let Some(store) = ledger.store() else {
        return Ok(0);
    };
    let mut added = 0;
    loop {
        let page = store
            .labels_after(router.embedding_id(), *after, PAGE)
            .await?;
        let Some((last, _)) = page.last() else {
            return Ok(added);
        };
        *after = *last;
        added += page.iter().filter(|(_, l)| router.add_label(l)).count();
        if page.len() < PAGE {
            return Ok(added);
        }
    }
}
