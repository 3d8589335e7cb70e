//! Sampled LLM grading of routed-down answers (`[feedback] grade_model`): a share of the
//! answers served below the baseline's tier are graded 0–10 by a judge model, and the grade
//! becomes feedback (source `judge`) for the loop. Spending stops for the rest of the UTC
//! day at the configured budget.

use std::sync::{Arc, Mutex};

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::judge::ask_model;
use super::Upstreams;
use crate::config::Config;
use crate::ledger::quality::GradingConfig;
use crate::pipeline::classify::judge::first_integer;
use crate::types::{ChatRequest, Message, Part, Role, TextBlock};

const INSTRUCTIONS: &str = "You grade an AI assistant's answer to a request. Reply with a \
single integer from 0 (useless or wrong) to 10 (fully correct and helpful), nothing else.";
/// Characters of the request and of the answer shown to the grader.
const SHOWN_CHARS: usize = 3_000;

pub struct Grader {
    upstreams: Arc<Upstreams>,
    config: Arc<Config>,
    grading: GradingConfig,
    /// (UTC day number, USD spent that day).
    spent: Mutex<(i64, Decimal)>,
    /// Calls, failures and spend since the start (for /metrics).
    usage: Mutex<crate::pipeline::classify::judge::JudgeUsage>,
}

fn today() -> i64 {
    crate::ledger::now_ms().div_euclid(86_400_000)
}

/// The first integer 0–10 in a grade, as 0..1.
/// The request that asks `model` to grade `answer` to `request_text` (0..10, one integer);
/// shared by the sampled grader and the verified-answer LLM verifier.
pub fn grading_request(model: &str, request_text: &str, answer: &str) -> ChatRequest {
    let shown = |t: &str| t.chars().take(SHOWN_CHARS).collect::<String>();
    ChatRequest {
        model: model.to_string(),
        system: vec![TextBlock {
            text: INSTRUCTIONS.into(),
            cache_control: None,
        }],
        messages: vec![Message {
            role: Role::User,
            content: vec![Part::text(format!(
                "Request:\n{}\n\nAnswer:\n{}",
                shown(request_text),
                shown(answer)
            ))],
        }],
        max_tokens: Some(4),
        temperature: Some(0.0),
        ..Default::default()
    }
}

pub fn parse_grade(answer: &str) -> Option<f64> {
    first_integer(answer)
        .filter(|n| *n <= 10)
        .map(|n| f64::from(n) / 10.0)
}

impl Grader {
    pub fn new(
        upstreams: Arc<Upstreams>,
        config: Arc<Config>,
        grading: GradingConfig,
    ) -> anyhow::Result<Grader> {
        if config.model(&grading.model).is_none() {
            anyhow::bail!("feedback.grade_model: unknown model `{}`", grading.model);
        }
        Ok(Grader {
            upstreams,
            config,
            grading,
            spent: Mutex::new((today(), Decimal::ZERO)),
            usage: Mutex::default(),
        })
    }

    /// Calls, failures and spend since the start.
    pub fn usage(&self) -> crate::pipeline::classify::judge::JudgeUsage {
        self.usage.lock().map(|u| *u).unwrap_or_default()
    }

    /// Whether this answer should be graded: sampled at `rate`, within today's budget.
    pub fn wants(&self, sample: f64) -> bool {
        if sample >= self.grading.rate {
            return false;
        }
        let budget = Decimal::try_from(self.grading.daily_budget_usd).unwrap_or(Decimal::ZERO);
        self.spent
            .lock()
            .map(|s| s.0 != today() || s.1 < budget)
            .unwrap_or(false)
    }

    /// Grade `answer` to `request`'s latest user text: a score in 0..1.
    pub async fn grade(&self, request_text: &str, answer: &str) -> Result<f64, String> {
        let req = grading_request(&self.grading.model, request_text, answer);
        let asked = ask_model(&self.upstreams, &self.config, &req).await;
        if let Ok(mut u) = self.usage.lock() {
            u.calls += 1;
            match &asked {
                Ok((_, cost)) => u.usd += cost.to_f64().unwrap_or(0.0),
                Err(_) => u.failures += 1,
            }
        }
        let (text, cost) = asked?;
        if let Ok(mut s) = self.spent.lock() {
            let day = today();
            if s.0 != day {
                *s = (day, Decimal::ZERO);
            }
            s.1 += cost;
        }
        parse_grade(&text).ok_or_else(|| {
            format!(
                "grader answered `{}`",
                text.chars().take(40).collect::<String>()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_parse_to_unit_scores() {
        assert_eq!(parse_grade("7"), Some(0.7));
        assert_eq!(parse_grade("Grade: 10"), Some(1.0));
        assert_eq!(parse_grade("0"), Some(0.0));
        assert_eq!(parse_grade("11"), None);
        assert_eq!(parse_grade("great"), None);
    }
}
