//! Stage two of the pipeline: score a request's complexity (0..1, higher needs a stronger
//! model), place it in a tier, and say how sure that is and which stage decided.
//!
//! The cascade: hand rules (greetings, code, transformations of pasted material, questions
//! about supplied reference material) → stage 1, a learned linear score over fifteen
//! features, which decides unless its score sits within the model's abstain margin of a
//! tier boundary → stage 2, the same features plus a local sentence embedding, when a model
//! with an embedding head is loaded, whose verdict may move the score by at most that
//! margin → otherwise, or when stage 2 is also unsure, the request
//! is marked `abstained`: the server may ask the LLM judge (stage 3); without one the tier
//! goes up one step ("route up when unsure"). Scores are calibrated to the training rows'
//! distribution, so a boundary of 0.55 means "above 55 % of training prompts".

pub mod embedder;
pub mod features;
pub mod grounded;
pub mod judge;
pub mod model;
pub mod scan;
pub mod text;
pub mod transform;
pub mod wordpiece;

use std::sync::Arc;

use serde::Serialize;

use crate::types::{ChatRequest, Tier};
use embedder::Embedder;
use features::HandRule;
use model::RouterModel;
use text::{request_texts, RequestTexts, Scored, ScoredPart, Signals};

/// Stage 1's reading of one text.
pub struct Stage1 {
    pub score: f64,
    pub contributions: Vec<f64>,
    pub rule: Option<HandRule>,
    pub features: features::Features,
}

/// Stage 1's reading of a request, before a tier is chosen.
struct FirstPass {
    score: f64,
    /// What the earlier user turns alone would score (a floor for stage 2's score).
    inherited: f64,
    rule: Option<HandRule>,
    signals: Vec<(&'static str, f64)>,
    features: features::Features,
}

/// Where a score lands among the boundaries.
struct Placed {
    score: f64,
    tier: Tier,
    by_score: Tier,
    confidence: f64,
    stage: Stage,
    abstained: bool,
}

/// What the LLM judge (stage 3) said about an abstained request, when one was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JudgeOutcome {
    Rating(u8),
    /// Error or timeout: the request goes one tier up, never down.
    Failed,
}

/// A follow-up keeps this share of the earlier conversation's score ("now commit it" after
/// a design discussion is not a greeting).
const CONTEXT_WEIGHT: f64 = 0.8;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    pub score: f64,
    /// The tier by score, after hand rules and "route up when unsure".
    pub tier: Tier,
    /// 0..1: how far the score is from the nearest boundary, relative to the abstain margin.
    pub confidence: f64,
    /// Which stage decided.
    pub stage: Stage,
    /// True when no local stage was confident: a judge may decide; without one the tier
    /// was already raised one step.
    pub abstained: bool,
    /// The inputs that moved the score most (name, contribution), for explanations.
    pub signals: Vec<(&'static str, f64)>,
    /// What a judge's verdict is applied to, kept so that asking the judge after
    /// classification does not classify again.
    #[serde(skip)]
    judge_basis: Option<JudgeBasis>,
    /// The text that was scored (`RequestTexts::scored`): the model-aware router embeds the
    /// same text, without extracting it again.
    #[serde(skip)]
    pub text: String,
}

/// Which stage decided a request's tier; its name is what the `x-frugal-stage` header,
/// the ledger's `stage` column and `/metrics` carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Stage 1 (the learned linear score) or a hand rule.
    Rules,
    /// Stage 2 (features plus a local sentence embedding).
    Embedding,
    /// No local stage was sure: routed up one tier.
    Unsure,
    /// The LLM judge (stage 3).
    Judge,
    /// The judge was asked and failed: routed up one tier.
    JudgeFailed,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Rules => "rules",
            Stage::Embedding => "embedding",
            Stage::Unsure => "unsure",
            Stage::Judge => "judge",
            Stage::JudgeFailed => "judge_failed",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The local decision an abstained request's judge verdict replaces.
#[derive(Debug, Clone, Copy, PartialEq)]
struct JudgeBasis {
    boundaries: [f64; 3],
    by_score: Tier,
    floor: Tier,
}

