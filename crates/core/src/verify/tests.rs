//! Unit tests of the verify module: normalisation, agreement, red flags, the cascade's
//! accounting and the report's arithmetic (table-driven where there is a table).

use super::answer::{
    agree, extract_choice, normalize, normalize_code, options, unwrap_recorded, Normalized,
};
use super::cascade::{confidence, trace};
use super::flags::{red_flags, RedFlag};
use super::report::{apgr_equivalent, cross_validate, point, Pair, Scored};

const ARC: &str = "Which is renewable?\nA) gas\nB) water\nC) coal\nD) oil\nPrint only a single choice  from \"A\" or \"B\" or \"C\" or \"D\" without explanation.\nAnswer:";
const WINO: &str = "Kyle doesn't wear leg warmers, Logan does. _ lives somewhere colder.\nA) Kyle\nB) Logan\nPrint only a single choice  from \"A\" or \"B\" without explanation. Answer:";
const MBPP: &str =
    "Write a function to apply a given format string to all of the elements in a list.";

#[test]
fn options_are_the_last_questions() {
    let few_shot = format!("Q1?\nA) x\nB) y\nAnswer:\nA\n\n{ARC}");
    assert_eq!(options(&few_shot), vec!["gas", "water", "coal", "oil"]);
    assert_eq!(options("1) red\n2) blue"), vec!["red", "blue"]);
}

