//! Where a verified request starts, who checks its answer and where it escalates: a pure
//! function of the routed plan and `[routing.verify]`. No network.
//!
//! The plan's first candidate answers. The escalation rungs are the candidates the plan
//! expects to answer better (a higher quality estimate; without one, or on a tie, a higher tier),
//! cheapest first, the best of them always last, at most `max_escalations`. The checker is
//! the cheapest other candidate that costs no more than the first rung (a check dearer than
//! the escalation it guards would save nothing); without one, a second sample of the first
//! model.

use serde::Serialize;

use crate::config::{Checker, VerifyConfig};
use crate::pipeline::{Candidate, Plan};

/// Who checks the first answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Another model answers the same request.
    Model(String),
    /// The answering model is asked a second time.
    SelfSample,
}

/// One verified request's ladder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ladder {
    /// The model whose answer is checked.
    pub start: String,
    pub check: Check,
    /// Escalation targets, cheapest first; the last is trusted without a check.
    pub rungs: Vec<String>,
}

/// The ladder of `plan`, or `None` when nothing could answer better than its first
/// candidate (the answer is then served unchecked: a check could only confirm it).
pub fn ladder(plan: &Plan, cfg: &VerifyConfig) -> Option<Ladder> {
    let start = plan.candidates.first()?;
    let quality = |c: &Candidate| -> Option<f64> {
        plan.estimates
            .iter()
            .find(|e| e.model == c.model && e.eligible)
            .map(|e| e.q)
    };
    let start_q = quality(start);
    // Equal estimates (priors alone, say) leave the tier to say which model is stronger.
    let better = |c: &Candidate| match (quality(c), start_q) {
        (Some(q), Some(s)) if (q - s).abs() > 1e-9 => q > s,
        _ => c.tier > start.tier,
    };
    let mut above: Vec<&Candidate> = plan.candidates[1..].iter().filter(|c| better(c)).collect();
    if above.is_empty() {
        return None;
    }
    // The best of them (quality, then tier, then the dearer on ties) is always the last rung.
    let best_index = (0..above.len())
        .max_by(|&a, &b| {
            let (ca, cb) = (above[a], above[b]);
            quality(ca)
                .unwrap_or(0.0)
                .total_cmp(&quality(cb).unwrap_or(0.0))
                .then(ca.tier.cmp(&cb.tier))
                .then(ca.est_cost_usd.cmp(&cb.est_cost_usd))
        })
        .unwrap_or(0);
    let best = above.remove(best_index);
    above.sort_by(|a, b| {
        a.est_cost_usd
            .cmp(&b.est_cost_usd)
            .then(a.model.cmp(&b.model))
    });
    let keep = (cfg.max_escalations as usize).saturating_sub(1);
    let mut rungs: Vec<String> = above.iter().take(keep).map(|c| c.model.clone()).collect();
    rungs.push(best.model.clone());
    let check = checker(plan, cfg, start, &rungs);
    Some(Ladder {
        start: start.model.clone(),
        check,
        rungs,
    })
}

fn checker(plan: &Plan, cfg: &VerifyConfig, start: &Candidate, rungs: &[String]) -> Check {
    let others = || {
        plan.candidates
            .iter()
            .filter(|c| c.model != start.model && !rungs.contains(&c.model))
    };
    match &cfg.checker {
        Checker::SelfSample => return Check::SelfSample,
        Checker::Model(m) if others().any(|c| &c.model == m) => return Check::Model(m.clone()),
        Checker::Model(_) | Checker::Auto => {}
    }
    let first_rung_cost = plan
        .candidates
        .iter()
        .find(|c| Some(&c.model) == rungs.first())
        .map(|c| c.est_cost_usd);
    others()
        .filter(|c| first_rung_cost.is_none_or(|r| c.est_cost_usd <= r))
        .min_by(|a, b| {
            a.est_cost_usd
                .cmp(&b.est_cost_usd)
                .then(a.model.cmp(&b.model))
        })
        .map_or(Check::SelfSample, |c| Check::Model(c.model.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Decision;
    use crate::types::Tier;
    use rust_decimal::Decimal;

    fn cand(model: &str, tier: Tier, cost_milli: i64) -> Candidate {
        Candidate {
            model: model.into(),
            tier,
            est_cost_usd: Decimal::new(cost_milli, 3),
        }
    }

    fn plan(candidates: Vec<Candidate>) -> Plan {
        Plan {
            decision: Decision::Routed,
            classification: None,
            tier: candidates[0].tier,
            candidates,
            est_input_tokens: 10,
            est_output_tokens: 10,
            baseline_est_cost_usd: None,
            reason: String::new(),
            estimates: vec![],
            explored: false,
            verified: true,
            embedding: None,
        }
    }

    #[test]
    fn cheap_start_checked_by_the_other_cheap_model_escalates_to_the_best() {
        let p = plan(vec![
            cand("small-a", Tier::Simple, 1),
            cand("small-b", Tier::Simple, 2),
            cand("mid", Tier::Medium, 5),
            cand("large", Tier::Complex, 20),
        ]);
        let l = ladder(&p, &VerifyConfig::default()).unwrap();
        assert_eq!(l.start, "small-a");
        assert_eq!(l.check, Check::Model("small-b".into()));
        assert_eq!(l.rungs, vec!["large".to_string()]);
        let two = VerifyConfig {
            max_escalations: 2,
            ..VerifyConfig::default()
        };
        let l = ladder(&p, &two).unwrap();
        assert_eq!(l.rungs, vec!["mid".to_string(), "large".to_string()]);
        // With two rungs the checker must still cost no more than the first one.
        assert_eq!(l.check, Check::Model("small-b".into()));
    }

    #[test]
    fn no_cheap_checker_means_a_second_sample_and_the_top_is_not_checked() {
        let p = plan(vec![
            cand("small", Tier::Simple, 1),
            cand("large", Tier::Complex, 20),
        ]);
        let l = ladder(&p, &VerifyConfig::default()).unwrap();
        assert_eq!(l.check, Check::SelfSample);
        assert_eq!(l.rungs, vec!["large".to_string()]);
        let top = plan(vec![
            cand("large", Tier::Complex, 20),
            cand("small", Tier::Simple, 1),
        ]);
        assert_eq!(ladder(&top, &VerifyConfig::default()), None);
    }

    #[test]
    fn a_named_checker_is_used_when_it_can_carry_the_request() {
        let p = plan(vec![
            cand("small-a", Tier::Simple, 1),
            cand("small-b", Tier::Simple, 2),
            cand("small-c", Tier::Simple, 3),
            cand("large", Tier::Complex, 20),
        ]);
        let named = |m: &str| VerifyConfig {
            checker: Checker::Model(m.into()),
            ..VerifyConfig::default()
        };
        assert_eq!(
            ladder(&p, &named("small-c")).unwrap().check,
            Check::Model("small-c".into())
        );
        // Not among the candidates (cannot carry this request): the automatic choice.
        assert_eq!(
            ladder(&p, &named("elsewhere")).unwrap().check,
            Check::Model("small-b".into())
        );
    }
}
