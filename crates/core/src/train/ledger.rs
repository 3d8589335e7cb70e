//! Training examples from frugal's own traffic: routed requests whose conversation the
//! ledger kept (`[ledger] store_prompts = true`) and that received feedback (explicit
//! scores, retries, escalations, sampled grading).
//!
//! The label is the one the data files use, gain = strong − cheap, read off real answers:
//! a request a cheaper model than the baseline answered (it cost less than the baseline
//! would have) has its own quality q (the mean of its feedback), and the strong model's
//! quality is the mean feedback of answers the baseline model gave, shrunk towards 1 while
//! few are rated. Requests the baseline or a pricier model answered say nothing about the
//! cheap models and are left out (counted in the note).

use std::collections::{HashMap, HashSet};

use anyhow::{bail, Context, Result};

use super::{featurize_request, Example};
use crate::ledger::{Feedback, LedgerConfig, Record, Store};
use crate::pipeline::classify::embedder::Embedder;
use crate::pipeline::classify::text::Signals;
use crate::types::{ChatRequest, Message, TextBlock};

/// Rated baseline answers needed before their mean counts as much as the prior.
const STRONG_PRIOR_WEIGHT: f64 = 20.0;
/// What the baseline model is assumed to score before the ledger says otherwise.
const STRONG_PRIOR: f64 = 1.0;

/// Ledger rows turned into labelled requests, before featurising.
#[derive(Debug, Default)]
pub struct Labelled {
    pub requests: Vec<(ChatRequest, f64, String)>,
    /// Mean feedback of the baseline's own answers (after shrinkage) used as "strong".
    pub strong_quality: f64,
    pub rated: usize,
    /// Rated requests answered by the baseline or a model at least as expensive.
    pub not_routed_down: usize,
    pub without_prompt: usize,
}

/// The conversation as the ledger stored it (`{"system": [...], "messages": [...]}`).
fn stored_request(prompt: &str) -> Result<ChatRequest> {
    #[derive(serde::Deserialize)]
    struct Stored {
        #[serde(default)]
        system: Vec<TextBlock>,
        messages: Vec<Message>,
    }
    let s: Stored = serde_json::from_str(prompt).context("stored prompt is not a conversation")?;
    Ok(ChatRequest {
        model: "auto".into(),
        system: s.system,
        messages: s.messages,
        ..Default::default()
    })
}

/// Label routed requests from their feedback (pure: no I/O).
pub fn label(records: &[Record], feedback: &[Feedback]) -> Result<Labelled> {
    let mut rated: HashMap<&str, (f64, usize)> = HashMap::new();
    for f in feedback {
        let e = rated.entry(f.request_id.as_str()).or_default();
        e.0 += f.score;
        e.1 += 1;
    }
    let quality = |r: &Record| rated.get(r.request_id.as_str()).map(|(s, n)| s / *n as f64);
    let answered =
        |r: &&Record| r.decision == "routed" && (200..300).contains(&r.status) && r.model.is_some();
    let by_baseline = |r: &Record| r.model.is_some() && r.model == r.baseline_model;
    let routed_down = |r: &Record| !by_baseline(r) && r.cost_usd < r.baseline_cost_usd;
    let (mut top_sum, mut top_n) = (0.0, 0.0);
    for r in records.iter().filter(answered).filter(|r| by_baseline(r)) {
        if let Some(q) = quality(r) {
            top_sum += q;
            top_n += 1.0;
        }
    }
    let strong = (top_sum + STRONG_PRIOR * STRONG_PRIOR_WEIGHT) / (top_n + STRONG_PRIOR_WEIGHT);
    let mut out = Labelled {
        strong_quality: strong,
        ..Default::default()
    };
    for r in records.iter().filter(answered) {
        let Some(q) = quality(r) else { continue };
        out.rated += 1;
        if !routed_down(r) {
            out.not_routed_down += 1;
            continue;
        }
        let Some(prompt) = r.prompt.as_deref() else {
            out.without_prompt += 1;
            continue;
        };
        let req = stored_request(prompt).with_context(|| format!("ledger row {}", r.request_id))?;
        // Conversations are the cross-validation groups: turns of one conversation look
        // alike and must not sit on both sides of a fold.
        let conversation = if r.session.is_empty() {
            &r.conversation_hash
        } else {
            &r.session
        };
        let group = format!("ledger:{}:{conversation}", r.project);
        out.requests.push((req, strong - q, group));
    }
    Ok(out)
}

/// Every feedback row since `since_ms`, and the records they rate: a ledger of millions of
/// stored conversations is walked page by page, and only rated ones are kept in memory.
pub(crate) async fn read_rated(
    store: &dyn Store,
    since_ms: i64,
) -> Result<(Vec<Record>, Vec<Feedback>, usize)> {
    let feedback = store.feedback_since(since_ms).await?;
    let rated: HashSet<&str> = feedback.iter().map(|f| f.request_id.as_str()).collect();
    let (mut records, mut total) = (vec![], 0);
    crate::ledger::each_record(store, since_ms, |_, r| {
        total += 1;
        if rated.contains(r.request_id.as_str()) {
            records.push(r);
        }
        Ok(())
    })
    .await?;
    Ok((records, feedback, total))
}