impl Classification {
    /// This classification with the LLM judge's verdict applied (abstained requests only;
    /// a confident one is returned as it is).
    pub fn judged(mut self, outcome: JudgeOutcome) -> Classification {
        let Some(basis) = self.judge_basis.filter(|_| self.abstained) else {
            return self;
        };
        let (tier, stage) = match outcome {
            JudgeOutcome::Rating(r) => (
                judge::judged_tier(Some(r), basis.boundaries, basis.by_score).max(basis.floor),
                Stage::Judge,
            ),
            JudgeOutcome::Failed => (basis.by_score.up(), Stage::JudgeFailed),
        };
        self.tier = tier;
        self.stage = stage;
        self
    }
}

pub struct Classifier {
    model: RouterModel,
    signals: Arc<Signals>,
    /// Shared so that reloading a router trained with the same embedding keeps it.
    embedder: Option<Arc<Embedder>>,
    /// How many requests this classifier has scored (tests count classifications).
    runs: std::sync::atomic::AtomicU64,
}

impl Classifier {
    /// `embedder` must be the one the model's stage-2 head was trained with (checked by
    /// `Pipeline::new`); without it stage 2 is skipped.
    pub fn new(
        model: RouterModel,
        signals: Arc<Signals>,
        embedder: Option<Arc<Embedder>>,
    ) -> Classifier {
        Classifier {
            model,
            signals,
            embedder,
            runs: Default::default(),
        }
    }

