//! Stage-1 features: fifteen cheap, format-neutral measurements of a prompt (length,
//! numbers, maths, code, reasoning and analysis cues, answer-option shape, word rarity,
//! question form). Definitions follow research/classifier/FINDINGS.md, where each was
//! measured; features that identify a benchmark rather than difficulty (option counts,
//! line counts) are deliberately absent. One pass of a few compiled regexes per prompt.

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::Regex;

/// Feature names, in the order of `Features::values`.
pub const NAMES: [&str; 15] = [
    "log_chars",
    "log_numbers",
    "digit_rate",
    "math_symbols",
    "latex",
    "steps",
    "code",
    "analyse",
    "opt_similarity",
    "opt_numeric",
    "oov_rate",
    "quotes",
    "scenario",
    "negation",
    "lookup_q",
];

pub const COUNT: usize = NAMES.len();

pub type Features = [f64; COUNT];

struct Patterns {
    word: Regex,
    num: Regex,
    option: Regex,
    math: Regex,
    code: Regex,
    negation: Regex,
    steps: Regex,
    analyse: Regex,
    lookup: Regex,
    scenario: Regex,
    numeric_option: Regex,
    which_following: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        // The patterns are constants; a typo is a programming error caught by the tests.
        // Word boundaries are ASCII (`(?-u:\b)`): Unicode ones force the slow engine.
        let re = |p: &str| Regex::new(p).unwrap_or_else(|e| panic!("feature regex {p}: {e}"));
        Patterns {
            word: re(r"[A-Za-z]+(?:'[a-z]+)?"),
            num: re(r"[-+]?\d+(?:[.,]\d+)*(?:/\d+)?%?"),
            option: re(r"(?m)^\s*\(?([A-Ha-h]|[1-8])[.):]\s+(.*)$"),
            math: re(r"[=+*/^<>≤≥≠±×÷√∑∫∞πθλμσΔ∂$]|\\(?:frac|sqrt|sum|int|cdot|times|le|ge|pi|alpha|beta|theta|mathbb|left|right)"),
            code: re(r"(?m)```|(?-u:\b)def \w+\(|(?-u:\b)return(?-u:\b)|(?-u:\b)class \w+|;\s*$|\{\s*$|#include|(?-u:\b)import \w+|=>|(?-u:\b)function(?-u:\b)|(?-u:\b)print\("),
            negation: re(r"(?-u:\b)(?:NOT|EXCEPT|LEAST|FALSE|INCORRECT|never|not|except|least|false|incorrect|cannot|neither|nor)(?-u:\b)"),
            steps: re(r"(?i)(?-u:\b)(?:then|after|before|first|second|finally|each|total|remaining|twice|half|times|per|if|suppose|assume|given|calculate|compute|find|determine|how many|how much|what is the (?:value|probability|number)|solve|prove|derive|estimate)(?-u:\b)"),
            analyse: re(r"(?i)(?-u:\b)(?:explain|why|analy[sz]e|compare|contrast|evaluate|justify|discuss|argue|critique|implications?|trade-?offs?|design|optimi[sz]e|debug|refactor|implement|step[- ]by[- ]step|in detail|essay|proof)(?-u:\b)"),
            lookup: re(r"(?i)^\s*(?:who|what|when|where|which)(?-u:\b)"),
            scenario: re(r"(?i)(?-u:\b)(?:suppose|assume|consider|imagine|a (?:man|woman|person|company|student|patient|plaintiff|defendant|firm|state))(?-u:\b)"),
            numeric_option: re(r"^[-+$]?[\d.,/%\s]+\w{0,6}$"),
            which_following: re(r"(?i)which of the following"),
        }
    })
}

/// Whole words the vocabulary knows; used for the rarity feature.
pub trait Vocabulary {
    fn contains_word(&self, lowercase_word: &str) -> bool;
}

impl<S: std::hash::BuildHasher> Vocabulary for HashSet<String, S> {
    fn contains_word(&self, w: &str) -> bool {
        self.contains(w)
    }
}

/// FNV-1a: vocabulary look-ups hash short words, where SipHash's setup dominates.
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
}

pub type FnvBuild = std::hash::BuildHasherDefault<Fnv>;

