//! Arbitrary text as the user's `frugal.toml` (`Config::from_toml_str`, overlaid on the
//! built-in catalogue and validated). Invariants: never panics, with or without provider
//! keys in the environment; a configuration it accepts answers its lookups without
//! panicking either.
#![no_main]
use frugal_core::config::{Config, Env};
use libfuzzer_sys::fuzz_target;

struct NoEnv;
impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

struct AllKeys;
impl Env for AllKeys {
    fn var(&self, name: &str) -> Option<String> {
        Some(format!("fuzz-{name}"))
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for env in [&NoEnv as &dyn Env, &AllKeys] {
        if let Ok(cfg) = Config::from_toml_str(text, env) {
            let _ = cfg.baseline_model();
            let _ = cfg.client_key("fuzz");
            for name in ["auto", "gpt-4.1-mini", "claude-sonnet-4-5", text] {
                if let Some(m) = cfg.model(name) {
                    let _ = cfg.provider_of(m);
                    let _ = cfg.routable(m);
                }
            }
        }
    }
});