    /// How many times `classify` has run.
    pub fn runs(&self) -> u64 {
        self.runs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stage-2 calibrated score: stage 1's `features` of `text` plus its sentence embedding;
    /// `None` when no stage-2 head or embedder is loaded.
    pub fn stage2(&self, features: &features::Features, text: &str) -> Option<f64> {
        let (head, embedder) = (self.model.stage2.as_ref()?, self.embedder.as_ref()?);
        let mut x = features.to_vec();
        x.extend(embedder.embed(text).iter().map(|v| f64::from(*v)));
        Some(head.score(&x))
    }

    pub fn model(&self) -> &RouterModel {
        &self.model
    }

    /// The loaded stage-2 embedder, if any.
    pub fn embedder(&self) -> Option<&Arc<Embedder>> {
        self.embedder.as_ref()
    }

    /// Stage 1 on one text: its features, their contributions, the calibrated score and the
    /// hand rule it triggers.
    pub fn stage1(&self, text: &str) -> Stage1 {
        let (features, rule) = features::analyse(text, self.signals.vocab());
        let contributions = self.model.stage1.contributions(&features);
        let score = self.model.stage1.calibrate(contributions.iter().sum());
        Stage1 {
            score,
            contributions,
            rule,
            features,
        }
    }

    /// Score and tier a request against the tier `boundaries`; `shift` moves every boundary
    /// (profiles); `judge` is the stage-3 verdict when the server asked for one.
    pub fn classify(
        &self,
        req: &ChatRequest,
        boundaries: [f64; 3],
        shift: f64,
        judge: Option<JudgeOutcome>,
    ) -> Classification {
        self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let b = boundaries.map(|x| (x + shift).clamp(0.0, 1.0));
        let texts = request_texts(req);
        // A transformation of pasted material is scored on its instruction alone, a question
        // about supplied reference material on its question alone.
        let scored = texts.scored();
        let first = self.first_pass(&texts, &scored);
        if first.rule == Some(HandRule::Greeting) && texts.earlier_user.is_empty() {
            return Classification {
                score: first.score.min(b[0] / 2.0),
                tier: Tier::Simple,
                confidence: 1.0,
                stage: Stage::Rules,
                abstained: false,
                signals: vec![("greeting", -1.0)],
                judge_basis: None,
                text: scored.text.to_string(),
            };
        }
        let floor = if first.rule == Some(HandRule::Code) {
            Tier::Medium
        } else {
            Tier::Simple
        };
        let placed = self.place(&first, scored.text, b, floor);
        let mut signals = first.signals;
        if first.rule == Some(HandRule::Code) {
            signals.insert(0, ("code_request", 0.0));
        }
        let c = Classification {
            score: placed.score,
            tier: placed.tier,
            confidence: placed.confidence,
            stage: placed.stage,
            abstained: placed.abstained,
            signals,
            judge_basis: Some(JudgeBasis {
                boundaries: b,
                by_score: placed.by_score,
                floor,
            }),
            text: scored.text.to_string(),
        };
        match judge {
            Some(outcome) => c.judged(outcome),
            None => c,
        }
    }

    /// Stage 1 on the scored text, raised to what the earlier conversation implies, with
    /// the signals that moved the score most (and which part of the message was scored).
    fn first_pass(&self, texts: &RequestTexts, scored: &Scored<'_>) -> FirstPass {
        let Stage1 {
            mut score,
            contributions,
            mut rule,
            features,
        } = self.stage1(scored.text);
        if scored.part != ScoredPart::Whole && texts.last_user.contains("```") {
            // Code in the material still needs a model that handles code.
            rule = Some(HandRule::Code);
        }
        let mut signals: Vec<(&'static str, f64)> = features::NAMES
            .iter()
            .copied()
            .zip(contributions)
            .filter(|(_, c)| c.abs() > 1e-9)
            .collect();
        let mut inherited = 0.0;
        if !texts.earlier_user.is_empty() {
            inherited = CONTEXT_WEIGHT * self.stage1(&texts.earlier_user).score;
            if inherited > score {
                signals.push(("conversation", inherited - score));
                score = inherited;
            }
        }
        signals.sort_by(|x, y| y.1.abs().total_cmp(&x.1.abs()));
        signals.truncate(5);
        if let Some(name) = scored.part.signal() {
            signals.insert(0, (name, 0.0));
        }
        FirstPass {
            score,
            inherited,
            rule,
            signals,
            features,
        }
    }

    /// The tier the score falls in, above `floor`; near a boundary, stage 2 (the
    /// embedding) rescores, and a score still close below one goes up a tier.
    fn place(&self, first: &FirstPass, text: &str, b: [f64; 3], floor: Tier) -> Placed {
        let margin = self.model.abstain_margin;
        // A boundary at 0 or 1 is a closed tier, not a decision to be unsure about.
        let live = |x: &&f64| **x > 0.0 && **x < 1.0;
        let near = |s: f64| {
            b.iter()
                .filter(live)
                .map(|x| (s - x).abs())
                .fold(f64::INFINITY, f64::min)
        };
        let mut score = first.score;
        let mut nearest = near(score);
        let mut abstained = nearest < margin;
        let mut local_stage = Stage::Rules;
        // Stage 2 only for what stage 1 was unsure of: it costs more than stage 1.
        if abstained {
            if let Some(s2) = self.stage2(&first.features, text) {
                score = self.model.resolve(score, s2).max(first.inherited);
                nearest = near(score);
                abstained = nearest < margin;
                local_stage = Stage::Embedding;
            }
        }
        let idx = b.iter().filter(|x| score >= **x).count();
        let by_score = Tier::ALL[idx.min(3)].max(floor);
        let confidence = if margin > 0.0 {
            (nearest / (2.0 * margin)).min(1.0)
        } else {
            1.0
        };
        let (tier, stage) = match abstained {
            false => (by_score, local_stage),
            // Unsure and below a boundary it is close to: go up one tier rather than risk
            // the answer; just above one, the score already chose the higher tier.
            true if b
                .get(idx)
                .filter(live)
                .is_some_and(|up| up - score < margin) =>
            {
                (by_score.up(), Stage::Unsure)
            }
            true => (by_score, Stage::Unsure),
        };
        Placed {
            score,
            tier,
            by_score,
            confidence,
            stage,
            abstained,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: [f64; 3] = [0.30, 0.55, 0.80];

    fn classifier() -> Classifier {
        Classifier::new(
            RouterModel::embedded().expect("model"),
            Signals::builtin().expect("signals"),
            Some(Arc::new(Embedder::builtin().expect("embedder"))),
        )
    }

    fn req(turns: &[&str]) -> ChatRequest {
        ChatRequest::from_turns(turns)
    }

    #[test]
    fn greeting_is_simple_with_full_confidence() {
        let c = classifier().classify(&req(&["hi!"]), B, 0.0, None);
        assert_eq!(
            (c.tier, c.stage, c.abstained),
            (Tier::Simple, Stage::Rules, false)
        );
    }

    #[test]
    fn code_is_never_simple() {
        let c = classifier().classify(&req(&["fix it:\n```py\nprint(1)\n```"]), B, 0.0, None);
        assert!(c.tier >= Tier::Medium, "{c:?}");
    }

    #[test]
    fn follow_up_inherits_its_conversation() {
        let hard = "Suppose a firm's marginal cost is 2q + 5 and demand is p = 100 - q. First compute \
                    the profit-maximising quantity, then the price, then the deadweight loss compared to \
                    perfect competition, and explain each step.";
        let k = classifier();
        let alone = k.classify(&req(&["and the other one?"]), B, 0.0, None);
        let inherited = k.classify(
            &req(&[hard, "Here you go.", "and the other one?"]),
            B,
            0.0,
            None,
        );
        assert!(inherited.score > alone.score, "{inherited:?} vs {alone:?}");
    }

    #[test]
    fn pasted_material_does_not_make_a_transformation_hard() {
        let rows: Vec<String> = (0..40)
            .map(|i| format!(r#"{{"id": {i}, "name": "user{i}", "email": "u{i}@example.com"}}"#))
            .collect();
        let json = format!("[{}]", rows.join(", "));
        let k = classifier();
        let c = k.classify(
            &req(&[&format!("Reformat this JSON as YAML: {json}")]),
            B,
            0.0,
            None,
        );
        assert_eq!(
            (c.tier, c.signals[0].0),
            (Tier::Simple, "transformation"),
            "{c:?}"
        );
        // The same material with a real question about it is scored on all of it.
        let q = k.classify(
            &req(&[&format!(
                "{json}\nWhich users share an email domain, and why might that matter?"
            )]),
            B,
            0.0,
            None,
        );
        assert!(q.score > c.score, "{q:?} vs {c:?}");
        // Code in the material keeps the code floor.
        let code = format!(
            "Convert this to JavaScript:\n```py\n{}```",
            "def f(x):\n    return x * 2\n".repeat(4)
        );
        assert!(k.classify(&req(&[&code]), B, 0.0, None).tier >= Tier::Medium);
    }

    #[test]
    fn stage2_cannot_carry_a_request_past_the_next_boundary() {
        // Stage 1 puts this request near the medium/complex boundary; the shipped stage-2
        // head, which learned exam topics, scored it 0.75 (just under frontier, so "route up
        // when unsure" sent a blog post to the frontier tier) before its verdict was bounded.
        let k = classifier();
        let r = req(&["Write a short blog post about a weekend trip to Lisbon, mentioning food and the old tram lines."]);
        let c = k.classify(&r, B, 0.0, None);
        let s1 = k.stage1(&request_texts(&r).last_user).score;
        assert!(
            (c.score - s1).abs() <= k.model().abstain_margin + 1e-12,
            "{c:?} vs stage 1 {s1}"
        );
        assert!(c.tier <= Tier::Complex, "{c:?}");
    }

    #[test]
    fn a_question_about_supplied_documents_is_scored_on_the_question() {
        let passage =
            "Frank Sinatra recorded the song in 1969; it was written by Teddy Randazzo and \
                       later covered by Sammy Davis Jr., who sang it at his live shows. "
                .repeat(6);
        let k = classifier();
        let rag = |q: &str| {
            format!(
                "Answer using only the search results.\n\nDocument [1] {passage}\n\nQuestion: {q}\nAnswer:"
            )
        };
        let lookup = k.classify(&req(&[&rag("who wrote the song")]), B, 0.0, None);
        assert_eq!(
            (lookup.tier, lookup.signals[0].0),
            (Tier::Simple, "grounded_question"),
            "{lookup:?}"
        );
        // What the question asks still counts.
        let analysis = k.classify(
            &req(&[&rag(
                "Compare the two recordings and explain step by step why the cover became more famous.",
            )]),
            B,
            0.0,
            None,
        );
        assert!(analysis.score > lookup.score + 0.3, "{analysis:?}");
        // The same material without a labelled question is scored on all of it.
        let whole = k.classify(
            &req(&[&format!("{passage}\nWho wrote the song?")]),
            B,
            0.0,
            None,
        );
        assert!(whole.score > lookup.score, "{whole:?}");
    }

    #[test]
    fn shift_makes_routing_cheaper() {
        let k = classifier();
        let r =
            req(&["Explain the difference between processes and threads, and when to use each."]);
        assert!(k.classify(&r, B, 0.2, None).tier <= k.classify(&r, B, 0.0, None).tier);
    }
}