/// Split a trailing run of labelled answer options (A., B., … or 1., 2., …) from the stem.
fn split_options<'t>(text: &'t str, p: &Patterns) -> (&'t str, Vec<&'t str>) {
    let mut run: Vec<(usize, char, &str)> = vec![];
    for cap in p.option.captures_iter(text) {
        let (Some(all), Some(label), Some(body)) = (cap.get(0), cap.get(1), cap.get(2)) else { continue };
        let l = label.as_str().chars().next().unwrap_or(' ').to_ascii_uppercase();
        let next = run.last().is_some_and(|(_, prev, _)| (*prev as u32) + 1 == l as u32);
        if l == 'A' || l == '1' {
            run = vec![(all.start(), l, body.as_str().trim())];
        } else if next {
            run.push((all.start(), l, body.as_str().trim()));
        }
    }
    if run.len() < 2 {
        return (text, vec![]);
    }
    (&text[..run[0].0], run.into_iter().map(|(_, _, b)| b).collect())
}

fn jaccard(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let inter = a.intersection(b).count() as f64;
    inter / ((a.len() + b.len()) as f64 - inter)
}

fn ln1p(n: usize) -> f64 {
    (n as f64).ln_1p()
}

/// Count numbers not glued to a preceding letter ("x2" is a name, not a number).
fn count_numbers(text: &str, p: &Patterns) -> usize {
    p.num
        .find_iter(text)
        .filter(|m| !text[..m.start()].chars().next_back().is_some_and(|c| c.is_ascii_alphabetic()))
        .count()
}

/// Compute the features of one prompt.
pub fn extract(text: &str, vocab: &dyn Vocabulary) -> Features {
    let p = patterns();
    let (stem, options) = split_options(text, p);
    let chars = text.chars().count();
    let words: Vec<&str> = p.word.find_iter(text).map(|m| m.as_str()).collect();
    let n_words = words.len().max(1) as f64;
    let mut lower = String::new();
    let oov = words
        .iter()
        .filter(|w| {
            lower.clear();
            lower.extend(w.chars().map(|c| c.to_ascii_lowercase()));
            !vocab.contains_word(&lower)
        })
        .count() as f64;
    let digits = text.chars().filter(char::is_ascii_digit).count();
    let (opt_similarity, opt_numeric) = if options.is_empty() {
        (0.0, 0.0)
    } else {
        let sets: Vec<HashSet<String>> = options
            .iter()
            .map(|o| p.word.find_iter(&o.to_lowercase()).map(|m| m.as_str().to_string()).collect())
            .collect();
        let mut sims = vec![];
        for i in 0..sets.len() {
            for j in i + 1..sets.len() {
                sims.push(jaccard(&sets[i], &sets[j]));
            }
        }
        let numeric = options.iter().filter(|o| p.numeric_option.is_match(o)).count();
        (sims.iter().sum::<f64>() / sims.len() as f64, numeric as f64 / options.len() as f64)
    };
    let quotes = text.chars().filter(|c| matches!(c, '"' | '“' | '”')).count();
    [
        ln1p(chars),
        ln1p(count_numbers(text, p)),
        digits as f64 / chars.max(1) as f64,
        ln1p(p.math.find_iter(text).count()),
        f64::from(u8::from(text.contains('\\') || text.contains('$'))),
        ln1p(p.steps.find_iter(stem).count()),
        ln1p(p.code.find_iter(text).count()),
        ln1p(p.analyse.find_iter(text).count()),
        opt_similarity,
        opt_numeric,
        oov / n_words,
        ln1p(quotes),
        f64::from(u8::from(p.scenario.is_match(stem))),
        ln1p(p.negation.find_iter(stem).count()),
        f64::from(u8::from(p.lookup.is_match(stem) && !p.which_following.is_match(stem))),
    ]
}

/// High-precision hand rules that hold whatever the learned weights say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandRule {
    /// A short greeting or thanks: the cheapest tier answers it.
    Greeting,
    /// Code to read or write: never the simple tier.
    Code,
}

