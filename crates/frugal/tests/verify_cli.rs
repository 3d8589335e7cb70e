//! `frugal verify` through the binary on a small fixture of recorded answers: the per-row
//! contract (one JSON line per row and threshold, exactly `id`, `threshold`, `calls`,
//! `answered_by`), red flags escalating at any threshold, and the `--report --json` figures.

use std::path::PathBuf;
use std::process::Command;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/verify_rows.jsonl")
}

fn frugal(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_frugal"))
        .args(args)
        .output()
        .expect("run frugal");
    assert!(
        out.status.success(),
        "frugal {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn per_row_lines_follow_the_contract() {
    let path = fixture();
    let stdout = frugal(&[
        "verify",
        "--batch",
        path.to_str().expect("path"),
        "--ladder",
        "weak,strong",
        "--checker",
        "check",
        "--threshold",
        "0.5",
        "--threshold",
        "0",
    ]);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 7 * 2);
    // the exact key order of the contract
    let first = stdout.lines().next().expect("a line");
    assert!(
        first.starts_with("{\"id\":\"arc-agree\",\"threshold\":0.5,\"calls\":[\"weak\",\"check\"],\"answered_by\":\"weak\"}"),
        "{first}"
    );
    let by = |id: &str, t: f64| {
        lines
            .iter()
            .find(|l| l["id"] == id && l["threshold"] == t)
            .unwrap_or_else(|| panic!("{id} at {t}"))
            .clone()
    };
    let cheap = serde_json::json!(["weak", "check"]);
    let full = serde_json::json!(["weak", "check", "strong"]);
    let expected = [
        ("arc-agree", "weak", "weak"),
        ("arc-disagree", "strong", "weak"),
        ("wino-option-text", "weak", "weak"),
        ("wino-invalid-choice", "strong", "strong"),
        ("mbpp-same-code", "weak", "weak"),
        ("mbpp-truncated", "strong", "strong"),
        ("refusal", "strong", "strong"),
    ];
    for (id, at_half, at_zero) in expected {
        for (t, want) in [(0.5, at_half), (0.0, at_zero)] {
            let l = by(id, t);
            assert_eq!(l["answered_by"], want, "{id} at {t}");
            let calls = if want == "strong" { &full } else { &cheap };
            assert_eq!(&l["calls"], calls, "{id} at {t}");
            assert_eq!(l.as_object().map(|o| o.len()), Some(4));
        }
    }
}

#[test]
fn report_counts_every_call() {
    let path = fixture();
    let stdout = frugal(&[
        "verify",
        "--batch",
        path.to_str().expect("path"),
        "--ladder",
        "weak,strong",
        "--checker",
        "check",
        "--threshold",
        "0.5",
        "--report",
        "--json",
        "--folds",
        "2",
        "--budget",
        "1",
    ]);
    let r: serde_json::Value = serde_json::from_str(&stdout).expect("report JSON");
    assert_eq!(r["rows"], 7);
    let p = &r["sweep"][0];
    // 7 rows × (weak + check) + 4 escalations × strong, over 7 × strong
    let want_cost = (7.0 * 0.003 + 4.0 * 0.01) / (7.0 * 0.01);
    assert!((p["cost_share"].as_f64().expect("cost") - want_cost).abs() < 1e-9);
    assert!((p["quality"].as_f64().expect("quality") - 1.0).abs() < 1e-9);
    assert!((p["escalation_share"].as_f64().expect("esc") - 4.0 / 7.0).abs() < 1e-9);
    assert!((p["calls_per_request"].as_f64().expect("calls") - 18.0 / 7.0).abs() < 1e-9);
    assert!(r["apgr_eq"].as_f64().is_some());
}

/// `frugal eval --cascade` is the verify report under the evaluation command's name.
#[test]
fn eval_cascade_prints_the_verify_report() {
    let path = fixture();
    let path = path.to_str().expect("path");
    let by_eval = frugal(&["eval", "--data", path, "--cascade", "weak,strong", "--json"]);
    let by_verify = frugal(&[
        "verify",
        "--batch",
        path,
        "--ladder",
        "weak,strong",
        "--report",
        "--json",
    ]);
    let a: serde_json::Value = serde_json::from_str(&by_eval).expect("report JSON");
    let b: serde_json::Value = serde_json::from_str(&by_verify).expect("report JSON");
    assert_eq!(a, b);
    assert_eq!(a["rows"], 7);
}
