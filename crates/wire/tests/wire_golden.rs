//! Golden-file tests for the wire conversions. Each case directory under
//! `tests/golden/<client>_to_<provider>/<case>/` holds inputs and expected outputs:
//!
//! - `<client>_request.json` → `<provider>_request.json` (client request → upstream body,
//!   through `parse_request` + `build_request`), or `error.txt` when the conversion must
//!   fail (`<Variant>: <message>`); `untranslatable.json` lists what
//!   `untranslatable_fields` must report (absent = nothing);
//! - `<provider>_response.json` → `<client>_response.json` (`parse_response` +
//!   `render_response`; OpenAI `created` and Responses `created_at` are normalised to 0);
//! - `<provider>_stream.sse` → `<client>_stream.sse` (SSE decoded in small pieces,
//!   `StreamDecoder` → `StreamRenderer`; OpenAI `created` and Responses `created_at`
//!   fixed to 1700000000; the
//!   client's `include_usage` comes from `<client>_request.json` when there is one).
//!
//! `UPDATE_GOLDEN=1 cargo test -p frugal-wire --test wire_golden` rewrites expected files;
//! every expected file is hand-checked against the real APIs' documented shapes.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use frugal_wire::error::WireError;
use frugal_wire::sse::SseDecoder;
use frugal_wire::types::{ChatRequest, ChatResponse, Format, StreamEvent};
use frugal_wire::{self as wire, BuildOptions};
use serde_json::Value;

const CREATED: u64 = 1_700_000_000;
const OPTS: BuildOptions = BuildOptions {
    default_max_tokens: 4096,
};

fn name(f: Format) -> &'static str {
    f.as_str()
}

fn build_request(f: Format, req: &ChatRequest) -> Result<Value, WireError> {
    let model = match f {
        Format::OpenAi => "gpt-4o-2024-08-06",
        Format::Anthropic => "claude-sonnet-4-5-20250929",
        Format::Responses => "gpt-5-codex",
    };
    wire::build_request(f, req, model, &OPTS)
}

fn render_response(f: Format, r: &ChatResponse) -> Value {
    let mut v = wire::render_response(f, r);
    match f {
        Format::OpenAi => v["created"] = Value::from(0),
        Format::Responses => v["created_at"] = Value::from(0),
        Format::Anthropic => {}
    }
    v
}

fn variant(e: &WireError) -> String {
    let kind = match e {
        WireError::InvalidRequest(_) => "InvalidRequest",
        WireError::Untranslatable(_) => "Untranslatable",
        WireError::Internal(m) => return format!("Internal: {m}"),
    };
    format!("{kind}: {e}")
}

/// Provider SSE → client SSE, feeding the bytes in 7-byte pieces.
fn convert_stream(
    client: Format,
    provider: Format,
    sse: &str,
    include_usage: bool,
) -> Result<String, WireError> {
    let mut dec = wire::StreamDecoder::new(provider);
    let mut ren = wire::StreamRenderer::new(client, include_usage).with_created(CREATED);
    let mut sse_dec = SseDecoder::new();
    let mut events = Vec::new();
    for piece in sse.as_bytes().chunks(7) {
        events.extend(sse_dec.push(piece));
    }
    events.extend(sse_dec.finish());
    let mut out: Vec<Bytes> = Vec::new();
    for ev in &events {
        let neutral: Vec<StreamEvent> = dec.decode(ev)?;
        for n in &neutral {
            out.extend(ren.render(n));
        }
    }
    Ok(out
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect())
}

struct Case {
    dir: PathBuf,
    update: bool,
    failures: Vec<String>,
}

impl Case {
    fn read(&self, file: &str) -> Option<String> {
        fs::read_to_string(self.dir.join(file)).ok()
    }