pub fn hand_rule(text: &str) -> Option<HandRule> {
    let lower = text.trim().to_lowercase();
    const GREETINGS: [&str; 9] =
        ["hi", "hello", "hey", "thanks", "thank you", "good morning", "good evening", "bye", "ok thanks"];
    let short = lower.chars().count() <= 40;
    // "hi" but not "history": the greeting must end at a non-alphanumeric character.
    let greeting = GREETINGS.iter().any(|g| {
        lower.strip_prefix(g).is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric()))
    });
    if short && greeting {
        return Some(HandRule::Greeting);
    }
    let code_words = ["write a function", "implement a", "refactor", "fix this bug", "write code", "unit test"];
    if text.contains("```") || code_words.iter().any(|w| lower.contains(w)) {
        return Some(HandRule::Code);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> HashSet<String> {
        ["what", "is", "the", "capital", "of", "france", "a", "b", "c", "d"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lookup_question() {
        let f = extract("What is the capital of France?", &vocab());
        assert_eq!(f[14], 1.0, "lookup_q");
        assert_eq!(f[10], 0.0, "every word known");
        assert!((f[0] - (30f64).ln_1p()).abs() < 1e-9);
    }

    #[test]
    fn options_math_and_numbers() {
        let text = "Let p = (1, 2, 5, 4)(2, 3) in S_5. Find the index of <p> in S_5.\nA. 8\nB. 2\nC. 24\nD. 120";
        let f = extract(text, &vocab());
        assert_eq!(f[9], 1.0, "all options numeric");
        assert!(f[1] > 2.0, "numbers counted");
        assert!(f[3] > 0.0, "math symbols");
        assert!(f[5] > 0.0, "'find' is a step cue");
        let (stem, opts) = split_options(text, patterns());
        assert_eq!(opts, vec!["8", "2", "24", "120"]);
        assert!(stem.ends_with("S_5.\n"));
    }

    #[test]
    fn option_similarity_is_jaccard() {
        let f = extract("Pick one.\nA. red apple\nB. green apple", &vocab());
        // {red, apple} vs {green, apple}: 1 shared of 3.
        assert!((f[8] - 1.0 / 3.0).abs() < 1e-9, "{}", f[8]);
    }

    #[test]
    fn hand_rules() {
        assert_eq!(hand_rule("hi!"), Some(HandRule::Greeting));
        assert_eq!(hand_rule("Thanks, that worked"), Some(HandRule::Greeting));
        assert_eq!(hand_rule("history of the highland clearances"), None);
        assert_eq!(hand_rule("fix:\n```py\nx=1\n```"), Some(HandRule::Code));
    }
}

/// Where stage-1 time goes, pattern by pattern, on the MMLU prompts (release build):
/// `cargo test --release -p frugal --lib profile_features -- --ignored --nocapture`
#[cfg(test)]
mod profile {
    use super::*;

    #[test]
    #[ignore]
    fn profile_features() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/routing/routellm_mmlu_dev.jsonl");
        let texts: Vec<String> = std::fs::read_to_string(path)
            .expect("data")
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["prompt"].as_str().map(str::to_string))
            .collect();
        let p = patterns();
        let time = |name: &str, f: &dyn Fn(&str) -> usize| {
            let t = std::time::Instant::now();
            let n: usize = texts.iter().map(|t| f(t)).sum();
            println!("{name:<16} {:>8.2} µs/prompt ({n})", t.elapsed().as_secs_f64() * 1e6 / texts.len() as f64);
        };
        time("word", &|t| p.word.find_iter(t).count());
        time("num", &|t| count_numbers(t, p));
        time("option", &|t| p.option.captures_iter(t).count());
        time("math", &|t| p.math.find_iter(t).count());
        time("code", &|t| p.code.find_iter(t).count());
        time("negation", &|t| p.negation.find_iter(t).count());
        time("steps", &|t| p.steps.find_iter(t).count());
        time("analyse", &|t| p.analyse.find_iter(t).count());
        time("scenario", &|t| usize::from(p.scenario.is_match(t)));
        time("chars", &|t| t.chars().count());
        let vocab: HashSet<String, FnvBuild> = HashSet::default();
        time("extract(all)", &|t| extract(t, &vocab).len());
    }
}
