//! Answer normalisation and agreement: what a model's answer *says*, reduced to a form two
//! answers can be compared in. Closed-form answers (a choice among the prompt's options, a
//! number, a JSON value, a short entity) agree exactly or not at all; code and free text
//! agree by token Jaccard, so their agreement is graded. Pure functions, no I/O.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

/// What an answer was reduced to.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalized {
    /// Index of the chosen option (0 = "A" or "1").
    Choice(usize),
    /// The prompt asks for a choice and the answer names none (a red flag).
    NoChoice,
    Number(f64),
    Json(Value),
    /// Normalised code tokens (comments and layout removed, defined names anonymised).
    Code(Vec<String>),
    /// A short entity, lower-cased, punctuation and articles removed.
    Entity(String),
    /// Anything longer: its lower-cased word tokens.
    Text(Vec<String>),
    Empty,
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    // The patterns are literals of this file, covered by the tests: a bad one is a bug.
    cell.get_or_init(|| Regex::new(pattern).unwrap_or_else(|e| panic!("bad regex {pattern}: {e}")))
}

/// The options of the prompt's *last* question (few-shot prompts repeat earlier questions
/// with their answers): lines `A) text`, `B. text`, `1) text`, in order.
pub fn options(prompt: &str) -> Vec<String> {
    static OPT: OnceLock<Regex> = OnceLock::new();
    let opt = re(&OPT, r"^\s*\(?([A-Ea-e]|[1-5])[).:]\s+(.+?)\s*$");
    let mut last: Vec<String> = Vec::new();
    let mut current: Vec<(char, String)> = Vec::new();
    for line in prompt.lines() {
        if let Some(c) = opt.captures(line) {
            let label = c[1].chars().next().unwrap_or('A').to_ascii_uppercase();
            let first = matches!(label, 'A' | '1');
            if first && !current.is_empty() {
                last = current.drain(..).map(|(_, t)| t).collect();
            }
            current.push((label, c[2].to_string()));
        }
    }
    if !current.is_empty() {
        last = current.into_iter().map(|(_, t)| t).collect();
    }
    last
}

/// Whether the prompt asks for a single choice among options.
pub fn asks_for_choice(prompt: &str) -> bool {
    let lower = prompt.to_lowercase();
    options(prompt).len() >= 2
        && (lower.contains("single choice")
            || lower.contains("letter of the correct")
            || lower.contains("answer with the letter")
            || lower.contains("choose")
            || lower.trim_end().ends_with("answer:"))
}

/// Whether the prompt asks for code (a function, a program, a snippet).
pub fn asks_for_code(prompt: &str) -> bool {
    static CODE: OnceLock<Regex> = OnceLock::new();
    re(
        &CODE,
        r"(?i)\b(write|implement|create)\b[^.\n]{0,40}\b(function|program|script|class|method|code)\b|\bpython\b|```",
    )
    .is_match(prompt)
}

/// The option an answer chose: a leading label (`B`, `(B)`, `B) wet palms`, `2`), or the
/// text of exactly one option (`Robert`, also a truncated prefix such as `Rober`).
pub fn extract_choice(answer: &str, options: &[String]) -> Option<usize> {
    static LEAD: OnceLock<Regex> = OnceLock::new();
    let lead = re(
        &LEAD,
        r"^\s*(?i:(?:the\s+)?(?:correct\s+)?answer\s*(?:is)?\s*:?\s*)?\(?([A-Ea-e]|[1-5])\)?(?:[\s.:)\]]|$)",
    );
    let a = answer.trim();
    if a.is_empty() || options.is_empty() {
        return None;
    }
    // "A chart shows…" starts with the article, not with option A.
    let article = a.starts_with("A ") && a[2..].starts_with(|c: char| c.is_lowercase());
    if let Some(c) = lead.captures(a).filter(|_| !article) {
        let label = c[1].chars().next().unwrap_or('?');
        let idx = match label {
            'A'..='E' => label as usize - 'A' as usize,
            'a'..='e' if a.len() <= 3 => label as usize - 'a' as usize,
            '1'..='5' => label as usize - '1' as usize,
            _ => usize::MAX,
        };
        if idx < options.len() {
            return Some(idx);
        }
    }
    let norm = entity(a);
    if norm.is_empty() {
        return None;
    }
    let hits: Vec<usize> = options
        .iter()
        .enumerate()
        .filter(|(_, o)| {
            let o = entity(o);
            !o.is_empty() && (o == norm || (norm.len() >= 3 && o.starts_with(&norm)))
        })
        .map(|(i, _)| i)
        .collect();
    (hits.len() == 1).then(|| hits[0])
}

