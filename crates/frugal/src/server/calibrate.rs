//! Calibrates the offline Claude token estimate on real traffic: for each complete answer
//! from an Anthropic model, the o200k count of the request is paired with the
//! `input_tokens` Anthropic billed (`tokens::observe_claude`), off the request path.

use crate::catalog::ProviderKind;
use crate::types::{ChatRequest, Part, Usage};

use super::AppState;

/// The text a provider tokenises for a request: system, message parts, tool schemas.
fn request_text(req: &ChatRequest) -> String {
    let mut out = String::new();
    for b in &req.system {
        out.push_str(&b.text);
        out.push('\n');
    }
    fn part(p: &Part, out: &mut String) {
        match p {
            Part::Text { text, .. } => out.push_str(text),
            Part::ToolUse { name, input, .. } => {
                out.push_str(name);
                out.push_str(&input.to_string());
            }
            Part::ToolResult { content, .. } => content.iter().for_each(|c| part(c, out)),
            Part::Image { .. } => {}
        }
        out.push('\n');
    }
    for m in &req.messages {
        m.content.iter().for_each(|p| part(p, &mut out));
    }
    for t in &req.tools {
        out.push_str(&t.name);
        out.push_str(t.description.as_deref().unwrap_or(""));
        out.push_str(&t.parameters.to_string());
    }
    out
}

/// Record the pair when `model` is served by an Anthropic provider and the request has no
/// images (their tokens are the provider's business, not text's).
pub fn observe(app: &AppState, model: &str, req: &ChatRequest, usage: &Usage) {
    let anthropic = app
        .config
        .model(model)
        .and_then(|m| app.config.provider_of(m))
        .is_some_and(|p| p.kind == ProviderKind::Anthropic);
    let images = req
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .any(|p| matches!(p, Part::Image { .. }));
    if !anthropic || images {
        return;
    }
    let text = request_text(req);
    let billed = usage.input_tokens;
    tokio::task::spawn_blocking(move || {
        crate::tokens::observe_claude(crate::tokens::count_reference(&text), billed);
    });
}
