//! Who may read the dashboard. With `[auth] admin_key_env` set, every dashboard route
//! requires that key — as `Authorization: Bearer …` or `x-api-key` (scripts, curl), or as
//! the password of HTTP Basic authentication (a browser asks for it: the 401 carries
//! `WWW-Authenticate: Basic`). Without an admin key the dashboard is open, like `/health`
//! and `/metrics`, unless gateway keys are in use (`require_key`, or any key configured or
//! created): then it is closed, since a client key must not open the whole gateway's
//! traffic.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::json;

use super::Dash;
use crate::config::Config;

pub async fn require_admin(State(dash): State<Arc<Dash>>, req: Request, next: Next) -> Response {
    let keys_known = !dash.app.limits.keys().is_empty();
    match check(&dash.app.config, keys_known, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(message) => refuse(message),
    }
}

/// `Ok` when this request may read the dashboard, else why not. `keys_known`: the gateway
/// knows client keys (configured or created), so keys are in use.
pub fn check(config: &Config, keys_known: bool, h: &HeaderMap) -> Result<(), &'static str> {
    match &config.admin_key {
        Some(admin) => {
            let presented = crate::caller::presented_key(h)
                .map(str::to_string)
                .or_else(|| basic_password(h));
            match presented {
                Some(p) if same(admin.expose().as_bytes(), p.as_bytes()) => Ok(()),
                Some(_) => Err("the dashboard needs the admin key; the key given is not it"),
                None => Err("the dashboard needs the admin key ([auth] admin_key_env)"),
            }
        }
        None if config.require_key || keys_known => {
            Err("gateway keys are in use and no admin key is configured: \
             set [auth] admin_key_env to open the dashboard")
        }
        None => Ok(()),
    }
}

/// The password of `Authorization: Basic base64(user:password)`; the user is ignored.
fn basic_password(h: &HeaderMap) -> Option<String> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    Some(password.to_string()).filter(|p| !p.is_empty())
}

/// Compare without an early exit, so timing does not reveal a common prefix.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refuse(message: &str) -> Response {
    let body = json!({ "error": { "message": message, "type": "authentication_error",
                                  "param": null, "code": "unauthorized" } });
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"frugal dashboard\"")],
        Json(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Env};
    use axum::http::HeaderValue;

    struct Vars;
    impl Env for Vars {
        fn var(&self, name: &str) -> Option<String> {
            match name {
                "ADMIN" => Some("admin-key-123456".into()),
                "CLIENT" => Some("client-key-123456".into()),
                _ => None,
            }
        }
    }

    fn config(extra: &str) -> Config {
        Config::from_toml_str(
            &format!("[keys.app]\nkey_env = \"CLIENT\"\n[auth]\n{extra}"),
            &Vars,
        )
        .expect("config")
    }

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).expect("header"));
        h
    }

    #[test]
    fn admin_key_by_bearer_x_api_key_or_basic_password() {
        let c = config("admin_key_env = \"ADMIN\"\n");
        assert!(check(
            &c,
            true,
            &headers("authorization", "Bearer admin-key-123456")
        )
        .is_ok());
        assert!(check(&c, true, &headers("x-api-key", "admin-key-123456")).is_ok());
        let basic = base64::engine::general_purpose::STANDARD.encode("ops:admin-key-123456");
        assert!(check(
            &c,
            true,
            &headers("authorization", &format!("Basic {basic}"))
        )
        .is_ok());
        assert!(check(&c, true, &HeaderMap::new()).is_err());
        // A client key is not the admin key.
        assert!(check(
            &c,
            true,
            &headers("authorization", "Bearer client-key-123456")
        )
        .is_err());
        let wrong = base64::engine::general_purpose::STANDARD.encode("ops:client-key-123456");
        assert!(check(
            &c,
            true,
            &headers("authorization", &format!("Basic {wrong}"))
        )
        .is_err());
    }

    #[test]
    fn closed_when_client_keys_are_required_without_an_admin_key() {
        let c = config("require_key = true\n");
        let err = check(
            &c,
            true,
            &headers("authorization", "Bearer client-key-123456"),
        );
        assert!(err.is_err_and(|m| m.contains("admin_key_env")));
        assert!(check(&config(""), false, &HeaderMap::new()).is_ok());
        // Keys in use (e.g. created with `frugal keys create`) close it too.
        assert!(check(&config(""), true, &HeaderMap::new()).is_err());
    }

    #[test]
    fn an_admin_key_variable_that_is_not_set_is_a_configuration_error() {
        let err = Config::from_toml_str("[auth]\nadmin_key_env = \"NOT_SET\"\n", &Vars)
            .expect_err("unset admin key");
        assert!(err.to_string().contains("auth.admin_key_env"), "{err}");
    }
}