/// Lower case, punctuation to spaces, articles dropped, single spaces.
pub fn entity(s: &str) -> String {
    let cleaned: String = s
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    cleaned
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A number answer: the whole answer is one number (commas, `$`, `%` allowed), or it ends
/// with "answer is N" / "= N" / "#### N".
pub fn extract_number(answer: &str) -> Option<f64> {
    static WHOLE: OnceLock<Regex> = OnceLock::new();
    static TAIL: OnceLock<Regex> = OnceLock::new();
    let whole = re(&WHOLE, r"^\s*\$?\s*(-?[\d,]*\.?\d+)\s*%?\s*\.?\s*$");
    let tail = re(
        &TAIL,
        r"(?i)(?:answer\s+is|answer:|=|####)\s*\$?\s*(-?[\d,]*\.?\d+)\s*%?\s*\.?\s*$",
    );
    let caps = whole.captures(answer).or_else(|| tail.captures(answer))?;
    caps[1].replace(',', "").parse().ok()
}

/// A JSON answer: the answer, or its one fenced block, parses as an object or array.
pub fn extract_json(answer: &str) -> Option<Value> {
    let t = answer.trim();
    let body = fenced_blocks(t)
        .into_iter()
        .next()
        .unwrap_or_else(|| t.to_string());
    let body = body.trim();
    if !(body.starts_with('{') || body.starts_with('[')) {
        return None;
    }
    serde_json::from_str(body).ok()
}

/// The contents of ``` fences (any language tag) and `[PYTHON]…[/PYTHON]` blocks.
pub fn fenced_blocks(answer: &str) -> Vec<String> {
    static FENCE: OnceLock<Regex> = OnceLock::new();
    static TAGS: OnceLock<Regex> = OnceLock::new();
    let fence = re(&FENCE, r"(?s)```[A-Za-z0-9_+-]*[ \t]*\r?\n(.*?)```");
    let tags = re(&TAGS, r"(?s)\[PYTHON\](.*?)\[/PYTHON\]");
    let mut out: Vec<String> = fence
        .captures_iter(answer)
        .map(|c| c[1].to_string())
        .collect();
    if out.is_empty() {
        out = tags
            .captures_iter(answer)
            .map(|c| c[1].to_string())
            .collect();
    }
    out
}

/// The code of an answer: its fenced blocks, or the answer itself when it has none.
pub fn code_of(answer: &str) -> String {
    let blocks = fenced_blocks(answer);
    if blocks.is_empty() {
        answer.to_string()
    } else {
        blocks.join("\n")
    }
}

/// The code with docstrings and block comments replaced by a space.
pub fn strip_docstrings(code: &str) -> String {
    static DOC: OnceLock<Regex> = OnceLock::new();
    re(&DOC, r#"(?s)"""(.*?)"""|'''(.*?)'''|/\*(.*?)\*/"#)
        .replace_all(code, " ")
        .into_owned()
}

/// Code reduced to tokens: comments, docstrings and layout removed; names bound by `def` /
/// `fn` / `function` / `class` replaced by placeholders, so two implementations of the
/// same body under different names compare equal; usage examples (`print(…)`, `assert`,
/// `>>>` lines) dropped, because they are not the function.
pub fn normalize_code(code: &str) -> Vec<String> {
    static LINE_COMMENT: OnceLock<Regex> = OnceLock::new();
    static TOKEN: OnceLock<Regex> = OnceLock::new();
    let line_comment = re(&LINE_COMMENT, r#"(?m)(^|\s)(#|//).*$"#);
    let token = re(
        &TOKEN,
        r#"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|"[^"\n]*"|'[^'\n]*'|==|!=|<=|>=|\*\*|//|->|[^\sA-Za-z0-9_]"#,
    );
    let no_doc = strip_docstrings(code);
    let no_comments = line_comment.replace_all(&no_doc, "$1");
    let kept: Vec<&str> = no_comments
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("print(") || t.starts_with("assert ") || t.starts_with(">>>"))
        })
        .collect();
    let toks: Vec<String> = token
        .find_iter(&kept.join("\n"))
        .map(|m| m.as_str().to_string())
        .collect();
    let mut names: Vec<String> = Vec::new();
    for w in toks.windows(2) {
        if matches!(w[0].as_str(), "def" | "fn" | "function" | "class") && !names.contains(&w[1]) {
            names.push(w[1].clone());
        }
    }
    toks.into_iter()
        .map(|t| match names.iter().position(|n| *n == t) {
            Some(i) => format!("<name{i}>"),
            None => t,
        })
        .collect()
}

