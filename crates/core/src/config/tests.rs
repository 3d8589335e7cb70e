use std::collections::HashMap;

use rust_decimal::Decimal;

use super::*;

struct MapEnv(HashMap<&'static str, &'static str>);

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|s| s.to_string())
    }
}

fn env_openai() -> MapEnv {
    MapEnv(HashMap::from([("OPENAI_API_KEY", "sk-test-secret")]))
}

#[test]
fn embedded_catalogue_is_valid_and_priced() {
    let cfg = Config::load(None, &env_openai()).expect("catalogue loads");
    assert!(cfg.models.len() >= 10);
    let m = cfg.model("gpt-4.1-mini").expect("model");
    assert_eq!(m.prices.input, Decimal::new(40, 2));
    assert_eq!(m.prices.cached_input, Decimal::new(10, 2));
    // Only OpenAI has a key, so the first usable baseline is the OpenAI one.
    assert_eq!(cfg.routing.baseline.as_deref(), Some("gpt-4.1"));
    assert!(cfg.routable(m));
    assert!(!cfg.routable(cfg.model("claude-sonnet-4-5").expect("model")));
}

#[test]
fn secret_is_redacted_in_debug() {
    let cfg = Config::load(None, &env_openai()).expect("loads");
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("sk-test-secret"));
}

#[test]
fn user_file_overrides_one_price_and_adds_a_provider() {
    let cfg = Config::from_toml_str(
        r#"
        [providers.local]
        kind = "openai"
        base_url = "http://127.0.0.1:11434/v1"
        no_api_key = true

        [models."llama3.2"]
        provider = "local"
        tier = "simple"
        input = "0"
        output = 0

        [models."gpt-4.1-mini"]
        input = 0.3

        [routing]
        baseline = "gpt-4o"
        "#,
        &env_openai(),
    )
    .expect("valid");
    assert_eq!(
        cfg.model("gpt-4.1-mini").expect("m").prices.input,
        Decimal::new(3, 1)
    );
    assert_eq!(
        cfg.model("gpt-4.1-mini").expect("m").prices.output,
        Decimal::new(160, 2)
    );
    assert!(cfg.routable(cfg.model("llama3.2").expect("m")));
    assert_eq!(cfg.routing.baseline.as_deref(), Some("gpt-4o"));
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (
            "[models.x]\nprovider = \"openai\"\ntier = \"simple\"\noutput = 1",
            "models.\"x\".input: missing",
        ),
        (
            "[models.x]\nprovider = \"nope\"\ntier = \"simple\"\ninput = 1\noutput = 1",
            "unknown provider `nope`",
        ),
        (
            "[models.x]\nprovider = \"openai\"\ntier = \"huge\"\ninput = 1\noutput = 1",
            "models.\"x\".tier",
        ),
        (
            "[models.x]\nprovider = \"openai\"\ntier = \"simple\"\ninput = \"abc\"\noutput = 1",
            "is not a number",
        ),
        (
            "[routing]\nboundaries = [0.5, 0.2, 0.9]",
            "routing.boundaries",
        ),
        (
            "[routing]\nbaseline = \"gpt-99\"",
            "routing.baseline: unknown model `gpt-99`",
        ),
        (
            "[providers.p]\nkind = \"grpc\"\nbase_url = \"http://x\"\napi_key_env = \"K\"",
            "providers.p.kind",
        ),
        (
            "[server]\nlisten = \"x\"\nbogus = 1",
            "unknown field `bogus`",
        ),
        (
            "[models.\"gpt-4o\"]\napi = \"grpc\"",
            "models.\"gpt-4o\".api: `grpc` is not both, chat or responses",
        ),
        (
            "[models.\"claude-sonnet-4-5\"]\napi = \"responses\"",
            "models.\"claude-sonnet-4-5\".api: only models of an openai-kind provider choose an API",
        ),
    ];
    for (toml_text, needle) in cases {
        let err = Config::from_toml_str(toml_text, &env_openai())
            .expect_err(toml_text)
            .to_string();
        assert!(err.contains(needle), "{toml_text:?}: {err}");
    }
}