#[test]
fn choices_are_extracted() {
    let opts: Vec<String> = ["Robert", "Kyle", "Logan"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let table: &[(&str, Option<usize>)] = &[
        ("B", Some(1)),
        ("B\n", Some(1)),
        ("(C)", Some(2)),
        ("B) Kyle", Some(1)),
        ("The answer is C.", Some(2)),
        ("2", Some(1)),
        ("Rober", Some(0)),
        ("Logan", Some(2)),
        ("logan.", Some(2)),
        ("K", None),
        ("D", None),
        ("A chart of the options", None),
        ("13", None),
        ("", None),
    ];
    for (answer, want) in table {
        assert_eq!(extract_choice(answer, &opts), *want, "{answer:?}");
    }
}

#[test]
fn normalisation_by_kind() {
    let table: &[(&str, &str, Normalized)] = &[
        (ARC, "B\n", Normalized::Choice(1)),
        (ARC, "K", Normalized::NoChoice),
        (WINO, "Logan", Normalized::Choice(1)),
        ("How many?", "1,234", Normalized::Number(1234.0)),
        (
            "How many?",
            "so the answer is 42.",
            Normalized::Number(42.0),
        ),
        (
            "Give JSON",
            "```json\n{\"a\": 1}\n```",
            Normalized::Json(serde_json::json!({"a": 1})),
        ),
        (
            "Capital of France?",
            "The Paris!",
            Normalized::Entity("paris".into()),
        ),
        ("Anything", "   ", Normalized::Empty),
    ];
    for (prompt, answer, want) in table {
        assert_eq!(normalize(prompt, answer), *want, "{prompt:?} / {answer:?}");
    }
}

#[test]
fn agreement_table() {
    let code_a = "Here:\n```python\ndef format_list(lst, f):\n    # apply\n    return [f.format(x) for x in lst]\n```\nExample: print(format_list([1], '{}'))";
    let code_b = "[PYTHON]\ndef apply_fmt(lst, f):\n    \"\"\"Doc.\"\"\"\n    return [f.format(x)   for x in lst]\n[/PYTHON]";
    let code_c = "```python\ndef apply(fmt, items):\n    out = []\n    for it in items:\n        out.append(fmt % it)\n    return out\n```";
    let table: &[(&str, &str, &str, f64)] = &[
        (ARC, "B", "B\n", 1.0),
        (ARC, "B", "B) water", 1.0),
        (ARC, "B", "water", 1.0),
        (ARC, "B", "C", 0.0),
        (ARC, "K", "K", 0.0),
        (WINO, "Logan", "B", 1.0),
        ("How many?", "42", "42.0", 1.0),
        ("How many?", "42", "43", 0.0),
        (
            "Give JSON",
            "{\"a\":1,\"b\":2}",
            "{\"b\": 2, \"a\": 1}",
            1.0,
        ),
        ("Capital?", "Paris", "paris.", 1.0),
        (MBPP, code_a, code_b, 1.0),
        (MBPP, "", code_b, 0.0),
    ];
    for (prompt, a, b, want) in table {
        let got = agree(prompt, a, b);
        assert!((got - want).abs() < 1e-9, "{a:?} vs {b:?}: {got}");
    }
    let partial = agree(MBPP, code_a, code_c);
    assert!(partial > 0.1 && partial < 0.8, "{partial}");
}

#[test]
fn code_normalisation_drops_comments_layout_names_and_examples() {
    let a = normalize_code("def f(x):\n    # c\n    return x+1\nprint(f(2))");
    let b = normalize_code("def g(x):  // c\n  return x + 1  # more\n");
    assert_eq!(a, b);
}

#[test]
fn recorded_answers_are_unwrapped() {
    let table: &[(&str, &str)] = &[
        ("['B\\n']", "B\n"),
        ("[\"It's \\\"x\\\"\"]", "It's \"x\""),
        ("['a', 'b']", "a\nb"),
        ("['\\x41\\u00e9']", "Aé"),
        ("plain text", "plain text"),
        ("[1, 2]", "[1, 2]"),
    ];
    for (raw, want) in table {
        assert_eq!(unwrap_recorded(raw), *want, "{raw:?}");
    }
}

#[test]
fn red_flag_table() {
    let truncated = "```python\ndef f(xs):\n    return [x for x in xs";
    let complete = "```python\ndef f(xs):\n    return [x for x in xs]\n```";
    let table: &[(&str, &str, &[RedFlag])] = &[
        (ARC, "", &[RedFlag::Empty]),
        (ARC, "B", &[]),
        (
            ARC,
            "I cannot answer that.",
            &[RedFlag::Refusal, RedFlag::NoValidChoice],
        ),
        (
            "Tell me a joke",
            "As an AI, I do not joke.",
            &[RedFlag::Refusal],
        ),
        (
            "Tell me a joke",
            "Sure! Here is one: I can't stop laughing.",
            &[],
        ),
        ("Tell me a joke", "I’m sorry, but no.", &[RedFlag::Refusal]),
        ("Tell me a joke", "I'm sorry, but no.", &[RedFlag::Refusal]),
        (ARC, "K", &[RedFlag::NoValidChoice]),
        (MBPP, truncated, &[RedFlag::TruncatedCode]),
        (MBPP, complete, &[]),
        (MBPP, "```python\ndef f(x):\n```", &[RedFlag::TruncatedCode]),
        (MBPP, "```python\ns = '(('\nreturn s\n```", &[]),
        (
            "Answer in valid JSON.",
            "{\"a\": 1",
            &[RedFlag::InvalidJson],
        ),
    ];
    for (prompt, answer, want) in table {
        assert_eq!(red_flags(prompt, answer), *want, "{answer:?}");
    }
}

#[test]
fn confidence_is_zero_on_a_red_flag_whatever_the_checker_says() {
    assert_eq!(confidence(ARC, "B", &["B"]), 1.0);
    assert_eq!(confidence(ARC, "B", &["C"]), 0.0);
    assert_eq!(confidence(ARC, "B", &["C", "B"]), 1.0);
    assert_eq!(confidence(ARC, "K", &["K"]), 0.0);
    assert_eq!(confidence(ARC, "B", &[]), 0.0);
}

fn ladder(ms: &[&str]) -> Vec<String> {
    ms.iter().map(|s| s.to_string()).collect()
}

/// (answers of w, c, m, s; checker; threshold; expected calls; expected answered_by)
#[test]
fn cascade_accounting_table() {
    type Case = (
        [&'static str; 4],
        Option<&'static str>,
        f64,
        &'static [&'static str],
        &'static str,
    );
    let l = ladder(&["w", "m", "s"]);
    let cases: &[Case] = &[
        // default checker = second rung; agreement → the first rung, two calls
        (["B", "", "B", "C"], None, 0.5, &["w", "m"], "w"),
        // disagreement → m was already called as the checker; m agrees with nobody → s
        (["B", "", "C", "C"], None, 0.5, &["w", "m", "s"], "s"),
        // threshold 0 never escalates; above 1 always does
        (["B", "", "C", "C"], None, 0.0, &["w", "m"], "w"),
        (["B", "", "B", "B"], None, 1.01, &["w", "m", "s"], "s"),
        // a separate checker: w vs c disagree → call m, m agrees with c → m
        (["B", "C", "C", "D"], Some("c"), 0.5, &["w", "c", "m"], "m"),
        // m agrees with w (not with c) → m is trusted on that agreement
        (["B", "C", "B", "D"], Some("c"), 0.5, &["w", "c", "m"], "m"),
        // nobody agrees → the top rung, every call counted once
        (
            ["A", "C", "B", "D"],
            Some("c"),
            0.5,
            &["w", "c", "m", "s"],
            "s",
        ),
        // red flag on the first rung escalates even when the checker "agrees"
        (
            ["K", "K", "B", "D"],
            Some("c"),
            0.5,
            &["w", "c", "m", "s"],
            "s",
        ),
        (["K", "B", "B", "D"], Some("c"), 0.5, &["w", "c", "m"], "m"),
        // the checker is the top rung: its answer is in hand and trusted, so escalating
        // serves it without calling the rungs in between
        (["A", "", "", "B"], Some("s"), 0.5, &["w", "s"], "s"),
    ];
    for (answers, checker, t, calls, by) in cases {
        let get = |m: &str| match m {
            "w" => Some(answers[0]),
            "c" => Some(answers[1]),
            "m" => Some(answers[2]),
            "s" => Some(answers[3]),
            _ => None,
        };
        let tr = trace(ARC, &l, 0, *checker, get);
        let o = tr.decide(*t);
        assert_eq!(o.calls, ladder(calls), "{answers:?} {checker:?} {t}");
        assert_eq!(o.answered_by, *by, "{answers:?} {checker:?} {t}");
        assert_eq!(o.escalated, *by != "w");
    }
}

#[test]
fn cascade_starting_higher_skips_lower_rungs() {
    let l = ladder(&["w", "m", "s"]);
    let get = |m: &str| Some(if m == "w" { "A" } else { "B" });
    // start at m: the checker (default m) is the start itself, so s checks
    let o = trace(ARC, &l, 1, None, get).decide(0.5);
    assert_eq!(
        (o.calls, o.answered_by),
        (ladder(&["m", "s"]), "m".to_string())
    );
    // start at the top: one call, trusted
    let o = trace(ARC, &l, 2, None, get).decide(0.5);
    assert_eq!((o.calls, o.answered_by), (ladder(&["s"]), "s".to_string()));
    // a missing answer is empty: flagged, escalated
    let o = trace(ARC, &l, 0, None, |m| (m != "w").then_some("B")).decide(0.5);
    assert_eq!(o.answered_by, "s");
}

fn scored(answers: [&str; 2], scores: [f64; 2], fold: usize) -> Scored {
    let l = ladder(&["w", "s"]);
    let tr = trace(ARC, &l, 0, Some("c"), |m| {
        Some(match m {
            "w" => answers[0],
            _ => answers[1],
        })
    });
    Scored {
        trace: tr,
        fold,
        models: vec![
            ("w".into(), scores[0], 1.0),
            ("c".into(), 0.0, 1.0),
            ("s".into(), scores[1], 10.0),
        ],
    }
}

#[test]
fn report_accounting() {
    // two rows: one agreed (kept cheap), one disagreed (escalated)
    let rows = [
        scored(["B", "B"], [1.0, 1.0], 0),
        scored(["B", "C"], [0.0, 1.0], 1),
    ];
    let refs: Vec<&Scored> = rows.iter().collect();
    let p = point(&refs, 0.5, 20.0, "s");
    assert_eq!(p.quality, 1.0);
    assert_eq!(p.cost_share, (2.0 + 12.0) / 20.0);
    assert_eq!(p.escalation_share, 0.5);
    assert_eq!(p.calls_per_request, 2.5);
    assert_eq!(p.top_share, 0.5);
    let cv = cross_validate(&rows, &[0.0, 0.5, 1.01], 2, 1.0, "s", "s");
    assert_eq!(cv.thresholds.len(), 2);
    assert!(cv.cost_share <= 1.0 + 1e-9);
}

#[test]
fn apgr_equivalent_of_random_and_perfect_curves() {
    let pair = Pair {
        weak_quality: 0.5,
        strong_quality: 1.0,
        weak_cost_share: 0.2,
    };
    // random routing: the straight line from the weak model to the strong one
    let (a, n) = apgr_equivalent(&[(0.6, 0.75)], &pair);
    assert!(
        (a - 0.4).abs() < 1e-12 && (n - 0.5).abs() < 1e-12,
        "{a} {n}"
    );
    // all the gap at the weak model's cost
    let (a, n) = apgr_equivalent(&[(0.2, 1.0)], &pair);
    assert!(
        (a - 0.8).abs() < 1e-12 && (n - 1.0).abs() < 1e-12,
        "{a} {n}"
    );
    // points above the strong model's cost are dropped
    let (a, _) = apgr_equivalent(&[(1.5, 1.0)], &pair);
    assert!((a - 0.4).abs() < 1e-12);
}