    fn json(&mut self, file: &str) -> Option<Value> {
        let text = self.read(file)?;
        match serde_json::from_str(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(format!("{file}: invalid JSON: {e}"));
                None
            }
        }
    }

    fn fail(&mut self, msg: String) {
        self.failures.push(format!("{}: {msg}", self.dir.display()));
    }

    fn expect_json(&mut self, file: &str, got: &Value) {
        let pretty = serde_json::to_string_pretty(got).unwrap_or_default() + "\n";
        self.expect_with(file, &pretty, |want| {
            serde_json::from_str::<Value>(want).ok().as_ref() == Some(got)
        });
    }

    fn expect_text(&mut self, file: &str, got: &str) {
        self.expect_with(file, got, |want| want == got);
    }

    fn expect_with(&mut self, file: &str, got: &str, same: impl Fn(&str) -> bool) {
        match self.read(file) {
            Some(want) if same(&want) => {}
            _ if self.update => {
                if let Err(e) = fs::write(self.dir.join(file), got) {
                    self.fail(format!("cannot write {file}: {e}"));
                }
            }
            Some(want) => self.fail(format!(
                "{file} differs\n--- expected\n{want}\n--- got\n{got}"
            )),
            None => self.fail(format!("{file} is missing; got\n{got}")),
        }
    }

    fn remove(&mut self, file: &str) {
        if self.update && self.dir.join(file).exists() {
            let _ = fs::remove_file(self.dir.join(file));
        } else if !self.update && self.dir.join(file).exists() {
            self.fail(format!(
                "{file} exists but the conversion produced no such output"
            ));
        }
    }

    fn run(&mut self, client: Format, provider: Format) {
        let (c, p) = (name(client), name(provider));
        let client_request = self.json(&format!("{c}_request.json"));
        if let Some(body) = &client_request {
            let fields = wire::untranslatable_fields(client, body);
            if !fields.is_empty() || self.read("untranslatable.json").is_some() {
                self.expect_json("untranslatable.json", &Value::from(fields));
            }
            match wire::parse_request(client, body).and_then(|req| build_request(provider, &req)) {
                Ok(upstream) => {
                    self.remove("error.txt");
                    self.expect_json(&format!("{p}_request.json"), &upstream);
                }
                Err(e) => {
                    self.remove(&format!("{p}_request.json"));
                    self.expect_text("error.txt", &(variant(&e) + "\n"));
                }
            }
        }
        if let Some(body) = self.json(&format!("{p}_response.json")) {
            match wire::parse_response(provider, &body) {
                Ok(resp) => self.expect_json(
                    &format!("{c}_response.json"),
                    &render_response(client, &resp),
                ),
                Err(e) => self.fail(format!("{p}_response.json: {}", variant(&e))),
            }
        }
        if let Some(sse) = self.read(&format!("{p}_stream.sse")) {
            let include_usage = match &client_request {
                Some(r) => r
                    .pointer("/stream_options/include_usage")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                None => true,
            };
            match convert_stream(client, provider, &sse, include_usage) {
                Ok(out) => self.expect_text(&format!("{c}_stream.sse"), &out),
                Err(e) => self.fail(format!("{p}_stream.sse: {}", variant(&e))),
            }
        }
    }
}

fn case_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

#[test]
fn golden_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let directions = [
        ("openai_to_anthropic", Format::OpenAi, Format::Anthropic),
        ("anthropic_to_openai", Format::Anthropic, Format::OpenAi),
        (
            "responses_to_anthropic",
            Format::Responses,
            Format::Anthropic,
        ),
        ("responses_to_openai", Format::Responses, Format::OpenAi),
        ("openai_to_responses", Format::OpenAi, Format::Responses),
        (
            "anthropic_to_responses",
            Format::Anthropic,
            Format::Responses,
        ),
    ];
    let mut failures = Vec::new();
    let mut ran = 0;
    for (dir, client, provider) in directions {
        for case_dir in case_dirs(&root.join(dir)) {
            let mut case = Case {
                dir: case_dir,
                update,
                failures: Vec::new(),
            };
            case.run(client, provider);
            failures.append(&mut case.failures);
            ran += 1;
        }
    }
    assert!(
        ran >= 10,
        "expected golden cases under {}, found {ran}",
        root.display()
    );
    assert!(
        failures.is_empty(),
        "{} golden failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