#[test]
fn load_error_names_the_file() {
    let dir = std::env::temp_dir().join(format!("frugal-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("frugal.toml");
    std::fs::write(&path, "[models.\"gpt-4o\"]\ninput = -1\n").expect("write");
    let err = Config::load(Some(&path), &env_openai())
        .expect_err("negative")
        .to_string();
    assert!(err.contains("frugal.toml"), "{err}");
    assert!(
        err.contains("models.\"gpt-4o\".input: price -1 is negative"),
        "{err}"
    );
}

#[test]
fn client_keys_and_require_key() {
    let env = MapEnv(HashMap::from([
        ("OPENAI_API_KEY", "k"),
        ("APP_KEY", "fk-app"),
    ]));
    let cfg = Config::from_toml_str(
        "[keys.app]\nkey_env = \"APP_KEY\"\nnever_route_down = true\n\
         [keys.unset]\nkey_env = \"NOT_SET\"\n[auth]\nrequire_key = true\n",
        &env,
    )
    .expect("valid");
    assert_eq!(
        cfg.keys.len(),
        1,
        "a project whose variable is unset is not recognised"
    );
    assert_eq!(
        cfg.client_key("fk-app").map(|k| k.project.as_str()),
        Some("app")
    );
    assert!(cfg.client_key("fk-ap").is_none());
    assert!(format!("{cfg:?}").contains("Secret(<redacted>)"));
    // Keys may be created in the ledger's database later; with the ledger off, none can be.
    assert!(Config::from_toml_str("[auth]\nrequire_key = true\n", &env).is_ok());
    let err = Config::from_toml_str(
        "[auth]\nrequire_key = true\n[ledger]\nenabled = false\n",
        &env,
    )
    .expect_err("no keys anywhere");
    assert!(err.to_string().contains("auth.require_key"), "{err}");
}

#[test]
fn model_api_defaults_to_both_and_can_be_set() {
    let cfg = Config::from_toml_str("[models.\"gpt-4o\"]\napi = \"responses\"", &env_openai())
        .expect("valid");
    assert_eq!(
        cfg.model("gpt-4o").map(|m| m.api),
        Some(crate::catalog::ModelApi::Responses)
    );
    assert_eq!(
        cfg.model("gpt-4.1-mini").map(|m| m.api),
        Some(crate::catalog::ModelApi::Both)
    );
}

#[test]
fn key_budgets_limits_and_projects() {
    let env = MapEnv(HashMap::from([
        ("OPENAI_API_KEY", "k"),
        ("CI_KEY", "fk-ci"),
    ]));
    let cfg = Config::from_toml_str(
        "[keys.ci]\nkey_env = \"CI_KEY\"\nproject = \"web\"\nmodels = [\"auto\"]\n\
         tiers = [\"simple\", \"medium\"]\nbudget_day_usd = 1.5\nbudget_total_usd = \"100\"\n\
         requests_per_min = 60\ntokens_per_min = 100000\n\
         [projects.web]\nbudget_month_usd = 20\n[limits]\nmax_concurrent_requests = 8\n",
        &env,
    )
    .expect("valid");
    let k = &cfg.keys[0];
    assert_eq!((k.name.as_str(), k.project.as_str()), ("ci", "web"));
    assert_eq!(
        k.rules.budget.day_usd,
        Some(rust_decimal::Decimal::new(15, 1))
    );
    assert_eq!(
        k.rules.budget.total_usd,
        Some(rust_decimal::Decimal::from(100))
    );
    assert_eq!(k.rules.tiers, vec![Tier::Simple, Tier::Medium]);
    assert_eq!(k.rules.requests_per_min, Some(60));
    assert_eq!(
        cfg.limits.projects["web"].month_usd,
        Some(rust_decimal::Decimal::from(20))
    );
    assert_eq!(cfg.limits.max_concurrent_requests, 8);
    for (bad, field) in [
        (
            "[keys.ci]\nkey_env = \"CI_KEY\"\nbudget_day_usd = -1\n",
            "keys.ci.budget_day_usd",
        ),
        (
            "[keys.ci]\nkey_env = \"CI_KEY\"\ntiers = [\"huge\"]\n",
            "keys.ci.tiers",
        ),
        (
            "[keys.ci]\nkey_env = \"CI_KEY\"\nrequests_per_min = 0\n",
            "keys.ci.requests_per_min",
        ),
        (
            "[projects.web]\nbudget_total_usd = \"ten\"\n",
            "projects.web.budget_total_usd",
        ),
        (
            "[limits]\nbudget_warn_share = 2\n",
            "limits.budget_warn_share",
        ),
        (
            "[keys.ci]\nkey_env = \"CI_KEY\"\nbudget_day_usd = 1\n[ledger]\nenabled = false\n",
            "budgets",
        ),
    ] {
        let err = Config::from_toml_str(bad, &env).expect_err(bad).to_string();
        assert!(err.contains(field), "{bad}: {err}");
    }
}
