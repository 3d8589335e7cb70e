//! frugal's side of model-aware routing: what text of a request is embedded, building a
//! quality store from per-model data rows, and predicting every row of a data set (from a
//! trained store, or cross-validated by row). The estimate and the choice themselves live
//! in the `frugal-router` crate; serving (tier priors, floors, learning from feedback,
//! exploration) is `serving.rs`.

pub mod serving;
pub mod sync;

use anyhow::{Context, Result};
use frugal_router::{Ask, Params, QualityStore};

use crate::eval::Row;
use crate::pipeline::classify::embedder::Embedder;
use crate::pipeline::classify::text::request_texts;
use crate::types::ChatRequest;

/// What the quality model embeds: the part of the request the classifier scores (a
/// transformation's instruction, a grounded question; else the last user turn).
pub fn request_text(req: &ChatRequest) -> String {
    request_texts(req).scored().text.to_string()
}

/// Pseudo-observations at zero slope when fitting a model's score on difficulty: a slope
/// must be carried by many rows before it moves the prior.
const DIFFICULTY_RIDGE: f64 = 50.0;

/// The built-in classifier's score of a request (0 easy … 1 hard): the difficulty the
/// quality priors are fitted on. Always the built-in router's, so that a store's priors
/// mean the same at training and at prediction whatever router file carries them.
pub struct Difficulty(crate::pipeline::classify::Classifier);

impl Difficulty {
    pub fn builtin() -> Result<Difficulty> {
        use crate::pipeline::classify::{model::RouterModel, text::Signals, Classifier};
        Ok(Difficulty(Classifier::new(
            RouterModel::embedded()?,
            Signals::builtin()?,
            Some(std::sync::Arc::new(Embedder::builtin()?)),
        )))
    }

    pub fn score(&self, req: &ChatRequest) -> f64 {
        self.0.classify(req, [0.30, 0.55, 0.80], 0.0, None).score
    }
}

/// A store of every row's per-model scores, embedded with `embedder`, with each model's
/// score fitted on the request's difficulty as the prior for unfamiliar requests.
pub fn store_from_rows(rows: &[&Row], embedder: &Embedder) -> Result<QualityStore> {
    let mut store = QualityStore::new(embedder.id(), embedder.dim(), Params::default());
    let difficulty = Difficulty::builtin()?;
    let mut scores = Vec::with_capacity(rows.len());
    let bar = crate::eval::progress_bar(Some(rows.len()), "embedding rows");
    for row in rows {
        let labels: Vec<(usize, f32)> = row
            .scores
            .iter()
            .map(|(m, s)| (store.ensure_model(m), *s as f32))
            .collect();
        if labels.is_empty() {
            continue;
        }
        let req = row.to_chat_request("auto")?;
        store
            .add(&embedder.embed(&request_text(&req)), &labels)
            .with_context(|| format!("row {}", row.id))?;
        scores.push(difficulty.score(&req));
        bar.inc(1);
    }
    bar.finish_and_clear();
    store.fit_difficulty(&scores, DIFFICULTY_RIDGE)?;
    store.build_index();
    Ok(store)
}

/// Estimates for a data set: `q[model][row]` and `sigma[model][row]`, aligned with the
/// models and rows asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    pub q: Vec<Vec<f64>>,
    pub sigma: Vec<Vec<f64>>,
}

/// The store's estimate of each model on each row (the prior of a model is its mean label;
/// a model the store does not know gets the mean of the known models' priors).
pub fn predict_rows(
    store: &QualityStore,
    rows: &[&Row],
    models: &[String],
    embedder: &Embedder,
) -> Result<Predictions> {
    let difficulty = Difficulty::builtin()?;
    let mut q = vec![Vec::with_capacity(rows.len()); models.len()];
    let mut sigma = vec![Vec::with_capacity(rows.len()); models.len()];
    for row in rows {
        let req = row.to_chat_request("auto")?;
        let asks = asks_for(store, models, Some(difficulty.score(&req)));
        let text = request_text(&req);
        for (m, e) in store
            .estimate(&embedder.embed(&text), &asks)
            .into_iter()
            .enumerate()
        {
            q[m].push(e.q);
            sigma[m].push(e.sigma);
        }
    }
    Ok(Predictions { q, sigma })
}