/// Labelled examples from the ledger at `target` (SQLite file or postgres:// URL), and a
/// line describing them. Fails loudly when the ledger cannot teach anything.
pub fn examples(
    target: &str,
    since_ms: i64,
    signals: &Signals,
    embedder: Option<&Embedder>,
) -> Result<(Vec<Example>, String)> {
    let cfg = LedgerConfig {
        target: target.to_string(),
        ..Default::default()
    };
    if !cfg.is_postgres() && !std::path::Path::new(target).is_file() {
        bail!("ledger {target}: no such SQLite file");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let shown = crate::ledger::redact_target(target);
    let (records, feedback, total) = runtime
        .block_on(async {
            let store = crate::ledger::open_store(&cfg).await?;
            read_rated(store.as_ref(), since_ms).await
        })
        .with_context(|| format!("ledger {shown}"))?;
    let l = label(&records, &feedback)?;
    if l.requests.is_empty() {
        bail!(
            "ledger {shown}: nothing to learn from ({} requests, {} with feedback: {} answered by the \
             baseline or a pricier model, {} without a stored conversation; set [ledger] store_prompts = true \
             and collect feedback on routed-down answers)",
            total,
            l.rated,
            l.not_routed_down,
            l.without_prompt
        );
    }
    let examples = l
        .requests
        .iter()
        .map(|(req, y, group)| {
            let (x, x2) = featurize_request(req, signals, embedder);
            Example {
                x,
                x2,
                y: *y,
                group: group.clone(),
            }
        })
        .collect();
    let note = format!(
        "ledger {shown} ({} rows: routed-down answers with feedback; strong = baseline answers' \
         quality {:.3}; left out: {} answered by the baseline or a pricier model, {} without a stored conversation)",
        l.requests.len(),
        l.strong_quality,
        l.not_routed_down,
        l.without_prompt
    );
    Ok((examples, note))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Signal;

    fn record(id: &str, model: &str, prompt: Option<&str>) -> Record {
        Record {
            request_id: id.into(),
            decision: "routed".into(),
            status: 200,
            model: Some(model.into()),
            baseline_model: Some("big".into()),
            cost_usd: if model == "big" { 10.into() } else { 1.into() },
            baseline_cost_usd: 10.into(),
            project: "app".into(),
            prompt: prompt.map(|p| {
                serde_json::json!({"system": [], "messages": [
                    {"role": "user", "content": [{"type": "text", "text": p}]}]})
                .to_string()
            }),
            ..Default::default()
        }
    }

    fn fb(id: &str, score: f64) -> Feedback {
        Feedback {
            request_id: id.into(),
            ts_ms: 0,
            tier: None,
            model: None,
            score,
            source: Signal::Explicit,
            comment: None,
        }
    }

    #[test]
    fn routed_down_answers_become_gain_labels() {
        let records = vec![
            record("a", "small", Some("easy")),
            record("b", "small", Some("hard")),
            record("c", "big", Some("anything")),
            Record {
                cost_usd: 20.into(),
                ..record("f", "bigger", Some("pricier than the baseline"))
            },
            record("d", "small", None),
            record("e", "small", Some("no feedback")),
        ];
        let feedback = vec![
            fb("a", 1.0),
            fb("b", 0.0),
            fb("b", 0.5),
            fb("c", 0.0),
            fb("d", 1.0),
            fb("f", 1.0),
        ];
        let l = label(&records, &feedback).expect("label");
        // One rated baseline answer scored 0 against a prior of 1 weighted 20.
        let strong = 20.0 / 21.0;
        assert!((l.strong_quality - strong).abs() < 1e-12);
        assert_eq!(l.requests.len(), 2);
        assert!((l.requests[0].1 - (strong - 1.0)).abs() < 1e-12);
        assert!((l.requests[1].1 - (strong - 0.25)).abs() < 1e-12);
        assert_eq!((l.rated, l.not_routed_down, l.without_prompt), (5, 2, 1));
        assert_eq!(l.requests[0].2, "ledger:app:");
    }

    #[test]
    fn a_transformation_in_the_ledger_is_featurised_as_serving_scores_it() {
        let json =
            r#"[{"id": 1, "name": "Ada", "email": "ada@example.com"}, {"id": 2, "name": "Grace"}]"#;
        let r = record(
            "t",
            "small",
            Some(&format!("Reformat this JSON as YAML: {json}")),
        );
        let l = label(&[r], &[fb("t", 1.0)]).expect("label");
        let signals = Signals::builtin().expect("signals");
        let (x, _) = featurize_request(&l.requests[0].0, &signals, None);
        let instruction = crate::pipeline::classify::features::extract(
            "Reformat this JSON as YAML",
            signals.vocab(),
        );
        assert_eq!(x, instruction.to_vec());
    }

    #[test]
    fn a_corrupt_stored_prompt_is_an_error() {
        let mut r = record("a", "small", None);
        r.prompt = Some("{not json".into());
        assert!(label(&[r], &[fb("a", 1.0)]).is_err());
    }
}
