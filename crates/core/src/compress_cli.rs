//! `frugal compress FILE`: compress one request body (or a conversation file turned into
//! one) with the configured passes, report bytes and o200k tokens per pass, write the
//! compressed request, and with `--check` verify the lossless guarantees on it. The
//! compression itself lives in `pipeline::compress`; this is only the command around it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use crate::pipeline::compress::{check, compress_body, CompressConfig, CompressReport};
use crate::tokens::count_reference;
use crate::types::Format;

#[derive(Args, Debug)]
pub struct CompressArgs {
    #[command(flatten)]
    pub config: crate::config::ConfigArg,
    /// A request body (OpenAI or Anthropic), a message array, a tau-bench row (`traj`) or
    /// a ShareGPT row (`conversations`).
    pub file: PathBuf,
    /// Verify the lossless guarantees (JSON values, code fences, idempotence, prefix
    /// stability); exit 1 if one fails.
    #[arg(long)]
    pub check: bool,
    /// Where to write the compressed request (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The body's wire format (default: guessed from its shape).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Openai,
    Anthropic,
}

pub fn run(args: &CompressArgs) -> anyhow::Result<()> {
    let cfg = args.config.load()?.compression;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let input: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.file.display()))?;
    let (format, original) = to_request(input, args.format)?;
    let cfg = CompressConfig {
        count_tokens: true,
        ..cfg
    };
    let mut body = original.clone();
    let report = compress_body(format, &mut body, &cfg);
    print_report(format, &original, &body, &report);
    let out = serde_json::to_string_pretty(&body)?;
    match &args.out {
        Some(p) => std::fs::write(p, out + "\n")
            .with_context(|| format!("cannot write {}", p.display()))?,
        None => writeln!(std::io::stdout(), "{out}")?,
    }
    if args.check {
        let c = check::check(format, &original, &body, &cfg);
        eprintln!(
            "check: {} strings, {} JSON parts, {} code fences, {} prefixes verified",
            c.strings, c.json_parts, c.fences, c.prefixes
        );
        if !c.ok() {
            for p in &c.problems {
                eprintln!("  FAIL {p}");
            }
            anyhow::bail!("{} lossless guarantee(s) violated", c.problems.len());
        }
        eprintln!("check: OK (lossless, idempotent, prefix-stable)");
    }
    Ok(())
}

/// Turn any accepted input into (format, request body).
pub fn to_request(input: Value, format: Option<FormatArg>) -> anyhow::Result<(Format, Value)> {
    let body = match input {
        Value::Array(messages) => json!({"model": "auto", "messages": messages}),
        Value::Object(mut o) => {
            if let Some(traj) = o.remove("traj") {
                json!({"model": "auto", "messages": traj})
            } else if let Some(Value::Array(conv)) = o.remove("conversations") {
                let messages: Vec<Value> = conv
                    .iter()
                    .map(|t| {
                        let role = match t.get("from").and_then(Value::as_str) {
                            Some("gpt") | Some("assistant") => "assistant",
                            Some("system") => "system",
                            _ => "user",
                        };
                        json!({"role": role, "content": t.get("value").cloned().unwrap_or_default()})
                    })
                    .collect();
                json!({"model": "auto", "messages": messages})
            } else if o.contains_key("messages") {
                Value::Object(o)
            } else {
                anyhow::bail!("expected a request body with `messages`, a message array, `traj` or `conversations`");
            }
        }
        _ => anyhow::bail!("expected a JSON object or array"),
    };
    let format = match format {
        Some(FormatArg::Openai) => Format::OpenAi,
        Some(FormatArg::Anthropic) => Format::Anthropic,
        None => guess_format(&body),
    };
    Ok((format, body))
}

/// Anthropic if it has a top-level `system` or Anthropic-only blocks; OpenAI otherwise.
fn guess_format(body: &Value) -> Format {
    let anthropic_block = body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("content").and_then(Value::as_array))
        .flatten()
        .any(|b| {
            matches!(
                b.get("type").and_then(Value::as_str),
                Some("tool_use" | "tool_result" | "thinking")
            )
        });
    if body.get("system").is_some() || anthropic_block {
        Format::Anthropic
    } else {
        Format::OpenAi
    }
}

fn print_report(format: Format, original: &Value, body: &Value, r: &CompressReport) {
    let total = |v: &Value| -> (u64, u64) {
        check::strings(format, v)
            .iter()
            .fold((0, 0), |(b, t), (_, s)| {
                (b + s.len() as u64, t + count_reference(s))
            })
    };
    let (b0, t0) = total(original);
    let (b1, t1) = total(body);
    eprintln!("format: {}   tokens: o200k_base", format.as_str());
    eprintln!(
        "{:<12} {:>8} {:>12} {:>12} {:>10} {:>10} {:>8}",
        "pass", "changed", "bytes before", "bytes after", "tok before", "tok after", "saved"
    );
    for (name, p) in r.passes() {
        eprintln!(
            "{:<12} {:>8} {:>12} {:>12} {:>10} {:>10} {:>7.1}%",
            name,
            p.changed,
            p.bytes_before,
            p.bytes_after,
            p.tokens_before,
            p.tokens_after,
            pct(p.tokens_saved(), p.tokens_before)
        );
    }
    eprintln!(
        "{:<12} {:>8} {:>12} {:>12} {:>10} {:>10} {:>7.1}%",
        "all text",
        "",
        b0,
        b1,
        t0,
        t1,
        pct(t0.saturating_sub(t1), t0)
    );
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}