/// What to ask the store about each model: its index, and as the prior its score fitted on
/// the request's difficulty `d` (when given and fitted), else its mean label.
pub fn asks_for(store: &QualityStore, models: &[String], d: Option<f64>) -> Vec<Ask> {
    let known: Vec<f64> = (0..store.models().len())
        .filter_map(|m| store.mean(m))
        .collect();
    let fallback = if known.is_empty() {
        0.5
    } else {
        known.iter().sum::<f64>() / known.len() as f64
    };
    models
        .iter()
        .map(|name| {
            let model = store.model_index(name);
            let fitted = model.zip(d).and_then(|(m, d)| store.difficulty_prior(m, d));
            Ask {
                model,
                prior: fitted
                    .or_else(|| model.and_then(|m| store.mean(m)))
                    .unwrap_or(fallback),
            }
        })
        .collect()
}

/// How rows are split into folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Folds {
    /// By a hash of the row id: every task is seen in training (in-distribution).
    Row,
    /// By a hash of the row's task: each task is predicted by a store that never saw it.
    Task,
}

/// Out-of-fold estimates: rows split into `folds` by a hash of their id (or task), each
/// fold predicted by a store built from the others.
pub fn cross_validate(
    rows: &[&Row],
    models: &[String],
    embedder: &Embedder,
    folds: usize,
    by: Folds,
) -> Result<Predictions> {
    let fold_of: Vec<usize> = rows
        .iter()
        .map(|r| {
            let key = match by {
                Folds::Row => r.id.as_str(),
                Folds::Task => r.task.as_deref().unwrap_or(r.id.as_str()),
            };
            (crate::hashing::fnv1a(key.as_bytes()) % folds as u64) as usize
        })
        .collect();
    let mut q = vec![vec![0.0; rows.len()]; models.len()];
    let mut sigma = vec![vec![0.0; rows.len()]; models.len()];
    for f in 0..folds {
        let train: Vec<&Row> = rows
            .iter()
            .zip(&fold_of)
            .filter(|(_, k)| **k != f)
            .map(|(r, _)| *r)
            .collect();
        let test: Vec<usize> = (0..rows.len()).filter(|i| fold_of[*i] == f).collect();
        let store = store_from_rows(&train, embedder)?;
        let test_rows: Vec<&Row> = test.iter().map(|i| rows[*i]).collect();
        let p = predict_rows(&store, &test_rows, models, embedder)?;
        for (m, (pq, ps)) in p.q.iter().zip(&p.sigma).enumerate() {
            for (j, &i) in test.iter().enumerate() {
                q[m][i] = pq[j];
                sigma[m][i] = ps[j];
            }
        }
    }
    Ok(Predictions { q, sigma })
}

/// The embedder a store was built with: the built-in table, or the configured
/// sentence-transformers model when the store names it; an error otherwise.
pub fn embedder_for(
    store: &QualityStore,
    configured: Option<&std::path::Path>,
) -> Result<Embedder> {
    let builtin = Embedder::builtin()?;
    if builtin.id() == store.embedding() {
        return Ok(builtin);
    }
    if let Some(dir) = configured {
        let full = Embedder::full(dir)?;
        if full.id() == store.embedding() {
            return Ok(full);
        }
    }
    anyhow::bail!(
        "the router's quality store was built with embedding {:?}; configure that model as \
         routing.embedding_model (or train with the built-in one)",
        store.embedding()
    )
}

/// One row's estimate for every model the store knows, as `route --batch --predict`
/// prints it (`{"id", "predicted": {model: q̂}}`, the id added by the batch runner).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Predicted {
    pub predicted: std::collections::BTreeMap<String, f64>,
}

/// Predicts rows one at a time for `frugal route --batch --predict` (each model's estimate
/// shrunk towards its score fitted on the row's difficulty).
pub struct Predictor<'a> {
    store: &'a QualityStore,
    embedder: &'a Embedder,
    difficulty: Difficulty,
}

impl<'a> Predictor<'a> {
    pub fn new(store: &'a QualityStore, embedder: &'a Embedder) -> Result<Predictor<'a>> {
        Ok(Predictor {
            store,
            embedder,
            difficulty: Difficulty::builtin()?,
        })
    }

    pub fn predict(&self, row: &Row) -> Result<Predicted> {
        let models = self.store.models();
        let req = row.to_chat_request("auto")?;
        let asks = asks_for(self.store, models, Some(self.difficulty.score(&req)));
        let est = self
            .store
            .estimate(&self.embedder.embed(&request_text(&req)), &asks);
        let predicted = models
            .iter()
            .zip(&est)
            .map(|(m, e)| (m.clone(), (e.q * 1e6).round() / 1e6))
            .collect();
        Ok(Predicted { predicted })
    }
}
