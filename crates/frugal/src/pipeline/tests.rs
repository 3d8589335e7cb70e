use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::config::Env;
use crate::types::{Message, Part, Role, ToolDef};

struct MapEnv(HashMap<&'static str, &'static str>);
impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|s| s.to_string())
    }
}

fn pipeline(keys: &[&'static str]) -> Pipeline {
    let env = MapEnv(keys.iter().map(|k| (*k, "secret")).collect());
    Pipeline::new(Arc::new(Config::load(None, &env).expect("catalogue"))).expect("pipeline")
}

fn req(model: &str, text: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![Message {
            role: Role::User,
            content: vec![Part::text(text)],
        }],
        ..Default::default()
    }
}

#[test]
fn auto_routes_a_greeting_to_the_cheapest_simple_model() {
    let p = pipeline(&["OPENAI_API_KEY"]);
    let plan = p
        .plan(&req("auto", "hi"), &RouteContext::default())
        .expect("plan");
    assert_eq!(plan.decision, Decision::Routed);
    assert_eq!(plan.tier, Tier::Simple);
    assert_eq!(plan.candidates[0].model, "gpt-5-nano");
    // Fallbacks never go below the chosen tier before every tier above is listed.
    let tiers: Vec<Tier> = plan.candidates.iter().map(|c| c.tier).collect();
    let mut sorted = tiers.clone();
    sorted.sort();
    assert_eq!(tiers, sorted);
    // Anthropic has no key: none of its models may appear.
    assert!(plan
        .candidates
        .iter()
        .all(|c| !c.model.starts_with("claude")));
    assert!(plan.baseline_est_cost_usd.expect("baseline") > plan.est_cost_usd());
}

#[test]
fn explicit_model_passes_through_untouched() {
    let p = pipeline(&["OPENAI_API_KEY"]);
    let plan = p
        .plan(&req("gpt-4o", "hi"), &RouteContext::default())
        .expect("plan");
    assert_eq!(plan.decision, Decision::Explicit);
    assert_eq!(plan.candidates.len(), 1);
    assert_eq!(plan.candidates[0].model, "gpt-4o");
}

#[test]
fn explicit_unknown_model_is_an_error_not_a_reroute() {
    let p = pipeline(&["OPENAI_API_KEY"]);
    let err = p
        .plan(&req("gpt-99", "hi"), &RouteContext::default())
        .expect_err("unknown");
    assert!(matches!(err, GatewayError::UnknownModel(_)));
    let err = p
        .plan(&req("claude-sonnet-4-5", "hi"), &RouteContext::default())
        .expect_err("no key");
    assert!(err.to_string().contains("ANTHROPIC_API_KEY"), "{err}");
}

#[test]
fn premium_never_below_complex_and_min_tier_header() {
    let p = pipeline(&["OPENAI_API_KEY", "ANTHROPIC_API_KEY"]);
    let plan = p
        .plan(&req("frugal/premium", "hi"), &RouteContext::default())
        .expect("plan");
    assert_eq!(plan.tier, Tier::Complex);
    let ctx = RouteContext {
        min_tier: Some(Tier::Frontier),
        ..Default::default()
    };
    let plan = p.plan(&req("auto", "hi"), &ctx).expect("plan");
    assert_eq!(plan.tier, Tier::Frontier);
    let err = p
        .plan(&req("frugal/nope", "hi"), &RouteContext::default())
        .expect_err("profile");
    assert!(matches!(err, GatewayError::UnknownModel(_)));
}

#[test]
fn route_off_uses_the_baseline() {
    let p = pipeline(&["ANTHROPIC_API_KEY"]);
    let ctx = RouteContext {
        route_off: true,
        ..Default::default()
    };
    let plan = p.plan(&req("auto", "hi"), &ctx).expect("plan");
    assert_eq!(plan.decision, Decision::RoutingOff);
    assert_eq!(plan.candidates[0].model, "claude-sonnet-4-5");
}

#[test]
fn capabilities_are_respected() {
    let env = MapEnv(HashMap::from([("OPENAI_API_KEY", "k")]));
    let cfg = Config::from_toml_str(
        "[models.\"gpt-5-nano\"]\ntools = false\n[models.\"gpt-4.1-nano\"]\ntools = false\n[models.\"gpt-4o-mini\"]\ntools = false\n",
        &env,
    )
    .expect("cfg");
    let p = Pipeline::new(Arc::new(cfg)).expect("pipeline");
    let mut r = req("auto", "hi");
    r.tools = vec![ToolDef {
        name: "f".into(),
        description: None,
        parameters: serde_json::json!({"type": "object"}),
        cache_control: None,
    }];
    let plan = p.plan(&r, &RouteContext::default()).expect("plan");
    assert_ne!(plan.candidates[0].tier, Tier::Simple, "{plan:?}");
    assert!(plan.reason.contains("served by"), "{}", plan.reason);
}

#[test]
fn session_floor_keeps_a_follow_up_up() {
    let p = pipeline(&["OPENAI_API_KEY"]);
    let ctx = RouteContext {
        session_floor: Some(Tier::Complex),
        ..Default::default()
    };
    let plan = p.plan(&req("auto", "now commit it"), &ctx).expect("plan");
    assert_eq!(plan.tier, Tier::Complex);
}
