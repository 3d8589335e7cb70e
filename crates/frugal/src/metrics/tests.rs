use rust_decimal::Decimal;

use super::*;

fn record(model: &str, status: i64) -> Record {
    Record {
        format: "openai".into(),
        decision: "routed".into(),
        tier: Some("simple".into()),
        model: Some(model.into()),
        stage: Some("rules".into()),
        status,
        input_tokens: 100,
        output_tokens: 20,
        cached_tokens: 40,
        cost_usd: Decimal::new(3, 3),
        baseline_cost_usd: Decimal::new(10, 3),
        savings_routing_usd: Decimal::new(7, 3),
        latency_ms: 12.0,
        overhead_ms: Some(0.7),
        ..Record::default()
    }
}

#[test]
fn every_record_is_counted_under_its_labels() {
    let m = Metrics::default();
    m.observe(&record("a", 200));
    m.observe(&record("a", 200));
    let mut failed = record("b", 502);
    failed.error = Some("all_upstreams_failed".into());
    failed.failed_models = "openai/b:500;anthropic/c:-".into();
    failed.fallback_attempts = 2;
    m.observe(&failed);
    let c = m.snapshot();
    assert_eq!(c.requests.values().sum::<u64>(), 3);
    assert_eq!(c.tokens[&("a".to_string(), "input")], 200);
    assert_eq!(c.cost_usd["a"], Decimal::new(6, 3));
    assert_eq!(c.savings_usd[0], Decimal::new(21, 3));
    assert_eq!(
        c.upstream_failures[&("openai".into(), "b".into(), "500".into())],
        1
    );
    assert_eq!(
        c.upstream_failures[&("anthropic".into(), "c".into(), "-".into())],
        1
    );
    // A request that failed after fallbacks is an error, not a fallback that answered.
    assert_eq!(c.fallbacks, 0);
    assert_eq!(c.errors["all_upstreams_failed"], 1);
    assert_eq!(c.overhead.count, 3);
    assert_eq!(c.latency["openai"].count, 3);
}

#[test]
fn the_exposition_is_valid_prometheus_text() {
    let m = Metrics::default();
    let mut r = record("we\"ird\\model\n", 200);
    r.verify = Some("escalated".into());
    r.verify_cost_usd = Decimal::new(1, 3);
    m.observe(&r);
    let mut page = Exposition::default();
    page.traffic(&m.snapshot());
    let text = page.finish();
    assert!(text.contains(r#"model="we\"ird\\model\n""#), "{text}");
    assert!(text.contains("frugal_verified_requests_total{outcome=\"escalated\"} 1\n"));
    assert!(
        text.contains("frugal_request_duration_seconds_bucket{format=\"openai\",le=\"0.025\"} 1\n")
    );
    assert!(
        text.contains("frugal_request_duration_seconds_bucket{format=\"openai\",le=\"+Inf\"} 1\n")
    );
    assert!(text.contains("frugal_overhead_seconds_bucket{le=\"0.0005\"} 0\n"));
    assert!(text.contains("frugal_overhead_seconds_bucket{le=\"0.001\"} 1\n"));
    // Every sample line belongs to a family declared before it, and each family once.
    let mut declared = std::collections::BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            assert!(declared.insert(name.to_string()), "{name} declared twice");
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| declared.contains(*f)))
                .unwrap_or(name);
            assert!(declared.contains(family), "{line}");
        }
    }
}