/// Reduces an answer to what it says, given the prompt it answers.
pub fn normalize(prompt: &str, answer: &str) -> Normalized {
    let a = answer.trim();
    if a.is_empty() {
        return Normalized::Empty;
    }
    if asks_for_choice(prompt) {
        return match extract_choice(a, &options(prompt)) {
            Some(i) => Normalized::Choice(i),
            None => Normalized::NoChoice,
        };
    }
    if asks_for_code(prompt) || !fenced_blocks(a).is_empty() && a.contains("def ") {
        return Normalized::Code(normalize_code(&code_of(a)));
    }
    if let Some(v) = extract_json(a) {
        return Normalized::Json(v);
    }
    if let Some(n) = extract_number(a) {
        return Normalized::Number(n);
    }
    let e = entity(a);
    if e.split(' ').count() <= 5 {
        return Normalized::Entity(e);
    }
    Normalized::Text(e.split(' ').map(str::to_string).collect())
}

/// Jaccard similarity of two token sets (1 when both are empty).
pub fn jaccard<S: AsRef<str>>(a: &[S], b: &[S]) -> f64 {
    let a: BTreeSet<&str> = a.iter().map(AsRef::as_ref).collect();
    let b: BTreeSet<&str> = b.iter().map(AsRef::as_ref).collect();
    let union = a.union(&b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

/// How far two normalised answers agree, 0..1. Closed forms are exact (numbers within a
/// relative 1e-6); code and free text are token Jaccard; different kinds, a missing choice
/// or an empty answer never agree.
pub fn agreement(a: &Normalized, b: &Normalized) -> f64 {
    use Normalized::*;
    let exact = |same: bool| if same { 1.0 } else { 0.0 };
    match (a, b) {
        (Choice(x), Choice(y)) => exact(x == y),
        (Number(x), Number(y)) => exact((x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0)),
        (Json(x), Json(y)) => exact(x == y),
        (Entity(x), Entity(y)) => exact(x == y),
        (Code(x), Code(y)) => {
            if x == y {
                1.0
            } else {
                jaccard(x, y)
            }
        }
        (Text(x), Text(y)) => jaccard(x, y),
        (Entity(x), Text(y)) | (Text(y), Entity(x)) => {
            let xs: Vec<&str> = x.split(' ').collect();
            jaccard(&xs, &y.iter().map(String::as_str).collect::<Vec<_>>())
        }
        _ => 0.0,
    }
}

/// Agreement of two raw answers to the same prompt.
pub fn agree(prompt: &str, a: &str, b: &str) -> f64 {
    agreement(&normalize(prompt, a), &normalize(prompt, b))
}

/// The recorded answers of RouterBench are Python list literals (`['B\n']`); this returns
/// the text inside (elements joined by newlines), or the input when it is not one.
pub fn unwrap_recorded(s: &str) -> String {
    let t = s.trim();
    if !(t.starts_with('[') && t.ends_with(']')) {
        return s.to_string();
    }
    let inner: Vec<char> = t[1..t.len() - 1].chars().collect();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        if c == '\'' || c == '"' {
            let (text, next) = match python_string(&inner, i) {
                Some(v) => v,
                None => return s.to_string(),
            };
            parts.push(text);
            i = next;
        } else if c == ',' || c.is_whitespace() {
            i += 1;
        } else {
            return s.to_string();
        }
    }
    parts.join("\n")
}

/// Parses one Python string literal starting at `start` (a quote); returns its text and
/// the index after the closing quote.
fn python_string(chars: &[char], start: usize) -> Option<(String, usize)> {
    let quote = chars[start];
    let mut out = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == quote {
            return Some((out, i + 1));
        }
        if c != '\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *chars.get(i + 1)?;
        i += 2;
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            'x' | 'u' | 'U' => {
                let len = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.get(i..i + len)?.iter().collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                i += len;
            }
            other => {
                if !matches!(other, '\\' | '\'' | '"') {
                    out.push('\\');
                }
                out.push(other);
            }
        }
    }
    None
}
