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
    let first_below = tiers.iter().position(|t| *t < tiers[0]);
    let last_above = tiers.iter().rposition(|t| *t >= tiers[0]);
    assert!(
        first_below.is_none_or(|b| last_above.is_some_and(|a| a < b)),
        "{tiers:?}"
    );
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

#[test]
fn reloading_swaps_the_router_and_a_bad_file_keeps_the_old_one() {
    let dir = std::env::temp_dir().join(format!("frugal-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("router.json");
    let mut model = classify::model::RouterModel::embedded().expect("model");
    std::fs::write(&path, model.to_json().expect("json")).expect("write");
    let env = MapEnv([("OPENAI_API_KEY", "k")].into_iter().collect());
    let mut config = Config::load(None, &env).expect("config");
    config.routing.router_model = Some(path.clone());
    let p = Pipeline::new(Arc::new(config)).expect("pipeline");
    let first = p.router().info.clone();
    assert_eq!(first.source, path.display().to_string());
    // Reloading a model trained with the same embedding keeps the loaded embedder.
    let embedder = p.classifier().embedder().cloned().expect("stage 2");
    assert_eq!(p.reload_router().expect("reload"), first);
    assert!(Arc::ptr_eq(
        &embedder,
        p.classifier().embedder().expect("stage 2")
    ));

    // A retrained model (here: stage 1 only, fewer rows) replaces it; the static embedder
    // of the first one is not needed any more.
    model.stage2 = None;
    model.embedding_id = None;
    model.provenance.rows = 7;
    std::fs::write(&path, model.to_json().expect("json")).expect("write");
    let second = p.reload_router().expect("reload");
    assert_ne!(second.fingerprint, first.fingerprint);
    assert_eq!((second.rows, p.router().info.clone()), (7, second.clone()));
    assert!(p.classifier().embedder().is_none());

    std::fs::write(&path, "{ not json").expect("write");
    assert!(p.reload_router().is_err());
    assert_eq!(p.router().info, second, "the serving router stays");
    assert!(p.plan(&req("auto", "hi"), &RouteContext::default()).is_ok());
}

#[test]
fn the_judge_is_applied_without_classifying_again() {
    let p = pipeline(&["OPENAI_API_KEY"]);
    let r = req(
        "auto",
        "Summarise the main causes of the French revolution in a paragraph.",
    );
    let first = p.plan(&r, &RouteContext::default()).expect("plan");
    let score = first.classification.expect("routed").score;
    // A boundary just above the score: the local stages are unsure, the judge is asked.
    p.set_boundaries([(score + 0.01).min(0.97), 0.98, 0.99]);
    let before = p.classifier().runs();
    let plan = p.plan(&r, &RouteContext::default()).expect("plan");
    assert!(plan.classification.as_ref().expect("routed").abstained);
    let judged = p
        .replan_with_judge(
            &r,
            &RouteContext::default(),
            plan,
            classify::JudgeOutcome::Rating(1),
        )
        .expect("replan");
    let c = judged.classification.expect("routed");
    assert_eq!(
        (c.stage, judged.tier),
        (classify::Stage::Judge, Tier::Simple)
    );
    assert_eq!(
        p.classifier().runs() - before,
        1,
        "classified once per request"
    );
}
